// Pieces every sib subcommand shares: the S-IB settings flags, dtype and backend dispatch, JSON output.
#pragma once
#include "args.hpp"
#if defined(SIB_CLI_THRUST) || defined(__CUDACC__)
#include <sib/backend/thrust/systems.hpp>
#endif
#include <sib/backend/cpu/threading.hpp>
#include <sib/core/split.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/io/json.hpp>
#include <algorithm>
#include <iostream>
#include <thread>

namespace sib_cli {

inline void add_sib_flags(args& a) {
    a.flag("--window", "K", "density-mask window, odd; 0 picks 2*floor(15*min(H,W)/224)+1", "0")
        .flag("--temperature", "T", "soft-quantile temperature", "0.1")
        .flag("--slope", "S", "mask sigmoid slope", "10")
        .flag("--lambda-bg", "A", "weight of the background term", "1000")
        .flag("--lambda-fg", "B", "weight of the foreground term", "0.01")
        .flag("--shaping", "exp|linear", "psi applied to the terms", "exp");
}

inline sib::masks::density_mask_options mask_options(const args& a) {
    sib::masks::density_mask_options o;
    const long long k = a.integer("--window");
    sib::require(k == 0 || (k > 0 && k % 2 == 1), "--window must be odd and positive (or 0 for the default), got ", k);
    o.window = k;
    o.temperature = a.real("--temperature");
    sib::require(o.temperature > 0, "--temperature must be positive, got ", o.temperature);
    o.slope = a.real("--slope");
    return o;
}

inline sib::loss::sib_settings sib_settings_from(const args& a) {
    return {a.real("--lambda-bg"), a.real("--lambda-fg"),
            sib::loss::parse_shaping(a.choice("--shaping", {"exp", "linear"}))};
}

inline void add_threads_flag(args& a) {
    a.flag("--threads", "N", "worker threads (OpenMP and the BLAS); under mpirun: this machine's cores / its processes", "2");
}
// `processes_here`: how many processes share this machine (under mpirun); without --threads each
// takes its share of the cores, so that they do not oversubscribe them.
inline void apply_threads(const args& a, int processes_here = 1) {
    long long n = a.integer("--threads");
    if (!a.set("--threads") && processes_here > 1)
        n = std::max<long long>(1, static_cast<long long>(std::thread::hardware_concurrency()) / processes_here);
    sib::require(n >= 1, "--threads must be at least 1, got ", n);
    sib::set_num_threads(static_cast<int>(n));
}

// Runs f.template operator()<T>() with T = float or double as --dtype says.
template <class F>
auto with_dtype(const args& a, F&& f) {
    const std::string d = a.choice("--dtype", {"float32", "float64"});
    if (d == "float32") return f.template operator()<float>();
    return f.template operator()<double>();
}

// --backend: where tensors live and kernels run. thrust-omp is Thrust's OpenMP system on the CPU
// (built when the CCCL headers are found: SIB_CLI_THRUST), cuda the CUDA system (only when these
// sources are compiled by nvcc).
inline void add_backend_flag(args& a) {
    a.flag("--backend", "cpu|thrust-omp|cuda", "compute backend (thrust-omp and cuda where built)", "cpu");
}

// Runs f.template operator()<T, B>() for --dtype and --backend.
template <class F>
auto with_backend_and_dtype(const args& a, F&& f) {
    const std::string b = a.choice("--backend", {"cpu", "thrust-omp", "cuda"});
    if (b == "thrust-omp") {
#if defined(SIB_CLI_THRUST)
        return with_dtype(a, [&]<class T>() { return f.template operator()<T, sib::thrust_omp>(); });
#else
        sib::fail("--backend thrust-omp: this sib was built without Thrust (CMake found no CCCL headers)");
#endif
    }
    if (b == "cuda") {
#if defined(__CUDACC__)
        return with_dtype(a, [&]<class T>() { return f.template operator()<T, sib::thrust_cuda>(); });
#else
        sib::fail("--backend cuda: this sib was built without CUDA (configure with -DSIB_CLI_CUDA=ON and nvcc)");
#endif
    }
    return with_dtype(a, [&]<class T>() { return f.template operator()<T, sib::cpu>(); });
}

// The help of --model (the layers and the named models: sib --help).
inline std::string model_flag_help() {
    return "model spec, PyTorch layers separated by ';' (\"Conv2d(1,16,3,padding=1); ReLU; Flatten; Linear(12544,10)\"),\n"
           "or a named model (\"resnet18(num_classes=10)\"; sib --help lists both)";
}

// The help of --benchmark, from the registry (the descriptions: sib::data::benchmarks_help()).
inline std::string benchmark_flag_help() { return "a generated benchmark: " + sib::data::benchmark_list(); }

// Where output of processes other than the first goes (under mpirun): nowhere.
inline std::ostream& null_stream() {
    static std::ostream nowhere(nullptr);
    return nowhere;
}

// The last line of every subcommand: one JSON object.
inline void print_json(const sib::io::json& j) { std::cout << j.dump() << std::endl; }

// "a,b,c" as numbers, for --mean and --std.
inline std::vector<double> numbers(const args& a, const std::string& flag) {
    std::vector<double> out;
    for (const std::string& item : sib::split_list(a.str(flag))) {
        std::size_t used = 0;
        double v = 0;
        try {
            v = std::stod(item, &used);
        } catch (...) {
            used = 0;
        }
        sib::require(!item.empty() && used == item.size(), flag, " must be numbers separated by commas, got '", a.str(flag), "'");
        out.push_back(v);
    }
    return out;
}


}  // namespace sib_cli
