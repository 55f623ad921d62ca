// sib_gemm_floor: the GEMM floor of a training step. It records every sequential BLAS product that one
// step of sib runs (sib::cpu::gemm's blocks, through the SIB_GEMM_TRACE hook of
// sib/backend/cpu/cpu.hpp), each on the thread that ran it, and then times those products alone:
// each thread runs its own list back to back, same shapes, same order, with nothing between them
// (no im2col, no BatchNorm, no barriers, the operands warm in cache). No step built on these
// products can be faster than that, whatever is done to the rest of it; the gap between the step
// and its floor is what the rest costs.
//
//   sib_gemm_floor [--model small|three_conv|resnet18|resnet50] [--objective sib|ce] [--steps N]
//                  [--repeats N] [--threads N] [--by-shape]
//
// The models and batches are sib_bench's (small and three_conv at batch 64, ResNet-18 at 32x3x64x64,
// ResNet-50 at 8x3x224x224). Prints a summary and, last, one JSON line.
#include "bench_models.hpp"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sib_bench {
namespace {

struct product {
    bool trans_a, trans_b;
    sib::index_t m, n, k;
};

constexpr int max_threads = 64;
std::atomic<bool> recording{false};
std::vector<product> traced[max_threads];
std::atomic<bool> other_precision{false};

int thread_number() {
#if defined(_OPENMP)
    return omp_in_parallel() ? omp_get_thread_num() : 0;
#else
    return 0;
#endif
}

}  // namespace
}  // namespace sib_bench

SIB_BEGIN_NAMESPACE
namespace cpu_detail {
void gemm_trace(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, std::size_t element_size) {
    using namespace sib_bench;
    if (!recording.load(std::memory_order_relaxed)) return;
    if (element_size != sizeof(float)) other_precision = true;
    traced[thread_number()].push_back({trans_a, trans_b, m, n, k});
}
}  // namespace cpu_detail
SIB_END_NAMESPACE

namespace sib_bench {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The traced products, each thread its own list, `repeats` times; the median wall time of one pass.
double replay(int threads, int repeats) {
    std::vector<double> walls;
    std::vector<std::vector<float>> a(static_cast<std::size_t>(threads)), b(a.size()), c(a.size());
#if defined(SIB_USE_CBLAS)
    sib::cpu_detail::blas_single_threaded();
#endif
#pragma omp parallel num_threads(threads)
    {
        // Each thread's operands, as large as its largest product, first touched by that thread.
        const auto t = static_cast<std::size_t>(thread_number());
        std::size_t na = 1, nb = 1, nc = 1;
        for (const auto& p : traced[t]) {
            na = std::max(na, static_cast<std::size_t>(p.m * p.k));
            nb = std::max(nb, static_cast<std::size_t>(p.k * p.n));
            nc = std::max(nc, static_cast<std::size_t>(p.m * p.n));
        }
        a[t].assign(na, 1e-3f);
        b[t].assign(nb, 1e-3f);
        c[t].assign(nc, 0.0f);
    }
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = clock_type::now();
#pragma omp parallel num_threads(threads)
        {
            const auto t = static_cast<std::size_t>(thread_number());
            for (const auto& p : traced[t])
                sib::cpu_detail::gemm_block(p.trans_a, p.trans_b, p.m, p.n, p.k, 1.0f, a[t].data(),
                                            p.trans_a ? p.m : p.k, b[t].data(), p.trans_b ? p.k : p.n,
                                            c[t].data(), p.n);
        }
        walls.push_back(ms_since(t0));
    }
    return median(walls);
}

// --by-shape: every distinct product shape of the traced step, timed alone on one thread (the
// fastest of `repeats` passes over that shape's products), the slowest in total first. A shape far
// below the others' GFLOP/s is one whose operands BLAS cannot feed its kernel fast enough.
void by_shape(int threads, int repeats) {
    struct row {
        product p;
        std::size_t count = 0;
        double ms = 0;
    };
    std::vector<row> rows;
    for (int i = 0; i < threads; ++i)
        for (const auto& p : traced[i]) {
            auto it = std::find_if(rows.begin(), rows.end(), [&](const row& r) {
                return r.p.trans_a == p.trans_a && r.p.trans_b == p.trans_b && r.p.m == p.m && r.p.n == p.n &&
                       r.p.k == p.k;
            });
            if (it == rows.end()) it = rows.insert(rows.end(), row{p});
            ++it->count;
        }
    for (auto& r : rows) {
        const auto& p = r.p;
        std::vector<float> a(static_cast<std::size_t>(p.m * p.k), 1e-3f), b(static_cast<std::size_t>(p.k * p.n), 1e-3f),
            c(static_cast<std::size_t>(p.m * p.n), 0.0f);
        std::vector<double> walls;
        for (int rep = 0; rep < repeats; ++rep) {
            const auto t0 = clock_type::now();
            for (std::size_t i = 0; i < r.count; ++i)
                sib::cpu_detail::gemm_block(p.trans_a, p.trans_b, p.m, p.n, p.k, 1.0f, a.data(), p.trans_a ? p.m : p.k,
                                            b.data(), p.trans_b ? p.k : p.n, c.data(), p.n);
            walls.push_back(ms_since(t0));
        }
        r.ms = *std::min_element(walls.begin(), walls.end());
    }
    std::sort(rows.begin(), rows.end(), [](const row& x, const row& y) { return x.ms > y.ms; });
    std::cout << "  op      m      n      k  count  ms (1 thread)  GFLOP/s\n";
    for (const auto& r : rows) {
        const double flop = 2.0 * static_cast<double>(r.p.m) * static_cast<double>(r.p.n) *
                            static_cast<double>(r.p.k) * static_cast<double>(r.count);
        std::cout << "  " << (r.p.trans_a ? 't' : 'n') << (r.p.trans_b ? 't' : 'n') << std::setw(7) << r.p.m
                  << std::setw(7) << r.p.n << std::setw(7) << r.p.k << std::setw(7) << r.count << std::setw(15)
                  << std::setprecision(2) << r.ms << std::setw(9) << std::setprecision(1) << flop * 1e-6 / r.ms
                  << "\n";
    }
}

template <class Trainer>
int measure(const std::string& model, Trainer& t, objective_kind o, int steps, int repeats, bool shapes) {
    const int threads = sib::num_threads();
    sib::require(threads <= max_threads, "--threads must be at most ", max_threads);
    t.step(o);  // sizes every workspace
    recording = true;
    t.step(o);
    recording = false;
    sib::require(!other_precision, "a traced product was not float32");
    std::vector<double> step_ms;
    for (int i = 0; i < steps; ++i) {
        const auto t0 = clock_type::now();
        t.step(o);
        step_ms.push_back(ms_since(t0));
    }
    const double step = median(step_ms);
    const double floor = replay(threads, repeats);
    double flop = 0;
    std::size_t count = 0, largest_list = 0;
    for (int i = 0; i < threads; ++i) {
        for (const auto& p : traced[i]) flop += 2.0 * static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k);
        count += traced[i].size();
        largest_list = std::max(largest_list, traced[i].size());
    }
    std::cout << std::fixed << std::setprecision(2) << model << " " << objective_name(o) << ", " << threads
              << " threads: step " << step << " ms (median of " << steps << "); its " << count
              << " BLAS products (" << flop * 1e-9 << " GFLOP) alone: " << floor << " ms (median of " << repeats
              << "), " << flop * 1e-6 / floor << " GFLOP/s; the floor is " << std::setprecision(1)
              << 100.0 * floor / step << "% of the step\n";
    std::cout << "json {\"model\":\"" << model << "\",\"objective\":\"" << objective_name(o)
              << "\",\"threads\":" << threads << ",\"step_ms\":" << step << ",\"floor_ms\":" << floor
              << ",\"products\":" << count << ",\"gflop\":" << flop * 1e-9 << "}\n";
    if (shapes) by_shape(threads, repeats);
    return 0;
}

constexpr const char* usage =
    "usage: sib_gemm_floor [--model small|three_conv|resnet18|resnet50] [--objective sib|ce] [--steps N]\n"
    "                      [--repeats N] [--threads N] [--by-shape]\n"
    "Times one training step of sib and the step's own BLAS products alone (same shapes, threads and\n"
    "order, nothing between them): the fastest any step built on those products could be.\n"
    "--by-shape: then each distinct product shape alone on one thread, the slowest in total first.\n";

}  // namespace
}  // namespace sib_bench

int main(int argc, char** argv) {
    using namespace sib_bench;
    if (asks_for_help(argc, argv)) {
        std::cout << usage;
        return 0;
    }
    try {
        const std::string model = flag(argc, argv, "--model", "three_conv");
        const std::string objective = flag(argc, argv, "--objective", "sib");
        const int steps = int_flag(argc, argv, "--steps", 5);
        const int repeats = int_flag(argc, argv, "--repeats", 5);
        const bool shapes = has_flag(argc, argv, "--by-shape");
        sib::set_num_threads(threads_from(argc, argv));
        sib::require(objective == "sib" || objective == "ce", "--objective must be sib or ce, got '", objective, "'");
        sib::require(steps >= 1 && repeats >= 1, "--steps and --repeats must be >= 1");
        const objective_kind o = objective == "sib" ? objective_kind::sib : objective_kind::ce;
        return with_model(model, [&](auto make_trainer) {
            auto t = make_trainer();
            return measure(model, t, o, steps, repeats, shapes);
        });
    } catch (const std::exception& e) {
        std::cerr << "sib_gemm_floor: " << e.what() << "\n";
        return 1;
    }
}
