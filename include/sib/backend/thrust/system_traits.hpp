// What sib needs to know about a Thrust system (OMP, CPP, CUDA): its name, where its memory lives
// and its vector type. Host compilers cannot parse Thrust's CUDA system, so without nvcc the
// device system defaults to OMP and sib::thrust_cuda does not exist.
#pragma once
#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
// Expanded only where Thrust tests it, after Thrust has defined THRUST_DEVICE_SYSTEM_OMP.
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_OMP
#endif
#include <sib/core/config.hpp>
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cpp/vector.h>
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>
#if defined(__CUDACC__)
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>
#endif

SIB_BEGIN_NAMESPACE

template <class System>
struct thrust_system_traits;

// OpenMP threads over host memory: the build that tests the Thrust code on any machine.
template <>
struct thrust_system_traits<thrust::system::omp::tag> {
    static constexpr const char* name = "thrust-omp";
    static constexpr bool device_memory = false;
    template <class T>
    using vector = thrust::system::omp::vector<T>;
};

// Sequential host code, for debugging a kernel without threads.
template <>
struct thrust_system_traits<thrust::system::cpp::tag> {
    static constexpr const char* name = "thrust-cpp";
    static constexpr bool device_memory = false;
    template <class T>
    using vector = thrust::system::cpp::vector<T>;
};

#if defined(__CUDACC__)
template <>
struct thrust_system_traits<thrust::system::cuda::tag> {
    static constexpr const char* name = "cuda";
    static constexpr bool device_memory = true;
    template <class T>
    using vector = thrust::system::cuda::vector<T>;
};
#endif

SIB_END_NAMESPACE
