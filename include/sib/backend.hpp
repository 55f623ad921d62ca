// <sib/backend.hpp>: the CPU backend (Eigen GEMM, OpenMP kernels) and thread control; the Thrust backends are <sib/backend/thrust/systems.hpp>.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/backend/gemm_batched.hpp>
