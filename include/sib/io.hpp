// <sib/io.hpp>: sib::io: .npy, .safetensors, weights, atomic writes, output locks, colour maps.
// Not included (optional dependencies, their own CMake targets): io/heatmap.hpp (sib::image), io/png.hpp (sib::image), io/xtensor.hpp (sib::xtensor).
#pragma once
#include <sib/io/atomic_write.hpp>
#include <sib/io/bitmap_font.hpp>
#include <sib/io/chart.hpp>
#include <sib/io/colormap.hpp>
#include <sib/io/dtype.hpp>
#include <sib/io/file_read.hpp>
#include <sib/io/json.hpp>
#include <sib/io/file_lock.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/raw_array.hpp>
#include <sib/io/safetensors.hpp>
#include <sib/io/weights.hpp>
