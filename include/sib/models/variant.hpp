// Which form of a network: torchvision's, for photos of 224x224 (ResNet: 7x7/2 stem and max-pool;
// VGG: 7x7 average pool and the 4096-wide classifier), or the one people train on 32x32 data
// (ResNet: 3x3/1 stem, no max-pool; VGG: global average pool and one Linear(512, classes)).
#pragma once
#include <sib/core/config.hpp>

SIB_BEGIN_NAMESPACE
namespace models {

enum class variant { torchvision, small_input };

}  // namespace models
SIB_END_NAMESPACE
