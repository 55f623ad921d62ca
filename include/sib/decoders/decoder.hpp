// A VJP decoder chooses the scalar phi(z) whose input gradient R = J_x^T dphi/dz is the
// explanation being shaped. It supplies the seed s = dphi/dz and the Hessian-vector product that
// the tangent sweep needs at the logits.
#pragma once
#include <sib/core/tensor.hpp>
#include <cmath>
#include <cstdint>

SIB_BEGIN_NAMESPACE

template <class T, class B>
using labels_tensor = tensor<std::int64_t, B>;

// seed: s = dphi/dz (overwrites); hvp: out += (d^2 phi/dz^2) t.
template <class D, class T = double, class B = cpu>
concept vjp_decoder = requires(const D& d, const tensor<T, B>& z, const labels_tensor<T, B>& y,
                               const tensor<T, B>& t, tensor<T, B>& out) {
    d.seed(z, y, out);
    d.hvp(z, y, t, out);
};

namespace detail {
// Row-wise softmax of z [N,K] into p, stable (max subtracted).
template <class T, class B>
void softmax_rows(const tensor<T, B>& z, tensor<T, B>& p) {
    const index_t n = z.dim(0), k = z.dim(1);
    p.resize(z.shape());
    const T* pz = z.data();
    T* pp = p.data();
    B::parallel_for(n, [=] SIB_HD(index_t r) {
        const T* zr = pz + r * k;
        T* pr = pp + r * k;
        T m = zr[0];
        for (index_t j = 1; j < k; ++j) m = zr[j] > m ? zr[j] : m;
        T s = 0;
        for (index_t j = 0; j < k; ++j) {
            pr[j] = std::exp(zr[j] - m);
            s += pr[j];
        }
        for (index_t j = 0; j < k; ++j) pr[j] /= s;
    }, k);
}
}  // namespace detail

SIB_END_NAMESPACE
