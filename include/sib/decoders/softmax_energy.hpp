// The paper's default decoder: phi(z) = 0.5 * sum_b ||softmax(z_b)||^2. Its seed does not need the
// label, so R explains the model's confidence as a whole.
#pragma once
#include <sib/decoders/decoder.hpp>

SIB_BEGIN_NAMESPACE
namespace decoders {

struct softmax_energy {
    // s_k = p_k (p_k - c), c = sum_j p_j^2.
    template <class T, class B>
    void seed(const tensor<T, B>& z, const labels_tensor<B>&, tensor<T, B>& s) const {
        softmax_rows(z, s);
        const index_t n = z.dim(0), k = z.dim(1);
        T* ps = s.data();
        B::parallel_for(n, [=] SIB_HD(index_t r) {
            T* p = ps + r * k;
            T c = 0;
            for (index_t j = 0; j < k; ++j) c += p[j] * p[j];
            for (index_t j = 0; j < k; ++j) p[j] = p[j] * (p[j] - c);
        }, k);
    }

    // dp = p*(t - <p,t>), dc = 2<p,dp>, ds_k = dp_k (2 p_k - c) - p_k dc.
    template <class T, class B>
    void hvp(const tensor<T, B>& z, const labels_tensor<B>&, const tensor<T, B>& t,
             tensor<T, B>& out) const {
        const index_t n = z.dim(0), k = z.dim(1);
        const T* pz = z.data();
        const T* pt = t.data();
        T* po = out.data();
        B::parallel_for(n, [=] SIB_HD(index_t r) {
            const detail::row_softmax<T> sm(pz + r * k, k);
            const T* tr = pt + r * k;
            T* orow = po + r * k;
            const T pt_dot = sm.dot(tr, k);
            T c = 0, dc = 0;
            for (index_t j = 0; j < k; ++j) {
                const T p = sm.p(j);
                c += p * p;
                dc += 2 * p * (p * (tr[j] - pt_dot));
            }
            for (index_t j = 0; j < k; ++j) {
                const T p = sm.p(j);
                orow[j] += p * (tr[j] - pt_dot) * (2 * p - c) - p * dc;
            }
        }, 4 * k);
    }
};

}  // namespace decoders
SIB_END_NAMESPACE
