// sib bench: times full training steps (zero_grad, objective step, AdamW update) of any spec on
// random data, and reports the figures a user compares with other frameworks.
#include "common.hpp"
#include <sib/models/spec_model.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/autodiff/step.hpp>
#include <sib/autodiff/step_flops.hpp>
#include <algorithm>
#include <chrono>
#include <sys/resource.h>

namespace sib_cli {

namespace {
sib::shape parse_chw(const std::string& s) {
    sib::shape out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto x = s.find('x', start);
        if (x == std::string::npos) x = s.size();
        const std::string part = s.substr(start, x - start);
        long long v = 0;
        try {
            std::size_t used = 0;
            v = std::stoll(part, &used);
            sib::require(used == part.size(), "");
        } catch (...) {
            sib::fail("--input-shape must look like CxHxW (e.g. 1x28x28), got '", s, "'");
        }
        sib::require(v > 0, "--input-shape dimensions must be positive, got '", s, "'");
        out.push_back(v);
        start = x + 1;
    }
    sib::require(out.rank() == 3, "--input-shape must look like CxHxW (e.g. 1x28x28), got '", s, "'");
    return out;
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}
}  // namespace

int cmd_bench(int argc, char** argv) {
    args a("bench", "Times full training steps (forward, decoder, mask, terms, tangent and backward\n"
                    "sweeps, AdamW update) on random data; prints ms_per_step, images_per_second,\n"
                    "gflop_per_second (the GEMM FLOPs of the step, include/sib/autodiff/step_flops.hpp)\n"
                    "and peak_rss_mib.");
    a.required("--model", "SPEC", model_flag_help())
        .required("--input-shape", "CxHxW", "image shape, e.g. 1x28x28")
        .flag("--batch", "B", "batch size", "64")
        .flag("--objective", "ce|sib", "training objective", "sib")
        .flag("--steps", "N", "timed steps", "20")
        .flag("--warmup", "N", "untimed steps first", "3")
        .flag("--classes", "K", "number of labels drawn (must not exceed the model's outputs)", "0")
        .flag("--seed", "S", "random seed", "0")
        .flag("--dtype", "float32|float64", "arithmetic precision", "float32");
    add_backend_flag(a);
    add_sib_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, std::cout)) return 0;
    apply_threads(a);
    const sib::shape chw = parse_chw(a.str("--input-shape"));
    const long long batch = a.integer("--batch"), steps = a.integer("--steps"), warmup = a.integer("--warmup");
    sib::require(batch >= 2, "--batch must be at least 2 (HSIC needs two samples), got ", batch);
    sib::require(steps >= 1 && warmup >= 0, "--steps must be at least 1 and --warmup at least 0");
    const std::string objective_name = a.choice("--objective", {"ce", "sib"});
    const auto mo = mask_options(a);
    const auto settings = sib_settings_from(a);

    return with_backend_and_dtype(a, [&]<class T, class B>() {
        sib::models::spec_model<T, B> model(a.str("--model"));
        const sib::shape in{batch, chw[0], chw[1], chw[2]};
        const sib::shape out = model.output_shape(in);
        sib::require(out.rank() == 2, "--model: must end in logits [B,K], gives ", out.str());
        long long classes = a.integer("--classes");
        if (classes <= 0) classes = out[1];
        sib::require(classes <= out[1], "--classes ", classes, " exceeds the model's ", out[1], " outputs");
        sib::rng r(static_cast<std::uint64_t>(a.integer("--seed")));
        sib::optim::pytorch_default(model, r);
        // Drawn on the host, then uploaded: the same batch on every backend for a seed.
        std::vector<T> xs(static_cast<std::size_t>(in.numel()));
        for (auto& v : xs) v = static_cast<T>(r.uniform());
        std::vector<std::int64_t> ys(static_cast<std::size_t>(batch));
        for (auto& v : ys) v = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(classes)));
        const sib::tensor<T, B> x(in, xs);
        const sib::tensor<std::int64_t, B> y({batch}, ys);

        sib::optim::adamw<T, B> opt;
        sib::masks::density_mask<T, B> mask(mo);
        sib::autodiff::step_workspace<T, B> ws;
        auto sib_obj = sib::loss::sib_objective<T, B>(settings);
        auto ce_obj = sib::loss::ce();
        auto one_step = [&] {
            opt.zero_grad(model);
            if (objective_name == "sib")
                sib::autodiff::objective_step(model, ws, x, y, sib_obj, mask);
            else
                sib::autodiff::objective_step(model, ws, x, y, ce_obj, mask);
            opt.step(model);
            // A device backend runs asynchronously: the step is over when its kernels are.
            if constexpr (requires { B::synchronize(); }) B::synchronize();
        };
        for (long long i = 0; i < warmup; ++i) one_step();
        std::vector<double> ms;
        for (long long i = 0; i < steps; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            one_step();
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2];
        double mean = 0;
        for (double m : ms) mean += m;
        mean /= static_cast<double>(ms.size());
        const auto flops = sib::autodiff::count_step_flops(model, in);
        const double step_flops = objective_name == "sib" ? flops.sib_step : flops.ce_step;
        print_json({{"model", a.str("--model")},
                    {"input_shape", a.str("--input-shape")},
                    {"batch", batch},
                    {"objective", objective_name},
                    {"dtype", std::is_same_v<T, float> ? "float32" : "float64"},
                    {"backend", B::name},
                    {"threads", a.integer("--threads")},
                    {"steps", steps},
                    {"ms_per_step", median},
                    {"ms_per_step_mean", mean},
                    {"ms_per_step_min", ms.front()},
                    {"images_per_second", 1000.0 * static_cast<double>(batch) / median},
                    {"step_gflop", step_flops * 1e-9},
                    {"gflop_per_second", step_flops * 1e-6 / median},
                    {"peak_rss_mib", peak_rss_mib()}});
        return 0;
    });
}

}  // namespace sib_cli
