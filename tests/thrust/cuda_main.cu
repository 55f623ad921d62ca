// doctest's main for the CUDA suite: without a device there is nothing to run, so it says so and
// exits with the code ctest reports as skipped (SKIP_RETURN_CODE 77), not as passed or failed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <cuda_runtime.h>
#include <iostream>

int main(int argc, char** argv) {
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        std::cout << "no CUDA device: skipped ("
                  << (e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none") << ")\n";
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
