// The Thrust backends: the primitives of sib::cpu (parallel_for, reduce_sum, gemm, segmented_sort,
// copy, fill and host transfers) as Thrust algorithms on a system's execution policy, so every
// layer, mask, estimator and optimizer runs unchanged. With the OMP or CPP system this compiles with
// g++ and runs on the CPU, which is how the Thrust code is tested on every machine; with nvcc the
// CUDA system runs the same kernels on the GPU, with cuBLAS for GEMM.
//
// Tensor memory is never host-accessible here, not even on the host systems: library code that
// indexes a tensor from the host fails to compile against this backend instead of failing on a GPU.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/backend/thrust/system_traits.hpp>
#include <sib/backend/thrust/thrust_buffer.hpp>
#include <sib/backend/thrust/transfer_counter.hpp>
#include <sib/core/config.hpp>
#include <thrust/copy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/sort.h>
#include <thrust/transform_reduce.h>
#include <cstring>
#if defined(__CUDACC__)
#include <sib/backend/thrust/cuda_runtime.hpp>
#endif

SIB_BEGIN_NAMESPACE

namespace thrust_detail {

// f(i) widened to double, so reductions accumulate in double as on the CPU backend.
template <class F>
struct as_double {
    F f;
    SIB_HD double operator()(index_t i) const { return static_cast<double>(f(i)); }
};

// Orders flat indices by (segment, key): one stable sort of the whole batch is the stable sort of
// every segment, with no per-segment launches and no workspace beyond the permutation itself. Keys
// compare as torch.sort (and sib::cpu) order them: -0 ties with +0, every NaN ties and sorts last.
template <class T>
struct segment_then_key {
    const T* keys;
    index_t len;
    SIB_HD bool operator()(index_t a, index_t b) const {
        const index_t sa = a / len, sb = b / len;
        if (sa != sb) return sa < sb;
        const T ka = keys[a], kb = keys[b];
        const bool a_nan = ka != ka, b_nan = kb != kb;
        if (a_nan || b_nan) return !a_nan;
        return ka < kb;
    }
};

}  // namespace thrust_detail

template <class System>
struct thrust_backend {
    using system = System;
    using traits = thrust_system_traits<System>;
    static constexpr const char* name = traits::name;
    static constexpr bool host_accessible = false;

    template <class T>
    using buffer = thrust_buffer<T, System>;

    // Host traffic of this backend since the last reset (see transfer_counter.hpp).
    static inline transfer_counter transfers{};

    // Work items that run at once, for kernels that keep scratch per item. Thrust kernels cannot
    // call the primitives (no nested_primitives), so layers never fuse work on this backend.
    static index_t concurrency() { return 1; }

    // f(i) for every i in [0, n), through thrust::for_each. Every call is one parallel launch (on
    // OMP as on CUDA), so small kernels run through the same code path the GPU uses; cost_per_item
    // is a hint for the CPU backend's serial cut-off only.
    template <class F>
    static void parallel_for(index_t n, F f, index_t cost_per_item = 1) {
        (void)cost_per_item;
        if (n <= 0) return;
        thrust::for_each(System{}, thrust::counting_iterator<index_t>(0),
                         thrust::counting_iterator<index_t>(n), f);
    }

    // sum over i of f(i) in double. The result comes back to the host: one scalar readback.
    template <class F>
    static double reduce_sum(index_t n, F f) {
        transfers.add_scalar_readback();
        if (n <= 0) return 0;
        return thrust::transform_reduce(System{}, thrust::counting_iterator<index_t>(0),
                                        thrust::counting_iterator<index_t>(n),
                                        thrust_detail::as_double<F>{f}, 0.0, thrust::plus<double>());
    }

    // Row-major C = alpha op(A) op(B) + beta C: Eigen on the host systems, cuBLAS on CUDA.
    template <class T>
    static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                     index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
        if constexpr (!traits::device_memory) {
            cpu::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } else {
#if defined(__CUDACC__)
            if (m == 0 || n == 0) return;
            if (k == 0) {  // C = beta C, with beta = 0 clearing NaN as the CPU backend does
                parallel_for(m * n, [=] SIB_HD(index_t e) {
                    T& v = c[(e / n) * ldc + e % n];
                    v = beta == T(0) ? T(0) : beta * v;
                });
                return;
            }
            cuda_detail::gemm_row_major(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
        }
    }

    // count products C_i = alpha op(A_i) op(B_i) + beta C_i, X_i = x + i * stride_x (see
    // backend/gemm_batched.hpp): one Eigen product each on the host systems, as sib::cpu computes
    // them, and cuBLAS's strided batched GEMM on CUDA.
    template <class T>
    static void gemm_batched(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                             const T* a, index_t lda, index_t stride_a, const T* b, index_t ldb,
                             index_t stride_b, T beta, T* c, index_t ldc, index_t stride_c,
                             index_t count) {
        if constexpr (!traits::device_memory) {
            for (index_t i = 0; i < count; ++i)
                cpu::gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb,
                          beta, c + i * stride_c, ldc);
        } else {
#if defined(__CUDACC__)
            if (m == 0 || n == 0 || count <= 0) return;
            if (k == 0) {
                for (index_t i = 0; i < count; ++i)
                    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c + i * stride_c, ldc);
                return;
            }
            cuda_detail::gemm_strided_batched_row_major(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b,
                                                        ldb, stride_b, beta, c, ldc, stride_c, count);
#endif
        }
    }

    // Per row of `len` keys: the stable ascending sort and the source index of each element, as
    // sib::cpu (ties keep their order, as torch.sort(stable=True)).
    template <class T>
    static void segmented_sort(const T* keys, T* sorted, index_t* perm, index_t segments, index_t len) {
        const index_t total = segments * len;
        if (total <= 0) return;
        parallel_for(total, [=] SIB_HD(index_t i) { perm[i] = i; });
        thrust::stable_sort(System{}, perm, perm + total, thrust_detail::segment_then_key<T>{keys, len});
        parallel_for(total, [=] SIB_HD(index_t i) {
            sorted[i] = keys[perm[i]];
            perm[i] -= (i / len) * len;
        });
    }

    template <class T>
    static void copy(index_t n, const T* src, T* dst) {
        if (n > 0 && src != dst) thrust::copy(System{}, src, src + n, dst);
    }
    template <class T>
    static void fill(index_t n, T* dst, T value) {
        if (n > 0) thrust::fill(System{}, dst, dst + n, value);
    }

    // Waits for every launched kernel (CUDA launches are asynchronous; host systems return when
    // done). For timings; results need no call, transfers and reductions wait by themselves.
    static void synchronize() {
        if constexpr (traits::device_memory) {
#if defined(__CUDACC__)
            cuda_detail::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#endif
        }
    }

    // Host transfers, counted.
    template <class T>
    static void to_host(index_t n, const T* src, T* host_dst) {
        const auto bytes = static_cast<std::size_t>(n > 0 ? n : 0) * sizeof(T);
        transfers.add_to_host(static_cast<std::int64_t>(bytes));
        if (bytes == 0) return;
        if constexpr (traits::device_memory) {
#if defined(__CUDACC__)
            cuda_detail::copy_to_host(host_dst, src, bytes);
#endif
        } else {
            std::memcpy(host_dst, src, bytes);
        }
    }
    template <class T>
    static void from_host(index_t n, const T* host_src, T* dst) {
        const auto bytes = static_cast<std::size_t>(n > 0 ? n : 0) * sizeof(T);
        transfers.add_from_host(static_cast<std::int64_t>(bytes));
        if (bytes == 0) return;
        if constexpr (traits::device_memory) {
#if defined(__CUDACC__)
            cuda_detail::copy_from_host(dst, host_src, bytes);
#endif
        } else {
            std::memcpy(dst, host_src, bytes);
        }
    }
};

SIB_END_NAMESPACE
