// The S-IB background proxy (docs/objective.md, "Background term"): the mean over rows of the unbiased variance
// (divide by n-1) of each row of U. It is not a dependence measure; it takes V only to fit the
// estimator interface, ignores it, and gives it a zero gradient. A row of constant values has
// variance 0, so minimising it flattens the background rather than silencing it.
// d/du_bi = 2 (u_bi - mean_b) / ((n-1) B).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>

SIB_BEGIN_NAMESPACE
namespace mi {

// Shapes and vjp conventions as hsic_linear (the overload without dV skips the zero fill).
template <class T, class B = cpu>
class variance_proxy {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    T value(const tensor_type& u, const tensor_type&) {
        row_statistics(u);
        const T* pv = variances_.data();
        return static_cast<T>(B::reduce_sum(u.dim(0), [=] SIB_HD(index_t b) { return pv[b]; }) /
                              static_cast<double>(u.dim(0)));
    }

    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du, tensor_type& dv) {
        vjp(u, v, gbar, du);
        dv.resize(v.shape());
        dv.zero();
    }
    void vjp(const tensor_type& u, const tensor_type&, T gbar, tensor_type& du) {
        row_statistics(u);
        const index_t rows = u.dim(0), n = u.shape().sample_numel();
        const T scale = static_cast<T>(2.0 * static_cast<double>(gbar) /
                                       (static_cast<double>(n - 1) * static_cast<double>(rows)));
        du.resize(u.shape());
        const T* pu = u.data();
        const T* pm = means_.data();
        T* pd = du.data();
        B::parallel_for(u.size(), [=] SIB_HD(index_t e) { pd[e] = scale * (pu[e] - pm[e / n]); });
    }

SIB_KERNELS:
    // Two passes (mean, then centred squares) with double accumulators: rows are whole images, and
    // a one-pass sum of squares would cancel catastrophically in float32.
    void row_statistics(const tensor_type& u) {
        require(u.rank() >= 1 && u.dim(0) >= 1 && u.shape().sample_numel() >= 2,
                "variance_proxy: needs at least one row of at least 2 values, got ", u.shape().str());
        const index_t rows = u.dim(0), n = u.shape().sample_numel();
        means_.resize({rows});
        variances_.resize({rows});
        const T* pu = u.data();
        T* pm = means_.data();
        T* pv = variances_.data();
        B::parallel_for(rows, [=] SIB_HD(index_t b) {
            const T* row = pu + b * n;
            double s = 0;
            for (index_t i = 0; i < n; ++i) s += static_cast<double>(row[i]);
            const double mean = s / static_cast<double>(n);
            double q = 0;
            for (index_t i = 0; i < n; ++i) {
                const double d = static_cast<double>(row[i]) - mean;
                q += d * d;
            }
            pm[b] = static_cast<T>(mean);
            pv[b] = static_cast<T>(q / static_cast<double>(n - 1));
        }, n);
    }

private:
    tensor_type means_, variances_;
};

}  // namespace mi
SIB_END_NAMESPACE
