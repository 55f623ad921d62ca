// The two reference models of the core issue, the batch every case uses, and sib's trainer for
// them: what a user of sib writes for one training step (as tools/sib/cmd_bench.cpp does).
#pragma once
#include <sib/core/rng.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/models/resnet.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/autodiff/step.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <type_traits>

namespace sib_bench {

struct reference_model {
    const char* name;
    const char* spec;
    sib::index_t channels, height, width;
};

inline constexpr reference_model small_model{
    "small",
    "Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; MaxPool2d(2); Flatten; "
    "Linear(1568,10)",
    1, 28, 28};
inline constexpr reference_model three_conv_model{
    "three_conv",
    "Conv2d(3,32,3,padding=1); ReLU; MaxPool2d(2); Conv2d(32,64,3,padding=1); ReLU; MaxPool2d(2); "
    "Conv2d(64,128,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(2048,10)",
    3, 32, 32};
inline constexpr reference_model reference_models[] = {small_model, three_conv_model};

inline constexpr sib::index_t batch_size = 64;
inline constexpr sib::index_t classes = 10;
inline constexpr std::uint64_t seed = 2024;

enum class objective_kind { sib, ce };
inline const char* objective_name(objective_kind o) { return o == objective_kind::sib ? "sib_step" : "ce_step"; }

// sib's side of a case: a model with PyTorch's default init, AdamW, mask, workspace and one batch of
// uniform [0,1) images of shape `input` with uniform labels, all from one seed (the torch side
// copies them). The model is built from model_args.
template <class T, class Model>
struct model_trainer {
    using value_type = T;
    Model model;
    sib::optim::adamw<T> opt;
    sib::masks::density_mask<T> mask;
    sib::autodiff::step_workspace<T> ws;
    sib::loss::sib_objective_t<T> sib_objective = sib::loss::sib_objective<T>();
    decltype(sib::loss::ce()) ce_objective = sib::loss::ce();
    sib::tensor<T> x;
    sib::tensor<std::int64_t> y;

    template <class... A>
    explicit model_trainer(const sib::shape& input, A&&... model_args)
        : model(std::forward<A>(model_args)...), x(input), y(sib::shape{input[0]}) {
        sib::rng g(seed);
        sib::optim::pytorch_default(model, g);
        for (auto& v : x) v = static_cast<T>(g.uniform());
        for (auto& v : y) v = static_cast<std::int64_t>(g.below(classes));
    }

    // Loss and gradients (accumulated into the zeroed gradients), no update.
    sib::autodiff::step_values<T> objective(objective_kind o) {
        opt.zero_grad(model);
        if (o == objective_kind::sib) return sib::autodiff::objective_step(model, ws, x, y, sib_objective, mask);
        return sib::autodiff::objective_step(model, ws, x, y, ce_objective, mask);
    }

    // zero_grad + forward + loss + backward + AdamW update.
    sib::autodiff::step_values<T> step(objective_kind o) {
        auto v = objective(o);
        opt.step(model);
        return v;
    }
};

// The reference models' side: their spec, at the benchmark's batch.
template <class T>
struct sib_trainer : model_trainer<T, sib::models::spec_model<T>> {
    explicit sib_trainer(const reference_model& r)
        : model_trainer<T, sib::models::spec_model<T>>(sib::shape{batch_size, r.channels, r.height, r.width}, r.spec) {}
};

// f(make), where make() builds a fresh trainer of the named model (small, three_conv, resnet18 at
// 32x3x64x64 or resnet50 at 8x3x224x224), each time from the same seed; one line for another name.
template <class F>
int with_model(const std::string& name, F f) {
    const sib::models::resnet_options resnet{.num_classes = classes};
    if (name == "resnet18")
        return f([&] { return model_trainer<float, sib::models::resnet18<float>>(sib::shape{32, 3, 64, 64}, resnet); });
    if (name == "resnet50")
        return f([&] { return model_trainer<float, sib::models::resnet50<float>>(sib::shape{8, 3, 224, 224}, resnet); });
    for (const auto& r : reference_models)
        if (name == r.name) return f([&] { return sib_trainer<float>(r); });
    sib::fail("--model must be small, three_conv, resnet18 or resnet50, got '", name, "'");
}

// Turns Winograd's F(2x2,3x3) on or off in every Conv2d of a model, the ones inside blocks too
// (so that one binary can time both in turns).
template <class L>
void set_winograd(L& l, bool on) {
    if constexpr (requires { l.set_winograd(on); })
        l.set_winograd(on);
    else if constexpr (requires { l.for_each_layer(sib::detail::layer_visitor{}); })
        l.for_each_layer([on](auto& inner, int) { set_winograd(inner, on); });
}

// The value after `name` on the command line, or `fallback`.
inline std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (name == argv[i]) return argv[i + 1];
    return fallback;
}
// The same, as a whole number (one line naming the flag otherwise).
inline int int_flag(int argc, char** argv, const std::string& name, int fallback) {
    const std::string text = flag(argc, argv, name, std::to_string(fallback));
    std::size_t used = 0;
    int value = 0;
    try {
        value = std::stoi(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    sib::require(used == text.size() && !text.empty(), name, " must be a whole number, got '", text, "'");
    return value;
}

// Removes "--name value" from argv and returns value (or fallback), so that what is left can go to
// Google Benchmark.
inline std::string take_flag(int& argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (name != argv[i]) continue;
        std::string v = argv[i + 1];
        for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
        argc -= 2;
        return v;
    }
    return fallback;
}

// Whether `name` (a flag without a value) is on the command line.
inline bool has_flag(int argc, char** argv, const std::string& name) {
    for (int i = 1; i < argc; ++i)
        if (name == argv[i]) return true;
    return false;
}

// Whether --help or -h is on the command line.
inline bool asks_for_help(int argc, char** argv) { return has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h"); }

// Worker threads of both sides: --threads N, else $SIB_BENCH_THREADS, else 2.
inline int threads_from(int argc, char** argv) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--threads") return std::atoi(argv[i + 1]);
    if (const char* e = std::getenv("SIB_BENCH_THREADS")) return std::atoi(e);
    return 2;
}

}  // namespace sib_bench
