// The CPU backend: GEMM from a tuned BLAS through CBLAS where the build found one (SIB_USE_CBLAS:
// OpenBLAS or BLIS; CMake's sib::sib defines it, see SIB_BLAS), else Eigen's; OpenMP for
// index-parallel kernels. Layers are written against these primitives only, so the Thrust backend
// can supply the same names and run them unchanged.
#pragma once
#include <sib/backend/cpu/aligned_buffer.hpp>
#include <sib/core/config.hpp>
#if defined(SIB_USE_CBLAS)
#include <cblas.h>
#if defined(SIB_BLAS_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
#endif
#else
#include <Eigen/Core>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <utility>

SIB_BEGIN_NAMESPACE

namespace cpu_detail {

// Scratch memory of the calling thread (two slots per element type) that grows to the largest
// request and is then reused, so kernels that need temporary room allocate only while warming up.
template <class T>
T* thread_scratch(int slot, std::size_t n) {
    static thread_local aligned_buffer<T> buffers[2];
    if (buffers[slot].size() < n) buffers[slot].resize(n);
    return buffers[slot].data();
}

#if !defined(SIB_USE_CBLAS)
// Eigen's packing buffers for one product: Eigen's own product allocates them on every call once
// they exceed its stack limit (128 KiB), i.e. on every convolution-sized product.
template <class T>
T* packing_buffer(int which, std::size_t n) {
    return thread_scratch<T>(which, n);
}
#endif

// The unsigned image of a float or double that sorts as the values do, with -0 equal to +0 and
// every NaN after +inf.
template <class T>
struct radix_key_of;
template <>
struct radix_key_of<float> {
    using type = std::uint32_t;
};
template <>
struct radix_key_of<double> {
    using type = std::uint64_t;
};

template <class T>
typename radix_key_of<T>::type radix_key(T v) {
    using U = typename radix_key_of<T>::type;
    constexpr U sign = U(1) << (8 * sizeof(U) - 1);
    if (v != v) return ~U(0);
    if (v == T(0)) v = T(0);
    U u;
    std::memcpy(&u, &v, sizeof u);
    return (u & sign) ? ~u : (u | sign);
}

// perm = the stable ascending argsort of row[0..len): least-significant-digit radix sort by bytes,
// all byte histograms from one read, and passes whose byte is the same in every key skipped. A
// float key and its index travel as one 64-bit word (key above index), so a pass moves one word.
template <class T>
void radix_argsort(const T* row, index_t len, index_t* perm) {
    using U = typename radix_key_of<T>::type;
    const bool packed = sizeof(U) == 4 && len <= index_t(0xffffffff);
    constexpr int bytes = static_cast<int>(sizeof(U));
    const int low = packed ? 32 : 0;  // bit where the key starts in a word
    std::uint64_t* wa = thread_scratch<std::uint64_t>(0, static_cast<std::size_t>(2 * len));
    std::uint64_t* wb = wa + len;
    index_t* ia = perm;
    index_t* ib = thread_scratch<index_t>(0, static_cast<std::size_t>(packed ? 0 : len));
    index_t count[bytes][256] = {};
    for (index_t i = 0; i < len; ++i) {
        const U k = radix_key(row[i]);
        wa[i] = packed ? (std::uint64_t(k) << 32) | static_cast<std::uint64_t>(i) : std::uint64_t(k);
        if (!packed) ia[i] = i;
        for (int d = 0; d < bytes; ++d) ++count[d][(k >> (8 * d)) & 0xff];
    }
    for (int d = 0; d < bytes; ++d) {
        index_t* c = count[d];
        const int shift = low + 8 * d;
        if (len == 0 || c[(wa[0] >> shift) & 0xff] == len) continue;
        index_t at = 0;
        for (int v = 0; v < 256; ++v) {
            const index_t n = c[v];
            c[v] = at;
            at += n;
        }
        for (index_t i = 0; i < len; ++i) {
            const index_t to = c[(wa[i] >> shift) & 0xff]++;
            wb[to] = wa[i];
            if (!packed) ib[to] = ia[i];
        }
        std::swap(wa, wb);
        if (!packed) std::swap(ia, ib);
    }
    if (packed)
        for (index_t i = 0; i < len; ++i) perm[i] = static_cast<index_t>(wa[i] & 0xffffffffu);
    else if (ia != perm)
        std::memcpy(perm, ia, static_cast<std::size_t>(len) * sizeof(index_t));
}

#if defined(SIB_GEMM_TRACE)
// A program compiled with SIB_GEMM_TRACE defines this: every sequential product reports its shape
// before it runs, on the thread that runs it (benchmarks/gemm_floor.cpp records one training step's
// products and times them alone). Never defined in the library or its tests.
void gemm_trace(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, std::size_t element_size);
#define SIB_GEMM_TRACE_CALL(T) gemm_trace(trans_a, trans_b, m, n, k, sizeof(T))
#else
#define SIB_GEMM_TRACE_CALL(T) (void)0
#endif

#if defined(SIB_USE_CBLAS)
// The BLAS runs one thread per call: sib splits products between its own threads (cpu::gemm), and
// a threaded BLAS inside them would oversubscribe the cores. OpenBLAS starts with all cores, so it
// is told once; BLIS is single-threaded unless BLIS_NUM_THREADS says otherwise.
inline void blas_single_threaded() {
#if defined(SIB_BLAS_OPENBLAS)
    static const bool once = (openblas_set_num_threads(1), true);
    (void)once;
#endif
}

// Row-major C += alpha * op(A) * op(B) on the calling thread: one sequential BLAS call.
inline void gemm_block(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, float alpha, const float* a,
                       index_t lda, const float* b, index_t ldb, float* c, index_t ldc) {
    SIB_GEMM_TRACE_CALL(float);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), 1.0f, c, static_cast<int>(ldc));
}
inline void gemm_block(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, double alpha, const double* a,
                       index_t lda, const double* b, index_t ldb, double* c, index_t ldc) {
    SIB_GEMM_TRACE_CALL(double);
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), 1.0, c, static_cast<int>(ldc));
}
#else
// The blocking of Eigen's sequential product (gemm_blocking_space with one thread and L3
// blocking) on the buffers above. A row-major result is computed as the transposed column-major
// product, hence mc from the columns and nc from the rows, as in Eigen.
template <class T>
struct kept_blocking : Eigen::internal::level3_blocking<T, T> {
    kept_blocking(index_t rows, index_t cols, index_t depth) {
        this->m_mc = cols;
        this->m_nc = rows;
        this->m_kc = depth;
        Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(this->m_kc, this->m_mc, this->m_nc, 1);
        this->m_blockA = packing_buffer<T>(0, static_cast<std::size_t>(this->m_mc * this->m_kc));
        this->m_blockB = packing_buffer<T>(1, static_cast<std::size_t>(this->m_kc * this->m_nc));
    }
};

template <class T, int OrderA, int OrderB>
void gemm_kept(index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
               index_t ldb, T* c, index_t ldc) {
    kept_blocking<T> blocking(m, n, k);
    Eigen::internal::general_matrix_matrix_product<Eigen::Index, T, OrderA, false, T, OrderB, false,
                                                   Eigen::RowMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1,
                                                                            ldc, alpha, blocking);
}

// Row-major C += alpha * op(A) * op(B) on the calling thread. Vector-shaped and tiny products take
// Eigen's expression path (GEMV, coefficient-wise), which needs no packing.
template <class T>
void gemm_block(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                index_t lda, const T* b, index_t ldb, T* c, index_t ldc) {
    SIB_GEMM_TRACE_CALL(T);
    if (m == 1 || n == 1 || m + n + k < 20) {
        using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using cmap = Eigen::Map<const mat, Eigen::Unaligned, Eigen::OuterStride<>>;
        Eigen::Map<mat, Eigen::Unaligned, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
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
        return;
    }
    // A row-major m x k is stored as itself; transposed, it is a column-major m x k.
    constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
    if (!trans_a && !trans_b)
        gemm_kept<T, R, R>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (trans_a && !trans_b)
        gemm_kept<T, C, R>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else if (!trans_a && trans_b)
        gemm_kept<T, R, C>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    else
        gemm_kept<T, C, C>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}
#endif

}  // namespace cpu_detail

struct cpu {
    static constexpr const char* name = "cpu";
    // Tensor elements can be read and written directly from host code.
    static constexpr bool host_accessible = true;

    template <class T>
    using buffer = aligned_buffer<T>;

    // parallel_for items run on host threads and may call this backend's primitives, which then
    // run sequentially inside the item (see go_parallel): layers may fuse per-sample work.
    static constexpr bool nested_primitives = true;

    // Below this many work items a parallel region costs more than it saves.
    static constexpr index_t parallel_grain = 1 << 14;
    // Multiply-adds of a GEMM that count as one work item against parallel_grain (a product is
    // split from 1 Mi multiply-adds, some 20 us of one core).
    static constexpr index_t gemm_split_unit = 64;
    // The most blocks one product splits into (cpu::gemm): enough to share it among this many
    // threads; each block packs the shared operand again.
    static constexpr index_t gemm_max_parts = 8;

    // Whether a kernel of `work` units should open a parallel region: not below the grain, not with
    // one thread (libgomp allocates a team per region then) and not inside a region already (the
    // items of gemm_batched, say), where a nested region would only add a team of one.
    static bool go_parallel(index_t work) {
#if defined(_OPENMP)
        return work >= parallel_grain && omp_get_max_threads() > 1 && !omp_in_parallel();
#else
        (void)work;
        return false;
#endif
    }

    // How many parallel_for items run at once: the thread count, or 1 inside a parallel region.
    // Kernels that keep scratch per item (a layer's per-thread im2col matrix) size it by this.
    static index_t concurrency() {
#if defined(_OPENMP)
        return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
        return 1;
#endif
    }

    // f(i) for every i in [0, n). f must not depend on the order.
    template <class F>
    static void parallel_for(index_t n, F f, index_t cost_per_item = 1) {
        if (n <= 0) return;
#if defined(_OPENMP)
        if (n > 1 && go_parallel(n * cost_per_item)) {
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
        if (go_parallel(n)) {
#pragma omp parallel for schedule(static) reduction(+ : total)
            for (index_t i = 0; i < n; ++i) total += static_cast<double>(f(i));
            return total;
        }
#endif
        for (index_t i = 0; i < n; ++i) total += static_cast<double>(f(i));
        return total;
    }

    // Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n. A large
    // product splits the longer side of C into blocks, each one sequential product
    // (cpu_detail::gemm_block), run on the threads there are. The blocks follow the product's
    // shape alone, never the thread count: a BLAS may choose its kernel by a block's size
    // (OpenBLAS's small-matrix kernels on AVX-512 machines do, and sum in another order), so a
    // split that followed the threads would change the last bits with them. Each element is
    // computed by the same call whatever the threads, and the result does not depend on them.
    template <class T>
    static void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                     const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
        if (m == 0 || n == 0) return;
#if defined(SIB_USE_CBLAS)
        cpu_detail::blas_single_threaded();
#endif
        // C's rows (or columns) [lo, lo + len) times beta, by the block that computes them.
        const auto scale = [=](index_t lo, index_t len, bool rows) {
            if (beta == T(1)) return;
            for (index_t i = rows ? lo : 0; i < (rows ? lo + len : m); ++i) {
                T* row = c + i * ldc + (rows ? 0 : lo);
                const index_t width = rows ? n : len;
                if (beta == T(0))
                    std::fill(row, row + width, T(0));  // not 0 * c: C may hold NaN, as BLAS's beta = 0
                else
                    for (index_t j = 0; j < width; ++j) row[j] *= beta;
            }
        };
        if (k == 0) {
            scale(0, m, true);
            return;
        }
        // Up to gemm_max_parts blocks of the longer side, each at least parallel_grain work items,
        // in whole multiples of 16 rows or columns (Eigen's panels).
        const index_t work = m * n * k / gemm_split_unit;
        index_t parts = std::clamp<index_t>(work / parallel_grain, 1, gemm_max_parts);
        const bool by_rows = m >= n;
        const index_t side = by_rows ? m : n;
        const index_t step = ((side + parts - 1) / parts + 15) / 16 * 16;
        parts = (side + step - 1) / step;
        parallel_for(
            parts,
            [=](index_t part) {
                const index_t lo = part * step, len = std::min(step, side - lo);
                scale(lo, len, by_rows);
                if (by_rows)
                    cpu_detail::gemm_block(trans_a, trans_b, len, n, k, alpha,
                                           a + (trans_a ? lo : lo * lda), lda, b, ldb, c + lo * ldc, ldc);
                else
                    cpu_detail::gemm_block(trans_a, trans_b, m, len, k, alpha, a, lda,
                                           b + (trans_b ? lo * ldb : lo), ldb, c + lo, ldc);
            },
            gemm_split_unit * parallel_grain);
    }

    // count products C_i = alpha * op(A_i) * op(B_i) + beta * C_i, with X_i = x + i * stride_x (the
    // twin of cublas<t>gemmStridedBatched; stride_c must not be 0). A convolution's per-sample
    // products are small, so they run one per thread, each a sequential Eigen product (Eigen does
    // not split a product inside a parallel region): no fork per product, no shared panels.
    template <class T>
    static void gemm_batched(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                             const T* a, index_t lda, index_t stride_a, const T* b, index_t ldb,
                             index_t stride_b, T beta, T* c, index_t ldc, index_t stride_c,
                             index_t count) {
        parallel_for(
            count,
            [=](index_t i) {
                gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb,
                     beta, c + i * stride_c, ldc);
            },
            m * n * (k > 0 ? k : 1));
    }

    // For each of `segments` rows of length `len`: the ascending sort of the row and, in perm,
    // the source index of each sorted element (stable, so ties keep their order as torch.sort;
    // -0 ties with +0 and NaN sorts last, also as torch.sort). A radix sort: linear in len, and
    // without the buffer std::stable_sort allocates on every call.
    template <class T>
    static void segmented_sort(const T* keys, T* sorted, index_t* perm, index_t segments,
                               index_t len) {
        parallel_for(
            segments,
            [=](index_t s) {
                const T* row = keys + s * len;
                index_t* p = perm + s * len;
                cpu_detail::radix_argsort(row, len, p);
                for (index_t i = 0; i < len; ++i) sorted[s * len + i] = row[p[i]];
            },
            len * 8);
    }

    // Copies and fills of activations (tens of MiB on ResNet-50) split into spans among the threads:
    // one thread alone left the others waiting at the next parallel region.
    static constexpr index_t copy_span = 1 << 16;
    template <class T>
    static void copy(index_t n, const T* src, T* dst) {
        if (n <= 0 || src == dst) return;
        parallel_for((n + copy_span - 1) / copy_span, [=](index_t s) {
            const index_t lo = s * copy_span;
            std::memcpy(dst + lo, src + lo, static_cast<std::size_t>(std::min(copy_span, n - lo)) * sizeof(T));
        }, copy_span / 4);
    }
    template <class T>
    static void fill(index_t n, T* dst, T value) {
        parallel_for((n + copy_span - 1) / copy_span, [=](index_t s) {
            const index_t lo = s * copy_span;
            std::fill(dst + lo, dst + std::min(lo + copy_span, n), value);
        }, copy_span / 4);
    }

    // Host transfers: plain copies here (the memory is the host's); the Thrust backends count theirs.
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
