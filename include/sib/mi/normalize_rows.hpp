// Row normalisation u = a / max(||a||_2, 1e-12) over the rows of a [B, ...] (every dimension after
// the first flattened), as torch.nn.functional.normalize; the S-IB foreground term feeds HSIC with
// unit rows so that it measures alignment, not magnitude. Rules in the layer style (x, y, gy, gx).
// VJP: where ||a|| > eps, abar = (ubar - u <u, ubar>) / ||a||; below, the denominator is the
// constant eps and abar = ubar / eps.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace mi {

template <class T, class B = cpu>
class normalize_rows {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;
    static constexpr double eps = 1e-12;

    // u (resized to a's shape) = a / max(||a_row||, eps).
    void forward(const tensor_type& a, tensor_type& u) {
        require(a.rank() >= 1, "normalize_rows: expects [B, ...], got ", a.shape().str());
        row_norms(a);
        u.resize(a.shape());
        const index_t n = a.shape().sample_numel();
        const T* pa = a.data();
        const T* pn = norms_.data();
        T* pu = u.data();
        B::parallel_for(a.size(), [=] SIB_HD(index_t e) { pu[e] = pa[e] / pn[e / n]; });
    }

    // abar (resized, overwritten) = J^T ubar at a, with u = forward(a).
    void vjp(const tensor_type& a, const tensor_type& u, const tensor_type& ubar, tensor_type& abar) {
        require(u.shape() == a.shape() && ubar.shape() == a.shape(),
                "normalize_rows: vjp expects a, u and ubar of one shape, got ", a.shape().str(), ", ",
                u.shape().str(), " and ", ubar.shape().str());
        row_norms(a);
        const index_t rows = a.dim(0), n = a.shape().sample_numel();
        abar.resize(a.shape());
        const T* pu = u.data();
        const T* pg = ubar.data();
        const T* pn = norms_.data();
        T* pb = abar.data();
        const T floor = static_cast<T>(eps);
        B::parallel_for(rows, [=] SIB_HD(index_t b) {
            const index_t first = b * n, last = first + n;
            const T norm = pn[b];
            if (norm > floor) {
                double s = 0;
                for (index_t e = first; e < last; ++e) s += static_cast<double>(pu[e]) * pg[e];
                const T proj = static_cast<T>(s);
                for (index_t e = first; e < last; ++e) pb[e] = (pg[e] - pu[e] * proj) / norm;
            } else {
                for (index_t e = first; e < last; ++e) pb[e] = pg[e] / floor;
            }
        }, n);
    }

SIB_KERNELS:
    // max(||a_row||, eps), accumulated in double: rows are whole images.
    void row_norms(const tensor_type& a) {
        const index_t rows = a.dim(0), n = a.shape().sample_numel();
        norms_.resize({rows});
        const T* pa = a.data();
        T* pn = norms_.data();
        const T floor = static_cast<T>(eps);
        B::parallel_for(rows, [=] SIB_HD(index_t b) {
            double s = 0;
            for (index_t e = b * n; e < (b + 1) * n; ++e) s += static_cast<double>(pa[e]) * pa[e];
            const T norm = static_cast<T>(std::sqrt(s));
            pn[b] = norm < floor ? floor : norm;
        }, n);
    }

private:
    tensor_type norms_;
};

}  // namespace mi
SIB_END_NAMESPACE
