// The C++ side of the torchvision_objective test (tests/interop/run_torchvision_objective.sh):
//
//   sib_torchvision_objective DIR
//
// For each case that tests/interop/torchvision_objective.py exports to DIR/<case>/ (torchvision's
// resnet18, resnet34, resnet50, resnet18 with the small-input stem, and the latter with the mask's
// temperature at 10; float64, random weights and running statistics), loads weights.safetensors
// into sib's compile-time model (sib::models::resnet18<double> ...) with the strict loader, runs one
// objective_step of the S-IB objective (sib_objective and density_mask with their defaults, window
// from the image size) in evaluation mode and then, from the same state, in training mode, and
// compares with PyTorch's double backprop: the logits, R, M, ce, fg, bg and total, every parameter
// gradient, and after each step every running statistic and num_batches_tracked (moved by the
// training step, untouched in evaluation mode). An array's error is max |sib - torch| / max |torch|;
// float64 must agree to 1e-9. resnet18_small at temperature 10 is also run in float32 (the same
// float64 files, converted on loading) against the float64 reference, to 2e-4 (at the default
// temperature float32's gradient can jump: see torchvision_objective.py). Prints the worst error of
// each kind per case and mode (and the seconds each step took); exit 0 when all agree, 1 otherwise.
#include <sib/autodiff/step.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/core/counters.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/safetensors.hpp>
#include <sib/io/weights.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/models.hpp>
#include <sib/optim/optimizer.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

namespace {

namespace fs = std::filesystem;

// The largest error of one kind and where it is.
struct worst {
    double error = 0;
    std::string where;
    void add(double e, std::string_view w) {
        if (where.empty() || !(e <= error)) {  // NaN sticks
            error = e;
            where = w;
        }
    }
};

// max |got - want| / max |want| (the absolute error where want is all zero).
template <class T>
double relative_error(const sib::tensor<T>& got, const sib::tensor<double>& want, const std::string& what) {
    sib::require(got.shape() == want.shape(), what, ": shape ", got.shape().str(), " in sib, ", want.shape().str(),
                 " in torch");
    double diff = 0, scale = 0;
    for (sib::index_t i = 0; i < want.size(); ++i) {
        const double d = std::abs(static_cast<double>(got[i]) - want[i]);
        diff = std::isnan(d) ? d : std::max(diff, d);
        scale = std::max(scale, std::abs(want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

// torchvision_objective.py writes each case to DIR/.<case> and renames it DIR/<case> when complete,
// while this program compares the cases before; run_torchvision_objective.sh leaves DIR/FAILED
// when the export fails.
fs::path wait_for_case(const fs::path& dir, const std::string& name) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
        if (fs::exists(dir / name)) return dir / name;
        sib::require(!fs::exists(dir / "FAILED"), "torchvision_objective.py failed before writing ", name);
        sib::require(std::chrono::steady_clock::now() - start < std::chrono::minutes(15),
                     "no ", (dir / name).string(), " after 15 minutes");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

template <class Model>
bool run_case(const std::string& name, const fs::path& dir, double tolerance,
              const sib::masks::density_mask_options& mask_options = {}) {
    using T = typename Model::value_type;
    const fs::path c = wait_for_case(dir, name);
    const auto start = std::chrono::steady_clock::now();
    const auto x = sib::io::load_npy<T>(c / "x.npy");
    const auto labels = sib::io::load_labels(c / "y.npy");
    const sib::tensor<std::int64_t> y({x.dim(0)}, labels);
    const char* precision = sizeof(T) == 8 ? "float64" : "float32";

    // Loaded once: evaluation mode first, which moves no parameter and no running statistic, then
    // training mode from the same state.
    Model m({.num_classes = 10});
    sib::io::load_state_dict(m, c / "weights.safetensors");
    bool ok = true;
    for (const bool training : {false, true}) {
        const std::string mode = training ? "train" : "eval";
        const fs::path ref = c / mode;
        m.set_training(training);
        sib::optim::zero_grad(m);
        sib::masks::density_mask<T> mask(mask_options);
        auto objective = sib::loss::sib_objective<T>({});
        sib::autodiff::step_workspace<T> ws;
        const auto step_start = std::chrono::steady_clock::now();
        const auto v = sib::autodiff::objective_step(m, ws, x, y, objective, mask);
        const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();

        worst arrays, values, grads, buffers;
        arrays.add(relative_error(ws.sweeps.logits(), sib::io::load_npy<double>(ref / "logits.npy"), "logits"),
                   "logits");
        arrays.add(relative_error(ws.sweeps.explanation(), sib::io::load_npy<double>(ref / "R.npy"), "R"), "R");
        arrays.add(relative_error(ws.mask, sib::io::load_npy<double>(ref / "M.npy"), "M"), "M");

        const auto want = sib::io::load_npy<double>(ref / "values.npy");  // ce, fg, bg, total
        const double got[] = {v.terms["ce"], v.terms["fg"], v.terms["bg"], static_cast<double>(v.total)};
        const char* names[] = {"ce", "fg", "bg", "total"};
        for (int i = 0; i < 4; ++i) values.add(std::abs(got[i] - want[i]) / std::abs(want[i]), names[i]);

        int n_grads = 0, n_buffers = 0;
        const auto after = sib::io::safetensors_file::load(ref / "buffers.safetensors");
        m.for_each_parameter([&](std::string_view pname, sib::tensor<T>& value, sib::tensor<T>* grad) {
            const std::string n(pname);
            if (grad) {
                grads.add(relative_error(*grad, sib::io::load_npy<double>(ref / ("grad." + n + ".npy")), n), n);
                ++n_grads;
            } else {  // running statistics: moved by the training step, untouched in evaluation mode
                buffers.add(relative_error(value, after.get<double>(n), n), n);
                ++n_buffers;
            }
        });
        int counters_wrong = 0;
        sib::visit_counters(m, [&](std::string_view cname, sib::index_t& count) {
            const std::string n(cname);
            if (count != after.get<std::int64_t>(n).to_vector()[0]) {
                std::printf("  %s: num_batches_tracked %lld in sib, %lld in torch\n", n.c_str(),
                            static_cast<long long>(count),
                            static_cast<long long>(after.get<std::int64_t>(n).to_vector()[0]));
                ++counters_wrong;
            }
        });
        const double all = std::max({arrays.error, values.error, grads.error, buffers.error});
        const bool agree = all <= tolerance && counters_wrong == 0;
        std::printf("%s %s %s: logits/R/M %.1e (%s), values %.1e (%s), %d gradients %.1e (%s), %d running "
                    "statistics %.1e (%s): worst %.1e, tolerance %.0e, %s (step %.2f s)\n",
                    name.c_str(), mode.c_str(), precision, arrays.error, arrays.where.c_str(), values.error,
                    values.where.c_str(), n_grads, grads.error, grads.where.c_str(), n_buffers, buffers.error,
                    buffers.where.c_str(), all, tolerance, agree ? "agree" : "DISAGREE", step_s);
        ok &= agree;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s %s: %.1f s\n", name.c_str(), precision, s);
    std::fflush(stdout);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        const fs::path dir = argv[1];
        // One thread, as PyTorch's side: the test checks numbers, and on a busy machine spinning
        // OpenMP threads cost more than they give.
        sib::set_num_threads(1);
        namespace models = sib::models;
        constexpr double f64 = 1e-9, f32 = 2e-4;
        bool ok = true;
        ok &= run_case<models::resnet18<double>>("resnet18", dir, f64);
        ok &= run_case<models::resnet34<double>>("resnet34", dir, f64);
        ok &= run_case<models::resnet50<double>>("resnet50", dir, f64);
        ok &= run_case<models::resnet18_small<double>>("resnet18_small", dir, f64);
        // The soft quantiles at temperature 10 (see torchvision_objective.py): float64, and float32,
        // whose gradient would otherwise jump where rounding swaps two nearly equal values.
        const sib::masks::density_mask_options tau10{.temperature = 10};
        ok &= run_case<models::resnet18_small<double>>("resnet18_small_tau10", dir, f64, tau10);
        ok &= run_case<models::resnet18_small<float>>("resnet18_small_tau10", dir, f32, tau10);
        std::printf(ok ? "sib and torchvision agree\n" : "sib and torchvision DISAGREE\n");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sib_torchvision_objective: %s\n", e.what());
        return 1;
    }
}
