// Thread count is explicit: no hidden global pool. One setter serves OpenMP and Eigen.
#pragma once
#include <sib/core/config.hpp>
#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

SIB_BEGIN_NAMESPACE

inline void set_num_threads(int n) {
    if (n < 1) n = 1;
#if defined(_OPENMP)
    omp_set_num_threads(n);
#endif
    Eigen::setNbThreads(n);
}

inline int num_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

SIB_END_NAMESPACE
