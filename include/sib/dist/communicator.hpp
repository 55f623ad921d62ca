// Processes that train one model together (data parallelism): the communicator concept, the
// single-process communicator every run has without MPI, and comm_ref, a non-owning handle to any
// communicator that the trainer holds (so choosing MPI or not is a run-time choice that does not
// multiply the trainer's instantiations). Implementations: single_process (here), dist::mpi
// (<sib/dist/mpi.hpp>, target sib::mpi), dist::nccl between GPUs (<sib/dist/nccl.hpp>, target
// sib::nccl, nvcc). See docs/distributed.md.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace dist {

// What data parallelism needs of a transport: who am I, how many are we (and how many on this
// machine, to share its cores), a sum of host arrays across every process in place, a broadcast
// from one process, a barrier, and an abort that takes every process down.
template <class C>
concept communicator = requires(C& c, const C& cc, float* f, double* d, std::int64_t* i, index_t n, int root) {
    { cc.rank() } -> std::convertible_to<int>;
    { cc.size() } -> std::convertible_to<int>;
    { cc.local_size() } -> std::convertible_to<int>;
    c.all_reduce_sum(f, n);
    c.all_reduce_sum(d, n);
    c.all_reduce_sum(i, n);
    c.broadcast(f, n, root);
    c.broadcast(d, n, root);
    c.broadcast(i, n, root);
    c.barrier();
    c.abort(1);
};

// One process: every collective is the identity.
struct single_process {
    int rank() const { return 0; }
    int size() const { return 1; }
    int local_size() const { return 1; }
    template <class T>
    void all_reduce_sum(T*, index_t) {}
    template <class T>
    void broadcast(T*, index_t, int) {}
    void barrier() {}
    [[noreturn]] void abort(int code) { std::exit(code); }
};
static_assert(communicator<single_process>);

// A non-owning reference to a communicator, by function pointers: what the trainer and the command
// line pass around. Default-constructed, it refers to a single process.
class comm_ref {
public:
    comm_ref() : comm_ref(single()) {}
    template <communicator C>
        requires(!std::same_as<C, comm_ref>)
    comm_ref(C& c)  // NOLINT: implicit, so that any communicator is passed where a comm_ref is taken
        : self_(&c),
          rank_([](const void* s) { return static_cast<const C*>(s)->rank(); }),
          size_([](const void* s) { return static_cast<const C*>(s)->size(); }),
          local_size_([](const void* s) { return static_cast<const C*>(s)->local_size(); }),
          sum_f_([](void* s, float* p, index_t n) { static_cast<C*>(s)->all_reduce_sum(p, n); }),
          sum_d_([](void* s, double* p, index_t n) { static_cast<C*>(s)->all_reduce_sum(p, n); }),
          sum_i_([](void* s, std::int64_t* p, index_t n) { static_cast<C*>(s)->all_reduce_sum(p, n); }),
          bcast_f_([](void* s, float* p, index_t n, int r) { static_cast<C*>(s)->broadcast(p, n, r); }),
          bcast_d_([](void* s, double* p, index_t n, int r) { static_cast<C*>(s)->broadcast(p, n, r); }),
          bcast_i_([](void* s, std::int64_t* p, index_t n, int r) { static_cast<C*>(s)->broadcast(p, n, r); }),
          barrier_([](void* s) { static_cast<C*>(s)->barrier(); }),
          abort_([](void* s, int code) { static_cast<C*>(s)->abort(code); }),
          device_memory_(device_memory_of<C>()) {}

    // Whether the collectives take device pointers (NCCL): the gradient accumulator then hands over
    // device tensors as they are instead of staging them through host memory.
    bool device_memory() const { return device_memory_; }
    int rank() const { return rank_(self_); }
    int size() const { return size_(self_); }
    int local_size() const { return local_size_(self_); }
    void all_reduce_sum(float* p, index_t n) { sum_f_(self_, p, n); }
    void all_reduce_sum(double* p, index_t n) { sum_d_(self_, p, n); }
    void all_reduce_sum(std::int64_t* p, index_t n) { sum_i_(self_, p, n); }
    void broadcast(float* p, index_t n, int root) { bcast_f_(self_, p, n, root); }
    void broadcast(double* p, index_t n, int root) { bcast_d_(self_, p, n, root); }
    void broadcast(std::int64_t* p, index_t n, int root) { bcast_i_(self_, p, n, root); }
    void barrier() { barrier_(self_); }
    [[noreturn]] void abort(int code) {
        abort_(self_, code);
        std::exit(code);  // an abort that returned
    }

private:
    template <class C>
    static constexpr bool device_memory_of() {
        if constexpr (requires { C::device_memory; })
            return C::device_memory;
        else
            return false;
    }
    static single_process& single() {
        static single_process one;
        return one;
    }
    void* self_;
    int (*rank_)(const void*);
    int (*size_)(const void*);
    int (*local_size_)(const void*);
    void (*sum_f_)(void*, float*, index_t);
    void (*sum_d_)(void*, double*, index_t);
    void (*sum_i_)(void*, std::int64_t*, index_t);
    void (*bcast_f_)(void*, float*, index_t, int);
    void (*bcast_d_)(void*, double*, index_t, int);
    void (*bcast_i_)(void*, std::int64_t*, index_t, int);
    void (*barrier_)(void*);
    void (*abort_)(void*, int);
    bool device_memory_;
};
static_assert(communicator<comm_ref>);

// An error every process raises together (all of them stop, none is left in a collective), so the
// command line exits normally on each; print_here() says whether this process should print it, so
// that the reason is printed once, by the process that knows it.
class collective_error : public error {
public:
    collective_error(const std::string& message, bool print_here) : error(message), print_here_(print_here) {}
    bool print_here() const { return print_here_; }

private:
    bool print_here_;
};

// A check every process makes on its own data, decided together: the ranks whose `ok` was false,
// the same list on every process, so that all of them stop (none is left waiting in a collective
// for one that stopped) and each can say which process failed.
inline std::vector<int> failed_ranks(comm_ref comm, bool ok) {
    std::vector<std::int64_t> flags(static_cast<std::size_t>(comm.size()), 0);
    flags[static_cast<std::size_t>(comm.rank())] = ok ? 0 : 1;
    comm.all_reduce_sum(flags.data(), static_cast<index_t>(flags.size()));
    std::vector<int> failed;
    for (std::size_t r = 0; r < flags.size(); ++r)
        if (flags[r]) failed.push_back(static_cast<int>(r));
    return failed;
}

}  // namespace dist
SIB_END_NAMESPACE
