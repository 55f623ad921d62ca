// The mask argument of an objective whose terms read no soft mask (cross entropy, RRR): the step
// never calls it, so it has no rules of its own.
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE
namespace masks {

struct none {};

}  // namespace masks
SIB_END_NAMESPACE
