// Batch Gram matrices for the kernel dependence measures: K = U U^T over the rows of U (one row per
// sample, every dimension after the first flattened), and the double centring H K H with
// H = I - 1 1^T / B that HSIC and CKA are built on.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>

SIB_BEGIN_NAMESPACE
namespace mi {
namespace detail {

// Both sides must describe the same samples; `who` names the estimator in the message.
template <class T, class B>
void require_row_pair(const char* who, const tensor<T, B>& u, const tensor<T, B>& v,
                      index_t min_rows) {
    require(u.rank() >= 1 && v.rank() >= 1 && u.dim(0) == v.dim(0), who,
            ": U and V need one row per sample and the same number of rows, got ", u.shape().str(),
            " and ", v.shape().str());
    require(u.dim(0) >= min_rows, who, ": needs at least ", min_rows, " rows, got ", u.dim(0));
}

// k [rows, rows] = u u^T (k is resized).
template <class T, class B>
void gram(const tensor<T, B>& u, tensor<T, B>& k) {
    const index_t rows = u.dim(0), n = u.shape().sample_numel();
    k.resize({rows, rows});
    B::gemm(false, true, rows, rows, n, T(1), u.data(), n, u.data(), n, T(0), k.data(), rows);
}

// kc = H k H for a symmetric k: kc_ij = k_ij - m_i - m_j + mean(m), m the row means. `means` is
// workspace.
template <class T, class B>
void double_center(const tensor<T, B>& k, tensor<T, B>& kc, tensor<T, B>& means) {
    const index_t rows = k.dim(0);
    kc.resize(k.shape());
    means.resize({rows + 1});
    const T* pk = k.data();
    T* pm = means.data();
    B::parallel_for(rows, [=] SIB_HD(index_t i) {
        T s = 0;
        for (index_t j = 0; j < rows; ++j) s += pk[i * rows + j];
        pm[i] = s / static_cast<T>(rows);
    }, rows);
    // The grand mean goes in the last slot, computed by one work item so the kernel stays pure.
    B::parallel_for(1, [=] SIB_HD(index_t) {
        T s = 0;
        for (index_t i = 0; i < rows; ++i) s += pm[i];
        pm[rows] = s / static_cast<T>(rows);
    }, rows);
    T* pc = kc.data();
    B::parallel_for(rows * rows, [=] SIB_HD(index_t e) {
        const index_t i = e / rows, j = e - i * rows;
        pc[e] = pk[e] - pm[i] - pm[j] + pm[rows];
    });
}

// sum_ij a_ij b_ij.
template <class T, class B>
double frobenius_dot(const tensor<T, B>& a, const tensor<T, B>& b) {
    const T* pa = a.data();
    const T* pb = b.data();
    return B::reduce_sum(a.size(), [=] SIB_HD(index_t e) { return pa[e] * pb[e]; });
}

}  // namespace detail
}  // namespace mi
SIB_END_NAMESPACE
