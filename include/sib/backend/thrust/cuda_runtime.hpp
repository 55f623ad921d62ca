// The CUDA runtime and cuBLAS calls of sib::thrust_cuda: host <-> device copies and row-major GEMM.
// Only for nvcc builds (link CUDA::cudart and CUDA::cublas, as the sib::cuda target does).
#pragma once
#if !defined(__CUDACC__)
#error "sib/backend/thrust/cuda_runtime.hpp needs nvcc (sib::thrust_cuda exists only in CUDA builds)"
#endif
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cstddef>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace cuda_detail {

inline void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) fail("cuda: ", what, " failed: ", cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: ", what, " failed with status ", static_cast<int>(s));
}

inline void copy_to_host(void* host_dst, const void* src, std::size_t bytes) {
    check(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
}
inline void copy_from_host(void* dst, const void* host_src, std::size_t bytes) {
    check(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
}

// One handle per process on the default stream, the stream Thrust's cuda::par runs on, so GEMMs and
// kernels stay ordered. Never destroyed: at static destruction the CUDA context may be gone.
inline cublasHandle_t cublas_handle() {
    static cublasHandle_t handle = [] {
        cublasHandle_t h = nullptr;
        check(cublasCreate(&h), "cublasCreate");
        return h;
    }();
    return handle;
}

// Row-major C = alpha op(A) op(B) + beta C as the column-major product C^T = op(B)^T op(A)^T: a
// row-major matrix read column-major is its transpose, so swapping the operands is all it takes.
// k > 0 and m, n > 0 here (the backend handles the empty cases).
inline int as_int(index_t v, const char* what) {
    if (v < 0 || v > 2147483647) fail("cuBLAS: ", what, " ", v, " does not fit the 32-bit int cuBLAS takes");
    return static_cast<int>(v);
}

// The column-major arguments of a row-major product, checked to fit cuBLAS's ints.
struct column_major_gemm {
    cublasOperation_t op_b, op_a;
    int m, n, k, lda, ldb, ldc;
    column_major_gemm(bool trans_a, bool trans_b, index_t rm, index_t rn, index_t rk, index_t la, index_t lb,
                      index_t lc)
        : op_b(trans_b ? CUBLAS_OP_T : CUBLAS_OP_N), op_a(trans_a ? CUBLAS_OP_T : CUBLAS_OP_N),
          m(as_int(rn, "n")), n(as_int(rm, "m")), k(as_int(rk, "k")), lda(as_int(la, "lda")),
          ldb(as_int(lb, "ldb")), ldc(as_int(lc, "ldc")) {}
};

template <class T>
void gemm_row_major(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                    index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "sib::thrust_cuda: GEMM supports float and double");
    const column_major_gemm g(trans_a, trans_b, m, n, k, lda, ldb, ldc);
    if constexpr (std::is_same_v<T, float>)
        check(cublasSgemm(cublas_handle(), g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b, g.ldb, a, g.lda, &beta, c,
                          g.ldc),
              "cublasSgemm");
    else
        check(cublasDgemm(cublas_handle(), g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b, g.ldb, a, g.lda, &beta, c,
                          g.ldc),
              "cublasDgemm");
}

// The batched twin: count products, operand i at x + i * stride_x.
template <class T>
void gemm_strided_batched_row_major(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha,
                                    const T* a, index_t lda, index_t stride_a, const T* b, index_t ldb,
                                    index_t stride_b, T beta, T* c, index_t ldc, index_t stride_c,
                                    index_t count) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "sib::thrust_cuda: GEMM supports float and double");
    const column_major_gemm g(trans_a, trans_b, m, n, k, lda, ldb, ldc);
    const int batches = as_int(count, "batch count");
    const long long sa = stride_a, sb = stride_b, sc = stride_c;
    if constexpr (std::is_same_v<T, float>)
        check(cublasSgemmStridedBatched(cublas_handle(), g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b, g.ldb, sb, a,
                                        g.lda, sa, &beta, c, g.ldc, sc, batches),
              "cublasSgemmStridedBatched");
    else
        check(cublasDgemmStridedBatched(cublas_handle(), g.op_b, g.op_a, g.m, g.n, g.k, &alpha, b, g.ldb, sb, a,
                                        g.lda, sa, &beta, c, g.ldc, sc, batches),
              "cublasDgemmStridedBatched");
}

}  // namespace cuda_detail
SIB_END_NAMESPACE
