// phi = sum_b log softmax(z_b)_{y_b}: s = onehot(y) - p, and H t = -p*(t - <p,t>).
#pragma once
#include <sib/decoders/decoder.hpp>

SIB_BEGIN_NAMESPACE
namespace decoders {

struct target_log_prob {
    template <class T, class B>
    void seed(const tensor<T, B>& z, const labels_tensor<B>& y, tensor<T, B>& s) const {
        softmax_rows(z, s);
        const index_t n = z.dim(0), k = z.dim(1);
        T* ps = s.data();
        const std::int64_t* py = y.data();
        B::parallel_for(n * k, [=] SIB_HD(index_t i) {
            ps[i] = ((i % k) == py[i / k] ? T(1) : T(0)) - ps[i];
        });
    }
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
            const T pt_dot = sm.dot(tr, k);
            for (index_t j = 0; j < k; ++j) po[r * k + j] -= T(1) * sm.p(j) * (tr[j] - pt_dot);
        }, 4 * k);
    }
};

}  // namespace decoders
SIB_END_NAMESPACE
