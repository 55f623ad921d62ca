// The communicator over NCCL, between GPUs (the CUDA toolkit's nccl.h and libnccl; CMake target
// sib::nccl, compiled by nvcc). Collectives run on device memory in place, on a stream of its own,
// and return when done; a host array (the trainer's loss sums, flags) is staged through a device
// buffer, so the trainer works unchanged. NCCL needs its processes to share one id: the
// communicator is bootstrapped through another (MPI across processes, single_process for one GPU).
#pragma once
#if !defined(__CUDACC__)
#error "<sib/dist/nccl.hpp> needs nvcc (target sib::nccl)"
#endif
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/dist/communicator.hpp>
#include <cuda_runtime.h>
#include <nccl.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace dist {

class nccl {
public:
    // Collectives take device pointers (host ones are staged): what comm_ref tells the
    // gradient accumulator, which then hands it device tensors as they are.
    static constexpr bool device_memory = true;

    // One process per GPU: `bootstrap` (e.g. dist::mpi) gives rank, size and carries NCCL's id from
    // rank 0 to the others. `device` -1 takes the current CUDA device.
    template <communicator C>
    explicit nccl(C& bootstrap, int device = -1)
        : rank_(bootstrap.rank()), size_(bootstrap.size()), local_size_(bootstrap.local_size()) {
        if (device >= 0) cuda(cudaSetDevice(device), "cudaSetDevice");
        ncclUniqueId id{};
        if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        // The id's bytes as int64s through the bootstrap communicator.
        std::vector<std::int64_t> words((sizeof id + 7) / 8, 0);
        std::memcpy(words.data(), &id, sizeof id);
        bootstrap.broadcast(words.data(), static_cast<index_t>(words.size()), 0);
        std::memcpy(&id, words.data(), sizeof id);
        // A blocking stream: it waits for the kernels of the default stream, where Thrust wrote the data.
        cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
        check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    }
    // One GPU, one process.
    explicit nccl(int device = -1) : nccl(one_process(), device) {}
    nccl(const nccl&) = delete;
    nccl& operator=(const nccl&) = delete;
    ~nccl() {
        if (comm_) ncclCommDestroy(comm_);
        if (stream_) cudaStreamDestroy(stream_);
        if (staging_) cudaFree(staging_);
    }

    int rank() const { return rank_; }
    int size() const { return size_; }
    int local_size() const { return local_size_; }

    template <class T>
    void all_reduce_sum(T* data, index_t n) {
        if (n <= 0) return;
        with_device_memory(data, n, [&](T* d) {
            check(ncclAllReduce(d, d, static_cast<std::size_t>(n), type<T>(), ncclSum, comm_, stream_), "ncclAllReduce");
        });
    }
    template <class T>
    void broadcast(T* data, index_t n, int root) {
        if (n <= 0) return;
        with_device_memory(data, n, [&](T* d) {
            check(ncclBroadcast(d, d, static_cast<std::size_t>(n), type<T>(), root, comm_, stream_), "ncclBroadcast");
        });
    }
    void barrier() {
        std::int64_t one = 1;
        all_reduce_sum(&one, 1);
    }
    [[noreturn]] void abort(int code) {
        if (comm_) ncclCommAbort(comm_);
        comm_ = nullptr;
        std::exit(code);
    }

private:
    static single_process& one_process() {
        static single_process one;
        return one;
    }
    template <class T>
    static ncclDataType_t type() {
        if constexpr (std::is_same_v<T, float>) return ncclFloat32;
        else if constexpr (std::is_same_v<T, double>) return ncclFloat64;
        else return ncclInt64;
    }
    static void check(ncclResult_t rc, const char* what) {
        if (rc != ncclSuccess) fail("NCCL: ", what, " failed (", ncclGetErrorString(rc), ")");
    }
    static void cuda(cudaError_t rc, const char* what) {
        if (rc != cudaSuccess) fail("NCCL: ", what, " failed (", cudaGetErrorString(rc), ")");
    }
    // Runs f on a device copy of a host array (and copies the result back), or on the array itself.
    template <class T, class F>
    void with_device_memory(T* data, index_t n, F&& f) {
        cudaPointerAttributes attributes{};
        const bool on_device = cudaPointerGetAttributes(&attributes, data) == cudaSuccess &&
                               (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged);
        cudaGetLastError();  // an unregistered host pointer may leave an error behind
        const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(T);
        T* d = data;
        if (!on_device) {
            if (bytes > staging_bytes_) {
                if (staging_) cudaFree(staging_);
                staging_ = nullptr;
                cuda(cudaMalloc(&staging_, bytes), "cudaMalloc");
                staging_bytes_ = bytes;
            }
            d = static_cast<T*>(staging_);
            cuda(cudaMemcpyAsync(d, data, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
        }
        f(d);
        if (!on_device) cuda(cudaMemcpyAsync(data, d, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
        cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    }

    int rank_ = 0, size_ = 1, local_size_ = 1;
    ncclComm_t comm_ = nullptr;
    cudaStream_t stream_ = nullptr;
    void* staging_ = nullptr;
    std::size_t staging_bytes_ = 0;
};
static_assert(communicator<nccl>);

}  // namespace dist
SIB_END_NAMESPACE
