// Where a NaN or an infinity sits in a tensor, for messages that point at it: bad values in good
// files (a weight, a pixel) are reported before training starts, not as a NaN loss steps later.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE

// The flat index of the first value of `values` that is NaN or infinite, if any.
template <class T>
std::optional<index_t> first_non_finite(const T* values, index_t n) {
    for (index_t i = 0; i < n; ++i)
        if (!std::isfinite(static_cast<double>(values[i]))) return i;
    return std::nullopt;
}
template <class T, class B>
std::optional<index_t> first_non_finite(const tensor<T, B>& t) {
    if constexpr (B::host_accessible) {
        return first_non_finite(t.data(), t.size());
    } else {
        const std::vector<T> host = t.to_vector();
        return first_non_finite(host.data(), t.size());
    }
}

// A flat index written as the row-major multi-index of `s`: 13 in [2,3,4] is "[1,0,1]".
inline std::string multi_index(const sib::shape& s, index_t flat) {
    std::vector<index_t> at(static_cast<std::size_t>(s.rank()));
    for (int d = s.rank() - 1; d >= 0; --d) {
        at[static_cast<std::size_t>(d)] = s[d] > 0 ? flat % s[d] : 0;
        flat = s[d] > 0 ? flat / s[d] : 0;
    }
    std::string out = "[";
    for (std::size_t d = 0; d < at.size(); ++d) out += (d ? "," : "") + std::to_string(at[d]);
    return out + "]";
}

// "nan", "inf" or "-inf": how a non-finite value is named in messages.
template <class T>
std::string non_finite_name(T v) {
    if (std::isnan(static_cast<double>(v))) return "nan";
    return v > 0 ? "inf" : "-inf";
}

// Fails with "<what> holds nan at [1,0,1]" where `t` has a NaN or an infinity.
template <class T, class B>
void require_finite(const tensor<T, B>& t, const std::string& what) {
    const std::optional<index_t> bad = first_non_finite(t);
    if (!bad) return;
    const std::vector<T> host = t.to_vector();
    fail(what, " holds ", non_finite_name(host[static_cast<std::size_t>(*bad)]), " at ", multi_index(t.shape(), *bad));
}

SIB_END_NAMESPACE
