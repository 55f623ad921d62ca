// <sib/masks.hpp>: sib::masks: the soft quantile and the differentiable density mask.
#pragma once
#include <sib/masks/density_mask.hpp>
#include <sib/masks/none.hpp>
#include <sib/masks/soft_quantile.hpp>
