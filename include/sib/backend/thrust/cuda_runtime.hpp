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

template <class T>
void gemm_row_major(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                    index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "sib::thrust_cuda: GEMM supports float and double");
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int cm = as_int(n, "n"), cn = as_int(m, "m"), ck = as_int(k, "k");
    const int la = as_int(lda, "lda"), lb = as_int(ldb, "ldb"), lc = as_int(ldc, "ldc");
    if constexpr (std::is_same_v<T, float>)
        check(cublasSgemm(cublas_handle(), op_b, op_a, cm, cn, ck, &alpha, b, lb, a, la, &beta, c, lc),
              "cublasSgemm");
    else
        check(cublasDgemm(cublas_handle(), op_b, op_a, cm, cn, ck, &alpha, b, lb, a, la, &beta, c, lc),
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
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int cm = as_int(n, "n"), cn = as_int(m, "m"), ck = as_int(k, "k");
    const int la = as_int(lda, "lda"), lb = as_int(ldb, "ldb"), lc = as_int(ldc, "ldc");
    const int batches = as_int(count, "batch count");
    const long long sa = stride_a, sb = stride_b, sc = stride_c;
    if constexpr (std::is_same_v<T, float>)
        check(cublasSgemmStridedBatched(cublas_handle(), op_b, op_a, cm, cn, ck, &alpha, b, lb, sb, a, la, sa,
                                        &beta, c, lc, sc, batches),
              "cublasSgemmStridedBatched");
    else
        check(cublasDgemmStridedBatched(cublas_handle(), op_b, op_a, cm, cn, ck, &alpha, b, lb, sb, a, la, sa,
                                        &beta, c, lc, sc, batches),
              "cublasDgemmStridedBatched");
}

}  // namespace cuda_detail
SIB_END_NAMESPACE
