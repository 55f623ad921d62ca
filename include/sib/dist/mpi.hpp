// The communicator over MPI (Open MPI on Debian: openmpi-bin, libopenmpi-dev; CMake target
// sib::mpi). Initialises MPI when it is the first to need it and finalises what it initialised;
// MPI_COMM_WORLD, and a communicator of the processes on this machine for local_size(). Errors
// make MPI return codes (MPI_ERRORS_RETURN), which become one-line sib::errors.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/dist/communicator.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <mpi.h>

SIB_BEGIN_NAMESPACE
namespace dist {

class mpi {
public:
    // Whether this process was started by an MPI launcher (mpirun, srun, hydra), so that a program
    // can be run with or without one: without, it is a single process and needs no MPI at all.
    static bool launched() {
        for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
            if (std::getenv(v)) return true;
        return false;
    }

    mpi() {
        int initialised = 0;
        check(MPI_Initialized(&initialised), "MPI_Initialized");
        if (!initialised) {
            int provided = 0;
            check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
            owns_ = true;
        }
        check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
        check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
        MPI_Comm local = MPI_COMM_NULL;
        check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type");
        check(MPI_Comm_size(local, &local_size_), "MPI_Comm_size");
        MPI_Comm_free(&local);
    }
    mpi(const mpi&) = delete;
    mpi& operator=(const mpi&) = delete;
    ~mpi() {
        int finalised = 0;
        MPI_Finalized(&finalised);
        if (owns_ && !finalised) MPI_Finalize();
    }

    int rank() const { return rank_; }
    int size() const { return size_; }
    int local_size() const { return local_size_; }

    template <class T>
    void all_reduce_sum(T* data, index_t n) {
        if (size_ > 1 && n > 0)
            check(MPI_Allreduce(MPI_IN_PLACE, data, count(n), type<T>(), MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
    template <class T>
    void broadcast(T* data, index_t n, int root) {
        if (size_ > 1 && n > 0) check(MPI_Bcast(data, count(n), type<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
    }
    void barrier() {
        if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
    }
    [[noreturn]] void abort(int code) {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::exit(code);
    }

private:
    template <class T>
    static MPI_Datatype type() {
        if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
        else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
        else return MPI_INT64_T;
    }
    // One message holds at most 2^31-1 elements; sib's collectives (gradients, flags) stay far below.
    static int count(index_t n) {
        require(n <= index_t{0x7fffffff}, "MPI: ", n, " elements in one collective, more than MPI's int count");
        return static_cast<int>(n);
    }
    static void check(int rc, const char* what) {
        if (rc == MPI_SUCCESS) return;
        char text[MPI_MAX_ERROR_STRING] = {};
        int len = 0;
        MPI_Error_string(rc, text, &len);
        fail("MPI: ", what, " failed (", std::string(text, static_cast<std::size_t>(len)), ")");
    }

    int rank_ = 0, size_ = 1, local_size_ = 1;
    bool owns_ = false;
};
static_assert(communicator<mpi>);

}  // namespace dist
SIB_END_NAMESPACE
