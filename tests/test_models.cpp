// torchvision's ResNets and VGGs as compile-time models: parameter counts equal torchvision's, the
// state-dict keys and shapes in torchvision's order (tests/data/models/*.keys, written by
// torchvision: tests/fixtures/gen_torchvision_keys.py), output shapes, the Bottleneck and BasicBlock
// blocks' five rules by central differences, and one S-IB objective step of a whole ResNet in
// float64 against central differences of the loss, BatchNorm in training and in evaluation mode.
// Sizes are small: the whole networks run at 4x4 inputs.
#include "support/gradcheck.hpp"
#include <sib/autodiff/step.hpp>
#include <sib/layers/state_dict.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/explain/gradcam.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/models.hpp>
#include <sib/optim/init.hpp>
#include <fstream>
#include <map>
#include <sstream>

using namespace sibtest;
namespace models = sib::models;

namespace {

template <class M>
sib::index_t count_parameters(M& m) {
    sib::index_t n = 0;
    m.for_each_parameter([&](std::string_view, auto& v, auto* g) {
        if (g) n += v.size();
    });
    return n;
}

// "name shape" per line, as tests/fixtures/gen_torchvision_keys.py writes torchvision's state dict
// (shape "1,2,3"; "" for num_batches_tracked's scalar).
std::vector<std::string> read_keys(const std::string& file) {
    std::ifstream in(std::string(SIB_TEST_DATA_DIR) + "/models/" + file);
    REQUIRE_MESSAGE(in.good(), "cannot read tests/data/models/", file);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

template <class M>
std::vector<std::string> sib_keys(M& m) {
    using T = typename M::value_type;
    std::map<std::string, std::string> shapes;
    m.for_each_parameter([&](std::string_view name, sib::tensor<T>& v, sib::tensor<T>*) {
        std::string s;
        for (int d = 0; d < v.rank(); ++d) s += (d ? "," : "") + std::to_string(v.dim(d));
        shapes[std::string(name)] = s;
    });
    std::vector<std::string> out;
    for (const auto& k : sib::nn::state_dict_keys(m)) out.push_back(k + " " + shapes[k]);  // counters: ""
    return out;
}

template <class M>
void check_keys(M& m, const std::string& file) {
    const auto want = read_keys(file);
    const auto got = sib_keys(m);
    CHECK(got.size() == want.size());
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        if (got[i] != want[i]) {
            FAIL_CHECK(file, " entry ", i, ": sib has '", got[i], "', torchvision '", want[i], "'");
            return;
        }
    }
}

}  // namespace

TEST_CASE("models: parameter counts equal torchvision's (1000 classes)") {
    models::resnet18<float> r18;
    CHECK(count_parameters(r18) == 11689512);
    check_keys(r18, "resnet18.keys");
    models::resnet34<float> r34;
    CHECK(count_parameters(r34) == 21797672);
    check_keys(r34, "resnet34.keys");
    models::resnet50<float> r50;
    CHECK(count_parameters(r50) == 25557032);
    check_keys(r50, "resnet50.keys");
    models::vgg11_bn<float> v11;
    CHECK(count_parameters(v11) == 132868840);
    check_keys(v11, "vgg11_bn.keys");
}

TEST_CASE("models: vgg16_bn's parameter count and keys equal torchvision's") {
    models::vgg16_bn<float> v16;  // 138 M parameters: about 1.1 GB with their gradients
    CHECK(count_parameters(v16) == 138365992);
    check_keys(v16, "vgg16_bn.keys");
}

TEST_CASE("models: output shapes, num_classes and in_channels") {
    models::resnet18<float> r18({.num_classes = 10, .in_channels = 1});
    CHECK(r18.output_shape({2, 1, 224, 224}) == sib::shape{2, 10});
    CHECK(r18.output_shape({1, 1, 64, 64}) == sib::shape{1, 10});
    models::resnet50_small<float> r50({.num_classes = 7});
    CHECK(r50.output_shape({3, 3, 32, 32}) == sib::shape{3, 7});
    models::resnet18_small<float> s18({.num_classes = 10});
    CHECK(s18.output_shape({2, 3, 32, 32}) == sib::shape{2, 10});
    // The small-input stem keeps 32x32 through layer1 (no stride, no max-pool).
    std::vector<std::string> names;
    s18.for_each_parameter([&](std::string_view n, sib::tensor<float>& v, sib::tensor<float>*) {
        if (n == "conv1.weight") CHECK(v.shape() == sib::shape{64, 3, 3, 3});
        if (n == "fc.weight") CHECK(v.shape() == sib::shape{10, 512});
    });
    models::vgg11_bn_small<float> v11({.num_classes = 10});
    CHECK(v11.output_shape({2, 3, 32, 32}) == sib::shape{2, 10});
    CHECK(count_parameters(v11) == 9231114);  // torchvision's vgg11_bn features + Linear(512, 10)
    CHECK_THROWS_WITH_AS(models::resnet18<float>({.num_classes = 0}), "resnet: num_classes must be positive, got 0",
                         sib::error);
    CHECK_THROWS_WITH_AS(r18.output_shape({2, 3, 64, 64}),
                         "Conv2d(1,64,7,stride=2,padding=3,bias=False): expects input [N,1,H,W], got [2,3,64,64]",
                         sib::error);
}

TEST_CASE("models: BasicBlock and Bottleneck with downsample, five rules by central differences") {
    sib::rng r(3);
    // in 4 -> planes 2 (x4 = 8 channels), stride 2, BatchNorm training; then evaluation.
    auto bottleneck = std::get<0>(models::detail::block<models::detail::bottleneck, true, double, sib::cpu>(2, 0, 4, 2, 2));
    randomize_parameters(bottleneck, r);
    CHECK(bottleneck.module_name() == "layer2.0");
    check_layer_rules(bottleneck, {1, 4, 5, 5}, 1);
    auto basic = std::get<0>(models::detail::block<models::detail::basic, true, double, sib::cpu>(3, 0, 3, 4, 2));
    randomize_parameters(basic, r);
    check_layer_rules(basic, {2, 3, 3, 5}, 2);
    for (int i = 0; i < 2; ++i) {  // running statistics of two batches, then evaluation mode
        (void)run_forward(bottleneck, random_tensor({2, 4, 5, 5}, r));
        (void)run_forward(basic, random_tensor({2, 3, 3, 5}, r));
    }
    bottleneck.set_training(false);
    basic.set_training(false);
    check_layer_rules(bottleneck, {1, 4, 5, 5}, 4);
    check_layer_rules(basic, {1, 3, 3, 5}, 5);
}

namespace {

// One S-IB step of `m` (in_channels 1, 3 classes, initialised as torchvision) on a 4x4 batch of 4,
// BatchNorm in training mode and then in evaluation mode (running statistics of the batches seen):
// the gradient of the total against central differences at one entry of every `stride`-th
// parameter tensor and of every downsample's, from the tensor named `from` on. The input's scale
// keeps the background term's exp() away from overflow: in training mode the network is invariant
// to it and R scales as its inverse (a deep random network's input gradient is large). A deep
// random network at 4x4 is so curved in its first layers that a difference quotient with step 1e-6
// is no derivative there (resnet50 at width 4: the quotient moves by 50% between steps 1e-6 and
// 1e-7, where the analytic gradient agrees with the smaller steps), so `from` starts it later.
template <class M>
void check_model_step(M& m, int stride, double input_scale, std::string_view from = "conv1.weight") {
    sib::rng r(7);
    sib::optim::pytorch_default(m, r);  // torchvision's initialisation (the model's reset_parameters)
    // BatchNorm's affine parameters away from 1 and 0, so their gradients are not special.
    m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        if (g && v.rank() == 1 && v.size() != 3)
            for (auto& e : v) e += 0.2 * r.normal();
    });
    const dtensor x = random_tensor({4, 1, 4, 4}, r, input_scale);
    const sib::tensor<std::int64_t> y({4}, {0, 2, 1, 2});
    sib::masks::density_mask<double> mask(sib::masks::density_mask_options{.window = 3});
    auto objective = sib::loss::sib_objective<double>({.lambda_bg = 50.0, .lambda_fg = 2.0});
    for (const bool training : {true, false}) {
        CAPTURE(training);
        if (!training) {
            m.set_training(true);
            sib::autodiff::sweep_workspace<double> ws;
            for (int i = 0; i < 2; ++i) sib::autodiff::forward_sweep(m, ws, random_tensor({4, 1, 4, 4}, r, input_scale));
        }
        m.set_training(training);
        sib::autodiff::step_workspace<double> ws;
        auto loss = [&] {
            m.for_each_parameter([](std::string_view, dtensor&, dtensor* g) { if (g) g->zero(); });
            return static_cast<double>(sib::autodiff::objective_step(m, ws, x, y, objective, mask).total);
        };
        const double total = loss();
        REQUIRE(std::isfinite(total));
        std::vector<std::tuple<std::string, dtensor*, dtensor>> params;
        m.for_each_parameter([&](std::string_view n, dtensor& v, dtensor* g) {
            if (g) params.emplace_back(std::string(n), &v, *g);
        });
        const double eps = 1e-6, noise = 1e-16 * std::max(1.0, std::abs(total)) / eps;
        bool started = false;
        for (std::size_t p = 0; p < params.size(); ++p) {
            auto& [name, value, grad] = params[p];
            started = started || name == from;
            if (!started) continue;
            const bool last = p + 1 == params.size();
            if (p % static_cast<std::size_t>(stride) != 0 && !last && name.find("downsample") == std::string::npos)
                continue;
            CAPTURE(name);
            const sib::index_t i = value->size() * 7 / 13;
            const double keep = (*value)[i];
            (*value)[i] = keep + eps;
            const double fp = loss();
            (*value)[i] = keep - eps;
            const double fm = loss();
            (*value)[i] = keep;
            expect_close(std::vector<double>{grad[i]}, std::vector<double>{(fp - fm) / (2 * eps)}, 1e-6, 20 * noise,
                         "d total / d " + name + "[" + std::to_string(i) + "]");
        }
    }
}

}  // namespace

TEST_CASE("models: one S-IB step of resnet18 (small input, width 4) against central differences, both BatchNorm modes") {
    models::resnet18_small<double> m({.num_classes = 3, .in_channels = 1, .width = 4});
    check_model_step(m, 2, 1.0);
}

TEST_CASE("models: one S-IB step of resnet50 (small input, width 4) against central differences, both BatchNorm modes") {
    models::resnet50_small<double> m({.num_classes = 3, .in_channels = 1, .width = 4});
    check_model_step(m, 2, 100.0, "layer3.0.conv1.weight");
}

TEST_CASE("models: resnet18 and vgg11_bn_small at full width run forward at 32x32") {
    models::resnet18<float> m({.num_classes = 10});
    sib::rng r(1);
    sib::optim::pytorch_default(m, r);
    sib::autodiff::step_workspace<float> ws;
    sib::tensor<float> x({2, 3, 32, 32});
    for (auto& v : x) v = static_cast<float>(r.normal());
    const auto& z = sib::autodiff::forward_sweep(m, ws.sweeps, x);
    CHECK(z.shape() == sib::shape{2, 10});
    models::vgg11_bn_small<float> v({.num_classes = 10});
    sib::optim::pytorch_default(v, r);
    CHECK(sib::autodiff::forward_sweep(v, ws.sweeps, x).shape() == sib::shape{2, 10});
}

TEST_CASE("find_module: torchvision's module paths name the CAM target layer; Grad-CAM on layer4 is the default's") {
    models::resnet18_small<double> m({.num_classes = 3, .in_channels = 1, .width = 4});
    sib::rng r(4);
    sib::optim::pytorch_default(m, r);
    std::vector<std::string> names;
    m.for_each_layer([&](auto& l, int i) { names.push_back(sib::nn::detail::child_name(l, i)); });
    const auto index_of = [&](const std::string& name) {
        return static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
    };
    CHECK(sib::explain::find_module(m, "conv1") == 0);
    CHECK(sib::explain::find_module(m, "layer4") == index_of("layer4.1.relu"));  // the stage's last block
    CHECK(sib::explain::find_module(m, "layer4.0") == index_of("layer4.0.relu"));
    CHECK(sib::explain::find_module(m, "layer1.1.relu") == index_of("layer1.1.relu"));
    CHECK(sib::explain::find_module(m, "fc") == static_cast<int>(names.size()) - 1);
    CHECK_THROWS_WITH_AS(sib::explain::find_module(m, "layer"),
                         "no module 'layer' in the model (its modules: conv1, bn1, relu, layer1, layer2, layer3, layer4, "
                         "avgpool, flatten, fc)",
                         sib::error);
    // Spec models name their layers by index.
    sib::models::spec_model<double> s("Conv2d(1,2,3); ReLU; Flatten; Linear(8,3)");
    CHECK(sib::explain::find_module(s, "1") == 1);

    // 16x16 input: layer4's output is 2x2, avgpool's 1x1. The default skips the global pooling,
    // whose one pixel would make every map constant, and is layer4 (the last block's output).
    sib::tensor<double> x({2, 1, 16, 16});
    for (auto& v : x) v = r.normal();
    const sib::labels_tensor<> y({2}, std::vector<std::int64_t>{0, 2});
    CHECK(sib::explain::default_cam_layer(m, x.shape()) == index_of("layer4.1.relu"));
    sib::tensor<double> by_default, by_path;
    sib::explain::gradcam(m, x, y, by_default);
    sib::explain::gradcam(m, x, y, by_path, {.layer = sib::explain::find_module(m, "layer4")});
    CHECK(by_default.to_vector() == by_path.to_vector());
    const auto v = by_default.to_vector();
    CHECK(*std::max_element(v.begin(), v.end()) > *std::min_element(v.begin(), v.end()));  // not constant
    // 8x8 input: layer4 is 1x1 too, so no output after layer3 (2x2) is a map; layer3 is the default.
    sib::tensor<double> small({2, 1, 8, 8});
    for (auto& e : small) e = r.normal();
    CHECK(sib::explain::default_cam_layer(m, small.shape()) == index_of("layer3.1.relu"));
    // Only 1x1 maps: the last of them.
    sib::models::spec_model<double> pooled("AdaptiveAvgPool2d(1); Conv2d(1,2,1); Flatten; Linear(2,3)");
    CHECK(sib::explain::default_cam_layer(pooled, small.shape()) == 1);
}
