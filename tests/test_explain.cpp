// Attribution methods against independent PyTorch reimplementations of docs/explanations.md's definitions
// (tests/fixtures/gen_explain.py: autograd, module hooks, F.interpolate; same weights and inputs),
// and, where the randomness is sib's own (SmoothGrad, VarGrad, RISE), against properties that pin
// the definition: zero noise is saliency, all-ones masks give the target probability everywhere,
// the documented noise reproduces the map.
#include "support/gradcheck.hpp"
#include "fixtures/explain_fixtures.hpp"
#include <sib/decoders/argmax.hpp>
#include <sib/explain/batched.hpp>
#include <sib/explain/explain.hpp>
#include <sib/explain/methods.hpp>
#include <sib/models/spec_model.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using namespace sibtest;
namespace fx = explain_fixtures;
namespace ex = sib::explain;
using sib::index_t;
using labels = sib::tensor<std::int64_t>;

namespace {

template <class T = double>
sib::tensor<T> fixture(const std::vector<long long>& shape, const std::vector<double>& values) {
    return sib::tensor<T>(sib::shape(shape.begin(), shape.end()), std::vector<T>(values.begin(), values.end()));
}

labels make_labels(const std::vector<long long>& v) {
    return labels({static_cast<index_t>(v.size())}, std::vector<std::int64_t>(v.begin(), v.end()));
}

// A spec model with the fixture's parameters and buffers, left in training mode: every method must
// switch to evaluation mode itself (the references are in eval mode) and switch back.
template <class T = double>
sib::models::spec_model<T> load_model(const char* spec, const std::vector<fx::named_array>& params) {
    sib::models::spec_model<T> m(spec);
    std::size_t loaded = 0;
    m.for_each_parameter([&](std::string_view name, sib::tensor<T>& v, sib::tensor<T>*) {
        for (const auto& p : params)
            if (name == p.name) {
                REQUIRE(v.shape() == sib::shape(p.shape.begin(), p.shape.end()));
                for (index_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(p.values[static_cast<std::size_t>(i)]);
                ++loaded;
            }
    });
    REQUIRE(loaded == params.size());
    m.set_training(true);
    return m;
}

template <class T>
std::vector<double> values(const sib::tensor<T>& t) {
    const auto v = t.to_vector();
    return {v.begin(), v.end()};
}

void check_map(const dtensor& got, const std::vector<long long>& shape, const std::vector<double>& want,
               const std::string& what, double rtol = 1e-10, double atol = 1e-12) {
    REQUIRE_MESSAGE(got.shape() == sib::shape(shape.begin(), shape.end()), what, ": shape ", got.shape().str());
    expect_close(values(got), want, rtol, atol, what);
}

bool bitwise_equal(const dtensor& a, const dtensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

bool any_training(sib::models::spec_model<double>& m) {
    bool on = false;
    m.for_each_layer([&](auto& l, int) {
        if constexpr (requires { l.training; }) on = on || l.training;
    });
    return on;
}

// The fixtures of one case, by name.
struct case_data {
    const char* name;
    const char* spec;
    const std::vector<fx::named_array>* params;
    const std::vector<long long>* x_shape;
    const std::vector<double>* x;
    const std::vector<long long>* labels;
    const std::vector<long long>* pred;
};

const case_data cases[] = {
    {"cnn", fx::cnn_spec, &fx::cnn_params, &fx::cnn_x_shape, &fx::cnn_x, &fx::cnn_labels, &fx::cnn_pred},
    {"rgb_odd", fx::rgb_odd_spec, &fx::rgb_odd_params, &fx::rgb_odd_x_shape, &fx::rgb_odd_x, &fx::rgb_odd_labels,
     &fx::rgb_odd_pred},
    {"bn_gap", fx::bn_gap_spec, &fx::bn_gap_params, &fx::bn_gap_x_shape, &fx::bn_gap_x, &fx::bn_gap_labels,
     &fx::bn_gap_pred},
};

}  // namespace

TEST_CASE("explain: bilinear resampling matches F.interpolate (both align_corners modes)") {
    const std::vector<const std::vector<double>*> ins{&fx::bilinear0_in, &fx::bilinear1_in, &fx::bilinear2_in,
                                                      &fx::bilinear3_in, &fx::bilinear4_in, &fx::bilinear5_in,
                                                      &fx::bilinear6_in, &fx::bilinear7_in, &fx::bilinear8_in,
                                                      &fx::bilinear9_in};
    const std::vector<const std::vector<long long>*> in_shapes{
        &fx::bilinear0_in_shape, &fx::bilinear1_in_shape, &fx::bilinear2_in_shape, &fx::bilinear3_in_shape,
        &fx::bilinear4_in_shape, &fx::bilinear5_in_shape, &fx::bilinear6_in_shape, &fx::bilinear7_in_shape,
        &fx::bilinear8_in_shape, &fx::bilinear9_in_shape};
    const std::vector<const std::vector<double>*> outs{&fx::bilinear0_out, &fx::bilinear1_out, &fx::bilinear2_out,
                                                       &fx::bilinear3_out, &fx::bilinear4_out, &fx::bilinear5_out,
                                                       &fx::bilinear6_out, &fx::bilinear7_out, &fx::bilinear8_out,
                                                       &fx::bilinear9_out};
    const std::vector<const std::vector<long long>*> out_shapes{
        &fx::bilinear0_out_shape, &fx::bilinear1_out_shape, &fx::bilinear2_out_shape, &fx::bilinear3_out_shape,
        &fx::bilinear4_out_shape, &fx::bilinear5_out_shape, &fx::bilinear6_out_shape, &fx::bilinear7_out_shape,
        &fx::bilinear8_out_shape, &fx::bilinear9_out_shape};
    const bool corners[] = {fx::bilinear0_align_corners, fx::bilinear1_align_corners, fx::bilinear2_align_corners,
                            fx::bilinear3_align_corners, fx::bilinear4_align_corners, fx::bilinear5_align_corners,
                            fx::bilinear6_align_corners, fx::bilinear7_align_corners, fx::bilinear8_align_corners,
                            fx::bilinear9_align_corners};
    REQUIRE(fx::bilinear_cases == 10);
    for (int i = 0; i < fx::bilinear_cases; ++i) {
        const dtensor in = fixture(*in_shapes[i], *ins[i]);
        const auto& os = *out_shapes[i];
        dtensor out;
        ex::upsample_bilinear(in, os[2], os[3], out, corners[i]);
        check_map(out, os, *outs[i], "bilinear case " + std::to_string(i), 1e-13, 1e-14);
        // float32 follows the same index rule.
        sib::tensor<float> inf = sib::tensor_cast<float>(in), outf;
        ex::upsample_bilinear(inf, os[2], os[3], outf, corners[i]);
        expect_close(values(outf), *outs[i], 1e-5, 1e-6, "bilinear float32 case " + std::to_string(i));
    }
    dtensor a({1, 1, 2, 2}, 1.0);
    CHECK_THROWS_WITH_AS(ex::upsample_bilinear(a, 3, 3, a), "upsample_bilinear: input and output must differ",
                         sib::error);
}

TEST_CASE("explain: gradient family against PyTorch autograd and hooks") {
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto m = load_model(c.spec, *c.params);
        const dtensor x = fixture(*c.x_shape, *c.x);
        const labels y = make_labels(*c.labels);
        const std::string n = c.name;
        auto get = [&](const std::string& key) -> const std::vector<double>& {
            // The fixture arrays of this case, looked up by suffix.
#define SIB_FX(name, suffix) if (n == #name && key == #suffix) return fx::name##_##suffix;
#define SIB_FX_ALL(suffix) SIB_FX(cnn, suffix) SIB_FX(rgb_odd, suffix) SIB_FX(bn_gap, suffix)
            SIB_FX_ALL(saliency_label) SIB_FX_ALL(saliency_pred) SIB_FX_ALL(saliency_channels) SIB_FX_ALL(ixg)
            SIB_FX_ALL(ixg_channels) SIB_FX_ALL(ig) SIB_FX_ALL(ig_channels) SIB_FX_ALL(ig_m5_b025)
            SIB_FX_ALL(guided) SIB_FX_ALL(guided_channels)
#undef SIB_FX_ALL
#undef SIB_FX
            FAIL("no fixture ", key);
            static const std::vector<double> none;
            return none;
        };
        const index_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
        const std::vector<long long> map{B, H, W}, full{B, C, H, W};
        dtensor out;
        ex::model_workspace<sib::models::spec_model<double>> ws;

        ex::saliency(m, x, y, out, {}, &ws);
        check_map(out, map, get("saliency_label"), "saliency");
        ex::saliency(m, x, labels(), out, {ex::target_mode::prediction, false}, &ws);
        check_map(out, map, get("saliency_pred"), "saliency, target=pred");
        ex::saliency(m, x, y, out, {ex::target_mode::label, true});
        check_map(out, full, get("saliency_channels"), "saliency, keep_channels");
        CHECK(ws.targets.to_vector() == std::vector<std::int64_t>(c.pred->begin(), c.pred->end()));

        ex::input_x_gradient(m, x, y, out);
        check_map(out, map, get("ixg"), "input_x_gradient");
        ex::input_x_gradient(m, x, y, out, {ex::target_mode::label, true});
        check_map(out, full, get("ixg_channels"), "input_x_gradient, keep_channels");

        for (index_t ib : {index_t(128), index_t(5), index_t(1)}) {
            CAPTURE(ib);
            ex::integrated_gradients(m, x, y, out, {.internal_batch_size = ib}, &ws);
            check_map(out, map, get("ig"), "integrated_gradients");
        }
        ex::integrated_gradients(m, x, y, out, {.keep_channels = true});
        check_map(out, full, get("ig_channels"), "integrated_gradients, keep_channels");
        ex::integrated_gradients(m, x, y, out, {.steps = 5, .baseline = 0.25, .internal_batch_size = 4});
        check_map(out, map, get("ig_m5_b025"), "integrated_gradients, m=5, x0=0.25");

        ex::guided_backprop(m, x, y, out);
        check_map(out, map, get("guided"), "guided_backprop");
        ex::guided_backprop(m, x, y, out, {ex::target_mode::label, true}, &ws);
        check_map(out, full, get("guided_channels"), "guided_backprop, keep_channels");

        CHECK_MESSAGE(any_training(m) == (n == "bn_gap"), "the caller's training mode is restored");
    }
}

TEST_CASE("explain: the CAM family against PyTorch hooks, at the default and explicit layers") {
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto m = load_model(c.spec, *c.params);
        const dtensor x = fixture(*c.x_shape, *c.x);
        const labels y = make_labels(*c.labels);
        const std::string n = c.name;
        const std::vector<long long> map{x.dim(0), x.dim(2), x.dim(3)};
        std::vector<int> layers;
        if (n == "cnn") layers = {4, 1, 2};
        if (n == "rgb_odd") layers = {3, 0};
        if (n == "bn_gap") layers = {2, 3};  // the default skips the global pooling's 1x1 output (layer 3)
        CHECK(ex::default_cam_layer(m, x.shape()) == layers[0]);
        auto get = [&](const std::string& method, int layer) -> const std::vector<double>& {
            const std::string key = method + "_l" + std::to_string(layer);
#define SIB_FX(name, method, l) if (n == #name && key == #method "_l" #l) return fx::name##_##method##_l##l;
#define SIB_FX_METHODS(name, l) SIB_FX(name, gradcam, l) SIB_FX(name, gradcam_pp, l) SIB_FX(name, layercam, l) \
    SIB_FX(name, xgradcam, l) SIB_FX(name, hirescam, l) SIB_FX(name, scorecam, l)
            SIB_FX_METHODS(cnn, 4) SIB_FX_METHODS(cnn, 1) SIB_FX_METHODS(cnn, 2) SIB_FX_METHODS(rgb_odd, 3)
            SIB_FX_METHODS(rgb_odd, 0) SIB_FX_METHODS(bn_gap, 3) SIB_FX_METHODS(bn_gap, 2)
#undef SIB_FX_METHODS
#undef SIB_FX
            FAIL("no fixture ", key);
            static const std::vector<double> none;
            return none;
        };
        dtensor out;
        ex::model_workspace<sib::models::spec_model<double>> ws;
        for (int layer : layers) {
            CAPTURE(layer);
            const int as_given = layer == layers[0] ? -1 : layer;  // the first is the default layer
            const ex::cam_options o{ex::target_mode::label, as_given};
            ex::gradcam(m, x, y, out, o, &ws);
            check_map(out, map, get("gradcam", layer), "gradcam");
            ex::gradcam_pp(m, x, y, out, o, &ws);
            check_map(out, map, get("gradcam_pp", layer), "gradcam_pp");
            ex::layercam(m, x, y, out, o);
            check_map(out, map, get("layercam", layer), "layercam");
            ex::xgradcam(m, x, y, out, o);
            check_map(out, map, get("xgradcam", layer), "xgradcam");
            ex::hirescam(m, x, y, out, o);
            check_map(out, map, get("hirescam", layer), "hirescam");
            for (index_t ib : {index_t(128), index_t(3)}) {
                ex::scorecam(m, x, y, out, {ex::target_mode::label, as_given, ib}, &ws);
                check_map(out, map, get("scorecam", layer), "scorecam");
            }
        }
        const std::vector<double>& pred = n == "cnn" ? fx::cnn_gradcam_pred
                                          : n == "rgb_odd" ? fx::rgb_odd_gradcam_pred : fx::bn_gap_gradcam_pred;
        // The fixtures' target=pred maps are at the last 4-D output (bn_gap: its global pooling, layer 3).
        ex::gradcam(m, x, labels(), out, {ex::target_mode::prediction, n == "bn_gap" ? 3 : -1});
        check_map(out, map, pred, "gradcam, target=pred");
        CHECK_MESSAGE(any_training(m) == (n == "bn_gap"), "the caller's training mode is restored");
    }
}

TEST_CASE("explain: Grad-CAM++ sets alpha to 0 where its denominator vanishes") {
    // The fixture's cnn layer 1 (ReLU before MaxPool) has G = 0 at every non-maximal cell: 0/0.
    CHECK(fx::cnn_zero_grads_l1 > 0);
    // A denominator that vanishes with G != 0: sum A = -2, G = 1 gives 2 G^2 + (sum A) G^3 = 0.
    dtensor a({1, 1, 1, 3}, std::vector<double>{-1.0, -0.5, -0.5});
    dtensor g({1, 1, 1, 3}, std::vector<double>{1.0, 0.5, 0.0});
    dtensor w;
    ex::gradcam_pp_weights(a, g, w);
    // Only G = 0.5 counts: alpha = 0.25 / (0.5 - 0.25) = 1, times relu(0.5).
    CHECK(w.shape() == sib::shape{1, 1});
    CHECK(w[0] == 0.5);
}

TEST_CASE("explain: Grad-CAM on a layer with 1x1 output is constant, relu(sum_k G_k A_k)") {
    auto m = load_model(fx::bn_gap_spec, fx::bn_gap_params);
    const dtensor x = fixture(fx::bn_gap_x_shape, fx::bn_gap_x);
    const labels y = make_labels(fx::bn_gap_labels);
    ex::model_workspace<sib::models::spec_model<double>> ws;
    dtensor out;
    ex::gradcam(m, x, y, out, {.layer = 3}, &ws);  // the global pooling, which the default skips
    const auto& a = ws.sweeps.activations[4];
    const auto& g = ws.sweeps.decoded[4];
    REQUIRE(a.shape() == sib::shape{1, 5, 1, 1});
    double s = 0;
    for (index_t k = 0; k < 5; ++k) s += a[k] * g[k];
    CHECK(s > 0);  // so the check below is not trivially 0 = 0
    for (double v : out) CHECK(v == doctest::Approx(s).epsilon(1e-14));
    check_map(out, fx::bn_gap_gradcam_l3_shape, fx::bn_gap_gradcam_l3, "gradcam 1x1");
}

TEST_CASE("explain: occlusion against Captum's definition (cut windows, clamped window, odd sizes)") {
    dtensor out;
    {
        auto m = load_model(fx::cnn_spec, fx::cnn_params);
        const dtensor x = fixture(fx::cnn_x_shape, fx::cnn_x);
        const labels y = make_labels(fx::cnn_labels);
        ex::occlusion(m, x, y, out, {.window = 3, .stride = 2, .internal_batch_size = 7});
        check_map(out, fx::cnn_occlusion_w3_s2_shape, fx::cnn_occlusion_w3_s2, "cnn occlusion 3/2");
        ex::occlusion(m, x, y, out);
        check_map(out, fx::cnn_occlusion_w8_s4_shape, fx::cnn_occlusion_w8_s4, "cnn occlusion 8/4 (defaults)");
    }
    {
        auto m = load_model(fx::rgb_odd_spec, fx::rgb_odd_params);
        const dtensor x = fixture(fx::rgb_odd_x_shape, fx::rgb_odd_x);
        const labels y = make_labels(fx::rgb_odd_labels);
        ex::occlusion(m, x, y, out, {.window = 4, .stride = 3, .internal_batch_size = 5});
        check_map(out, fx::rgb_odd_occlusion_w4_s3_shape, fx::rgb_odd_occlusion_w4_s3, "rgb occlusion 4/3");
        ex::occlusion(m, x, y, out, {.window = 3, .stride = 1, .internal_batch_size = 1000});
        check_map(out, fx::rgb_odd_occlusion_w3_s1_shape, fx::rgb_odd_occlusion_w3_s1, "rgb occlusion 3/1");
        ex::occlusion(m, x, y, out, {.window = 20, .stride = 5});
        check_map(out, fx::rgb_odd_occlusion_w20_s5_shape, fx::rgb_odd_occlusion_w20_s5, "rgb occlusion clamped");
        CHECK_THROWS_WITH_AS(ex::occlusion(m, x, y, out, {.window = 3, .stride = 4}),
                             "occlusion: stride 4 exceeds the window 3x3 and would leave pixels uncovered", sib::error);
    }
    {
        auto m = load_model(fx::bn_gap_spec, fx::bn_gap_params);
        const dtensor x = fixture(fx::bn_gap_x_shape, fx::bn_gap_x);
        ex::occlusion(m, x, make_labels(fx::bn_gap_labels), out, {.window = 2, .stride = 2});
        check_map(out, fx::bn_gap_occlusion_w2_s2_shape, fx::bn_gap_occlusion_w2_s2, "bn occlusion 2/2");
    }
}

TEST_CASE("explain: integrated gradients is complete up to the trapezoid error, which shrinks as 1/m^2") {
    // A smooth model, so the path integrand is smooth and the trapezoid error is O(1/m^2).
    sib::models::spec_model<double> m("Conv2d(2,3,3,padding=1); Tanh; Conv2d(3,2,3); Softplus; Flatten; Linear(18,3)");
    sib::rng r(11);
    m.for_each_parameter([&](std::string_view, dtensor& v, dtensor*) {
        for (auto& e : v) e = 0.6 * r.normal();
    });
    const dtensor x = random_tensor({2, 2, 5, 5}, r);
    const labels y({2}, std::vector<std::int64_t>{1, 2});
    const dtensor zero({2, 2, 5, 5}, 0.0);
    sib::autodiff::sweep_workspace<double> sw;
    const dtensor zx = sib::autodiff::forward_sweep(m, sw, x);
    const dtensor z0 = sib::autodiff::forward_sweep(m, sw, zero);
    std::vector<double> err_prev(2, 0.0);
    for (int steps : {4, 16, 64, 256}) {
        CAPTURE(steps);
        dtensor out;
        ex::integrated_gradients(m, x, y, out, {.steps = steps, .internal_batch_size = 37});
        for (index_t b = 0; b < 2; ++b) {
            double s = 0;
            for (index_t i = 0; i < 25; ++i) s += out[b * 25 + i];
            const double want = zx[b * 3 + y[b]] - z0[b * 3 + y[b]];
            const double err = std::abs(s - want);
            CHECK(std::abs(want) > 0.1);
            if (steps > 4) CHECK_MESSAGE(err < err_prev[static_cast<std::size_t>(b)] / 10, "error ", err, " after ", err_prev[static_cast<std::size_t>(b)]);
            err_prev[static_cast<std::size_t>(b)] = err;
        }
    }
    CHECK(err_prev[0] < 1e-5);
    CHECK(err_prev[1] < 1e-5);
}

TEST_CASE("explain: SmoothGrad and VarGrad - zero noise, the documented noise, determinism") {
    auto m = load_model(fx::rgb_odd_spec, fx::rgb_odd_params);
    const dtensor x = fixture(fx::rgb_odd_x_shape, fx::rgb_odd_x);
    const labels y = make_labels(fx::rgb_odd_labels);
    dtensor sal, sal_c, out;
    ex::saliency(m, x, y, sal);
    ex::saliency(m, x, y, sal_c, {ex::target_mode::label, true});

    ex::smoothgrad(m, x, y, out, {.noise_level = 0.0});
    CHECK_MESSAGE(bitwise_equal(out, sal), "noise-free SmoothGrad is saliency, bit for bit");
    ex::smoothgrad(m, x, y, out, {.keep_channels = true, .samples = 3, .noise_level = 0.0});
    CHECK(bitwise_equal(out, sal_c));
    ex::vargrad(m, x, y, out, {.noise_level = 0.0});
    CHECK(out.shape() == sal.shape());
    for (double v : out) CHECK(v == 0.0);

    // The noise as documented: sib::rng(seed), draw-major, e = 0.15 (max x_b - min x_b) normal().
    const int n = 4;
    const std::uint64_t seed = 99;
    sib::rng r(seed);
    const index_t len = x.shape().sample_numel();
    std::vector<dtensor> grads;
    ex::model_workspace<sib::models::spec_model<double>> ws;
    for (int k = 0; k < n; ++k) {
        dtensor noisy = x;
        for (index_t b = 0; b < x.dim(0); ++b) {
            double lo = x[b * len], hi = x[b * len];
            for (index_t i = 0; i < len; ++i) {
                lo = std::min(lo, x[b * len + i]);
                hi = std::max(hi, x[b * len + i]);
            }
            for (index_t i = 0; i < len; ++i) noisy[b * len + i] += 0.15 * (hi - lo) * r.normal();
        }
        m.set_training(false);
        grads.push_back(ex::input_gradient(m, ws, noisy, y, ex::target_mode::label));
    }
    std::vector<double> mean_sal(static_cast<std::size_t>(sal.size()), 0.0), mean_g(static_cast<std::size_t>(x.size()), 0.0),
        mean_g2(static_cast<std::size_t>(x.size()), 0.0);
    for (const auto& g : grads) {
        dtensor s;
        ex::max_abs_over_channels(g, s);
        for (index_t i = 0; i < s.size(); ++i) mean_sal[static_cast<std::size_t>(i)] += s[i] / n;
        for (index_t i = 0; i < g.size(); ++i) {
            mean_g[static_cast<std::size_t>(i)] += g[i] / n;
            mean_g2[static_cast<std::size_t>(i)] += g[i] * g[i] / n;
        }
    }
    ex::smoothgrad(m, x, y, out, {.samples = n, .seed = seed});
    expect_close(values(out), mean_sal, 1e-12, 1e-14, "smoothgrad = mean of saliency at the documented noise");
    ex::vargrad(m, x, y, out, {.keep_channels = true, .samples = n, .seed = seed});
    std::vector<double> var(mean_g.size());
    for (std::size_t i = 0; i < var.size(); ++i) var[i] = mean_g2[i] - mean_g[i] * mean_g[i];
    expect_close(values(out), var, 1e-8, 1e-12, "vargrad = E[g^2] - E[g]^2 at the documented noise");
    ex::vargrad(m, x, y, out, {.samples = n, .seed = seed});
    dtensor var_t(x.shape(), var), var_map;
    ex::max_abs_over_channels(var_t, var_map);
    expect_close(values(out), values(var_map), 1e-8, 1e-12, "vargrad map = max_c of the variance");

    dtensor again, other;
    ex::smoothgrad(m, x, y, out, {.seed = 5});
    ex::smoothgrad(m, x, y, again, {.seed = 5});
    ex::smoothgrad(m, x, y, other, {.seed = 6});
    CHECK(bitwise_equal(out, again));
    CHECK_FALSE(bitwise_equal(out, other));
    ex::vargrad(m, x, y, out, {.seed = 5});
    ex::vargrad(m, x, y, again, {.seed = 5});
    CHECK(bitwise_equal(out, again));
}

TEST_CASE("explain: RISE - all-ones masks give the target probability everywhere; seeded; chunking") {
    auto m = load_model(fx::cnn_spec, fx::cnn_params);
    const dtensor x = fixture(fx::cnn_x_shape, fx::cnn_x);
    const labels y = make_labels(fx::cnn_labels);
    dtensor out;
    ex::rise(m, x, y, out, {.masks = 7, .probability = 1.0, .internal_batch_size = 4});
    REQUIRE(out.shape() == sib::shape{3, 12, 12});
    const dtensor z = fixture(fx::cnn_logits_shape, fx::cnn_logits);
    for (index_t b = 0; b < 3; ++b) {
        double mx = z[b * 3], sum = 0;
        for (index_t k = 1; k < 3; ++k) mx = std::max(mx, z[b * 3 + k]);
        for (index_t k = 0; k < 3; ++k) sum += std::exp(z[b * 3 + k] - mx);
        const double p = std::exp(z[b * 3 + y[b]] - mx) / sum;
        for (index_t i = 0; i < 144; ++i) CHECK(out[b * 144 + i] == doctest::Approx(p).epsilon(1e-12));
    }
    dtensor a, b, c, d;
    ex::rise(m, x, y, a, {.masks = 50, .cells = 4, .seed = 3, .internal_batch_size = 1});
    ex::rise(m, x, y, b, {.masks = 50, .cells = 4, .seed = 3, .internal_batch_size = 1000});
    ex::rise(m, x, y, c, {.masks = 50, .cells = 4, .seed = 4});
    ex::rise(m, x, y, d, {.masks = 50, .cells = 4, .seed = 3, .internal_batch_size = 1});
    expect_close(values(a), values(b), 1e-12, 1e-15, "RISE does not depend on the internal batch size");
    CHECK(bitwise_equal(a, d));
    CHECK_FALSE(bitwise_equal(a, c));
    // Masks lie in [0,1] and P in [0,1], so the map lies in [0, 1/p].
    for (double v : a) CHECK((v >= 0 && v <= 2.0));
    CHECK_FALSE(any_training(m));  // this model has no layer with a mode; nothing to restore
}

TEST_CASE("explain: float32 agrees with float64") {
    for (const auto& c : cases) {
        CAPTURE(c.name);
        auto md = load_model<double>(c.spec, *c.params);
        auto mf = load_model<float>(c.spec, *c.params);
        const dtensor x = fixture(*c.x_shape, *c.x);
        const sib::tensor<float> xf = sib::tensor_cast<float>(x);
        const labels y = make_labels(*c.labels);
        for (auto method : ex::method_names) {
            CAPTURE(method);
            ex::explain_options o;
            o.masks = 40;
            o.samples = 5;
            const auto want = ex::explain(md, x, y, method, o);
            const auto got = ex::explain(mf, xf, y, method, o);
            REQUIRE(got.shape() == want.shape());
            double scale = 0;
            for (float v : want) scale = std::max(scale, static_cast<double>(std::abs(v)));
            expect_close(values(got), values(want), 1e-3, 1e-4 * scale + 1e-6, "float32 vs float64");
        }
    }
}

TEST_CASE("explain: the entry point dispatches every method by name, with their shapes") {
    auto m = load_model(fx::rgb_odd_spec, fx::rgb_odd_params);
    const dtensor x = fixture(fx::rgb_odd_x_shape, fx::rgb_odd_x);
    const labels y = make_labels(fx::rgb_odd_labels);
    ex::explain_options o;
    o.masks = 20;
    o.samples = 3;
    for (auto method : ex::method_names) {
        CAPTURE(method);
        const sib::tensor<float> map = ex::explain(m, x, y, method, o);
        CHECK(map.shape() == sib::shape{2, 7, 9});
        for (float v : map) CHECK(std::isfinite(v));
        if (ex::is_gradient_family(method)) {
            ex::explain_options k = o;
            k.keep_channels = true;
            CHECK(ex::explain(m, x, y, method, k).shape() == sib::shape{2, 3, 7, 9});
        }
    }
    const auto sal = ex::explain(m, x, y, "saliency");
    expect_close(values(sal), fx::rgb_odd_saliency_label, 1e-6, 1e-7, "explain saliency as float");
    o.layer = 0;
    const auto cam = ex::explain(m, x, y, "gradcam", o);
    expect_close(values(cam), fx::rgb_odd_gradcam_l0, 1e-6, 1e-7, "explain gradcam at --layer 0");
    o.target = ex::target_mode::prediction;
    const auto pred = ex::explain(m, x, labels(), "saliency", o);
    expect_close(values(pred), fx::rgb_odd_saliency_pred, 1e-6, 1e-7, "explain saliency, target=pred, no labels");
}

TEST_CASE("explain: errors are one line that names the problem") {
    auto m = load_model(fx::cnn_spec, fx::cnn_params);
    const dtensor x = fixture(fx::cnn_x_shape, fx::cnn_x);
    const labels y = make_labels(fx::cnn_labels);
    dtensor out;
    ex::explain_options o;
    o.layer = 5;
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "gradcam", o), "gradcam: layer 5 (Flatten) output is [3,216], not 4-D",
                         sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "gradcam_pp", o),
                         "gradcam_pp: layer 5 (Flatten) output is [3,216], not 4-D", sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "scorecam", o), "scorecam: layer 5 (Flatten) output is [3,216], not 4-D",
                         sib::error);
    o.layer = 7;
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "layercam", o),
                         "layercam: layer 7 is out of range (the model has 7 layers, 0..6)", sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "lime"),
                         "explain: unknown method 'lime' (known: saliency, input_x_gradient, smoothgrad, "
                         "integrated_gradients, gradcam, gradcam_pp, guided_backprop, layercam, xgradcam, hirescam, "
                         "scorecam, vargrad, occlusion, rise)",
                         sib::error);
    ex::explain_options k;
    k.keep_channels = true;
    CHECK_THROWS_WITH_AS(ex::explain(m, x, y, "gradcam", k),
                         "explain: keep_channels applies to the gradient family only (saliency, input_x_gradient, "
                         "smoothgrad, integrated_gradients, guided_backprop, vargrad), not gradcam",
                         sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, x, labels({2}, std::vector<std::int64_t>{0, 1}), "saliency"),
                         "saliency: 2 labels for a batch of 3 (use the prediction as target when there are no labels)",
                         sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, x, labels({3}, std::vector<std::int64_t>{0, 3, 1}), "integrated_gradients"),
                         "integrated_gradients: label 3 of image 1 is out of range for 3 classes", sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, dtensor({3, 144}, 0.0), y, "saliency"),
                         "saliency: expects input [B,C,H,W], got [3,144]", sib::error);
    CHECK_THROWS_WITH_AS(ex::explain(m, dtensor({3, 1, 10, 10}, 0.0), y, "hirescam"),
                         "layer 6 (Linear(216,3)): Linear(216,3): expects input [N,216], got [3,150]", sib::error);
    // A model without a 4-D layer output.
    sib::models::spec_model<double> mlp("Flatten; Linear(144,3)");
    CHECK_THROWS_WITH_AS(ex::explain(mlp, x, y, "xgradcam"), "xgradcam: no layer outputs a 4-D tensor for input [3,1,12,12]",
                         sib::error);
    CHECK_FALSE(any_training(m));
}

TEST_CASE("explain: a compile-time Sequential works too, and its layers are named by index") {
    sib::rng r(2);
    sib::nn::sequential net(sib::nn::conv2d<double>(2, 3, 3, 1, 1), sib::nn::relu<double>{}, sib::nn::flatten<double>{},
                            sib::nn::linear<double>(48, 4));
    net.for_each_parameter([&](std::string_view, dtensor& v, dtensor*) {
        for (auto& e : v) e = 0.5 * r.normal();
    });
    const dtensor x = random_tensor({2, 2, 4, 4}, r);
    const labels y({2}, std::vector<std::int64_t>{3, 0});
    CHECK(ex::default_cam_layer(net, x.shape()) == 1);
    for (auto method : ex::method_names) {
        CAPTURE(method);
        ex::explain_options o;
        o.masks = 10;
        o.samples = 2;
        o.window = 2;
        o.stride = 2;
        CHECK(ex::explain(net, x, y, method, o).shape() == sib::shape{2, 4, 4});
    }
    // Saliency through the sequential equals the plain input gradient computed by the sweeps.
    sib::autodiff::sweep_workspace<double> sw;
    sib::autodiff::forward_sweep(net, sw, x);
    sib::decoders::target_logit{}.seed(sw.logits(), y, sw.seed());
    dtensor g = sib::autodiff::decoder_sweep(net, sw), want, got;
    ex::max_abs_over_channels(g, want);
    ex::saliency(net, x, y, got);
    CHECK(bitwise_equal(got, want));
    ex::explain_options o;
    o.layer = 2;
    CHECK_THROWS_WITH_AS(ex::explain(net, x, y, "gradcam", o), "gradcam: layer 2 output is [2,48], not 4-D", sib::error);
}

TEST_CASE("explain: one table of methods; names, groups, families, help and errors derive from it") {
    REQUIRE(ex::method_table.size() == 14);
    for (std::size_t i = 0; i < ex::method_table.size(); ++i) {
        CHECK(ex::method_names[i] == ex::method_table[i].name);
        CHECK(ex::find_method(ex::method_table[i].name) == &ex::method_table[i]);
        CHECK(&ex::method_by_name(ex::method_table[i].name) == &ex::method_table[i]);
    }
    CHECK(ex::find_method("lime") == nullptr);
    CHECK(ex::core_methods() == std::vector<std::string>{"saliency", "input_x_gradient", "smoothgrad",
                                                         "integrated_gradients", "gradcam", "gradcam_pp"});
    CHECK(ex::every_method().size() == 14);
    CHECK(ex::method_list() == "saliency, input_x_gradient, smoothgrad, integrated_gradients, gradcam, gradcam_pp, "
                               "guided_backprop, layercam, xgradcam, hirescam, scorecam, vargrad, occlusion, rise");
    CHECK(ex::method_list(ex::method_family::gradient) ==
          "saliency, input_x_gradient, smoothgrad, integrated_gradients, guided_backprop, vargrad");
    CHECK(ex::method_list(ex::method_family::cam) == "gradcam, gradcam_pp, layercam, xgradcam, hirescam, scorecam");
    CHECK(ex::method_list(ex::method_family::perturbation) == "occlusion, rise");
    static_assert(ex::is_gradient_family("vargrad") && !ex::is_gradient_family("gradcam"));
    static_assert(ex::is_cam_method("scorecam") && !ex::is_cam_method("occlusion") && !ex::is_cam_method("lime"));

    CHECK(ex::select_methods("all") == ex::core_methods());
    CHECK(ex::select_methods("every") == ex::every_method());
    CHECK(ex::select_methods("rise,saliency") == std::vector<std::string>{"rise", "saliency"});
    CHECK(sib::split_list("a,,b") == std::vector<std::string>{"a", "", "b"});
    CHECK(sib::split_list("") == std::vector<std::string>{""});
    CHECK_THROWS_WITH_AS(ex::select_methods("saliency,nope", "--method"),
                         ("--method: unknown method 'nope' (known: " + ex::method_list() + "; or all, every)").c_str(),
                         sib::error);
    CHECK_THROWS_WITH_AS(ex::select_methods("saliency,", "--method"),
                         ("--method: unknown method '' (known: " + ex::method_list() + "; or all, every)").c_str(),
                         sib::error);
    CHECK_THROWS_WITH_AS(ex::select_methods("gradcam,gradcam"), "methods: method gradcam given twice", sib::error);
    CHECK_THROWS_WITH_AS(ex::method_by_name("lime", "who"),
                         ("who: unknown method 'lime' (known: " + ex::method_list() + ")").c_str(), sib::error);

    // --help: a line per method, the core six marked.
    const std::string help = ex::methods_help();
    int lines = 0, marked = 0;
    for (std::size_t at = 0; (at = help.find("\n  ", at)) != std::string::npos; ++at) {
        ++lines;
        const std::size_t end = help.find(' ', at + 3);
        marked += help.compare(end, 2, " *") == 0;
    }
    CHECK(lines == 14);
    CHECK(marked == 6);
    for (const auto& e : ex::method_table) CHECK(help.find("  " + std::string(e.name) + " ") != std::string::npos);
}

TEST_CASE("explain: the dispatch calls each method's own function, with the options that method reads") {
    auto m = load_model(fx::rgb_odd_spec, fx::rgb_odd_params);
    const dtensor x = fixture(fx::rgb_odd_x_shape, fx::rgb_odd_x);
    const labels y = make_labels(fx::rgb_odd_labels);
    ex::explain_options o;
    o.masks = 12;
    o.samples = 3;
    o.steps = 5;
    o.window = 3;
    o.stride = 2;
    o.seed = 9;
    o.layer = 0;
    const ex::gradient_options grad{o.target, false};
    const ex::smoothgrad_options noisy{o.target, false, o.samples, o.noise_level, o.seed};
    const ex::cam_options cam{o.target, o.layer};
    for (const auto& e : ex::method_table) {
        CAPTURE(e.name);
        dtensor want;
        const std::string_view n = e.name;
        if (n == "saliency") ex::saliency(m, x, y, want, grad);
        if (n == "input_x_gradient") ex::input_x_gradient(m, x, y, want, grad);
        if (n == "smoothgrad") ex::smoothgrad(m, x, y, want, noisy);
        if (n == "vargrad") ex::vargrad(m, x, y, want, noisy);
        if (n == "integrated_gradients")
            ex::integrated_gradients(m, x, y, want, ex::integrated_gradients_options{o.target, false, o.steps});
        if (n == "guided_backprop") ex::guided_backprop(m, x, y, want, grad);
        if (n == "gradcam") ex::gradcam(m, x, y, want, cam);
        if (n == "gradcam_pp") ex::gradcam_pp(m, x, y, want, cam);
        if (n == "layercam") ex::layercam(m, x, y, want, cam);
        if (n == "xgradcam") ex::xgradcam(m, x, y, want, cam);
        if (n == "hirescam") ex::hirescam(m, x, y, want, cam);
        if (n == "scorecam") ex::scorecam(m, x, y, want, ex::scorecam_options{o.target, o.layer});
        if (n == "occlusion") ex::occlusion(m, x, y, want, ex::occlusion_options{o.target, o.window, o.stride});
        if (n == "rise") ex::rise(m, x, y, want, ex::rise_options{o.target, o.masks, o.cells, o.probability, o.seed});
        REQUIRE(want.size() > 0);
        dtensor got;
        ex::explain_into(m, x, y, e.name, got, o);
        CHECK(bitwise_equal(got, want));
    }
}

TEST_CASE("explain: check_methods refuses up front what would fail while explaining") {
    sib::models::spec_model<double> m(fx::cnn_spec);
    const sib::shape images{3, 1, 12, 12};
    ex::explain_options o;
    const std::vector<std::string> ok{"saliency", "gradcam", "rise"};
    ex::check_methods(m, images, ok, o);
    CHECK_THROWS_WITH_AS(ex::check_methods(m, images, std::vector<std::string>{"lime"}, o),
                         ("explain: unknown method 'lime' (known: " + ex::method_list() + ")").c_str(), sib::error);
    o.layer = 5;
    CHECK_THROWS_WITH_AS(ex::check_methods(m, images, ok, o), "gradcam: layer 5 (Flatten) output is [3,216], not 4-D",
                         sib::error);
    o.layer = -1;
    o.keep_channels = true;
    CHECK_THROWS_WITH_AS(ex::check_methods(m, images, ok, o),
                         "explain: keep_channels applies to the gradient family only (saliency, input_x_gradient, "
                         "smoothgrad, integrated_gradients, guided_backprop, vargrad), not gradcam",
                         sib::error);
    sib::models::spec_model<double> features("Conv2d(1,2,3)");
    CHECK_THROWS_WITH_AS(ex::check_methods(features, images, ok, {}),
                         "explain: the model must end in logits [B,K], gives [3,2,10,10] for images [3,1,12,12]",
                         sib::error);
}

TEST_CASE("explain: in batches - the maps of one call, progress per batch, predictions by arg-max") {
    auto m = load_model(fx::cnn_spec, fx::cnn_params);
    const dtensor x = fixture(fx::cnn_x_shape, fx::cnn_x);
    const labels y = make_labels(fx::cnn_labels);
    const index_t n = x.dim(0);
    for (const char* method : {"saliency", "gradcam", "occlusion"}) {
        CAPTURE(method);
        index_t done = 0;
        int calls = 0;
        const auto all = ex::explain(m, x, y, method);
        const auto batched = ex::explain_in_batches(m, x, y, method, {}, 2, [&](index_t k) {
            done += k;
            ++calls;
        });
        CHECK(done == n);
        CHECK(calls == (n + 1) / 2);
        REQUIRE(batched.shape() == all.shape());
        expect_close(values(batched), values(all), 1e-6, 1e-7, "in batches of 2 vs one call");
    }
    CHECK(ex::rows_of(x, 1, 2).shape() == sib::shape{2, 1, 12, 12});
    CHECK_THROWS_WITH_AS(ex::rows_of(x, 2, 2), "rows_of: rows [2, 4) of [3,1,12,12]", sib::error);
    const auto pred = ex::predictions(m, x, 2);
    CHECK(pred == std::vector<std::int64_t>(fx::cnn_pred.begin(), fx::cnn_pred.end()));
}

TEST_CASE("argmax_rows: the first maximum per row, on the host and through the backend") {
    const sib::tensor<double> z({4, 3}, std::vector<double>{0.1, 0.7, 0.2,   // 1
                                                            2.0, 2.0, 1.0,   // tie: the first
                                                            -1, -3, -0.5,    // 2
                                                            5, 5, 5});       // 0
    CHECK(sib::decoders::argmax_rows(z) == std::vector<std::int64_t>{1, 0, 2, 0});
    labels out;
    sib::decoders::argmax_rows(z, out);
    CHECK(out.shape() == sib::shape{4});
    CHECK(out.to_vector() == std::vector<std::int64_t>{1, 0, 2, 0});
    const double nan = std::nan("");
    const double row[4] = {1, nan, 3, 2};
    CHECK(sib::decoders::argmax_row(row, 4) == 2);  // NaN never wins a comparison
    CHECK_THROWS_WITH_AS(sib::decoders::argmax_rows(sib::tensor<double>({2, 2, 2})),
                         "argmax_rows: expects logits [N,K], got [2,2,2]", sib::error);
}
