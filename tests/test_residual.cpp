// The residual combinator: its five rules by central differences (the inner chain has curvature,
// mixed terms and parameters), a model with a residual block through the objective step, and the
// evaluation mode of explanations reaching the layers inside a block.
#include "support/gradcheck.hpp"
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/saliency.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/dropout.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/residual.hpp>
#include <sib/layers/tanh.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/autodiff/step.hpp>

using namespace sibtest;
using namespace sib::nn;

TEST_CASE("residual: five rules by central differences") {
    residual block(conv2d<double>(3, 3, 3, 1, 1), sib::nn::tanh<double>{}, conv2d<double>(3, 3, 1));
    sib::rng r(4);
    randomize_parameters(block, r);
    check_layer_rules(block, {2, 3, 5, 4});
    check_layer_rules(block, {1, 3, 3, 3}, 9);
    std::vector<std::string> names;
    block.for_each_parameter([&](std::string_view n, dtensor&, dtensor*) { names.emplace_back(n); });
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
}

TEST_CASE("residual: shape mismatch is one line") {
    residual block(conv2d<double>(3, 4, 3, 1, 1));
    CHECK_THROWS_WITH_AS(block.output_shape({1, 3, 5, 5}),
                         "residual: the inner layers map [1,3,5,5] to [1,4,5,5]; a skip connection needs the same shape",
                         sib::error);
}

TEST_CASE("residual: a model with a residual block through the S-IB step, by central differences") {
    sequential m(conv2d<double>(1, 2, 3, 1, 1), residual(sib::nn::tanh<double>{}, conv2d<double>(2, 2, 3, 1, 1)),
                 relu<double>{}, flatten<double>{}, linear<double>(2 * 6 * 6, 3));
    sib::rng r(2);
    randomize_parameters(m, r, 0.6);
    const dtensor x = random_tensor({4, 1, 6, 6}, r);
    sib::tensor<std::int64_t> y({4}, {0, 2, 1, 2});
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
    m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        params.push_back(&v);
        grads.push_back(*g);
    });
    const double noise = 1e-16 * std::max(1.0, std::abs(loss())) / 1e-6;
    for (std::size_t p = 0; p < params.size(); ++p) {
        auto num = numeric_gradient(*params[p], loss, 1e-6);
        expect_close(grads[p].to_vector(), num, 1e-6, 20 * noise, "d total / d param #" + std::to_string(p));
    }
}

TEST_CASE("residual: explaining restores the mode of BatchNorm and Dropout inside a residual block") {
    sequential m(conv2d<double>(1, 2, 3, 1, 1),
                 residual(batch_norm2d<double>(2), relu<double>{}, dropout<double>(0.5, 3), conv2d<double>(2, 2, 3, 1, 1)),
                 batch_norm2d<double>(2), flatten<double>{}, linear<double>(2 * 5 * 5, 3));
    sib::rng r(5);
    randomize_parameters(m, r, 0.6);
    auto& inner = m.layer<1>().inner();
    auto modes = [&] {
        return std::vector<bool>{inner.layer<0>().training, inner.layer<2>().training, m.layer<2>().training};
    };
    m.set_training(true);
    inner.layer<2>().training = false;  // a mode of its own, which must come back as it was
    const std::vector<bool> before = modes();
    REQUIRE(before == std::vector<bool>{true, false, true});
    {
        sib::explain::eval_mode_scope<decltype(m)> scope(m);
        CHECK(modes() == std::vector<bool>{false, false, false});
    }
    CHECK(modes() == before);
    const dtensor x = random_tensor({2, 1, 5, 5}, r);
    dtensor map;
    sib::explain::saliency(m, x, sib::tensor<std::int64_t>({2}, std::vector<std::int64_t>{0, 2}), map);
    CHECK(map.shape() == sib::shape{2, 5, 5});
    CHECK(modes() == before);
}
