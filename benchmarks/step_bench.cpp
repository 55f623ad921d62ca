// sib_bench: full training steps of sib and LibTorch side by side (issue "Speed"), on the two
// reference models, batch 64, float32, the same thread count on both sides; and an Eigen SGEMM as
// the machine's reference throughput.
//
//   sib_bench [--threads N] [--side all|sib|torch|sgemm] [Google Benchmark flags]
//
// Case names are <side>/<model>/<objective> and sgemm/eigen/<n>. Every case reports real time per
// step, images/s, GFLOP/s (sib/autodiff/step_flops.hpp) and the process's peak RSS; run one case per
// process (--benchmark_filter) for a peak that belongs to that case alone.
//
// Before timing anything, a child process checks that both sides compute the same thing: on the
// same weights and batch, the loss values agree in float32 (1e-3 relative), and in float64 so do
// the values, every parameter gradient and the parameters after one AdamW step. The child keeps
// the parent's peak RSS free of the check; a disagreement aborts the benchmark.
#include <Eigen/Core>  // its version, for the report
#include "bench_models.hpp"
#include <sib/autodiff/step_flops.hpp>
#include <sib/models/resnet.hpp>
#if defined(SIB_HAVE_TORCH)
#include "torch_side.hpp"
#include <ATen/Version.h>
#endif
#include <benchmark/benchmark.h>
#include <sib/backend/cpu/cpu.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#ifndef SIB_BENCH_FLAGS
#define SIB_BENCH_FLAGS "unknown"
#endif

namespace sib_bench {
namespace {

int threads = 2;
double base_rss_mib = 0;

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void set_threads() {
    sib::set_num_threads(threads);
#if defined(SIB_HAVE_TORCH)
    torch::set_num_threads(threads);
#endif
}

void report(benchmark::State& state, double flops_per_step, double images_per_step) {
    state.counters["images_per_s"] = benchmark::Counter(images_per_step, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOP_per_s"] =
        benchmark::Counter(flops_per_step * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["step_GFLOP"] = flops_per_step * 1e-9;
    state.counters["peak_rss_MiB"] = peak_rss_mib();
    state.counters["base_rss_MiB"] = base_rss_mib;
    state.counters["threads"] = threads;
}

// One trainer per model and side, made on first use and warmed up (the first steps size every
// workspace), then kept: Google Benchmark calls a case several times while it picks an iteration
// count, and the set-up is not what is measured.
template <class Trainer, class Make>
Trainer& cached(std::map<std::string, std::unique_ptr<Trainer>>& cache, const std::string& key, Make make) {
    auto& slot = cache[key];
    if (!slot) slot = make();
    return *slot;
}

void sib_case(benchmark::State& state, const reference_model* r, objective_kind o) {
    static std::map<std::string, std::unique_ptr<sib_trainer<float>>> cache;
    set_threads();
    auto& t = cached(cache, std::string(r->name) + objective_name(o), [&] {
        auto p = std::make_unique<sib_trainer<float>>(*r);
        for (int i = 0; i < 2; ++i) p->step(o);
        return p;
    });
    for (auto _ : state) benchmark::DoNotOptimize(t.step(o).total);
    const auto f = sib::autodiff::count_step_flops(t.model, t.x.shape());
    report(state, o == objective_kind::sib ? f.sib_step : f.ce_step, static_cast<double>(batch_size));
}

// torchvision's ResNets (sib::models) at the shapes of the speed issue: ResNet-18 on 64x64 images,
// batch 32, and ResNet-50 on 224x224, batch 8; 10 classes. LibTorch has no torchvision models, so
// these run on sib's side only (PyTorch's times are measured with torchvision in Python).
template <class Model>
struct model_trainer {
    Model model;
    sib::optim::adamw<float> opt;
    sib::masks::density_mask<float> mask;
    sib::autodiff::step_workspace<float> ws;
    sib::loss::sib_objective_t<float> sib_objective = sib::loss::sib_objective<float>();
    decltype(sib::loss::ce()) ce_objective = sib::loss::ce();
    sib::tensor<float> x;
    sib::tensor<std::int64_t> y;

    model_trainer(sib::index_t batch, sib::index_t side)
        : model(sib::models::resnet_options{.num_classes = classes}), x(sib::shape{batch, 3, side, side}), y(sib::shape{batch}) {
        sib::rng g(seed);
        sib::optim::pytorch_default(model, g);
        for (auto& v : x) v = static_cast<float>(g.uniform());
        for (auto& v : y) v = static_cast<std::int64_t>(g.below(classes));
    }
    sib::autodiff::step_values<float> step(objective_kind o) {
        opt.zero_grad(model);
        auto v = o == objective_kind::sib ? sib::autodiff::objective_step(model, ws, x, y, sib_objective, mask)
                                          : sib::autodiff::objective_step(model, ws, x, y, ce_objective, mask);
        opt.step(model);
        return v;
    }
};

template <class Model>
void resnet_case(benchmark::State& state, sib::index_t batch, sib::index_t side, objective_kind o) {
    static std::map<std::string, std::unique_ptr<model_trainer<Model>>> cache;
    set_threads();
    auto& t = cached(cache, objective_name(o), [&] {
        auto p = std::make_unique<model_trainer<Model>>(batch, side);
        p->step(o);  // sizes every workspace
        return p;
    });
    for (auto _ : state) benchmark::DoNotOptimize(t.step(o).total);
    // count_step_flops walks flat spec models only (not yet the branches of residual blocks): no
    // GFLOP/s for these cases.
    report(state, 0.0, static_cast<double>(batch));
}

#if defined(SIB_HAVE_TORCH)
void torch_case(benchmark::State& state, const reference_model* r, objective_kind o) {
    static std::map<std::string, std::unique_ptr<torch_trainer>> cache;
    set_threads();
    sib::autodiff::step_flop_count f;
    auto& t = cached(cache, std::string(r->name) + objective_name(o), [&] {
        sib_trainer<float> weights(*r);  // the same initial weights and batch as the sib side
        auto p = std::make_unique<torch_trainer>(weights.model, weights.x, weights.y);
        for (int i = 0; i < 2; ++i) p->step(o == objective_kind::sib);
        return p;
    });
    for (auto _ : state) benchmark::DoNotOptimize(t.step(o == objective_kind::sib).total.item<float>());
    {
        sib::nn::spec_model<float> geometry(r->spec);
        f = sib::autodiff::count_step_flops(geometry, {batch_size, r->channels, r->height, r->width});
    }
    report(state, o == objective_kind::sib ? f.sib_step : f.ce_step, static_cast<double>(batch_size));
}
#endif

// C = A B for square float n x n through sib's GEMM primitive (the BLAS where found, else Eigen):
// the reference GFLOP/s.
void sgemm_case(benchmark::State& state) {
    const sib::index_t n = state.range(0);
    set_threads();
    sib::tensor<float> a({n, n}), b({n, n}), c({n, n});
    sib::rng g(seed);
    for (auto& v : a) v = static_cast<float>(g.uniform(-1, 1));
    for (auto& v : b) v = static_cast<float>(g.uniform(-1, 1));
    for (auto _ : state) {
        sib::cpu::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    const double nd = static_cast<double>(n);
    report(state, 2.0 * nd * nd * nd, 0.0);
}

#if defined(SIB_HAVE_TORCH)
double relative(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

// max |a - b| / max |b| over a parameter: a scale-aware error that exact zeros do not break.
double relative_max(const torch::Tensor& a, const torch::Tensor& b) {
    const double scale = b.abs().max().item<double>();
    return (a - b).abs().max().item<double>() / std::max(scale, 1e-30);
}

template <class T>
std::map<std::string, torch::Tensor> sib_tensors(sib::nn::spec_model<T>& m, bool grads) {
    std::map<std::string, torch::Tensor> out;
    m.for_each_parameter([&](std::string_view name, auto& value, auto* grad) {
        out[std::string(name)] = to_torch(grads ? *grad : value).reshape(-1);
    });
    return out;
}

// Worst error over the parameters of the torch model (grads or values) against sib's.
template <class T>
double worst_parameter_error(sib::nn::spec_model<T>& m, torch::nn::Sequential& seq, bool grads) {
    const auto ours = sib_tensors(m, grads);
    double worst = 0;
    for (const auto& item : seq->named_parameters()) {
        const auto theirs = (grads ? item.value().grad() : item.value()).detach().reshape(-1);
        worst = std::max(worst, relative_max(ours.at(item.key()), theirs));
    }
    return worst;
}

// One model in precision T: values (and in float64, gradients and one AdamW step) of both sides.
template <class T>
bool check_model(const reference_model& r, double value_tol, bool deep) {
    bool ok = true;
    for (auto o : {objective_kind::sib, objective_kind::ce}) {
        sib_trainer<T> s(r);
        torch_trainer t(s.model, s.x, s.y);
        const bool is_sib = o == objective_kind::sib;
        const auto sv = s.objective(o);
        t.opt->zero_grad();
        const auto tv = t.objective(is_sib);
        std::ostringstream line;
        line.precision(3);
        line << "check " << r.name << " " << objective_name(o) << " " << (std::is_same_v<T, float> ? "float32" : "float64")
             << ": relative error";
        auto compare = [&](const char* what, double a, const torch::Tensor& b) {
            const double e = relative(a, b.item<double>());
            line << " " << what << " " << std::scientific << e;
            ok = ok && e <= value_tol;
        };
        compare("total", sv.total, tv.total);
        compare("ce", sv.terms["ce"], tv.ce);
        if (is_sib) {
            compare("fg", sv.terms["fg"], tv.fg);
            compare("bg", sv.terms["bg"], tv.bg);
        }
        line << " (tolerance " << value_tol << ")";
        if (deep) {
            const double eg = worst_parameter_error(s.model, t.model, true);
            s.opt.step(s.model);
            t.opt->step();
            const double ep = worst_parameter_error(s.model, t.model, false);
            line << "; gradients " << eg << ", parameters after AdamW " << ep << " (tolerance " << value_tol << ")";
            ok = ok && eg <= value_tol && ep <= value_tol;
        }
        std::cerr << line.str() << (ok ? "" : "  <-- DISAGREES") << "\n";
    }
    return ok;
}

// Both models: float32 values to 1e-3 (the benchmark's precision); float64 values, gradients and
// updated parameters to 1e-8 (the golden fixtures' float64 contract).
bool sides_agree() {
    bool ok = true;
    for (const auto& r : reference_models) {
        ok = check_model<float>(r, 1e-3, false) && ok;
        ok = check_model<double>(r, 1e-8, true) && ok;
    }
    return ok;
}

// Runs the check in a child process, so that its memory never shows in the parent's peak RSS.
bool sides_agree_in_child() {
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = fork();
    if (pid < 0) return sides_agree();
    if (pid == 0) {
        int code = 0;
        try {
            set_threads();
            code = sides_agree() ? 0 : 3;
        } catch (const std::exception& e) {
            std::cerr << "check failed: " << e.what() << "\n";
            code = 4;
        }
        std::cerr.flush();
        _exit(code);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
#endif

// Removes "--name value" from argv and returns value (or fallback).
std::string take_flag(int& argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (name != argv[i]) continue;
        std::string v = argv[i + 1];
        for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
        argc -= 2;
        return v;
    }
    return fallback;
}

}  // namespace
}  // namespace sib_bench

int main(int argc, char** argv) {
    using namespace sib_bench;
    base_rss_mib = peak_rss_mib();
    threads = threads_from(argc, argv);
    take_flag(argc, argv, "--threads", "");
    const std::string side = take_flag(argc, argv, "--side", "all");
    if (threads < 1 || (side != "all" && side != "sib" && side != "torch" && side != "sgemm")) {
        std::cerr << "sib_bench: --threads must be >= 1 and --side one of all, sib, torch, sgemm\n";
        return 2;
    }
#if !defined(SIB_HAVE_TORCH)
    if (side == "torch") {
        std::cerr << "sib_bench: built without LibTorch (find_package(Torch) failed), no torch cases\n";
        return 2;
    }
#endif
    const bool want_sib = side == "all" || side == "sib", want_torch = side == "all" || side == "torch";
#if defined(SIB_HAVE_TORCH)
    if (want_sib || want_torch) {
        if (!sides_agree_in_child()) {
            std::cerr << "sib_bench: sib and LibTorch do not compute the same loss on the same weights and "
                         "inputs; the comparison would be meaningless, aborting\n";
            return 1;
        }
    }
#endif
    set_threads();

    for (const auto& r : reference_models) {
        for (auto o : {objective_kind::sib, objective_kind::ce}) {
            const std::string tail = std::string(r.name) + "/" + objective_name(o);
            if (want_sib)
                benchmark::RegisterBenchmark(("sib/" + tail).c_str(), sib_case, &r, o)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
#if defined(SIB_HAVE_TORCH)
            if (want_torch)
                benchmark::RegisterBenchmark(("torch/" + tail).c_str(), torch_case, &r, o)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
#endif
        }
    }
    if (want_sib) {
        for (auto o : {objective_kind::sib, objective_kind::ce}) {
            benchmark::RegisterBenchmark(("sib/resnet18_64x64_b32/" + std::string(objective_name(o))).c_str(),
                                         resnet_case<sib::models::resnet18<float>>, 32, 64, o)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(("sib/resnet50_224x224_b8/" + std::string(objective_name(o))).c_str(),
                                         resnet_case<sib::models::resnet50<float>>, 8, 224, o)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        }
    }
    if (side == "all" || side == "sgemm")
        benchmark::RegisterBenchmark("sgemm/eigen", sgemm_case)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    benchmark::AddCustomContext("sib_threads", std::to_string(threads));
    benchmark::AddCustomContext("compiler", "g++ " __VERSION__);
    benchmark::AddCustomContext("flags", SIB_BENCH_FLAGS);
#if defined(SIB_USE_CBLAS)
    benchmark::AddCustomContext("gemm", "CBLAS (sib::cpu::gemm through the BLAS CMake found)");
#else
    benchmark::AddCustomContext("gemm", "Eigen");
#endif
    benchmark::AddCustomContext("eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                                             "." + std::to_string(EIGEN_MINOR_VERSION));
#if defined(SIB_HAVE_TORCH)
    benchmark::AddCustomContext("libtorch", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                                                "." + std::to_string(TORCH_VERSION_PATCH));
    // The lines of torch's build summary that decide its CPU speed (oneDNN, BLAS, parallel backend).
    std::istringstream config(at::show_config());
    std::string line, summary;
    while (std::getline(config, line)) {
        if (line.find("MKL-DNN") != std::string::npos || line.find("OpenMP") != std::string::npos)
            summary += (summary.empty() ? "" : "; ") + line.substr(line.find_first_not_of(" -"));
        const auto blas = line.find("BLAS_INFO=");
        if (blas != std::string::npos)
            summary += "; " + line.substr(blas, line.find(',', blas) - blas);
    }
    benchmark::AddCustomContext("libtorch_config", summary);
#endif
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
