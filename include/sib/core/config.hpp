// sib: versioned inline namespace and host/device annotations shared by every header.
#pragma once
#include <cstddef>
#include <cstdint>

#define SIB_VERSION_MAJOR 0
#define SIB_VERSION_MINOR 1
#define SIB_VERSION_PATCH 0

// The inline namespace lets two sib versions live in one program without ODR clashes (as {fmt}).
#define SIB_BEGIN_NAMESPACE namespace sib { inline namespace v0 {
#define SIB_END_NAMESPACE } }

// Kernels are written once as functors over an index; under nvcc they run on the device too.
#if defined(__CUDACC__)
#define SIB_HD __host__ __device__
#else
#define SIB_HD
#endif

// nvcc accepts __host__ __device__ lambdas only in free functions and public member functions, so
// the private helpers of a class that launch kernels are declared after `SIB_KERNELS:`: private for
// host compilers, public under nvcc. Nothing else changes.
#if defined(__CUDACC__)
#define SIB_KERNELS public
#else
#define SIB_KERNELS private
#endif

// Header-only by default. The non-template code that nearly every program needs (JSON, safetensors,
// the benchmark generators and IDX reader, progress lines, file locks) can instead come from one
// compiled library, as {fmt} and spdlog offer: with SIB_COMPILED_LIB defined (CMake: link
// sib::compiled) those headers only declare it, and src/compiled.cpp defines it once, so a
// program's own translation units skip it (examples/train_sib.cpp at -O2: 10.3 -> 8.4 s, measured
// in docs/architecture.md). Its definitions live in the *_inl.hpp
// headers, marked SIB_INLINE; a program uses one mode in every translation unit.
#if defined(SIB_COMPILED_LIB)
#define SIB_INLINE
#else
#define SIB_INLINE inline
#endif

// The CPU backend's GEMM: a BLAS through CBLAS where the build defines SIB_USE_CBLAS (CMake's
// sib::sib does where it found one), unless SIB_NO_CBLAS asks for Eigen's in this translation unit.
#if defined(SIB_NO_CBLAS) && defined(SIB_USE_CBLAS)
#undef SIB_USE_CBLAS
#endif

SIB_BEGIN_NAMESPACE
using index_t = std::int64_t;
SIB_END_NAMESPACE
