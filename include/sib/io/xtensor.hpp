// Interop with xtensor 0.24: a CPU tensor seen as an xtensor expression without a copy, and any
// xtensor expression copied into a tensor. Only this header includes xtensor, to keep it out of
// every other translation unit's compile time.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xnoalias.hpp>
#include <cstddef>
#include <type_traits>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

namespace detail {
inline std::vector<std::size_t> xtensor_shape(const sib::shape& s) {
    return std::vector<std::size_t>(s.begin(), s.end());
}
}  // namespace detail

// A row-major view of t's storage with t's shape; writes through it change t. It borrows the
// storage: valid while t lives and is not resized to a larger size.
template <class T>
auto as_xtensor(tensor<T, cpu>& t) {
    return xt::adapt(t.data(), static_cast<std::size_t>(t.size()), xt::no_ownership(),
                     detail::xtensor_shape(t.shape()));
}
template <class T>
auto as_xtensor(const tensor<T, cpu>& t) {
    return xt::adapt(t.data(), static_cast<std::size_t>(t.size()), xt::no_ownership(),
                     detail::xtensor_shape(t.shape()));
}
// A view of a temporary would dangle.
template <class T>
void as_xtensor(tensor<T, cpu>&&) = delete;

// A copy of the evaluated expression, in row-major order, as element type T (the expression's
// own value type when T is left out).
template <class T = void, class B = cpu, class E>
auto from_xexpression(const xt::xexpression<E>& expression) {
    const E& e = expression.derived_cast();
    using value = std::conditional_t<std::is_void_v<T>, std::decay_t<typename E::value_type>, T>;
    sib::shape s;
    for (auto d : e.shape()) s.push_back(static_cast<index_t>(d));
    tensor<value, B> out(s);
    if constexpr (B::host_accessible) {
        auto view = xt::adapt(out.data(), static_cast<std::size_t>(out.size()), xt::no_ownership(),
                              detail::xtensor_shape(s));
        // out is new storage, so it cannot alias the expression.
        xt::noalias(view) = e;
    } else {
        const xt::xarray<value, xt::layout_type::row_major> host = e;
        B::from_host(out.size(), host.data(), out.data());
    }
    return out;
}

}  // namespace io
SIB_END_NAMESPACE
