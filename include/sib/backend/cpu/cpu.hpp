// The CPU backend: Eigen for GEMM, OpenMP for index-parallel kernels. Layers are written against
// these primitives only, so the Thrust backend can supply the same names and run them unchanged.
#pragma once
#include <sib/backend/cpu/aligned_buffer.hpp>
#include <sib/core/config.hpp>
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>

SIB_BEGIN_NAMESPACE

struct cpu {
    static constexpr const char* name = "cpu";
    // Tensor elements can be read and written directly from host code.
    static constexpr bool host_accessible = true;

    template <class T>
    using buffer = aligned_buffer<T>;

    // Below this many work items a parallel region costs more than it saves.
    static constexpr index_t parallel_grain = 1 << 14;

    // f(i) for every i in [0, n). f must not depend on the order.
    template <class F>
    static void parallel_for(index_t n, F f, index_t cost_per_item = 1) {
        (void)cost_per_item;  // only read when OpenMP is on
        if (n <= 0) return;
#if defined(_OPENMP)
        if (n * cost_per_item >= parallel_grain && n > 1) {
#pragma omp parallel for schedule(static)
            for (index_t i = 0; i < n; ++i) f(i);
            return;
        }
#endif
        for (index_t i = 0; i < n; ++i) f(i);
    }

    // sum over i of f(i), accumulated in double; the order is fixed for a fixed thread count.
    template <class F>
    static double reduce_sum(index_t n, F f) {
        double total = 0;
#if defined(_OPENMP)
        if (n >= parallel_grain) {
#pragma omp parallel for schedule(static) reduction(+ : total)
            for (index_t i = 0; i < n; ++i) total += static_cast<double>(f(i));
            return total;
        }
#endif
        for (index_t i = 0; i < n; ++i) total += static_cast<double>(f(i));
        return total;
    }

    // Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n.
    template <class T>
    static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                     const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
        if (m == 0 || n == 0) return;
        using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using cmap = Eigen::Map<const mat, Eigen::Unaligned, Eigen::OuterStride<>>;
        using omap = Eigen::Map<mat, Eigen::Unaligned, Eigen::OuterStride<>>;
        omap C(c, m, n, Eigen::OuterStride<>(ldc));
        if (beta == T(0))
            C.setZero();
        else if (beta != T(1))
            C *= beta;
        if (k == 0) return;
        const cmap A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
        const cmap B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
        if (!trans_a && !trans_b)
            C.noalias() += alpha * A * B;
        else if (trans_a && !trans_b)
            C.noalias() += alpha * A.transpose() * B;
        else if (!trans_a && trans_b)
            C.noalias() += alpha * A * B.transpose();
        else
            C.noalias() += alpha * A.transpose() * B.transpose();
    }

    // For each of `segments` rows of length `len`: the ascending sort of the row and, in perm,
    // the source index of each sorted element (stable, so ties keep their order as torch.sort).
    template <class T>
    static void segmented_sort(const T* keys, T* sorted, index_t* perm, index_t segments,
                               index_t len) {
        parallel_for(
            segments,
            [=](index_t s) {
                const T* row = keys + s * len;
                index_t* p = perm + s * len;
                std::iota(p, p + len, index_t{0});
                std::stable_sort(p, p + len, [row](index_t i, index_t j) { return row[i] < row[j]; });
                for (index_t i = 0; i < len; ++i) sorted[s * len + i] = row[p[i]];
            },
            len * 16);
    }

    template <class T>
    static void copy(index_t n, const T* src, T* dst) {
        if (n > 0 && src != dst) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
    }
    template <class T>
    static void fill(index_t n, T* dst, T value) {
        std::fill(dst, dst + n, value);
    }

    // Host transfers; counted so tests can state how many a training step makes.
    template <class T>
    static void to_host(index_t n, const T* src, T* host_dst) {
        copy(n, src, host_dst);
    }
    template <class T>
    static void from_host(index_t n, const T* host_src, T* dst) {
        copy(n, host_src, dst);
    }
};

SIB_END_NAMESPACE
