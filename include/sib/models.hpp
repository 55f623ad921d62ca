// <sib/models.hpp>: sib::models: torchvision's ResNet-18/34/50 and VGG-11/16 with BatchNorm, and
// their small-input variants, as compile-time models with torchvision's state-dict names.
// models/registry.hpp: the same networks by name for the run-time model ("resnet18(num_classes=10)").
#pragma once
#include <sib/models/init.hpp>
#include <sib/models/registry.hpp>
#include <sib/models/resnet.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/models/variant.hpp>
#include <sib/models/vgg.hpp>
