// Thread count is explicit: no hidden global pool. One setter serves OpenMP and Eigen; a BLAS
// behind sib's GEMM runs one thread per call (backend/cpu/cpu.hpp), whatever this says.
#pragma once
#include <sib/core/config.hpp>
#if !defined(SIB_USE_CBLAS)
#include <Eigen/Core>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

SIB_BEGIN_NAMESPACE

inline void set_num_threads(int n) {
    if (n < 1) n = 1;
#if defined(_OPENMP)
    omp_set_num_threads(n);
#endif
#if !defined(SIB_USE_CBLAS)
    Eigen::setNbThreads(n);
#endif
}

inline int num_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

SIB_END_NAMESPACE
