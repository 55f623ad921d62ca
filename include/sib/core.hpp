// <sib/core.hpp>: the vocabulary: tensor, shape, errors, finite checks, random numbers and the concepts (no backend, no Eigen).
#pragma once
#include <sib/core/concepts.hpp>
#include <sib/core/config.hpp>
#include <sib/core/counters.hpp>
#include <sib/core/error.hpp>
#include <sib/core/finite.hpp>
#include <sib/core/forward.hpp>
#include <sib/core/rng.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/split.hpp>
#include <sib/core/tensor.hpp>
