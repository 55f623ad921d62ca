// A VJP decoder chooses the scalar phi(z) whose input gradient R = J_x^T dphi/dz is the
// explanation being shaped. It supplies the seed s = dphi/dz and the Hessian-vector product that
// the tangent sweep needs at the logits.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <cmath>
#include <cstdint>

SIB_BEGIN_NAMESPACE
namespace decoders {

// seed: s = dphi/dz (overwrites); hvp: out += (d^2 phi/dz^2) t.
template <class D, class T = double, class B = cpu>
concept vjp_decoder = requires(const D& d, const tensor<T, B>& z, const labels_tensor<B>& y,
                               const tensor<T, B>& t, tensor<T, B>& out) {
    d.seed(z, y, out);
    d.hvp(z, y, t, out);
};

// Row-wise softmax of z [N,K] into p, stable (max subtracted); p may be z itself (in place): each
// element is read before it is written.
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
namespace detail {
// The softmax of one row of logits without storage: p(j) = exp(z_j - max) / sum, stable. Kernels
// that accumulate into their output row use it instead of a scratch row.
template <class T>
struct row_softmax {
    const T* z;
    T max, sum;
    SIB_HD row_softmax(const T* row, index_t k) : z(row), max(row[0]), sum(0) {
        for (index_t j = 1; j < k; ++j) max = row[j] > max ? row[j] : max;
        for (index_t j = 0; j < k; ++j) sum += std::exp(row[j] - max);
    }
    SIB_HD T p(index_t j) const { return std::exp(z[j] - max) / sum; }
    SIB_HD T log_p(index_t j) const { return z[j] - max - std::log(sum); }
    // <p, t> for a tangent row t.
    SIB_HD T dot(const T* t, index_t k) const {
        T s = 0;
        for (index_t j = 0; j < k; ++j) s += p(j) * t[j];
        return s;
    }
};

// The old name, for code written before softmax_rows was public.
using decoders::softmax_rows;
}  // namespace detail

}  // namespace decoders
SIB_END_NAMESPACE
