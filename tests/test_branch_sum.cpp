// The two-branch combinator y = f(x) + g(x): its five rules by central differences in float64 with a
// strided projection shortcut (1x1 convolution + BatchNorm, torchvision's `downsample`), BatchNorm in
// both modes, batch 1 and odd sizes; names as torchvision's state dict spells them (nn::named and
// the branch names); a model with a projection block through the S-IB step.
#include "support/gradcheck.hpp"
#include <sib/autodiff/step.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/branch_sum.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/named.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/residual.hpp>
#include <sib/layers/tanh.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/train/checkpoint.hpp>
#include <filesystem>
#include <unistd.h>

using namespace sibtest;
using namespace sib::nn;

namespace {

// A BasicBlock-shaped pair of branches: conv3x3/2 - BN - tanh - conv3x3 - BN, and conv1x1/2 - BN.
// tanh (not ReLU) so that the main branch has a curvature term of an activation as well as BN's.
auto projection_block() {
    return branch_sum(sequential(named("conv1", conv2d<double>(3, 4, 3, 2, 1, false)), named("bn1", batch_norm2d<double>(4)),
                                 named("relu", sib::nn::tanh<double>{}), named("conv2", conv2d<double>(4, 4, 3, 1, 1, false)),
                                 named("bn2", batch_norm2d<double>(4))),
                      sequential(conv2d<double>(3, 4, 1, 2, 0, false), batch_norm2d<double>(4)),
                      branch_names{.main = "", .shortcut = "downsample"});
}

// Running statistics away from PyTorch's initial 0 and 1, so evaluation mode is not the identity.
template <class L>
void randomize_running_stats(L& l, sib::rng& r) {
    l.for_each_parameter([&](std::string_view name, dtensor& v, dtensor* g) {
        if (g) return;
        const bool var = name.ends_with("running_var");
        for (auto& e : v) e = var ? r.uniform(0.5, 2.0) : r.normal() * 0.3;
    });
}

template <class L>
std::vector<std::string> parameter_names(L& l) {
    std::vector<std::string> names;
    l.for_each_parameter([&](std::string_view n, auto&, auto*) { names.emplace_back(n); });
    return names;
}
template <class L>
std::vector<std::string> counter_names(L& l) {
    std::vector<std::string> names;
    l.for_each_counter([&](std::string_view n, sib::index_t&) { names.emplace_back(n); });
    return names;
}

// Every parameter gradient, concatenated.
template <class L>
std::vector<double> all_gradients(L& l) {
    std::vector<double> v;
    for (const dtensor* g : gradients_of(l)) v.insert(v.end(), g->begin(), g->end());
    return v;
}
std::vector<double> values(const dtensor& t) { return {t.begin(), t.end()}; }

// The fused rules, which the sweeps call, against the separate ones, which check_layer_rules proves
// by central differences: the same bits, for each combination the sweeps ask for.
template <class L>
void check_fused_rules(L& block, const sib::shape& in, std::uint64_t seed) {
    sib::rng r(seed);
    const dtensor x = random_tensor(in, r);
    dtensor y(block.output_shape(in));
    block.forward(x, y);
    const dtensor tx = random_tensor(in, r), gy = random_tensor(y.shape(), r);
    for (const bool parameters : {true, false})
        for (const bool curvature : {true, false}) {
            CAPTURE(parameters);
            CAPTURE(curvature);
            zero_gradients(block);
            dtensor ax(in), ty(y.shape());
            ax.zero();
            if (parameters) block.mixed(x, y, tx, gy);
            if (curvature) block.curvature(x, y, tx, gy, ax);
            block.jvp(x, y, tx, ty);
            const auto separate_grads = all_gradients(block);
            zero_gradients(block);
            dtensor fused_ax(in), fused_ty(y.shape());
            fused_ax.zero();
            block.fused_tangent(x, y, tx, gy, fused_ty, curvature ? &fused_ax : nullptr, parameters);
            CHECK(all_gradients(block) == separate_grads);
            CHECK(values(fused_ty) == values(ty));
            CHECK(values(fused_ax) == values(ax));
        }
    zero_gradients(block);
    dtensor gx(in), fused_gx(in);
    block.param_vjp(x, y, gy);
    block.vjp(x, y, gy, gx);
    const auto separate_grads = all_gradients(block);
    zero_gradients(block);
    block.fused_backward(x, y, gy, fused_gx);
    CHECK(all_gradients(block) == separate_grads);
    CHECK(values(fused_gx) == values(gx));
}

// The kept-curvature pair, which a step's sweeps call, against fused_tangent (with ax and
// parameters) + fused_backward + (gx += ax): the same sums, carried by one inner backward sweep
// instead of two, so equal up to the order of the additions: after a vjp from the same gy (whose
// inner products' gradients the tangent rule reuses: the same bits as decoding again) and from
// another, as a chain's first layer (no input gradient), and for a second round on the same block,
// which must not see the first one's terms.
template <class L>
void check_kept_curvature_rules(L& block, const sib::shape& in, std::uint64_t seed) {
    static_assert(sib::has_kept_curvature_rule<L>);
    sib::rng r(seed);
    const dtensor x = random_tensor(in, r);
    dtensor y(block.output_shape(in));
    block.forward(x, y);
    for (int round = 0; round < 2; ++round) {
        CAPTURE(round);
        const dtensor tx = random_tensor(in, r), gy = random_tensor(y.shape(), r), ay = random_tensor(y.shape(), r);
        zero_gradients(block);
        dtensor ax(in), ty(y.shape()), gx(in);
        ax.zero();
        block.fused_tangent(x, y, tx, gy, ty, &ax, true);
        block.fused_backward(x, y, ay, gx);
        for (sib::index_t i = 0; i < gx.size(); ++i) gx[i] += ax[i];
        const auto fused_grads = all_gradients(block);
        // As in a step: vjp from gy first (the decoder sweep), whose inner gradients the tangent
        // rule then reads instead of decoding again; then without that vjp (gy a copy: decoded anew).
        dtensor unused(in);
        block.vjp(x, y, gy, unused);
        const dtensor gy_copy = gy;
        std::vector<std::vector<double>> results[2];
        for (int copy = 0; copy < 2; ++copy) {
            CAPTURE(copy);
            zero_gradients(block);
            dtensor kept_ty(y.shape()), kept_gx(in);
            block.tangent_keeping_curvature(x, y, tx, copy ? gy_copy : gy, kept_ty);
            block.backward_with_kept_curvature(x, y, ay, &kept_gx, true);
            CHECK(values(kept_ty) == values(ty));
            expect_close(values(kept_gx), values(gx), 1e-12, 1e-14, "input gradient");
            expect_close(all_gradients(block), fused_grads, 1e-12, 1e-14, "parameter gradients");
            results[copy] = {values(kept_gx), all_gradients(block)};
        }
        // The kept gradients are what decoding again gives: the same bits.
        CHECK(results[0] == results[1]);
        // As a chain's first layer: no input gradient, the same parameter gradients.
        zero_gradients(block);
        dtensor kept_ty(y.shape());
        block.tangent_keeping_curvature(x, y, tx, gy, kept_ty);
        block.backward_with_kept_curvature(x, y, ay, nullptr, true);
        expect_close(all_gradients(block), fused_grads, 1e-12, 1e-14, "parameter gradients without the input's");
    }
}

}  // namespace

TEST_CASE("branch_sum: the kept-curvature rules give fused_tangent + fused_backward + ax") {
    auto block = projection_block();
    sib::rng r(17);
    randomize_parameters(block, r);
    block.set_training(true);
    check_kept_curvature_rules(block, {2, 3, 5, 7}, 18);
    block.set_training(false);
    randomize_running_stats(block, r);
    check_kept_curvature_rules(block, {1, 3, 4, 4}, 19);
    auto plain = residual(conv2d<double>(3, 3, 3, 1, 1), sib::nn::tanh<double>{}, conv2d<double>(3, 3, 1));
    randomize_parameters(plain, r);
    check_kept_curvature_rules(plain, {2, 3, 3, 5}, 20);
    branch_sum nested(sequential(conv2d<double>(2, 3, 3, 1, 1), residual(conv2d<double>(3, 3, 3, 1, 1), sib::nn::tanh<double>{}),
                                 batch_norm2d<double>(3)),
                      sequential(conv2d<double>(2, 3, 1), residual(sib::nn::tanh<double>{}, conv2d<double>(3, 3, 1))));
    randomize_parameters(nested, r);
    nested.set_training(true);
    check_kept_curvature_rules(nested, {2, 2, 3, 4}, 21);
}

TEST_CASE("branch_sum: the fused tangent and backward rules give the separate rules' bits") {
    static_assert(sib::has_fused_tangent_rule<decltype(projection_block())> && sib::has_fused_backward_rule<decltype(projection_block())>);
    auto block = projection_block();
    sib::rng r(15);
    randomize_parameters(block, r);
    block.set_training(true);
    check_fused_rules(block, {2, 3, 5, 7}, 3);
    block.set_training(false);
    check_fused_rules(block, {1, 3, 4, 4}, 4);
    auto plain = residual(conv2d<double>(3, 3, 3, 1, 1), sib::nn::tanh<double>{}, conv2d<double>(3, 3, 1));
    randomize_parameters(plain, r);
    check_fused_rules(plain, {2, 3, 3, 5}, 5);
}

TEST_CASE("branch_sum: blocks inside both branches of a block (nested leases of the sweep buffers)") {
    // Each branch's rules lease their sweep buffers from one per-thread pool, and a block inside a
    // branch leases while its outer branch holds a set; the shortcut's inner block runs while the
    // main branch's result is still to be read.
    branch_sum block(sequential(conv2d<double>(2, 3, 3, 1, 1), residual(conv2d<double>(3, 3, 3, 1, 1), sib::nn::tanh<double>{}),
                                batch_norm2d<double>(3)),
                     sequential(conv2d<double>(2, 3, 1), residual(sib::nn::tanh<double>{}, conv2d<double>(3, 3, 1))));
    static_assert(decltype(block)::has_mixed && decltype(block)::has_curvature);
    sib::rng r(16);
    randomize_parameters(block, r);
    block.set_training(true);
    check_layer_rules(block, {2, 2, 4, 5}, 9);
    check_fused_rules(block, {2, 2, 3, 4}, 10);
}

TEST_CASE("branch_sum: five rules by central differences, strided projection shortcut, BatchNorm training") {
    auto block = projection_block();
    static_assert(decltype(block)::has_mixed && decltype(block)::has_curvature);
    sib::rng r(11);
    randomize_parameters(block, r);
    block.set_training(true);
    check_layer_rules(block, {1, 3, 5, 7}, 3);
    check_layer_rules(block, {2, 3, 3, 5}, 8);
}

TEST_CASE("branch_sum: five rules by central differences, strided projection shortcut, BatchNorm evaluation") {
    auto block = projection_block();
    sib::rng r(12);
    randomize_parameters(block, r);
    randomize_running_stats(block, r);
    block.set_training(false);
    check_layer_rules(block, {1, 3, 5, 7}, 4);
    check_layer_rules(block, {3, 3, 4, 3}, 5);
}

TEST_CASE("branch_sum: a shortcut with curvature and a main branch without (flags per branch)") {
    // Main: conv - ReLU - conv, piecewise linear; shortcut: 1x1 conv - tanh, curved.
    branch_sum block(sequential(conv2d<double>(2, 3, 3, 1, 1), relu<double>{}, conv2d<double>(3, 3, 3, 1, 1)),
                     sequential(conv2d<double>(2, 3, 1), sib::nn::tanh<double>{}));
    static_assert(decltype(block)::has_mixed && decltype(block)::has_curvature);
    sib::rng r(13);
    randomize_parameters(block, r);
    check_layer_rules(block, {1, 2, 5, 3}, 6);
    CHECK(parameter_names(block) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias",
                                                             "shortcut.0.weight", "shortcut.0.bias"});
}

TEST_CASE("branch_sum: identity shortcut over a piecewise linear chain declares no curvature") {
    branch_sum block(sequential(conv2d<double>(2, 2, 3, 1, 1), relu<double>{}, conv2d<double>(2, 2, 1)));
    static_assert(decltype(block)::has_mixed && !decltype(block)::has_curvature);
    sib::rng r(14);
    randomize_parameters(block, r);
    check_layer_rules(block, {1, 2, 3, 5}, 7);  // the numeric curvature must be zero
}

TEST_CASE("branch_sum: names as torchvision's state dict, counters included") {
    auto block = projection_block();
    CHECK(parameter_names(block) ==
          std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                   "conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
                                   "downsample.0.weight", "downsample.1.weight", "downsample.1.bias",
                                   "downsample.1.running_mean", "downsample.1.running_var"});
    CHECK(counter_names(block) == std::vector<std::string>{"bn1.num_batches_tracked", "bn2.num_batches_tracked",
                                                           "downsample.1.num_batches_tracked"});
    // In a flat chain, the block's own name is the attribute path.
    sequential m(named("conv1", conv2d<double>(3, 3, 3, 1, 1, false)), named("bn1", batch_norm2d<double>(3)),
                 named("layer1.0", projection_block()), named("layer1.0.relu", relu<double>{}), flatten<double>{},
                 named("fc", linear<double>(4 * 2 * 2, 2)));
    const auto names = parameter_names(m);
    REQUIRE(names.size() == 5 + 15 + 2);
    CHECK(names[0] == "conv1.weight");
    CHECK(names[1] == "bn1.weight");
    CHECK(names[5] == "layer1.0.conv1.weight");
    CHECK(names[15] == "layer1.0.downsample.0.weight");
    CHECK(names[20] == "fc.weight");
    CHECK(names[21] == "fc.bias");
    CHECK(counter_names(m) == std::vector<std::string>{"bn1.num_batches_tracked", "layer1.0.bn1.num_batches_tracked",
                                                       "layer1.0.bn2.num_batches_tracked",
                                                       "layer1.0.downsample.1.num_batches_tracked"});
    // Unnamed children keep their index, as before.
    sequential plain(conv2d<double>(1, 2, 3), batch_norm2d<double>(2));
    CHECK(parameter_names(plain) ==
          std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"});
    CHECK(counter_names(plain) == std::vector<std::string>{"1.num_batches_tracked"});
    // A residual keeps its inner chain's names; its counters are reached too.
    residual res(batch_norm2d<double>(2), relu<double>{});
    CHECK(counter_names(res) == std::vector<std::string>{"0.num_batches_tracked"});
}

TEST_CASE("branch_sum: mismatched branches and bad names are one line") {
    branch_sum block(sequential(conv2d<double>(3, 4, 3, 2, 1)), sequential(conv2d<double>(3, 4, 1)));
    CHECK_THROWS_WITH_AS(block.output_shape({1, 3, 5, 5}),
                         "branch_sum: the main branch maps [1,3,5,5] to [1,4,3,3] but the shortcut to [1,4,5,5]; "
                         "the two must agree",
                         sib::error);
    CHECK_THROWS_WITH_AS(named("", relu<double>{}),
                         "named: a layer name must be non-empty and neither start nor end with '.', got ''", sib::error);
    CHECK_THROWS_WITH_AS(named("fc.", relu<double>{}),
                         "named: a layer name must be non-empty and neither start nor end with '.', got 'fc.'",
                         sib::error);
}

// d total / d theta of one S-IB step against central differences of the total, in the model's mode.
template <class M>
void check_sib_step(M& m, const dtensor& x, const sib::tensor<std::int64_t>& y) {
    sib::masks::density_mask<double> mask(sib::masks::density_mask_options{.window = 3});
    auto objective = sib::loss::sib_objective<double>({.lambda_bg = 50.0, .lambda_fg = 2.0});
    auto loss = [&] {
        sib::autodiff::step_workspace<double> ws;
        m.for_each_parameter([](std::string_view, dtensor&, dtensor* g) { if (g) g->zero(); });
        return static_cast<double>(sib::autodiff::objective_step(m, ws, x, y, objective, mask).total);
    };
    loss();
    std::vector<dtensor*> params;
    std::vector<dtensor> grads;
    std::vector<std::string> names;
    m.for_each_parameter([&](std::string_view n, dtensor& v, dtensor* g) {
        if (!g) return;
        params.push_back(&v);
        grads.push_back(*g);
        names.emplace_back(n);
    });
    const double noise = 1e-16 * std::max(1.0, std::abs(loss())) / 1e-6;
    for (std::size_t p = 0; p < params.size(); ++p) {
        auto num = numeric_gradient(*params[p], loss, 1e-6);
        expect_close(grads[p].to_vector(), num, 1e-6, 20 * noise, "d total / d " + names[p]);
    }
}

TEST_CASE("branch_sum: a model with a projection block through the S-IB step, by central differences") {
    for (const bool training : {true, false}) {
        CAPTURE(training);
        sequential m(conv2d<double>(1, 3, 3, 1, 1), projection_block(), relu<double>{}, flatten<double>{},
                     linear<double>(4 * 3 * 3, 3));
        sib::rng r(2);
        randomize_parameters(m, r, 0.6);
        randomize_running_stats(m, r);
        m.set_training(training);
        check_sib_step(m, random_tensor({3, 1, 6, 5}, r), sib::tensor<std::int64_t>({3}, {0, 2, 1}));
    }
}

TEST_CASE("residual: inner curvature past the first inner layer through the S-IB step") {
    // The block's jvp once left the inner tangent sweep's curvature terms in its workspace, and the
    // block's param_vjp added them in; tanh at inner index 1 exposes that.
    sequential m(conv2d<double>(1, 2, 3, 1, 1), residual(conv2d<double>(2, 2, 3, 1, 1), sib::nn::tanh<double>{}),
                 relu<double>{}, flatten<double>{}, linear<double>(2 * 5 * 4, 3));
    sib::rng r(3);
    randomize_parameters(m, r, 0.6);
    check_sib_step(m, random_tensor({2, 1, 5, 4}, r), sib::tensor<std::int64_t>({2}, {1, 2}));
}

TEST_CASE("branch_sum: a checkpoint holds the counters of the layers inside blocks, under their names") {
    sequential m(named("conv1", conv2d<double>(3, 3, 3, 1, 1, false)), named("bn1", batch_norm2d<double>(3)),
                 named("layer1.0", projection_block()), named("layer1.0.relu", relu<double>{}));
    sib::rng r(6);
    randomize_parameters(m, r);
    m.set_training(true);
    for (int step = 0; step < 3; ++step) {
        sib::autodiff::sweep_workspace<double> ws;
        sib::autodiff::forward_sweep(m, ws, random_tensor({2, 3, 5, 5}, r));
    }
    const auto path = std::filesystem::temp_directory_path() / ("sib_branch_sum_" + std::to_string(::getpid()) + ".safetensors");
    sib::optim::adamw<double>* none = nullptr;
    sib::train::save_checkpoint(path, m, none, sib::io::json::object());
    const auto f = sib::io::safetensors_file::load(path);
    for (const char* name : {"bn1.num_batches_tracked", "layer1.0.bn1.num_batches_tracked",
                             "layer1.0.bn2.num_batches_tracked", "layer1.0.downsample.1.num_batches_tracked",
                             "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var"}) {
        CAPTURE(name);
        CHECK(f.contains(name));
    }
    m.for_each_counter([](std::string_view, sib::index_t& v) { v = 0; });
    sib::train::load_checkpoint(path, m, none);
    m.for_each_counter([](std::string_view name, sib::index_t& v) {
        CAPTURE(name);
        CHECK(v == 3);
    });
    std::filesystem::remove(path);
}
