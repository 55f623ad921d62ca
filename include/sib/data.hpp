// <sib/data.hpp>: sib::data: datasets (IDX, CIFAR, .npy triples, the generated benchmarks) and the batch loader.
// Not included (optional dependencies, their own CMake targets): data/image_folder.hpp (sib::image), data/open.hpp (sib::image),
// data/photo_folder.hpp (sib::image).
#pragma once
#include <sib/data/benchmarks.hpp>
#include <sib/data/cifar.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/file_bytes.hpp>
#include <sib/data/foreground_mask.hpp>
#include <sib/data/idx.hpp>
#include <sib/data/loader.hpp>
#include <sib/data/npy_dataset.hpp>
#include <sib/data/prefetcher.hpp>
#include <sib/data/resample.hpp>
