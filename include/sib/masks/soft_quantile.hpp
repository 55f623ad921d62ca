// Soft quantile of each row of a [rows, n] matrix (docs/objective.md, "Soft quantile"): the
// ascending sort s of the row, averaged with weights w_i = softmax_i(-|i - q(n-1)| / tau). The
// weights depend only on (n, q, tau), so the value is linear in the sorted row and the gradient is
// w scattered back through the sort permutation.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <algorithm>
#include <cmath>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace masks {

template <class T, class B = cpu>
class soft_quantile {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit soft_quantile(double q, double temperature = 0.1) : q_(q), tau_(temperature) {
        require(q >= 0 && q <= 1, "soft quantile: q must lie in [0, 1], got ", q);
        require(temperature > 0, "soft quantile: temperature must be positive, got ", temperature);
    }

    double q() const { return q_; }
    double temperature() const { return tau_; }
    // The weights of the last forward's row length, in sorted order.
    const tensor_type& weights() const { return weights_; }

    // v [rows, n] -> out [rows]. Keeps the sort permutation for vjp.
    void forward(const tensor_type& v, tensor_type& out) {
        require(v.rank() == 2 && v.dim(1) > 0, "soft quantile: expects [rows, n] with n > 0, got ",
                v.shape().str());
        const index_t rows = v.dim(0), n = v.dim(1);
        prepare_weights(n);
        sorted_.resize(v.shape());
        perm_.resize(v.shape());
        out.resize({rows});
        B::segmented_sort(v.data(), sorted_.data(), perm_.data(), rows, n);
        B::gemm(false, false, rows, 1, n, T(1), sorted_.data(), n, weights_.data(), 1, T(0),
                out.data(), 1);
    }

    // vbar[r, perm[r,i]] += outbar[r] * w_i. Adds, because a row usually feeds more than one
    // quantile and the element-wise path as well.
    void vjp(const tensor_type& outbar, tensor_type& vbar) const {
        require(vbar.shape() == sorted_.shape() && outbar.size() == sorted_.dim(0),
                "soft quantile: vjp expects outbar [", sorted_.dim(0), "] and vbar ",
                sorted_.shape().str(), " as in forward, got ", outbar.shape().str(), " and ",
                vbar.shape().str());
        const index_t n = sorted_.dim(1);
        const T* pw = weights_.data();
        const T* pg = outbar.data();
        const index_t* pp = perm_.data();
        T* pv = vbar.data();
        // Each row's permutation hits every element once, so the scatter has no write conflicts.
        B::parallel_for(sorted_.size(), [=] SIB_HD(index_t e) {
            const index_t r = e / n, i = e - r * n;
            pv[r * n + pp[e]] += pg[r] * pw[i];
        });
    }

private:
    // Computed once per row length on the host in double, as a max-shifted softmax.
    void prepare_weights(index_t n) {
        if (weights_n_ == n) return;
        std::vector<double> logits(static_cast<std::size_t>(n));
        const double centre = q_ * static_cast<double>(n - 1);
        for (index_t i = 0; i < n; ++i)
            logits[static_cast<std::size_t>(i)] = -std::abs(static_cast<double>(i) - centre) / tau_;
        const double top = *std::max_element(logits.begin(), logits.end());
        double total = 0;
        for (auto& l : logits) total += (l = std::exp(l - top));
        std::vector<T> w(logits.size());
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<T>(logits[i] / total);
        weights_.resize({n});
        B::from_host(n, w.data(), weights_.data());
        weights_n_ = n;
    }

    double q_, tau_;
    // A default tensor has rank 0 and so reports one element; the row length is tracked apart.
    index_t weights_n_ = 0;
    tensor_type weights_, sorted_;
    tensor<index_t, B> perm_;
};

}  // namespace masks
SIB_END_NAMESPACE
