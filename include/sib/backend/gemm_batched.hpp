// Strided batched GEMM on any backend: B::gemm_batched where the backend has it (sib::cpu; cuBLAS's
// gemmStridedBatched is the device twin), else one B::gemm per product, so a backend that only
// supplies gemm still runs every layer unchanged.
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE

// count products C_i = alpha * op(A_i) * op(B_i) + beta * C_i, row-major, X_i = x + i * stride_x.
template <class B, class T>
void gemm_batched(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                  index_t lda, index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c,
                  index_t ldc, index_t stride_c, index_t count) {
    if constexpr (requires {
                      B::gemm_batched(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                                      stride_b, beta, c, ldc, stride_c, count);
                  }) {
        B::gemm_batched(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c,
                        ldc, stride_c, count);
    } else {
        for (index_t i = 0; i < count; ++i)
            B::gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                    c + i * stride_c, ldc);
    }
}

SIB_END_NAMESPACE
