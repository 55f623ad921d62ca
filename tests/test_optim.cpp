// Optimizers, schedules, initialisation, progress and JSON Lines logs.
// SGD and AdamW follow torch.optim (PyTorch 1.13) trajectories from tests/fixtures/gen_optim.py.
#include "support/gradcheck.hpp"
#include "fixtures/optim_fixtures.hpp"
#include <sib/layers/linear.hpp>
#include <sib/layers/relu.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/optim/optimizer.hpp>
#include <sib/optim/schedule.hpp>
#include <sib/optim/sgd.hpp>
#include <sib/train/jsonl_log.hpp>
#include <sib/train/progress.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

using namespace sibtest;
namespace fx = optim_fixtures;

namespace {

// Two parameters and a buffer (grad == nullptr), which an optimizer must leave alone.
template <class T>
struct toy_model {
    using tensor_type = sib::tensor<T>;
    tensor_type weight{{3, 4}}, bias{{4}}, running_mean{{4}};
    tensor_type weight_grad{{3, 4}}, bias_grad{{4}};

    toy_model() {
        for (int k = 0; k < 12; ++k) weight[k] = static_cast<T>(fx::initial[k]);
        for (int k = 0; k < 4; ++k) bias[k] = static_cast<T>(fx::initial[12 + k]);
        for (int k = 0; k < 4; ++k) running_mean[k] = static_cast<T>(0.25 * k);
        weight_grad.zero();
        bias_grad.zero();
    }

    template <class F>
    void for_each_parameter(F&& f) {
        f("weight", weight, &weight_grad);
        f("bias", bias, &bias_grad);
        f("running_mean", running_mean, static_cast<tensor_type*>(nullptr));
    }

    T& flat(int k) { return k < 12 ? weight[k] : bias[k - 12]; }
    T& flat_grad(int k) { return k < 12 ? weight_grad[k] : bias_grad[k - 12]; }
    std::vector<double> values() {
        std::vector<double> v;
        for (int k = 0; k < fx::numel; ++k) v.push_back(static_cast<double>(flat(k)));
        return v;
    }

    // g_k = sin(3 p_k + 0.1 k) + 0.5 p_k + 0.05 t, in the generator's operation order.
    void set_gradient(int t) {
        for (int k = 0; k < fx::numel; ++k) {
            const T p = flat(k);
            flat_grad(k) = std::sin(T(3) * p + T(0.1) * T(k)) + T(0.5) * p + T(0.05) * T(t);
        }
    }
};

template <class T>
sib::optim::sgd<T> make_sgd(const fx::optimizer_case& c) {
    return sib::optim::sgd<T>({.lr = c.lr[0], .momentum = c.momentum, .dampening = c.dampening,
                               .weight_decay = c.weight_decay, .nesterov = c.nesterov});
}
template <class T>
sib::optim::adamw<T> make_adamw(const fx::optimizer_case& c) {
    return sib::optim::adamw<T>({.lr = c.lr[0], .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.eps,
                                 .weight_decay = c.weight_decay, .amsgrad = c.amsgrad});
}

// Runs steps [from, to) of case c on model m, as the generator does.
template <class O, class T>
void run_steps(O& opt, toy_model<T>& m, const fx::optimizer_case& c, int from, int to,
               std::vector<std::vector<double>>* trajectory = nullptr) {
    for (int t = from; t < to; ++t) {
        opt.set_lr(c.lr[t]);
        m.set_gradient(t);
        opt.step(m);
        if (trajectory) trajectory->push_back(m.values());
    }
}

// Calls f(optimizer) with the optimizer case c describes, for element type T.
template <class T, class F>
void with_optimizer(const fx::optimizer_case& c, F&& f) {
    if (std::string(c.kind) == "sgd") {
        auto o = make_sgd<T>(c);
        f(o);
    } else {
        auto o = make_adamw<T>(c);
        f(o);
    }
}

template <class O>
std::map<std::string, std::vector<double>> snapshot_state(const O& opt) {
    std::map<std::string, std::vector<double>> out;
    opt.for_each_state([&](std::string name, const auto& t) {
        const auto v = t.to_vector();
        out[name] = std::vector<double>(v.begin(), v.end());
    });
    return out;
}

// Names one parameter twice: its optimizer state could not be saved by name.
struct twice_named {
    sib::tensor<double> a{{2}}, g{{2}};
    template <class F>
    void for_each_parameter(F&& f) {
        f("a", a, &g);
        f("a", a, &g);
    }
};

// The toy model without its bias.
struct one_parameter {
    sib::tensor<double> weight{{3, 4}}, g{{3, 4}};
    template <class F>
    void for_each_parameter(F&& f) {
        f("weight", weight, &g);
    }
};

}  // namespace

static_assert(sib::optim::optimizer<sib::optim::sgd<double>>);
static_assert(sib::optim::optimizer<sib::optim::adamw<float>>);
static_assert(sib::optim::optimizer_for<sib::optim::adamw<double>, toy_model<double>>);
static_assert(!sib::optim::optimizer<sib::nn::relu<double>>);

TEST_CASE("optim: float64 trajectories match torch.optim to 1e-12") {
    for (const auto& c : fx::optimizer_cases) {
        CAPTURE(c.name);
        with_optimizer<double>(c, [&](auto& opt) {
            toy_model<double> m;
            std::vector<std::vector<double>> traj;
            run_steps(opt, m, c, 0, fx::steps, &traj);
            for (int t = 0; t < fx::steps; ++t)
                expect_close(traj[t], std::vector<double>(c.after[t], c.after[t] + fx::numel), 1e-12,
                             1e-12, std::string(c.name) + " step " + std::to_string(t));
            CHECK(opt.step_count() == fx::steps);
            // The buffer has no gradient, so it is not a parameter to optimise.
            for (int k = 0; k < 4; ++k) CHECK(m.running_mean[k] == 0.25 * k);
        });
    }
}

TEST_CASE("optim: float32 follows the float64 trajectory") {
    // float32 rounding (6e-8 relative) over eight steps stays below 6e-7 on these O(1) values
    // (measured); a wrong float32 path errs by a fraction of an update, >= 1e-4 here.
    for (const auto& c : fx::optimizer_cases) {
        CAPTURE(c.name);
        std::vector<std::vector<double>> traj32, traj64;
        with_optimizer<float>(c, [&](auto& opt) {
            toy_model<float> m;
            run_steps(opt, m, c, 0, fx::steps, &traj32);
        });
        with_optimizer<double>(c, [&](auto& opt) {
            toy_model<double> m;
            run_steps(opt, m, c, 0, fx::steps, &traj64);
        });
        for (int t = 0; t < fx::steps; ++t)
            expect_close(traj32[t], traj64[t], 5e-6, 5e-6, std::string(c.name) + " float32 step " + std::to_string(t));
    }
}

TEST_CASE("optim: state names follow the parameters and the options") {
    using names = std::vector<std::string>;
    auto names_of = [](const auto& opt) {
        names out;
        opt.for_each_state([&](std::string n, const auto&) { out.push_back(n); });
        return out;
    };
    toy_model<double> m;
    sib::optim::sgd<double> plain({.lr = 0.1});
    plain.init_state(m);
    CHECK(names_of(plain).empty());
    sib::optim::sgd<double> momentum({.lr = 0.1, .momentum = 0.9});
    CHECK(names_of(momentum).empty());  // nothing before the first step or init_state
    momentum.init_state(m);
    CHECK(names_of(momentum) == names{"optim.weight.momentum_buffer", "optim.bias.momentum_buffer"});
    sib::optim::adamw<double> adam;
    adam.init_state(m);
    CHECK(names_of(adam) == names{"optim.weight.exp_avg", "optim.weight.exp_avg_sq", "optim.bias.exp_avg",
                                  "optim.bias.exp_avg_sq"});
    sib::optim::adamw<double> ams({.amsgrad = true});
    ams.init_state(m);
    CHECK(names_of(ams) == names{"optim.weight.exp_avg", "optim.weight.exp_avg_sq",
                                 "optim.weight.max_exp_avg_sq", "optim.bias.exp_avg",
                                 "optim.bias.exp_avg_sq", "optim.bias.max_exp_avg_sq"});
    // init_state makes zeroed tensors shaped like their parameters.
    ams.for_each_state([&](std::string n, const sib::tensor<double>& t) {
        CHECK(t.shape() == (n.rfind("optim.weight.", 0) == 0 ? sib::shape{3, 4} : sib::shape{4}));
        for (double v : t) CHECK(v == 0.0);
    });
}

TEST_CASE("optim: a restored state continues bit for bit") {
    constexpr int split = 3;
    for (const auto& c : fx::optimizer_cases) {
        CAPTURE(c.name);
        with_optimizer<double>(c, [&](auto& first) {
            using opt_t = std::remove_reference_t<decltype(first)>;
            toy_model<double> m;
            run_steps(first, m, c, 0, split);
            const auto saved_state = snapshot_state(first);
            const auto saved_params = m.values();
            const auto saved_steps = first.step_count();
            CHECK(saved_steps == split);
            std::vector<std::vector<double>> want;
            run_steps(first, m, c, split, fx::steps, &want);

            auto restore = [&](opt_t& o, toy_model<double>& r, bool with_step_count) {
                for (int k = 0; k < fx::numel; ++k) r.flat(k) = saved_params[k];
                o.init_state(r);
                std::size_t loaded = 0;
                o.for_each_state([&](std::string name, sib::tensor<double>& t) {
                    const auto it = saved_state.find(name);
                    REQUIRE_MESSAGE(it != saved_state.end(), "state ", name, " was not saved");
                    REQUIRE(static_cast<std::size_t>(t.size()) == it->second.size());
                    for (sib::index_t i = 0; i < t.size(); ++i) t[i] = it->second[i];
                    ++loaded;
                });
                CHECK(loaded == saved_state.size());
                if (with_step_count) o.set_step_count(saved_steps);
            };

            opt_t second(first.options());
            toy_model<double> r;
            restore(second, r, true);
            std::vector<std::vector<double>> got;
            run_steps(second, r, c, split, fx::steps, &got);
            for (std::size_t t = 0; t < got.size(); ++t)
                for (int k = 0; k < fx::numel; ++k)
                    REQUIRE_MESSAGE(got[t][k] == want[t][k], "step ", split + t, " element ", k);

            // The step count is part of the state wherever it enters the update (the first-step
            // momentum seed, AdamW's bias corrections): without it the run diverges.
            const bool uses_steps = std::string(c.kind) == "adamw" || c.momentum != 0;
            if (uses_steps) {
                opt_t third(first.options());
                toy_model<double> q;
                restore(third, q, false);
                std::vector<std::vector<double>> wrong;
                run_steps(third, q, c, split, split + 1, &wrong);
                CHECK(wrong[0] != want[0]);
            }
        });
    }
}

TEST_CASE("optim: zero_grad clears gradients and leaves buffers") {
    toy_model<double> m;
    m.set_gradient(1);
    sib::optim::adamw<double> opt;
    opt.zero_grad(m);
    for (int k = 0; k < fx::numel; ++k) CHECK(m.flat_grad(k) == 0.0);
    for (int k = 0; k < 4; ++k) CHECK(m.running_mean[k] == 0.25 * k);
}

TEST_CASE("optim: a zero gradient leaves plain SGD parameters unchanged and AdamW only decays them") {
    toy_model<double> m;
    const auto before = m.values();
    sib::optim::sgd<double> s({.lr = 0.5, .momentum = 0.9});
    s.step(m);
    CHECK(m.values() == before);
    sib::optim::adamw<double> a({.lr = 0.1, .weight_decay = 0.5});
    a.step(m);
    std::vector<double> shrunk;
    for (double v : before) shrunk.push_back(v * (1 - 0.1 * 0.5));
    expect_close(m.values(), shrunk, 1e-15, 0, "adamw decay only");
}

TEST_CASE("optim: bad options and a changed model are reported") {
    CHECK_THROWS_WITH_AS(sib::optim::sgd<double>(sib::optim::sgd_options{}), "SGD: lr is required", sib::error);
    CHECK_THROWS_WITH_AS(sib::optim::sgd<double>({.lr = -1}), "SGD: invalid learning rate -1", sib::error);
    CHECK_THROWS_WITH_AS(sib::optim::sgd<double>({.lr = 0.1, .nesterov = true}),
                         "SGD: Nesterov momentum requires a momentum and zero dampening", sib::error);
    CHECK_THROWS_WITH_AS(sib::optim::sgd<double>({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                         "SGD: Nesterov momentum requires a momentum and zero dampening", sib::error);
    CHECK_THROWS_WITH_AS(sib::optim::adamw<double>({.beta2 = 1.0}), "AdamW: invalid beta parameter at index 1: 1",
                         sib::error);
    CHECK_THROWS_WITH_AS(sib::optim::adamw<double>({.eps = -1e-8}), "AdamW: invalid epsilon value -1e-08", sib::error);
    sib::optim::adamw<double> opt;
    CHECK_THROWS_WITH_AS(opt.set_lr(-0.5), "AdamW: invalid learning rate -0.5", sib::error);

    toy_model<double> m;
    opt.step(m);
    m.weight.resize({4, 3});
    m.weight_grad.resize({4, 3});
    CHECK_THROWS_WITH_AS(opt.step(m),
                         "AdamW: parameter #0 is 'weight' [4,3], but the optimizer state was made for 'weight' [3,4]",
                         sib::error);

    twice_named dup;
    sib::optim::sgd<double> s({.lr = 0.1});
    CHECK_THROWS_WITH_AS(s.step(dup),
                         "SGD: the model names two trainable parameters 'a', so their optimizer state could not be told apart in a checkpoint",
                         sib::error);

    one_parameter one;
    sib::optim::sgd<double> s2({.lr = 0.1});
    toy_model<double> m2;
    s2.step(m2);
    CHECK_THROWS_WITH_AS(s2.step(one), "SGD: the model has 1 trainable parameters, its optimizer state was made for 2",
                         sib::error);
    sib::optim::sgd<double> s3({.lr = 0.1});
    s3.step(one);
    CHECK_THROWS_WITH_AS(s3.step(m2),
                         "SGD: the model has more trainable parameters than the 1 its optimizer state was made for (first new: 'bias')",
                         sib::error);
}

// ---- schedules ------------------------------------------------------------------------------

TEST_CASE("schedule: step and cosine match torch.optim.lr_scheduler per epoch") {
    for (const auto& c : fx::schedule_cases) {
        CAPTURE(c.name);
        std::vector<double> got;
        for (int e = 0; e < fx::epochs; ++e) got.push_back(sib::optim::lr_at(c.schedule, e));
        // PyTorch chains multiplicative updates; the closed form agrees to accumulated rounding.
        expect_close(got, std::vector<double>(c.lr, c.lr + fx::epochs), 1e-12, 1e-16, c.name);
    }
}

TEST_CASE("schedule: constant, resume and application to an optimizer") {
    const sib::optim::lr_schedule constant = sib::optim::constant_schedule{0.03};
    for (int e : {0, 1, 17, 1000}) CHECK(sib::optim::lr_at(constant, e) == 0.03);
    // Closed form: asking for epoch 12 directly gives what counting up to it gives.
    const sib::optim::lr_schedule cosine = sib::optim::cosine_schedule{0.1, 10, 0.001};
    CHECK(sib::optim::lr_at(cosine, 12) == sib::optim::cosine_schedule{0.1, 10, 0.001}.lr_at(12));
    CHECK(sib::optim::lr_at(cosine, 10) == doctest::Approx(0.001).epsilon(1e-14));
    sib::optim::sgd<float> opt({.lr = 1.0});
    sib::optim::apply_schedule(sib::optim::step_schedule{0.1, 3, 0.5}, opt, 7);
    CHECK(opt.lr() == doctest::Approx(0.025).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(sib::optim::lr_at(cosine, -1), "lr schedule: negative epoch -1", sib::error);
    const sib::optim::step_schedule no_steps{0.1, 0, 0.5};
    CHECK_THROWS_WITH_AS(no_steps.lr_at(1),
                         "step_schedule: step_size must be positive, got 0", sib::error);
}

// ---- initialisation -------------------------------------------------------------------------

namespace {

struct moments {
    double mean = 0, stddev = 0, min = 0, max = 0;
    std::size_t n = 0;
};
template <class Tn>
moments moments_of(const Tn& t) {
    moments m;
    const auto v = t.to_vector();
    m.n = v.size();
    m.min = m.max = static_cast<double>(v[0]);
    for (auto x : v) {
        m.mean += static_cast<double>(x);
        m.min = std::min(m.min, static_cast<double>(x));
        m.max = std::max(m.max, static_cast<double>(x));
    }
    m.mean /= static_cast<double>(m.n);
    for (auto x : v) m.stddev += (static_cast<double>(x) - m.mean) * (static_cast<double>(x) - m.mean);
    m.stddev = std::sqrt(m.stddev / static_cast<double>(m.n - 1));
    return m;
}

// Sample mean and standard deviation within 5 standard errors of their expectation; kurtosis is
// that of the distribution (1.8 uniform, 3 normal): SE(std) ~ sigma sqrt((kurtosis - 1) / (4 n)).
void check_sampling(const moments& m, double sigma, double kurtosis, const char* what) {
    CAPTURE(what);
    const double n = static_cast<double>(m.n);
    CHECK(std::abs(m.mean) <= 5 * sigma / std::sqrt(n));
    CHECK(std::abs(m.stddev - sigma) <= 5 * sigma * std::sqrt((kurtosis - 1) / (4 * n)));
}

// A norm-like layer: rank-1 weight, PyTorch default ones/zeros.
struct scale_layer {
    sib::tensor<double> weight{{8}}, bias{{8}};
    void reset_parameters(sib::rng&) {
        weight.fill(1.0);
        bias.fill(0.0);
    }
};

template <class T>
struct mlp {
    sib::nn::linear<T> fc1{400, 300};
    sib::nn::relu<T> act;
    sib::nn::linear<T> fc2{300, 50};
    scale_layer scale;
    template <class F>
    void for_each_layer(F&& f) {
        f(fc1, 0);
        f(act, 1);
        f(fc2, 2);
        f(scale, 3);
    }
};

}  // namespace

TEST_CASE_TEMPLATE("init: pytorch_default reaches every layer with reset_parameters", T, float, double) {
    mlp<T> net;
    net.scale.weight.fill(7.0);
    sib::rng r(42);
    sib::optim::pytorch_default(net, r);
    const double b1 = 1 / std::sqrt(400.0), b2 = 1 / std::sqrt(300.0);
    const auto w1 = moments_of(net.fc1.weight), w2 = moments_of(net.fc2.weight);
    CHECK(w1.min >= -b1);
    CHECK(w1.max <= b1);
    CHECK(w1.max - w1.min >= 0.999 * 2 * b1);  // 120000 draws fill the interval
    CHECK(w2.min >= -b2);
    CHECK(w2.max <= b2);
    check_sampling(w1, b1 / std::sqrt(3.0), 1.8, "fc1.weight");
    check_sampling(w2, b2 / std::sqrt(3.0), 1.8, "fc2.weight");
    const auto bias1 = moments_of(net.fc1.bias);
    CHECK(bias1.min >= -b1);
    CHECK(bias1.max <= b1);
    check_sampling(bias1, b1 / std::sqrt(3.0), 1.8, "fc1.bias");
    CHECK(net.scale.weight[0] == 1.0);

    // Same seed, same weights.
    mlp<T> again;
    sib::rng r2(42);
    sib::optim::pytorch_default(again, r2);
    CHECK(again.fc2.weight.to_vector() == net.fc2.weight.to_vector());
}

TEST_CASE_TEMPLATE("init: kaiming_normal is He fan_in with zero bias", T, float, double) {
    mlp<T> net;
    net.scale.weight.fill(7.0);
    sib::rng r(7);
    sib::optim::kaiming_normal(net, r);
    check_sampling(moments_of(net.fc1.weight), std::sqrt(2.0 / 400), 3.0, "fc1.weight");
    check_sampling(moments_of(net.fc2.weight), std::sqrt(2.0 / 300), 3.0, "fc2.weight");
    for (T v : net.fc1.bias) CHECK(v == T(0));
    for (T v : net.fc2.bias) CHECK(v == T(0));
    // Rank-1 weights have no fan-in: the layer keeps its PyTorch default.
    for (double v : net.scale.weight) CHECK(v == 1.0);

    // A single layer works as well as a model.
    sib::nn::linear<T> single(1000, 200);
    sib::optim::kaiming_normal(single, r);
    check_sampling(moments_of(single.weight), std::sqrt(2.0 / 1000), 3.0, "single.weight");
}

// ---- progress -------------------------------------------------------------------------------

TEST_CASE("progress: plain mode writes a line per interval and a final line") {
    std::ostringstream os;
    double now = 100.0;
    {
        sib::train::progress p(1000, {.label = "train", .plain_interval_s = 10, .mode = sib::train::progress_mode::plain},
                               os, [&] { return now; });
        CHECK_FALSE(p.is_terminal());
        for (int i = 0; i < 400; ++i) {
            now += 0.03125;  // 32 items per second, exact in binary
            if (i == 100) p.set("loss", 0.41317);
            if (i == 300) p.set("loss", 0.25);
            if (i == 300) p.set("acc", 0.875);
            p.advance();
        }
        now += 2.5;
        p.advance(100);  // 12.5 s after the first line: none yet
        p.finish();
        p.finish();  // once only
    }
    // Item 320 reaches 10 s: 680 left at 32/s -> 21 s. Then only the final line.
    const std::string want =
        "train 320/1000 32% 32.0 it/s eta 0:21 loss=0.25 acc=0.875\n"
        "train 500/1000 50% 33.3 it/s in 0:15 loss=0.25 acc=0.875\n";
    CHECK(os.str() == want);
}

TEST_CASE("progress: terminal mode redraws one line in place") {
    std::ostringstream os;
    double now = 0.0;
    sib::train::progress p(4, {.unit = "img", .redraw_interval_s = 1.0, .mode = sib::train::progress_mode::terminal},
                           os, [&] { return now; });
    CHECK(p.is_terminal());
    now = 0.5;
    p.advance();  // too soon to redraw
    now = 2.0;
    p.advance();
    now = 4000.0;
    p.advance(2);
    p.finish();
    CHECK(os.str() ==
          "\r2/4 50% 1.00 img/s eta 0:02\x1b[K"
          "\r4/4 100% 1000 s/img eta 0:00\x1b[K"
          "\r4/4 100% 1000 s/img in 1:06:40\x1b[K\n");
}

TEST_CASE("progress: unknown total, formats and stream detection") {
    std::ostringstream os;
    double now = 0.0;
    {
        sib::train::progress p(0, {.mode = sib::train::progress_mode::automatic}, os, [&] { return now; });
        CHECK_FALSE(p.is_terminal());  // a string stream is never a terminal
        now = 2.0;
        p.advance(250);
    }
    CHECK(os.str() == "250 125 it/s in 0:02\n");
    CHECK(sib::train::progress::format_duration(0) == "0:00");
    CHECK(sib::train::progress::format_duration(59.6) == "1:00");
    CHECK(sib::train::progress::format_duration(3725) == "1:02:05");
    CHECK(sib::train::progress::format_duration(std::nan("")) == "?");
    CHECK(sib::train::progress::format_speed(0.125, "it") == "8.00 s/it");
    CHECK(sib::train::progress::format_speed(12345.6, "img") == "12346 img/s");
    CHECK(sib::train::progress::format_speed(0, "it") == "? it/s");
}

// ---- JSON Lines log ---------------------------------------------------------------------------

TEST_CASE("jsonl_log: one flushed object per line, appended") {
    const auto path = std::filesystem::temp_directory_path() /
                      ("sib_test_optim_" + std::to_string(::getpid()) + ".jsonl");
    std::filesystem::remove(path);
    auto read_lines = [&] {
        std::ifstream in(path);
        std::vector<std::string> lines;
        for (std::string l; std::getline(in, l);) lines.push_back(l);
        return lines;
    };
    {
        sib::train::jsonl_log log(path);
        log.write({{"epoch", 1}, {"loss", 0.5}, {"name", "a b"}});
        // Flushed per line: readable before the log is closed.
        auto lines = read_lines();
        REQUIRE(lines.size() == 1);
        CHECK(sib::io::json::parse(lines[0]) == sib::io::json{{"epoch", 1}, {"loss", 0.5}, {"name", "a b"}});
        log.write({{"epoch", 2}, {"loss", std::nan("")}});
        CHECK_THROWS_WITH_AS(log.write(sib::io::json::array({1, 2})),
                             "jsonl_log: a record must be a JSON object, got array", sib::error);
    }
    {
        sib::train::jsonl_log log(path);  // appends
        log.write({{"epoch", 3}});
    }
    auto lines = read_lines();
    REQUIRE(lines.size() == 3);
    CHECK(sib::io::json::parse(lines[1])["loss"].is_null());
    CHECK(sib::io::json::parse(lines[2])["epoch"] == 3);
    {
        sib::train::jsonl_log log(path, false);  // starts afresh
        log.write({{"epoch", 0}});
    }
    CHECK(read_lines().size() == 1);
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(sib::train::jsonl_log("/nonexistent-dir/x.jsonl"),
                         "jsonl_log: cannot open '/nonexistent-dir/x.jsonl' for writing", sib::error);
}
