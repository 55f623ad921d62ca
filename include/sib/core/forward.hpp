// The defaults of sib's class templates, declared without pulling in any backend (as xtensor's
// xtensor_forward.hpp): core headers name `tensor<T>` and the default backend `cpu` from here, and
// only code that runs kernels includes <sib/backend/cpu/cpu.hpp> (Eigen, OpenMP).
#pragma once
#include <sib/core/config.hpp>
#include <cstdint>

SIB_BEGIN_NAMESPACE

struct cpu;  // backend/cpu/cpu.hpp

template <class T, class Backend = cpu>
class tensor;

// Class labels of a batch, on the backend of the images they label.
template <class Backend = cpu>
using labels_tensor = tensor<std::int64_t, Backend>;

SIB_END_NAMESPACE
