// sib_bench: full training steps of sib and LibTorch side by side (issue "Speed"), on the two
// reference models (batch 64) and torchvision's ResNet-18 (64x64, batch 32) and ResNet-50 (224x224,
// batch 8), float32, the same thread count on both sides; and an SGEMM through sib's GEMM (OpenBLAS
// where found, else Eigen) as the machine's reference throughput. Every BLAS in the process runs one
// thread per calling thread (printed as the "blas" context line, with the library that serves
// LibTorch's sgemm_).
//
//   sib_bench [--threads N] [--side all|sib|torch|sgemm] [--check full|light] [Google Benchmark flags]
//
// Case names are <side>/<model>/<objective> and sgemm/eigen/<n>. Every case reports real time per
// step, images/s, GFLOP/s (sib/autodiff/step_flops.hpp) and the process's peak RSS; run one case per
// process (--benchmark_filter) for a peak that belongs to that case alone. The ResNet cases run a
// fixed number of steps (3 for ResNet-18, 1 for ResNet-50) per repetition.
//
// Before timing anything, a child process checks that both sides compute the same thing: on the
// same weights and batch, the loss values agree in float32 (1e-3 relative), and in float64 so do
// the values, every parameter gradient and the parameters after one AdamW step (and for the ResNets
// the BatchNorm running statistics). Only the models with a case the filter selects are checked.
// (--check light: no float32 check of ResNet-50.) The child keeps the parent's peak
// RSS free of the check; a disagreement aborts the benchmark.
#include <Eigen/Core>  // its version, for the report
#include "bench_models.hpp"
#include <sib/autodiff/step_flops.hpp>
#include <sib/models/resnet.hpp>
#if defined(SIB_HAVE_TORCH)
#include "torch_side.hpp"
#include "torch_resnet.hpp"
#include <ATen/Version.h>
#endif
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <sib/backend/cpu/cpu.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <type_traits>
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
// --check light: no float32 check of ResNet-50 (at the case's shape it takes minutes on 2 cores: a
// series of one-case processes runs it in the first only; at the float64 check's 4x3x64x64 float32
// is no check at all: layer4's BatchNorm sees 16 values per channel, and the two sides' float32
// values and gradients part by up to 4e-3 and 97% where their float64 ones agree to 1e-13).
bool light_check = false;

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
// batch 32, and ResNet-50 on 224x224, batch 8; 10 classes, BatchNorm in training mode. The LibTorch
// side is the same network written with LibTorch modules under torchvision's names
// (torch_resnet.hpp), given sib's initial weights and batch by name.
struct resnet_shape {
    const char* name;  // the case's middle part
    bool bottleneck;   // ResNet-50 (Bottleneck) or ResNet-18 (BasicBlock)
    sib::index_t batch, side;
    const char* spec;  // the same network as a run-time spec, for its FLOP count
    // The float64 agreement check's batch and image side (the float32 one runs at the case's shape).
    sib::index_t check_batch, check_side;
};
inline constexpr resnet_shape resnet18_shape{"resnet18_64x64_b32", false, 32, 64, "resnet18(num_classes=10)", 32, 64};
inline constexpr resnet_shape resnet50_shape{"resnet50_224x224_b8", true, 8, 224, "resnet50(num_classes=10)", 4, 64};
inline constexpr resnet_shape resnet_shapes[] = {resnet18_shape, resnet50_shape};

template <bool Bottleneck, class T>
using resnet_t = std::conditional_t<Bottleneck, sib::models::resnet50<T>, sib::models::resnet18<T>>;

// sib's side of a ResNet case: bench_models.hpp's model_trainer on the compile-time ResNet.
template <class T, class Model>
std::unique_ptr<model_trainer<T, Model>> make_resnet_trainer(sib::index_t batch, sib::index_t side) {
    return std::make_unique<model_trainer<T, Model>>(sib::shape{batch, 3, side, side},
                                                     sib::models::resnet_options{.num_classes = classes});
}

// The FLOP count of a ResNet step by sib's convention (sib/autodiff/step_flops.hpp), from the same
// network as a run-time spec model (count_step_flops walks its residual blocks).
double resnet_step_flops(const resnet_shape& r, objective_kind o) {
    static std::map<std::string, sib::autodiff::step_flop_count> counts;
    auto it = counts.find(r.name);
    if (it == counts.end()) {
        sib::models::spec_model<float> geometry(r.spec);
        it = counts.emplace(r.name, sib::autodiff::count_step_flops(geometry, {r.batch, 3, r.side, r.side})).first;
    }
    return o == objective_kind::sib ? it->second.sib_step : it->second.ce_step;
}

template <bool Bottleneck>
void resnet_case(benchmark::State& state, const resnet_shape* r, objective_kind o) {
    static std::map<std::string, std::unique_ptr<model_trainer<float, resnet_t<Bottleneck, float>>>> cache;
    set_threads();
    auto& t = cached(cache, objective_name(o), [&] {
        auto p = make_resnet_trainer<float, resnet_t<Bottleneck, float>>(r->batch, r->side);
        p->step(o);  // sizes every workspace
        return p;
    });
    for (auto _ : state) benchmark::DoNotOptimize(t.step(o).total);
    report(state, resnet_step_flops(*r, o), static_cast<double>(r->batch));
}

#if defined(SIB_HAVE_TORCH)
inline torch_resnet torch_resnet_like(const resnet_shape& r) {
    return r.bottleneck ? torch_resnet50(classes) : torch_resnet18(classes);
}

template <bool Bottleneck>
void torch_resnet_case(benchmark::State& state, const resnet_shape* r, objective_kind o) {
    static std::map<std::string, std::unique_ptr<torch_trainer_of<torch_resnet>>> cache;
    set_threads();
    const bool is_sib = o == objective_kind::sib;
    auto& t = cached(cache, objective_name(o), [&] {
        // The same initial weights and batch as the sib side; sib's model is freed before timing.
        model_trainer<float, resnet_t<Bottleneck, float>> weights(sib::shape{r->batch, 3, r->side, r->side}, sib::models::resnet_options{.num_classes = classes});
        auto p = std::make_unique<torch_trainer_of<torch_resnet>>(torch_resnet_like(*r), weights.model, weights.x,
                                                                  weights.y);
        p->step(is_sib);  // warm-up, as the sib side's
        return p;
    });
    for (auto _ : state) benchmark::DoNotOptimize(t.step(is_sib).total.template item<float>());
    report(state, resnet_step_flops(*r, o), static_cast<double>(r->batch));
}
#endif

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
        sib::models::spec_model<float> geometry(r->spec);
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

// Worst error of the torch model's parameters (their gradients, or their values) against sib's, and
// of its buffers (BatchNorm's running statistics; values only, 0 where there are none), with the
// name of the worst parameter and buffer and, for the parameters, the worst element and both sides'
// gradients there.
struct parameter_errors {
    double parameters = 0, buffers = 0;
    std::string parameter, buffer;
    std::int64_t element = 0;
    double sib_grad = 0, torch_grad = 0, largest_grad = 0;
    // Values only: the worst max(0, max|a - b| - lr/eps max|grad_a - grad_b|) / max|b| over the
    // parameters, the part of a difference after an AdamW step that the gradients' difference does
    // not account for (see check_model).
    double beyond_gradients = 0;
};
template <class Model, class Net>
parameter_errors worst_parameter_errors(Model& m, Net& net, bool grads) {
    auto params = net->named_parameters();
    auto buffers = net->named_buffers();
    parameter_errors e;
    m.for_each_parameter([&](std::string_view name, auto& value, auto* grad) {
        if (grad != nullptr) {
            const auto& p = params[std::string(name)];
            const auto theirs = (grads ? p.grad() : p).detach().reshape(-1);
            const auto ours = to_torch(grads ? *grad : value).reshape(-1);
            const double err = relative_max(ours, theirs);
            if (!grads) {
                const double grad_diff = (to_torch(*grad).reshape(-1) - p.grad().detach().reshape(-1)).abs().max().template item<double>();
                const double scale = std::max(theirs.abs().max().template item<double>(), 1e-30);
                const double diff = (ours - theirs).abs().max().template item<double>();
                e.beyond_gradients = std::max(e.beyond_gradients, std::max(0.0, diff - adamw_lr / adamw_eps * grad_diff) / scale);
            }
            if (err >= e.parameters) {
                e.parameters = err;
                e.parameter = std::string(name);
                e.element = (ours - theirs).abs().argmax().template item<std::int64_t>();
                const auto their_grad = p.grad().detach().reshape(-1);
                e.sib_grad = to_torch(*grad).reshape(-1)[e.element].template item<double>();
                e.torch_grad = their_grad[e.element].template item<double>();
                e.largest_grad = their_grad.abs().max().template item<double>();
            }
        } else if (!grads) {
            const auto theirs = buffers[std::string(name)].detach();
            const double err = relative_max(to_torch(value).reshape(-1), theirs.reshape(-1));
            if (err >= e.buffers) {
                e.buffers = err;
                e.buffer = std::string(name);
            }
        }
    });
    return e;
}

// One model in precision T, made fresh for each objective by make_sib() (a sib trainer: model, opt,
// objective(o)) and make_torch(sib trainer) (a torch_trainer_of over the same weights and batch):
// values of total, CE, fg, bg; in float32 the gradients are reported beside them (not checked: the
// soft quantiles' gradients jump at ties, which float32 rounding moves, docs/objective.md); with
// deep, every parameter gradient, the parameters after one AdamW step and the running statistics
// after the step's forward are checked too. AdamW's first step moves an element by
// lr g / (|g| + eps) (+ the decay), whose derivative in g reaches lr/eps = 1e5: an element whose
// gradient is rounding noise around 0 (|g| ~ 1e-14 where the largest is ~1) moves by noise times
// 1e5, which on a zero-initialised BatchNorm bias (whose largest value after the step is lr) is a
// relative difference of ~1e-6 (ResNet-50). The parameters after AdamW are therefore checked beyond
// what lr/eps times the gradients' difference (itself checked to the tolerance) accounts for; the
// plain relative difference is printed beside it.
template <class T, class MakeSib, class MakeTorch>
bool check_model(const std::string& label, MakeSib make_sib, MakeTorch make_torch, double value_tol, bool deep) {
    bool ok = true;
    for (auto o : {objective_kind::sib, objective_kind::ce}) {
        auto s = make_sib();
        auto t = make_torch(*s);
        const bool is_sib = o == objective_kind::sib;
        const auto sv = s->objective(o);
        t->opt->zero_grad();
        const auto tv = t->objective(is_sib);
        std::ostringstream line;
        line.precision(3);
        line << "check " << label << " " << objective_name(o) << " " << (std::is_same_v<T, float> ? "float32" : "float64")
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
        const auto eg = worst_parameter_errors(s->model, t->model, true);
        if (deep) {
            const auto eb = worst_parameter_errors(s->model, t->model, false);
            s->opt.step(s->model);
            t->opt->step();
            const auto ep = worst_parameter_errors(s->model, t->model, false);
            line << "; gradients " << eg.parameters << " (" << eg.parameter << "), parameters after AdamW "
                 << ep.parameters << " (" << ep.parameter << "[" << ep.element << "]: gradient " << ep.sib_grad
                 << " in sib, " << ep.torch_grad << " in torch, largest " << ep.largest_grad << "; beyond lr/eps x the "
                 << "gradients' difference " << ep.beyond_gradients << ")";
            if (t->model->named_buffers().size() > 0) line << ", running statistics " << eb.buffers << " (" << eb.buffer << ")";
            line << " (tolerance " << value_tol << ")";
            ok = ok && eg.parameters <= value_tol && ep.beyond_gradients <= value_tol && eb.buffers <= value_tol;
        } else {
            line << "; gradients " << eg.parameters << " (" << eg.parameter << "[" << eg.element << "]: " << eg.sib_grad
                 << " in sib, " << eg.torch_grad << " in torch, largest " << eg.largest_grad << "; reported, not checked)";
        }
        std::cerr << line.str() << (ok ? "" : "  <-- DISAGREES") << "\n";
    }
    return ok;
}

template <class T>
bool check_reference_model(const reference_model& r, double value_tol, bool deep) {
    return check_model<T>(
        r.name, [&] { return std::make_unique<sib_trainer<T>>(r); },
        [](sib_trainer<T>& s) { return std::make_unique<torch_trainer>(s.model, s.x, s.y); }, value_tol, deep);
}

template <class T, bool Bottleneck>
bool check_resnet(const resnet_shape& r, sib::index_t batch, sib::index_t side, double value_tol, bool deep) {
    using sib_side = model_trainer<T, resnet_t<Bottleneck, T>>;
    const std::string label = std::string(Bottleneck ? "resnet50" : "resnet18") + " " + std::to_string(batch) + "x3x" +
                              std::to_string(side) + "x" + std::to_string(side);
    return check_model<T>(
        label, [&] { return make_resnet_trainer<T, resnet_t<Bottleneck, T>>(batch, side); },
        [&](sib_side& s) { return std::make_unique<torch_trainer_of<torch_resnet>>(torch_resnet_like(r), s.model, s.x, s.y); },
        value_tol, deep);
}

// The case names a --benchmark_filter selects (Google Benchmark's syntax: a regex searched in the
// name, "-regex" for its complement; empty or "all" selects all). Only the models with a selected
// case are checked, so a process that times one ResNet case does not pay for the other's check.
bool selected(const std::string& filter, const std::string& name) {
    if (filter.empty() || filter == "all") return true;
    try {
        if (filter[0] == '-') return !std::regex_search(name, std::regex(filter.substr(1)));
        return std::regex_search(name, std::regex(filter));
    } catch (const std::regex_error&) {
        return true;
    }
}
bool any_case_selected(const std::string& filter, const std::string& model) {
    // The names as Google Benchmark reports them: UseRealTime appends "/real_time", a fixed
    // iteration count "/iterations:N" before it (the ResNet cases).
    for (const char* side : {"sib/", "torch/"})
        for (auto o : {objective_kind::sib, objective_kind::ce})
            for (const char* tail : {"/real_time", "/iterations:1/real_time", "/iterations:3/real_time"})
                if (selected(filter, side + model + "/" + objective_name(o) + tail)) return true;
    return false;
}

// The reference models: float32 values to 1e-3 (the benchmark's precision); float64 values,
// gradients and updated parameters to 1e-8 (the golden fixtures' float64 contract). The ResNets:
// float32 values to 1e-3 at the case's own shape; float64 values, gradients, updated parameters and
// running statistics to 1e-8 at resnet_shape::check_batch/check_side (for ResNet-50 smaller than
// the case's 8x3x224x224, whose float64 double backprop alone would take a minute per objective).
bool sides_agree(const std::string& filter) {
    bool ok = true;
    for (const auto& r : reference_models) {
        if (!any_case_selected(filter, r.name)) continue;
        ok = check_reference_model<float>(r, 1e-3, false) && ok;
        ok = check_reference_model<double>(r, 1e-8, true) && ok;
    }
    if (any_case_selected(filter, resnet18_shape.name)) {
        const auto& r = resnet18_shape;
        ok = check_resnet<float, false>(r, r.batch, r.side, 1e-3, false) && ok;
        ok = check_resnet<double, false>(r, r.check_batch, r.check_side, 1e-8, true) && ok;
    }
    if (any_case_selected(filter, resnet50_shape.name)) {
        const auto& r = resnet50_shape;
        if (!light_check) ok = check_resnet<float, true>(r, r.batch, r.side, 1e-3, false) && ok;
        ok = check_resnet<double, true>(r, r.check_batch, r.check_side, 1e-8, true) && ok;
    }
    return ok;
}

// Runs the check in a child process, so that its memory never shows in the parent's peak RSS.
bool sides_agree_in_child(const std::string& filter) {
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = fork();
    if (pid < 0) return sides_agree(filter);
    if (pid == 0) {
        int code = 0;
        try {
            set_threads();
            code = sides_agree(filter) ? 0 : 3;
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

// The value of --benchmark_filter (either spelling), or "" (all cases).
std::string filter_from(int argc, char** argv) {
    const std::string flag = "--benchmark_filter";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
        if (a == flag && i + 1 < argc) return argv[i + 1];
    }
    return "";
}

// Every BLAS in the process at one thread per calling thread: sib's GEMM and LibTorch's (Debian's
// LibTorch calls sgemm_ through libblas.so.3, the OpenBLAS of the alternatives system when
// libopenblas0 is installed, else the reference BLAS) run inside their own worker threads, so an
// OpenBLAS that started threads of its own would oversubscribe the cores (as OPENBLAS_NUM_THREADS=1).
// Returns which library provides sgemm_ and its configuration, for the report.
std::string one_blas_thread_per_caller() {
    using set_threads_fn = void (*)(int);
    using get_threads_fn = int (*)();
    using get_config_fn = char* (*)();
    if (auto set = reinterpret_cast<set_threads_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
    std::string out = "sgemm_ from ";
    Dl_info info{};
    void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
    if (sgemm != nullptr && dladdr(sgemm, &info) != 0 && info.dli_fname != nullptr) {
        out += info.dli_fname;
        if (char* real = realpath(info.dli_fname, nullptr)) {
            if (std::string(real) != info.dli_fname) out += std::string(" (") + real + ")";
            std::free(real);
        }
    } else {
        out += "nowhere (no BLAS loaded)";
    }
    if (auto config = reinterpret_cast<get_config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
        out += std::string("; OpenBLAS ") + config();
        if (auto get = reinterpret_cast<get_threads_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
            out += ", " + std::to_string(get()) + " thread(s) per call";
    } else {
        out += "; not OpenBLAS";
    }
    return out;
}

}  // namespace
}  // namespace sib_bench

int main(int argc, char** argv) {
    using namespace sib_bench;
    base_rss_mib = peak_rss_mib();
    const std::string blas = one_blas_thread_per_caller();
    threads = threads_from(argc, argv);
    take_flag(argc, argv, "--threads", "");
    const std::string side = take_flag(argc, argv, "--side", "all");
    const std::string check = take_flag(argc, argv, "--check", "full");
    light_check = check == "light";
    if (threads < 1 || (side != "all" && side != "sib" && side != "torch" && side != "sgemm") ||
        (check != "full" && check != "light")) {
        std::cerr << "sib_bench: --threads must be >= 1, --side one of all, sib, torch, sgemm and --check full or light\n";
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
        if (!sides_agree_in_child(filter_from(argc, argv))) {
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
    // A ResNet-50 S-IB step takes seconds: a fixed, small number of steps per repetition instead of
    // --benchmark_min_time (after the one warm-up step every case takes).
    for (const auto& r : resnet_shapes) {
        const int iterations = r.bottleneck ? 1 : 3;
        for (auto o : {objective_kind::sib, objective_kind::ce}) {
            const std::string tail = std::string(r.name) + "/" + objective_name(o);
            if (want_sib)
                benchmark::RegisterBenchmark(("sib/" + tail).c_str(), r.bottleneck ? resnet_case<true> : resnet_case<false>,
                                             &r, o)
                    ->Iterations(iterations)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
#if defined(SIB_HAVE_TORCH)
            if (want_torch)
                benchmark::RegisterBenchmark(("torch/" + tail).c_str(),
                                             r.bottleneck ? torch_resnet_case<true> : torch_resnet_case<false>, &r, o)
                    ->Iterations(iterations)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
#endif
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
    benchmark::AddCustomContext("blas", blas);
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
