// <sib/sib.hpp>: all of sib that the target sib::sib needs (every folder's umbrella). Headers with
// optional dependencies are included on their own: <sib/io/png.hpp>, <sib/io/heatmap.hpp>,
// <sib/data/image_folder.hpp>, <sib/data/open.hpp> (sib::image), <sib/io/xtensor.hpp> (sib::xtensor),
// <sib/dist/mpi.hpp> (sib::mpi),
// <sib/backend/thrust/systems.hpp> (sib::thrust_host, sib::cuda). Every header also stands alone.
#pragma once
#include <sib/core.hpp>
#include <sib/backend.hpp>
#include <sib/layers.hpp>
#include <sib/models.hpp>
#include <sib/autodiff.hpp>
#include <sib/decoders.hpp>
#include <sib/masks.hpp>
#include <sib/mi.hpp>
#include <sib/loss.hpp>
#include <sib/optim.hpp>
#include <sib/data.hpp>
#include <sib/dist.hpp>
#include <sib/explain.hpp>
#include <sib/metrics.hpp>
#include <sib/io.hpp>
#include <sib/train.hpp>
