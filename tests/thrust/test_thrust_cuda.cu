// The Thrust backend suite on sib::thrust_cuda: tests/test_thrust_omp.cpp compiled by nvcc.
#define SIB_TEST_CUDA
#include "../test_thrust_omp.cpp"
