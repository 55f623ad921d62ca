// <sib/autodiff.hpp>: sib::autodiff: the four tape-free sweeps, the objective step, the FLOP count of a step.
#pragma once
#include <sib/autodiff/step.hpp>
#include <sib/autodiff/step_flops.hpp>
#include <sib/autodiff/sweeps.hpp>
