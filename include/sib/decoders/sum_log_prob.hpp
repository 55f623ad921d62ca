// phi = sum_b sum_k log softmax(z_b)_k, the input gradient "right for the right reasons" (Ross et
// al. 2017) penalises: s_j = 1 - K p_j, and H t = -K p*(t - <p,t>).
#pragma once
#include <sib/decoders/decoder.hpp>

SIB_BEGIN_NAMESPACE

struct sum_log_prob {
    template <class T, class B>
    void seed(const tensor<T, B>& z, const labels_tensor<T, B>&, tensor<T, B>& s) const {
        detail::softmax_rows(z, s);
        const index_t k = z.dim(1);
        T* ps = s.data();
        B::parallel_for(z.size(), [=] SIB_HD(index_t i) { ps[i] = T(1) - static_cast<T>(k) * ps[i]; });
    }
    template <class T, class B>
    void hvp(const tensor<T, B>& z, const labels_tensor<T, B>&, const tensor<T, B>& t,
             tensor<T, B>& out) const {
        const index_t n = z.dim(0), k = z.dim(1);
        const T* pz = z.data();
        const T* pt = t.data();
        T* po = out.data();
        B::parallel_for(n, [=] SIB_HD(index_t r) {
            const T* zr = pz + r * k;
            const T* tr = pt + r * k;
            T m = zr[0];
            for (index_t j = 1; j < k; ++j) m = zr[j] > m ? zr[j] : m;
            T sum = 0;
            for (index_t j = 0; j < k; ++j) sum += std::exp(zr[j] - m);
            T pt_dot = 0;
            for (index_t j = 0; j < k; ++j) pt_dot += std::exp(zr[j] - m) / sum * tr[j];
            for (index_t j = 0; j < k; ++j)
                po[r * k + j] -= static_cast<T>(k) * std::exp(zr[j] - m) / sum * (tr[j] - pt_dot);
        }, 4 * k);
    }
};

SIB_END_NAMESPACE
