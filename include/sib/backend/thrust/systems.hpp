// The Thrust backend tags: sib::thrust_omp and sib::thrust_cpp with any compiler (host memory,
// OpenMP threads or one thread), sib::thrust_cuda with nvcc (device memory, cuBLAS).
#pragma once
#include <sib/backend/thrust/thrust_backend.hpp>

SIB_BEGIN_NAMESPACE

using thrust_omp = thrust_backend<thrust::system::omp::tag>;
using thrust_cpp = thrust_backend<thrust::system::cpp::tag>;
#if defined(__CUDACC__)
using thrust_cuda = thrust_backend<thrust::system::cuda::tag>;
#endif

SIB_END_NAMESPACE
