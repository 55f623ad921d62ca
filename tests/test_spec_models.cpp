// The run-time model (models::spec_model) with named models and Residual blocks, against the
// compile-time sib::models types it must equal: the same state-dict keys in the same order, the same
// initialisation, strict loading of one's file into the other, and one S-IB step (logits, objective,
// R, mask, parameter gradients, running statistics) equal to 1e-12, BatchNorm in training and in
// evaluation mode; a hand-written Residual spec against the compile-time block (and its five rules
// by central differences, nested blocks too); torchvision module paths for CAM target layers; and
// one-line errors for bad specs.
#include "support/gradcheck.hpp"
#include <sib/autodiff/step.hpp>
#include <sib/autodiff/step_flops.hpp>
#include <sib/explain/gradcam.hpp>
#include <sib/io/weights.hpp>
#include <sib/layers/residual.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/layers/state_dict.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/models.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/train/checkpoint.hpp>
#include <sib/train/trainer.hpp>
#include <unistd.h>
#include <filesystem>
#include <map>

using namespace sibtest;
namespace fs = std::filesystem;
namespace models = sib::models;
using sib::models::spec_model;

namespace {

struct scratch_dir {
    fs::path path = fs::temp_directory_path() / ("sib_spec_models_" + std::to_string(::getpid()));
    scratch_dir() { fs::create_directories(path); }
    ~scratch_dir() { fs::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string error_of(const std::string& spec) {
    try {
        spec_model<double> m(spec);
    } catch (const sib::error& e) {
        return e.what();
    }
    return "";
}

// name -> (value, gradient or null), in visiting order.
template <class M>
std::vector<std::pair<std::string, std::pair<dtensor*, dtensor*>>> parameters(M& m) {
    std::vector<std::pair<std::string, std::pair<dtensor*, dtensor*>>> out;
    m.for_each_parameter([&](std::string_view n, dtensor& v, dtensor* g) { out.push_back({std::string(n), {&v, g}}); });
    return out;
}

template <class M>
std::map<std::string, sib::index_t> counters(M& m) {
    std::map<std::string, sib::index_t> out;
    sib::visit_counters(m, [&](std::string_view n, sib::index_t& v) { out[std::string(n)] = v; });
    return out;
}

// |a - b| <= 1e-12 max|b| elementwise (b not all zero), shapes equal.
void check_same(const dtensor& a, const dtensor& b, const std::string& what) {
    CAPTURE(what);
    REQUIRE(a.shape() == b.shape());
    double scale = 0, worst = 0;
    for (sib::index_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::abs(b[i]));
    for (sib::index_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    CHECK(scale > 0);
    CHECK(worst <= 1e-12 * scale);
}

// BatchNorm's affine parameters and running statistics away from 1 and 0 in `m`, so that a mix-up
// of two of them shows.
template <class M>
void perturb(M& m, sib::rng& r) {
    for (auto& [name, p] : parameters(m)) {
        if (p.first->rank() != 1) continue;
        const bool var = name.ends_with("running_var");
        for (auto& e : *p.first) e = var ? r.uniform(0.5, 2.0) : e + 0.3 * r.normal();
    }
}

// The compile-time model `c` and the run-time one `s`, initialised from the same seed (torchvision's
// initialisation in both), then `c` perturbed and written to a file that `s` loads strictly: equal
// keys, parameters and counters; then S-IB steps in training mode (which update the running
// statistics) and in evaluation mode give equal logits, objective, R, mask and gradients.
template <class C>
void check_equal_models(C& c, spec_model<double>& s, const sib::shape& in) {
    CHECK(sib::nn::state_dict_keys(c) == sib::nn::state_dict_keys(s));
    CHECK(s.output_shape(in) == c.output_shape(in));

    sib::rng rc(11), rs(11);
    sib::optim::pytorch_default(c, rc);
    sib::optim::pytorch_default(s, rs);
    auto pc = parameters(c);
    auto ps = parameters(s);
    REQUIRE(pc.size() == ps.size());
    for (std::size_t i = 0; i < pc.size(); ++i) {
        CAPTURE(pc[i].first);
        CHECK(pc[i].first == ps[i].first);
        CHECK(pc[i].second.first->to_vector() == ps[i].second.first->to_vector());  // the same draws
        CHECK((pc[i].second.second == nullptr) == (ps[i].second.second == nullptr));
    }

    // Strict loading across: the compile-time model's state dict (a checkpoint) into the run-time one.
    sib::rng r(5);
    perturb(c, r);
    sib::index_t k = 0;
    sib::visit_counters(c, [&](std::string_view, sib::index_t& v) { v = 3 + k++; });
    scratch_dir dir;
    sib::train::save_checkpoint(dir.file("c.safetensors"), c, static_cast<sib::optim::adamw<double>*>(nullptr), {});
    sib::io::load_state_dict(s, dir.file("c.safetensors"));
    for (std::size_t i = 0; i < pc.size(); ++i) {
        CAPTURE(pc[i].first);
        CHECK(pc[i].second.first->to_vector() == ps[i].second.first->to_vector());
    }
    CHECK(counters(c) == counters(s));
    CHECK(counters(s).size() > 0);

    const dtensor x = random_tensor(in, r);
    std::vector<std::int64_t> labels;
    const auto classes = c.output_shape(in)[1];
    for (sib::index_t i = 0; i < in[0]; ++i) labels.push_back(i % classes);
    const sib::tensor<std::int64_t> y({in[0]}, labels);
    sib::masks::density_mask<double> mask(sib::masks::density_mask_options{.window = 3});
    auto objective = sib::loss::sib_objective<double>({.lambda_bg = 5.0, .lambda_fg = 2.0});
    for (const bool training : {true, false}) {
        CAPTURE(training);
        c.set_training(training);
        s.set_training(training);
        sib::autodiff::step_workspace<double> wc, ws;
        for (auto& [n, p] : pc)
            if (p.second) p.second->zero();
        for (auto& [n, p] : ps)
            if (p.second) p.second->zero();
        const auto vc = sib::autodiff::objective_step(c, wc, x, y, objective, mask);
        const auto vs = sib::autodiff::objective_step(s, ws, x, y, objective, mask);
        CHECK(std::isfinite(vc.total));
        CHECK(std::abs(vs.total - vc.total) <= 1e-12 * std::abs(vc.total));
        for (const auto& [name, value] : vc.terms) {
            CAPTURE(name);
            CHECK(std::abs(vs.terms[name] - value) <= 1e-12 * std::abs(value));
        }
        check_same(ws.sweeps.logits(), wc.sweeps.logits(), "logits");
        check_same(ws.sweeps.explanation(), wc.sweeps.explanation(), "R");
        check_same(ws.mask, wc.mask, "mask");
        for (std::size_t i = 0; i < pc.size(); ++i) {
            const auto& [name, p] = pc[i];
            if (p.second) check_same(*ps[i].second.second, *p.second, "gradient of " + name);
            else check_same(*ps[i].second.first, *p.first, "buffer " + name);  // running statistics
        }
        CHECK(counters(c) == counters(s));
    }
}

}  // namespace

TEST_CASE("named models: resnet18_small at width 4 equals sib::models::resnet18_small (keys, init, loading, S-IB step)") {
    models::resnet18_small<double> c({.num_classes = 3, .in_channels = 3, .width = 4});
    spec_model<double> s("resnet18_small(num_classes=3, width=4)");
    CHECK(s.spec() == "resnet18_small(num_classes=3, width=4)");  // the identity stays the user's string
    check_equal_models(c, s, {2, 3, 16, 16});
}

TEST_CASE("named models: resnet50_small at width 4 equals sib::models::resnet50_small (Bottleneck, layer1's downsample)") {
    models::resnet50_small<double> c({.num_classes = 3, .in_channels = 2, .width = 4});
    spec_model<double> s("resnet50_small(3, 2, 4)");  // positional, in the signature's order
    check_equal_models(c, s, {2, 2, 16, 16});
}

TEST_CASE("named models: vgg11_bn_small at width 4 equals sib::models::vgg11_bn_small") {
    models::vgg11_bn_small<double> c({.num_classes = 4, .in_channels = 1, .width = 4});
    spec_model<double> s("vgg11_bn_small(num_classes=4, in_channels=1, width=4)");
    check_equal_models(c, s, {2, 1, 32, 32});
}

TEST_CASE("named models: a run-time model's checkpoint loads strictly into the compile-time model") {
    spec_model<double> s("resnet18_small(num_classes=3, width=4)");
    models::resnet18_small<double> c({.num_classes = 3, .width = 4});
    sib::rng r(2);
    randomize_parameters(s, r);
    sib::visit_counters(s, [&](std::string_view, sib::index_t& v) { v = 7; });
    scratch_dir dir;
    sib::train::save_checkpoint(dir.file("s.safetensors"), s, static_cast<sib::optim::adamw<double>*>(nullptr), {});
    sib::io::load_state_dict(c, dir.file("s.safetensors"));
    auto pc = parameters(c);
    auto ps = parameters(s);
    REQUIRE(pc.size() == ps.size());
    for (std::size_t i = 0; i < pc.size(); ++i) CHECK(pc[i].second.first->to_vector() == ps[i].second.first->to_vector());
    CHECK(counters(c) == counters(s));
    // A model of another width does not take the file: one line naming the key.
    spec_model<double> other("resnet18_small(num_classes=3, width=8)");
    CHECK_THROWS_WITH_AS(sib::io::load_state_dict(other, dir.file("s.safetensors")),
                         doctest::Contains("conv1.weight: shape [4,3,3,3] in the file, [8,3,3,3] in the model"),
                         sib::error);
}

TEST_CASE("named models: every entry of the table builds torchvision's keys and shapes (width 8)") {
    // Each named model and the compile-time type it must equal.
    const auto same_keys = [](auto&& compile_time, const std::string& spec) {
        CAPTURE(spec);
        spec_model<float> s(spec);
        const auto keys = sib::nn::state_dict_keys(compile_time);
        CHECK(keys == sib::nn::state_dict_keys(s));
        std::vector<sib::shape> a, b;
        compile_time.for_each_parameter([&](std::string_view, sib::tensor<float>& v, sib::tensor<float>*) { a.push_back(v.shape()); });
        s.for_each_parameter([&](std::string_view, sib::tensor<float>& v, sib::tensor<float>*) { b.push_back(v.shape()); });
        CHECK(a == b);
    };
    const models::resnet_options ro{.num_classes = 7, .in_channels = 3, .width = 8};
    const models::vgg_options vo{.num_classes = 7, .in_channels = 3, .width = 8};
    same_keys(models::resnet18<float>(ro), "resnet18(num_classes=7, width=8)");
    same_keys(models::resnet34<float>(ro), "resnet34(num_classes=7, width=8)");
    same_keys(models::resnet50<float>(ro), "resnet50(num_classes=7, width=8)");
    same_keys(models::resnet18_small<float>(ro), "resnet18_small(num_classes=7, width=8)");
    same_keys(models::resnet34_small<float>(ro), "resnet34_small(num_classes=7, width=8)");
    same_keys(models::resnet50_small<float>(ro), "resnet50_small(num_classes=7, width=8)");
    same_keys(models::vgg11_bn<float>(vo), "vgg11_bn(num_classes=7, width=8)");
    same_keys(models::vgg16_bn<float>(vo), "vgg16_bn(num_classes=7, width=8)");
    same_keys(models::vgg11_bn_small<float>(vo), "vgg11_bn_small(num_classes=7, width=8)");
    same_keys(models::vgg16_bn_small<float>(vo), "vgg16_bn_small(num_classes=7, width=8)");
    // The table is what the lists derive from.
    CHECK(std::size(models::named_models) == 10);
    for (const auto& m : models::named_models) {
        CHECK(models::known_models().find(std::string(m.name)) != std::string::npos);
        CHECK(models::model_help().find("  " + std::string(m.name) + "(" + std::string(m.signature) + ")") !=
              std::string::npos);
    }
    // At torchvision's width the parameter count is torchvision's (resnet18: 11,689,512).
    spec_model<float> r18("resnet18");
    sib::index_t n = 0;
    r18.for_each_parameter([&](std::string_view, sib::tensor<float>& v, sib::tensor<float>* g) { n += g ? v.size() : 0; });
    CHECK(n == 11689512);
    CHECK(r18.output_shape({1, 3, 64, 64}) == sib::shape{1, 1000});
}

namespace {
// test_branch_sum.cpp's projection block (tanh in the main branch) and its spec.
auto projection_block() {
    using namespace sib::nn;
    return branch_sum(sequential(named("conv1", conv2d<double>(3, 4, 3, 2, 1, false)), named("bn1", batch_norm2d<double>(4)),
                                 named("relu", sib::nn::tanh<double>{}), named("conv2", conv2d<double>(4, 4, 3, 1, 1, false)),
                                 named("bn2", batch_norm2d<double>(4))),
                      sequential(conv2d<double>(3, 4, 1, 2, 0, false), batch_norm2d<double>(4)),
                      branch_names{.main = "", .shortcut = "downsample"});
}
const char* projection_spec =
    "Residual([conv1: Conv2d(3,4,3,stride=2,padding=1,bias=False); bn1: BatchNorm2d(4); relu: Tanh; "
    "conv2: Conv2d(4,4,3,padding=1,bias=False); bn2: BatchNorm2d(4)], "
    "downsample: [Conv2d(3,4,1,stride=2,bias=False); BatchNorm2d(4)])";
}  // namespace

TEST_CASE("Residual: a hand-written block equals the compile-time branch_sum, in a model and by its five rules") {
    const std::string spec = std::string("block: ") + projection_spec + "; relu: ReLU; Flatten; fc: Linear(36,3)";
    spec_model<double> s(spec);
    using namespace sib::nn;
    sequential c(named("block", projection_block()), named("relu", relu<double>{}), flatten<double>{},
                 named("fc", linear<double>(36, 3)));
    CHECK(state_dict_keys(s) == state_dict_keys(c));
    CHECK(state_dict_keys(s).front() == "block.conv1.weight");
    const auto keys = state_dict_keys(s);
    CHECK(std::find(keys.begin(), keys.end(), "block.downsample.1.num_batches_tracked") != keys.end());
    CHECK(s.layer_text(0) == "block: Residual");
    CHECK(s.module_name(2) == "2");
    sib::rng r(9);
    randomize_parameters(c, r);
    auto pc = parameters(c);
    auto ps = parameters(s);
    REQUIRE(pc.size() == ps.size());
    for (std::size_t i = 0; i < pc.size(); ++i) *ps[i].second.first = *pc[i].second.first;
    const dtensor x = random_tensor({4, 3, 6, 6}, r);
    const sib::tensor<std::int64_t> y({4}, {0, 1, 2, 1});
    sib::masks::density_mask<double> mask(sib::masks::density_mask_options{.window = 3});
    auto objective = sib::loss::sib_objective<double>({.lambda_bg = 5.0, .lambda_fg = 2.0});
    for (const bool training : {true, false}) {
        CAPTURE(training);
        c.set_training(training);
        s.set_training(training);
        sib::autodiff::step_workspace<double> wc, ws;
        const auto vc = sib::autodiff::objective_step(c, wc, x, y, objective, mask);
        const auto vs = sib::autodiff::objective_step(s, ws, x, y, objective, mask);
        CHECK(std::abs(vs.total - vc.total) <= 1e-12 * std::abs(vc.total));
        check_same(ws.sweeps.explanation(), wc.sweeps.explanation(), "R");
        for (std::size_t i = 0; i < pc.size(); ++i)
            if (pc[i].second.second) check_same(*ps[i].second.second, *pc[i].second.second, "gradient of " + pc[i].first);
    }

    // The run-time block alone, by central differences: training, then evaluation mode.
    spec_model<double> b(projection_spec);
    REQUIRE(std::holds_alternative<sib::nn::spec_projection<double>>(b.layer(0)));
    auto& block = std::get<sib::nn::spec_projection<double>>(b.layer(0));
    randomize_parameters(block, r);
    check_layer_rules(block, {2, 3, 5, 5}, 3);
    block.set_training(false);
    check_layer_rules(block, {1, 3, 5, 5}, 4);
}

TEST_CASE("Residual: identity shortcuts, nested blocks and blocks without second-order terms, by central differences") {
    // Nested: a block inside a block's main branch; the inner one has curvature (Tanh), the outer
    // branch adds a convolution (a mixed term).
    spec_model<double> nested("Residual([Conv2d(2,2,3,padding=1); Residual([Tanh; Conv2d(2,2,1)]); Softplus])");
    REQUIRE(std::holds_alternative<sib::nn::spec_residual<double>>(nested.layer(0)));
    auto& outer = std::get<sib::nn::spec_residual<double>>(nested.layer(0));
    sib::rng r(4);
    randomize_parameters(outer, r);
    CHECK(outer.has_mixed_terms());
    CHECK(outer.has_curvature_terms());
    check_layer_rules(outer, {2, 2, 4, 5}, 6);
    const auto keys = sib::nn::state_dict_keys(nested);
    CHECK(keys == std::vector<std::string>{"0.0.weight", "0.0.bias", "0.1.1.weight", "0.1.1.bias"});

    // Convolution and ReLU: mixed terms, no curvature (the block's curvature rule adds nothing).
    spec_model<double> flat("Residual([Conv2d(2,2,3,padding=1); ReLU])");
    auto& block = std::get<sib::nn::spec_residual<double>>(flat.layer(0));
    randomize_parameters(block, r);
    CHECK(block.has_mixed_terms());
    CHECK(!block.has_curvature_terms());
    check_layer_rules(block, {1, 2, 5, 4}, 7);
    // Only pooling and ReLU: neither.
    spec_model<double> none("Residual([ReLU; AvgPool2d(3,1,1)], [ReLU])");
    auto& plain = std::get<sib::nn::spec_projection<double>>(none.layer(0));
    CHECK(!plain.has_mixed_terms());
    CHECK(!plain.has_curvature_terms());
    check_layer_rules(plain, {1, 2, 5, 4}, 8);
    CHECK(sib::nn::state_dict_keys(none).empty());
}

TEST_CASE("named models: torchvision module paths name CAM target layers as in the compile-time model") {
    models::resnet18_small<double> c({.num_classes = 3, .in_channels = 1, .width = 4});
    spec_model<double> s("resnet18_small(num_classes=3, in_channels=1, width=4)");
    for (const char* path : {"conv1", "layer1", "layer2.1", "layer4", "layer4.0", "layer4.1.relu", "avgpool", "fc"}) {
        CAPTURE(path);
        CHECK(sib::explain::find_module(s, path) == sib::explain::find_module(c, path));
    }
    CHECK(sib::explain::find_module(s, "layer4") == s.num_layers() - 4);
    CHECK_THROWS_WITH_AS(sib::explain::find_module(s, "layer5"),
                         "no module 'layer5' in the model (its modules: conv1, bn1, relu, layer1, layer2, layer3, layer4, "
                         "avgpool, flatten, fc)",
                         sib::error);
    spec_model<double> v("vgg11_bn_small(num_classes=3, in_channels=1, width=4)");
    CHECK(sib::explain::find_module(v, "features.28") == 28);  // the last max-pool, nn.Sequential's index
    CHECK(v.layer_text(28) == "features.28: MaxPool2d(2,2)");

    sib::rng r(4);
    sib::optim::pytorch_default(c, r);
    sib::rng r2(4);
    sib::optim::pytorch_default(s, r2);
    sib::tensor<double> x({2, 1, 8, 8});
    for (auto& e : x) e = r.normal();
    const sib::labels_tensor<> y({2}, std::vector<std::int64_t>{0, 2});
    sib::tensor<double> want, got, by_default;
    sib::explain::gradcam(c, x, y, want, {.layer = sib::explain::find_module(c, "layer3")});
    sib::explain::gradcam(s, x, y, got, {.layer = sib::explain::find_module(s, "layer3")});
    sib::explain::gradcam(s, x, y, by_default);
    check_same(got, want, "Grad-CAM on layer3");
    // At 8x8 layer4's output is 1x1 too, so the default (the last map of more than one pixel) is
    // layer3 here; at 16x16 it is layer4 (test_models.cpp).
    CHECK(sib::explain::default_cam_layer(s, x.shape()) == sib::explain::find_module(s, "layer3"));
    CHECK(got.to_vector() == by_default.to_vector());
}

TEST_CASE("spec models: bad specs are one line naming what is wrong") {
    const auto one_line = [](const std::string& spec) {
        const std::string e = error_of(spec);
        CAPTURE(spec);
        CHECK(!e.empty());
        CHECK(e.find('\n') == std::string::npos);
        return e;
    };
    CHECK(one_line("resnet19(num_classes=10)") ==
          "spec: unknown model or layer 'resnet19' (models: " + models::known_models() + "; layers: " +
              sib::nn::known_layers() + ")");
    CHECK(models::known_models() == "resnet18, resnet34, resnet50, resnet18_small, resnet34_small, resnet50_small, "
                                    "vgg11_bn, vgg16_bn, vgg11_bn_small, vgg16_bn_small");
    CHECK(one_line("resnet18(num_classes=10, depth=3)") ==
          "spec: 'resnet18(num_classes=10, depth=3)': unknown argument 'depth' for resnet18(num_classes=1000, "
          "in_channels=3, width=64)");
    CHECK(one_line("resnet18(num_classes=0)") == "spec: 'resnet18(num_classes=0)': num_classes must be positive, got 0");
    CHECK(one_line("resnet18_small(width=four)") ==
          "spec: 'resnet18_small(width=four)': argument 'width' must be an integer, got 'four'");
    CHECK(one_line("Conv2d(3,8,3); resnet18") == "spec: 'resnet18' is a whole model; write it alone as the spec");
    CHECK(one_line("Residual(Conv2d(1,1,1))") ==
          "spec: 'Residual(Conv2d(1,1,1))': a Residual takes branches written [item; item; ...] (optionally name: "
          "[...]), got 'Conv2d(1,1,1)'");
    CHECK(one_line("Residual([ReLU], [ReLU], [ReLU])") ==
          "spec: 'Residual([ReLU], [ReLU], [ReLU])': a Residual has a main branch and at most one shortcut");
    CHECK(one_line("Residual([])") == "spec: 'Residual([])': empty branch '[]'");
    CHECK(one_line("Residual") == "spec: 'Residual': a Residual needs a main branch, Residual([...])");
    CHECK(one_line("Residual([ReLU]; Flatten") == "spec: unclosed '(' in 'Residual([ReLU]; Flatten'");
    CHECK(one_line("Residual([ReLU)])") == "spec: unbalanced ')' in 'Residual([ReLU)])'");
    CHECK(one_line("my conv: Conv2d(1,1,1)") ==
          "spec: 'my conv: Conv2d(1,1,1)': malformed module name 'my conv' (letters, digits, '_' and inner '.': "
          "conv1, layer1.0, features.3)");
    CHECK(one_line("a: Conv2d(1,1,1); a: Conv2d(1,1,1)") ==
          "spec: two parameters named 'a.weight' (give the modules distinct names)");
    CHECK(one_line("Residual([Conv2d(1,2,1); Conv3d(2,2,1)])").rfind("spec: unknown layer 'Conv3d' (known: ", 0) == 0);
    // Shapes: the block and the layer inside it are named.
    spec_model<double> misfit("Conv2d(1,2,1); blk: Residual([Conv2d(2,3,1)])");
    CHECK_THROWS_WITH_AS(misfit.output_shape({1, 1, 4, 4}),
                         "layer 1 (blk: Residual): residual: the inner layers map [1,2,4,4] to [1,3,4,4]; a skip "
                         "connection needs the same shape",
                         sib::error);
    spec_model<double> inner("Residual([Conv2d(2,2,1); Linear(4,4)])");
    CHECK_THROWS_WITH_AS(inner.output_shape({1, 2, 4, 4}),
                         doctest::Contains("layer 0 (Residual): layer 1 (Linear(4,4)): Linear(4,4): expects input [N,4]"),
                         sib::error);
}

TEST_CASE("spec models: flat specs keep nn.Sequential's names, BatchNorm's counters included; bench's FLOPs count blocks") {
    spec_model<double> m("Conv2d(1,2,3); BatchNorm2d(2); ReLU; Flatten; Linear(2,3)");
    CHECK(sib::nn::state_dict_keys(m) ==
          std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                   "1.num_batches_tracked", "4.weight", "4.bias"});
    // A named flat spec, as PyTorch's nn.Sequential(OrderedDict(...)) names it.
    spec_model<double> named("features: Conv2d(1,2,3); ReLU; Flatten; head.fc: Linear(2,3)");
    CHECK(sib::nn::state_dict_keys(named) ==
          std::vector<std::string>{"features.weight", "features.bias", "head.fc.weight", "head.fc.bias"});
    CHECK(sib::explain::find_module(named, "head") == 3);
    // FLOPs: the block's convolutions count (2 * N * out elements * in * k*k each).
    spec_model<float> r("Conv2d(1,2,3,padding=1); Residual([Conv2d(2,2,3,padding=1)], [Conv2d(2,2,1)])");
    const auto f = sib::autodiff::count_step_flops(r, {1, 1, 4, 4});
    CHECK(f.forward == 2.0 * 32 * 9 + 2.0 * 32 * 18 + 2.0 * 32 * 2);
}

TEST_CASE("spec models: the trainer reseeds Dropout inside a Residual block from (seed, step), as at the top level") {
    spec_model<double> m("Conv2d(1,2,1); Residual([Dropout(0.5); Conv2d(2,2,1)]); Dropout(0.5); Flatten");
    sib::rng r(1);
    randomize_parameters(m, r);
    m.set_training(true);
    const dtensor x = random_tensor({2, 1, 4, 4}, r);
    sib::autodiff::sweep_workspace<double> ws;
    const auto masks_at = [&](sib::index_t step) {
        sib::train::detail::reseed_dropout(m, 3, step);
        return sib::autodiff::forward_sweep(m, ws, x).to_vector();
    };
    const auto a = masks_at(5);
    CHECK(masks_at(5) == a);  // the block's Dropout too: a resumed run draws the same masks
    CHECK(masks_at(6) != a);
}
