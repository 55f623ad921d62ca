// <sib/dist.hpp>: sib::dist: data parallelism: the communicator concept, the single process,
// comm_ref, broadcasting weights, shards, the gradient accumulator, dataset digests.
// Not included (optional dependency, its own CMake target): dist/mpi.hpp (sib::mpi).
#pragma once
#include <sib/dist/communicator.hpp>
#include <sib/dist/data_parallel.hpp>
