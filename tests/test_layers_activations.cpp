// Activations, BatchNorm2d and Dropout: every rule by central differences in float64, values and
// rules against PyTorch (tests/fixtures/gen_activations.py), float32 against float64.
#include "fixtures/activations_fixtures.hpp"
#include "support/gradcheck.hpp"
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/dropout.hpp>
#include <sib/layers/gelu.hpp>
#include <sib/layers/leaky_relu.hpp>
#include <sib/layers/sigmoid.hpp>
#include <sib/layers/softplus.hpp>
#include <sib/layers/tanh.hpp>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

using namespace sibtest;
namespace fx = sibfix::activations;

namespace {

template <std::size_t N>
std::vector<double> vec(const double (&a)[N]) {
    return std::vector<double>(a, a + N);
}

template <std::size_t N>
dtensor tensor_of(const sib::shape& s, const double (&a)[N]) {
    return dtensor(s, vec(a));
}

template <std::size_t N>
sib::shape shape_of(const long long (&a)[N]) {
    return sib::shape(a, a + N);
}

const sib::shape activation_shapes[] = {{1, 7}, {5, 3}, {2, 3, 5, 5}, {1, 1, 3, 5}, {3, 2, 1, 7}};

template <class L>
void check_on_all_shapes(L& layer, gradcheck_options opt = {}) {
    std::uint64_t seed = 11;
    for (const auto& s : activation_shapes) {
        CAPTURE(s.str());
        check_layer_rules(layer, s, seed++, opt);
    }
}

// sigma, sigma', sigma'' of an elementwise layer on the fixture inputs, through its rules.
struct pointwise {
    std::vector<double> y, d1, d2;
};
template <class L>
pointwise evaluate_pointwise(L& layer) {
    const dtensor x = tensor_of({1, static_cast<sib::index_t>(std::size(fx::act_x))}, fx::act_x);
    const dtensor ones(x.shape(), 1.0);
    dtensor y(x.shape()), d1(x.shape()), d2(x.shape(), 0.0);
    layer.forward(x, y);
    layer.vjp(x, y, ones, d1);
    layer.curvature(x, y, ones, ones, d2);
    return {y.to_vector(), d1.to_vector(), d2.to_vector()};
}

template <class L, std::size_t N>
void expect_matches_torch(L& layer, const double (&y)[N], const double (&d1)[N],
                          const double (&d2)[N], double rtol, double atol) {
    const pointwise p = evaluate_pointwise(layer);
    expect_close(p.y, vec(y), rtol, atol, "value");
    expect_close(p.d1, vec(d1), rtol, atol, "first derivative");
    expect_close(p.d2, vec(d2), rtol, atol, "second derivative");
}

// Forward, vjp, jvp and curvature of the float and the double instance of a layer at one input.
template <class Lf, class Ld>
void expect_float_agrees(Lf& lf, Ld& ld, const sib::shape& s, std::uint64_t seed, double rtol,
                         double atol) {
    sib::rng r(seed);
    const dtensor x = random_tensor(s, r), gy = random_tensor(s, r), tx = random_tensor(s, r);
    const auto xf = sib::tensor_cast<float>(x), gyf = sib::tensor_cast<float>(gy),
               txf = sib::tensor_cast<float>(tx);
    const sib::shape out = ld.output_shape(s);
    dtensor y(out), gx(s), ty(out), ax(s, 0.0);
    sib::tensor<float> yf(out), gxf(s), tyf(out), axf(s, 0.0f);
    ld.forward(x, y);
    lf.forward(xf, yf);
    ld.vjp(x, y, gy, gx);
    lf.vjp(xf, yf, gyf, gxf);
    ld.jvp(x, y, tx, ty);
    lf.jvp(xf, yf, txf, tyf);
    ld.curvature(x, y, tx, gy, ax);
    lf.curvature(xf, yf, txf, gyf, axf);
    const auto as_double = [](const sib::tensor<float>& t) {
        return sib::tensor_cast<double>(t).to_vector();
    };
    expect_close(as_double(yf), y.to_vector(), rtol, atol, "float32 forward");
    expect_close(as_double(gxf), gx.to_vector(), rtol, atol, "float32 vjp");
    expect_close(as_double(tyf), ty.to_vector(), rtol, atol, "float32 jvp");
    expect_close(as_double(axf), ax.to_vector(), rtol, atol, "float32 curvature");
}

}  // namespace

// ---- elementwise activations ---------------------------------------------------------------------

TEST_CASE("activations: five rules by central differences") {
    SUBCASE("leaky_relu") {
        sib::nn::leaky_relu<double> a;
        check_on_all_shapes(a);
        sib::nn::leaky_relu<double> b(0.2);
        check_on_all_shapes(b);
    }
    SUBCASE("tanh") {
        sib::nn::tanh<double> a;
        check_on_all_shapes(a);
        check_on_all_shapes(a, {.input_scale = 3.0});
    }
    SUBCASE("sigmoid") {
        sib::nn::sigmoid<double> a;
        check_on_all_shapes(a);
        check_on_all_shapes(a, {.input_scale = 4.0});
    }
    SUBCASE("gelu") {
        sib::nn::gelu<double> a;
        check_on_all_shapes(a);
        check_on_all_shapes(a, {.input_scale = 3.0});
    }
    SUBCASE("softplus") {
        sib::nn::softplus<double> a;
        check_on_all_shapes(a);
        // beta x > threshold for x > 1.5: both branches are exercised.
        sib::nn::softplus<double> b(2.0, 3.0);
        check_on_all_shapes(b, {.input_scale = 2.0});
        sib::nn::softplus<double> c(0.5);
        check_on_all_shapes(c);
    }
}

TEST_CASE("activations: curvature declared where it exists") {
    static_assert(!sib::nn::leaky_relu<double>::has_curvature);
    static_assert(sib::nn::tanh<double>::has_curvature);
    static_assert(sib::nn::sigmoid<double>::has_curvature);
    static_assert(sib::nn::gelu<double>::has_curvature);
    static_assert(sib::nn::softplus<double>::has_curvature);
    static_assert(!sib::nn::tanh<double>::has_mixed);
    static_assert(sib::check_layer<sib::nn::gelu<float>>());
}

TEST_CASE("activations: values and derivatives against PyTorch") {
    // Same formulas as PyTorch's kernels, so agreement to a few ulps. Derivatives formed from
    // y = sigma(x) where sigma saturates (1 - y^2 at x = -12) carry the absolute rounding of y, and
    // PyTorch's vectorised kernel rounds the product differently (fused multiply-add), hence an
    // absolute tolerance of a few ulps of 1.
    constexpr double rtol = 1e-14, atol = 1e-15;
    SUBCASE("leaky_relu") {
        sib::nn::leaky_relu<double> a;
        expect_matches_torch(a, fx::leaky_relu_default_y, fx::leaky_relu_default_d1,
                             fx::leaky_relu_default_d2, rtol, atol);
        sib::nn::leaky_relu<double> b(0.2);
        expect_matches_torch(b, fx::leaky_relu_02_y, fx::leaky_relu_02_d1, fx::leaky_relu_02_d2, rtol,
                             atol);
    }
    SUBCASE("tanh") {
        sib::nn::tanh<double> a;
        expect_matches_torch(a, fx::tanh_y, fx::tanh_d1, fx::tanh_d2, rtol, atol);
    }
    SUBCASE("sigmoid") {
        sib::nn::sigmoid<double> a;
        expect_matches_torch(a, fx::sigmoid_y, fx::sigmoid_d1, fx::sigmoid_d2, rtol, atol);
    }
    SUBCASE("softplus, on both sides of each threshold") {
        sib::nn::softplus<double> a;
        expect_matches_torch(a, fx::softplus_default_y, fx::softplus_default_d1,
                             fx::softplus_default_d2, rtol, atol);
        sib::nn::softplus<double> b(2.0, 10.0);
        expect_matches_torch(b, fx::softplus_b2_t10_y, fx::softplus_b2_t10_d1, fx::softplus_b2_t10_d2,
                             rtol, atol);
        sib::nn::softplus<double> c(0.5, 3.0);
        expect_matches_torch(c, fx::softplus_b05_t3_y, fx::softplus_b05_t3_d1, fx::softplus_b05_t3_d2,
                             rtol, atol);
        sib::nn::softplus<double> d(2.0, 20.0);
        expect_matches_torch(d, fx::softplus_b2_t20_y, fx::softplus_b2_t20_d1, fx::softplus_b2_t20_d2,
                             rtol, atol);
    }
    SUBCASE("gelu") {
        // Against the exact function (mpmath, 50 digits) to relative accuracy everywhere,
        // including the left tail where PyTorch's 1 + erf form cancels ...
        sib::nn::gelu<double> a;
        const pointwise p = evaluate_pointwise(a);
        expect_close(p.y, vec(fx::gelu_exact_y), 1e-13, 0.0, "gelu value (exact)");
        expect_close(p.d1, vec(fx::gelu_exact_d1), 1e-13, 0.0, "gelu sigma' (exact)");
        expect_close(p.d2, vec(fx::gelu_exact_d2), 1e-13, 0.0, "gelu sigma'' (exact)");
        // ... and against PyTorch to the absolute accuracy its form has there.
        expect_close(p.y, vec(fx::gelu_y), 1e-14, 1e-16, "gelu value (torch)");
        expect_close(p.d1, vec(fx::gelu_d1), 1e-14, 1e-16, "gelu sigma' (torch)");
        expect_close(p.d2, vec(fx::gelu_d2), 1e-14, 1e-16, "gelu sigma'' (torch)");
    }
}

TEST_CASE("softplus: linear above the threshold, exactly") {
    sib::nn::softplus<double> a(2.0, 10.0);  // threshold at x = 5
    const dtensor x({1, 4}, {5.0, std::nextafter(5.0, 6.0), 7.0, 1e300});
    const dtensor ones(x.shape(), 1.0);
    dtensor y(x.shape()), d1(x.shape()), d2(x.shape(), 0.0);
    a.forward(x, y);
    a.vjp(x, y, ones, d1);
    a.curvature(x, y, ones, ones, d2);
    // At beta x == threshold PyTorch still takes the log1p branch (strict >) ...
    CHECK(y[0] == doctest::Approx(std::log1p(std::exp(10.0)) / 2.0).epsilon(1e-15));
    CHECK(y[0] != 5.0);
    CHECK(d1[0] < 1.0);
    // ... but its double backward is already 0 there (beta x < threshold), and so is ours.
    CHECK(d2[0] == 0.0);
    for (sib::index_t i = 1; i < 4; ++i) {
        CHECK(y[i] == x[i]);
        CHECK(d1[i] == 1.0);
        CHECK(d2[i] == 0.0);
    }
    CHECK_THROWS_WITH_AS(sib::nn::softplus<double>(0.0), "Softplus: beta must be non-zero, got 0",
                         sib::error);
}

TEST_CASE("activations: no overflow to NaN in the tails") {
    const dtensor x({1, 4}, {-800.0, -100.0, 100.0, 800.0});
    const dtensor ones(x.shape(), 1.0);
    auto finite_rules = [&](auto& layer) {
        dtensor y(x.shape()), d1(x.shape()), d2(x.shape(), 0.0);
        layer.forward(x, y);
        layer.vjp(x, y, ones, d1);
        layer.curvature(x, y, ones, ones, d2);
        for (sib::index_t i = 0; i < x.size(); ++i) {
            CHECK(std::isfinite(y[i]));
            CHECK(std::isfinite(d1[i]));
            CHECK(std::isfinite(d2[i]));
        }
    };
    sib::nn::tanh<double> t;
    sib::nn::sigmoid<double> s;
    sib::nn::gelu<double> g;
    sib::nn::softplus<double> sp(1.0, 1000.0);  // the log1p branch at +800 too
    finite_rules(t);
    finite_rules(s);
    finite_rules(g);
    sib::nn::softplus<double> sp_default;
    finite_rules(sp_default);
    dtensor y(x.shape()), d1(x.shape());
    sp.forward(x, y);
    sp.vjp(x, y, ones, d1);
    CHECK(d1[3] == 1.0);  // sigmoid(800) without exp(800) = inf
    CHECK(std::isinf(y[3]));  // log1p(exp(800)) overflows, as in PyTorch with that threshold
}

TEST_CASE("activations: float32 agrees with float64") {
    for (const sib::shape s : {sib::shape{4, 9}, sib::shape{2, 3, 5, 5}}) {
        CAPTURE(s.str());
        {
            sib::nn::leaky_relu<float> f(0.1);
            sib::nn::leaky_relu<double> d(0.1);
            expect_float_agrees(f, d, s, 5, 1e-6, 1e-7);
        }
        {
            sib::nn::tanh<float> f;
            sib::nn::tanh<double> d;
            expect_float_agrees(f, d, s, 5, 1e-5, 1e-6);
        }
        {
            sib::nn::sigmoid<float> f;
            sib::nn::sigmoid<double> d;
            expect_float_agrees(f, d, s, 5, 1e-5, 1e-6);
        }
        {
            sib::nn::gelu<float> f;
            sib::nn::gelu<double> d;
            expect_float_agrees(f, d, s, 5, 1e-5, 1e-6);
        }
        {
            sib::nn::softplus<float> f(2.0, 3.0);
            sib::nn::softplus<double> d(2.0, 3.0);
            expect_float_agrees(f, d, s, 5, 1e-5, 1e-6);
        }
    }
}

// ---- BatchNorm2d -----------------------------------------------------------------------------

namespace {

template <class T>
void randomize_batch_norm(sib::nn::batch_norm2d<T>& bn, sib::rng& r) {
    bn.for_each_parameter([&](std::string_view name, sib::tensor<T>& v, sib::tensor<T>*) {
        for (auto& e : v) {
            if (name == "weight") e = static_cast<T>(1.0 + 0.5 * r.normal());
            if (name == "bias" || name == "running_mean") e = static_cast<T>(0.5 * r.normal());
            if (name == "running_var") e = static_cast<T>(0.5 + r.uniform());
        }
    });
}

}  // namespace

TEST_CASE("batch_norm2d: five rules by central differences") {
    const sib::shape shapes[] = {{2, 3, 4, 5}, {1, 2, 3, 3}, {3, 4, 1, 2}, {5, 1, 3, 1}, {2, 1, 1, 1}};
    for (bool affine : {true, false}) {
        for (bool training : {true, false}) {
            CAPTURE(affine);
            CAPTURE(training);
            sib::nn::batch_norm2d<double> bn(4, 1e-5, 0.1, affine);
            std::uint64_t seed = 21;
            for (const auto& s0 : shapes) {
                sib::shape s = s0;
                s[1] = 4;
                CAPTURE(s.str());
                sib::rng r(seed);
                randomize_batch_norm(bn, r);
                bn.training = training;
                check_layer_rules(bn, s, seed++);
            }
        }
    }
    SUBCASE("inputs far from zero and a large eps") {
        sib::nn::batch_norm2d<double> bn(3, 0.5, 0.1);
        sib::rng r(4);
        randomize_batch_norm(bn, r);
        check_layer_rules(bn, {2, 3, 3, 4}, 9, {.input_scale = 10.0});
    }
}

TEST_CASE("batch_norm2d: fused_backward is param_vjp then vjp, bit for bit") {
    for (bool affine : {true, false}) {
        for (bool training : {true, false}) {
            CAPTURE(affine);
            CAPTURE(training);
            sib::nn::batch_norm2d<double> fused(3, 1e-5, 0.1, affine), separate(3, 1e-5, 0.1, affine);
            sib::rng r(31), r2(31);
            randomize_batch_norm(fused, r);
            randomize_batch_norm(separate, r2);
            fused.training = separate.training = training;
            const sib::shape s{4, 3, 5, 6};
            sib::rng data(32);
            const dtensor x = random_tensor(s, data), gy = random_tensor(s, data);
            dtensor y(s), gx_fused(s), gx_separate(s);
            fused.forward(x, y);
            separate.forward(x, y);
            fused.fused_backward(x, y, gy, gx_fused);
            separate.param_vjp(x, y, gy);
            separate.vjp(x, y, gy, gx_separate);
            CHECK(gx_fused.to_vector() == gx_separate.to_vector());
            if (affine) {
                CHECK(fused.weight_grad.to_vector() == separate.weight_grad.to_vector());
                CHECK(fused.bias_grad.to_vector() == separate.bias_grad.to_vector());
                CHECK(fused.weight_grad.to_vector() != std::vector<double>(3, 0.0));
            }
        }
    }
}

TEST_CASE("batch_norm2d: fused_tangent is mixed, curvature and jvp, bit for bit") {
    for (bool affine : {true, false}) {
        for (bool training : {true, false}) {
            for (bool parameters : {true, false}) {
                for (bool with_curvature : {true, false}) {
                    CAPTURE(affine);
                    CAPTURE(training);
                    CAPTURE(parameters);
                    CAPTURE(with_curvature);
                    sib::nn::batch_norm2d<double> fused(3, 1e-5, 0.1, affine), separate(3, 1e-5, 0.1, affine);
                    sib::rng r(41), r2(41);
                    randomize_batch_norm(fused, r);
                    randomize_batch_norm(separate, r2);
                    fused.training = separate.training = training;
                    const sib::shape s{4, 3, 5, 6};
                    sib::rng data(42);
                    const dtensor x = random_tensor(s, data), tx = random_tensor(s, data), gy = random_tensor(s, data);
                    dtensor y(s), ty_fused(s), ty_separate(s), ax_fused(s), ax_separate(s);
                    ax_fused.fill(0.5);
                    ax_separate.fill(0.5);
                    fused.forward(x, y);
                    separate.forward(x, y);
                    fused.fused_tangent(x, y, tx, gy, ty_fused, with_curvature ? &ax_fused : nullptr, parameters);
                    if (parameters) separate.mixed(x, y, tx, gy);
                    if (with_curvature) separate.curvature(x, y, tx, gy, ax_separate);
                    separate.jvp(x, y, tx, ty_separate);
                    CHECK(ty_fused.to_vector() == ty_separate.to_vector());
                    CHECK(ax_fused.to_vector() == ax_separate.to_vector());
                    CHECK(fused.weight_grad.to_vector() == separate.weight_grad.to_vector());
                    CHECK((with_curvature && training) == (ax_fused.to_vector() != std::vector<double>(static_cast<std::size_t>(s.numel()), 0.5)));
                }
            }
        }
    }
}

TEST_CASE("batch_norm2d: training outputs do not depend on the running statistics") {
    sib::nn::batch_norm2d<double> bn(3);
    sib::rng r(8);
    randomize_batch_norm(bn, r);
    const dtensor x = random_tensor({2, 3, 2, 3}, r);
    const dtensor y1 = run_forward(bn, x);
    for (auto& v : bn.running_mean) v += 7.0;
    for (auto& v : bn.running_var) v *= 3.0;
    const dtensor y2 = run_forward(bn, x);
    expect_close(y2.to_vector(), y1.to_vector(), 0.0, 0.0, "repeated training forward");
    CHECK(bn.num_batches_tracked == 2);
}

// The batch statistics are the naive two-pass ones (mean, then squared deviations, over all of
// N,H,W in double), whatever order the layer sums in: here float32 data far from zero with a small
// spread (a single pass of sum and sum of squares would lose most digits of the variance), planes
// of different means, and odd sizes.
TEST_CASE("batch_norm2d: batch statistics of data far from zero keep their digits") {
    const sib::shape shapes[] = {{5, 3, 7, 9}, {1, 2, 13, 1}, {3, 1, 1, 1}, {8, 2, 33, 17}};
    for (const auto& s : shapes) {
        CAPTURE(s.str());
        sib::rng r(47);
        sib::tensor<float> x(s);
        for (sib::index_t i = 0; i < x.size(); ++i) {
            const auto plane = i / (s[2] * s[3]);
            x[i] = static_cast<float>(1000.0 + 0.25 * static_cast<double>(plane % 4) + 0.01 * r.normal());
        }
        sib::nn::batch_norm2d<float> bn(s[1], 1e-5, 1.0);  // momentum 1: running stats = batch stats
        sib::tensor<float> y(s);
        bn.forward(x, y);
        const sib::index_t hw = s[2] * s[3], m = s[0] * hw;
        for (sib::index_t ch = 0; ch < s[1]; ++ch) {
            double mu = 0, sq = 0;
            for (sib::index_t b = 0; b < s[0]; ++b)
                for (sib::index_t i = 0; i < hw; ++i) mu += static_cast<double>(x[(b * s[1] + ch) * hw + i]);
            mu /= static_cast<double>(m);
            for (sib::index_t b = 0; b < s[0]; ++b)
                for (sib::index_t i = 0; i < hw; ++i) {
                    const double d = static_cast<double>(x[(b * s[1] + ch) * hw + i]) - mu;
                    sq += d * d;
                }
            CHECK(bn.running_mean[ch] == static_cast<float>(mu));
            if (m > 1) {
                const double unbiased = sq / static_cast<double>(m - 1);
                CHECK(static_cast<double>(bn.running_var[ch]) == doctest::Approx(unbiased).epsilon(1e-6));
            }
            const double istd = 1.0 / std::sqrt(sq / static_cast<double>(m) + 1e-5);
            for (sib::index_t b = 0; b < s[0]; ++b)
                for (sib::index_t i = 0; i < hw; ++i) {
                    const auto at = (b * s[1] + ch) * hw + i;
                    // x - mean is exact in float32 here (Sterbenz), with the mean as float32 holds it.
                    const double want = static_cast<double>(x[at] - static_cast<float>(mu)) * istd;
                    CHECK(static_cast<double>(y[at]) == doctest::Approx(want).epsilon(1e-6).scale(1e-6));
                }
        }
    }
}

namespace {

template <class BN>
void check_rules_against(BN& bn, const dtensor& x, const dtensor& gy, const dtensor& tx,
                         const std::vector<double>& gx_want, const std::vector<double>& ty_want,
                         const std::vector<double>& ax_want, const std::string& mode) {
    const dtensor y = run_forward(bn, x);
    dtensor gx(x.shape()), ty(x.shape()), ax(x.shape(), 0.0);
    bn.vjp(x, y, gy, gx);
    bn.jvp(x, y, tx, ty);
    bn.curvature(x, y, tx, gy, ax);
    expect_close(gx.to_vector(), gx_want, 1e-11, 1e-13, mode + " vjp");
    expect_close(ty.to_vector(), ty_want, 1e-11, 1e-13, mode + " jvp");
    expect_close(ax.to_vector(), ax_want, 1e-11, 1e-13, mode + " curvature");
}

template <class BN>
void check_param_rules_against(BN& bn, const dtensor& x, const dtensor& gy, const dtensor& tx,
                               const std::vector<double>& gw, const std::vector<double>& gb,
                               const std::vector<double>& mw, const std::vector<double>& mb,
                               const std::string& mode) {
    const dtensor y = run_forward(bn, x);
    bn.weight_grad.zero();
    bn.bias_grad.zero();
    bn.param_vjp(x, y, gy);
    expect_close(bn.weight_grad.to_vector(), gw, 1e-11, 1e-13, mode + " param_vjp weight");
    expect_close(bn.bias_grad.to_vector(), gb, 1e-11, 1e-13, mode + " param_vjp bias");
    bn.weight_grad.zero();
    bn.bias_grad.zero();
    bn.mixed(x, y, tx, gy);
    expect_close(bn.weight_grad.to_vector(), mw, 1e-11, 1e-13, mode + " mixed weight");
    expect_close(bn.bias_grad.to_vector(), mb, 0.0, 0.0, mode + " mixed bias");
}

}  // namespace

TEST_CASE("batch_norm2d: PyTorch reference, affine, momentum 0.1, two steps") {
    const sib::shape s = shape_of(fx::bn_a_shape);
    sib::nn::batch_norm2d<double> bn(s[1], fx::bn_a_eps, 0.1, true);
    bn.weight = tensor_of({s[1]}, fx::bn_a_weight);
    bn.bias = tensor_of({s[1]}, fx::bn_a_bias);
    bn.running_mean = tensor_of({s[1]}, fx::bn_a_running_mean0);
    bn.running_var = tensor_of({s[1]}, fx::bn_a_running_var0);

    const dtensor x0 = tensor_of(s, fx::bn_a_x0), x1 = tensor_of(s, fx::bn_a_x1);
    expect_close(run_forward(bn, x0).to_vector(), vec(fx::bn_a_y0), 1e-13, 1e-14, "y0");
    expect_close(bn.running_mean.to_vector(), vec(fx::bn_a_running_mean1), 1e-13, 1e-15, "running_mean1");
    expect_close(bn.running_var.to_vector(), vec(fx::bn_a_running_var1), 1e-13, 1e-15, "running_var1");
    expect_close(run_forward(bn, x1).to_vector(), vec(fx::bn_a_y1), 1e-13, 1e-14, "y1");
    expect_close(bn.running_mean.to_vector(), vec(fx::bn_a_running_mean2), 1e-13, 1e-15, "running_mean2");
    expect_close(bn.running_var.to_vector(), vec(fx::bn_a_running_var2), 1e-13, 1e-15, "running_var2");
    CHECK(bn.num_batches_tracked == fx::bn_a_num_batches_tracked);

    const dtensor gy = tensor_of(s, fx::bn_a_gy), tx = tensor_of(s, fx::bn_a_tx);
    // The rule checks run forward on x1 again, which moves the running statistics once more: that
    // is PyTorch's behaviour too, and the evaluation reference starts from the state after x1.
    auto rm = bn.running_mean, rv = bn.running_var;
    check_rules_against(bn, x1, gy, tx, vec(fx::bn_a_train_gx), vec(fx::bn_a_train_ty),
                        vec(fx::bn_a_train_ax), "train");
    check_param_rules_against(bn, x1, gy, tx, vec(fx::bn_a_train_gw), vec(fx::bn_a_train_gb),
                              vec(fx::bn_a_train_mw), vec(fx::bn_a_train_mb), "train");
    bn.running_mean = rm;
    bn.running_var = rv;

    bn.training = false;
    const auto tracked = bn.num_batches_tracked;
    const dtensor xe = tensor_of(s, fx::bn_a_xe);
    expect_close(run_forward(bn, xe).to_vector(), vec(fx::bn_a_ye), 1e-13, 1e-14, "eval y");
    check_rules_against(bn, xe, gy, tx, vec(fx::bn_a_eval_gx), vec(fx::bn_a_eval_ty),
                        vec(fx::bn_a_eval_ax), "eval");
    check_param_rules_against(bn, xe, gy, tx, vec(fx::bn_a_eval_gw), vec(fx::bn_a_eval_gb),
                              vec(fx::bn_a_eval_mw), vec(fx::bn_a_eval_mb), "eval");
    // Evaluation never touches the running statistics: the same bits as before it.
    expect_close(bn.running_mean.to_vector(), rm.to_vector(), 0.0, 0.0, "eval running_mean");
    expect_close(bn.running_var.to_vector(), rv.to_vector(), 0.0, 0.0, "eval running_var");
    CHECK(bn.num_batches_tracked == tracked);
}

TEST_CASE("batch_norm2d: PyTorch reference, batch 1, momentum None (cumulative), no affine") {
    const sib::shape s = shape_of(fx::bn_b_shape);
    REQUIRE(s[0] == 1);
    sib::nn::batch_norm2d<double> bn(s[1], fx::bn_b_eps, std::nullopt, false);
    bn.running_mean = tensor_of({s[1]}, fx::bn_b_running_mean0);
    bn.running_var = tensor_of({s[1]}, fx::bn_b_running_var0);
    const double* xs[] = {fx::bn_b_x0, fx::bn_b_x1, fx::bn_b_x2};
    const double* ys[] = {fx::bn_b_y0, fx::bn_b_y1, fx::bn_b_y2};
    const double* rms[] = {fx::bn_b_running_mean1, fx::bn_b_running_mean2, fx::bn_b_running_mean3};
    const double* rvs[] = {fx::bn_b_running_var1, fx::bn_b_running_var2, fx::bn_b_running_var3};
    const auto n = static_cast<std::size_t>(s.numel()), c = static_cast<std::size_t>(s[1]);
    dtensor x;
    for (int step = 0; step < fx::bn_b_train_steps; ++step) {
        CAPTURE(step);
        x = dtensor(s, std::vector<double>(xs[step], xs[step] + n));
        expect_close(run_forward(bn, x).to_vector(), std::vector<double>(ys[step], ys[step] + n), 1e-13,
                     1e-14, "y");
        expect_close(bn.running_mean.to_vector(), std::vector<double>(rms[step], rms[step] + c), 1e-13,
                     1e-15, "running_mean");
        expect_close(bn.running_var.to_vector(), std::vector<double>(rvs[step], rvs[step] + c), 1e-13,
                     1e-15, "running_var");
    }
    CHECK(bn.num_batches_tracked == fx::bn_b_num_batches_tracked);
    const dtensor gy = tensor_of(s, fx::bn_b_gy), tx = tensor_of(s, fx::bn_b_tx);
    check_rules_against(bn, x, gy, tx, vec(fx::bn_b_train_gx), vec(fx::bn_b_train_ty),
                        vec(fx::bn_b_train_ax), "train");
    // The rule check moved the cumulative average once more; restore PyTorch's state.
    bn.running_mean = tensor_of({s[1]}, fx::bn_b_running_mean3);
    bn.running_var = tensor_of({s[1]}, fx::bn_b_running_var3);
    bn.training = false;
    const dtensor xe = tensor_of(s, fx::bn_b_xe);
    expect_close(run_forward(bn, xe).to_vector(), vec(fx::bn_b_ye), 1e-13, 1e-14, "eval y");
    check_rules_against(bn, xe, gy, tx, vec(fx::bn_b_eval_gx), vec(fx::bn_b_eval_ty),
                        vec(fx::bn_b_eval_ax), "eval");
    int visited = 0;
    bn.for_each_parameter([&](std::string_view, dtensor&, dtensor* g) {
        CHECK(g == nullptr);
        ++visited;
    });
    CHECK(visited == 2);
}

TEST_CASE("batch_norm2d: PyTorch reference, eps 1e-3, momentum 0.3, H = 1") {
    const sib::shape s = shape_of(fx::bn_c_shape);
    sib::nn::batch_norm2d<double> bn(s[1], fx::bn_c_eps, 0.3, true);
    bn.weight = tensor_of({s[1]}, fx::bn_c_weight);
    bn.bias = tensor_of({s[1]}, fx::bn_c_bias);
    bn.running_mean = tensor_of({s[1]}, fx::bn_c_running_mean0);
    bn.running_var = tensor_of({s[1]}, fx::bn_c_running_var0);
    const dtensor x0 = tensor_of(s, fx::bn_c_x0);
    expect_close(run_forward(bn, x0).to_vector(), vec(fx::bn_c_y0), 1e-13, 1e-14, "y0");
    expect_close(bn.running_mean.to_vector(), vec(fx::bn_c_running_mean1), 1e-13, 1e-15, "running_mean1");
    expect_close(bn.running_var.to_vector(), vec(fx::bn_c_running_var1), 1e-13, 1e-15, "running_var1");
    const dtensor gy = tensor_of(s, fx::bn_c_gy), tx = tensor_of(s, fx::bn_c_tx);
    check_rules_against(bn, x0, gy, tx, vec(fx::bn_c_train_gx), vec(fx::bn_c_train_ty),
                        vec(fx::bn_c_train_ax), "train");
    check_param_rules_against(bn, x0, gy, tx, vec(fx::bn_c_train_gw), vec(fx::bn_c_train_gb),
                              vec(fx::bn_c_train_mw), vec(fx::bn_c_train_mb), "train");
    bn.running_mean = tensor_of({s[1]}, fx::bn_c_running_mean1);
    bn.running_var = tensor_of({s[1]}, fx::bn_c_running_var1);
    bn.training = false;
    const dtensor xe = tensor_of(s, fx::bn_c_xe);
    expect_close(run_forward(bn, xe).to_vector(), vec(fx::bn_c_ye), 1e-13, 1e-14, "eval y");
    check_rules_against(bn, xe, gy, tx, vec(fx::bn_c_eval_gx), vec(fx::bn_c_eval_ty),
                        vec(fx::bn_c_eval_ax), "eval");
    check_param_rules_against(bn, xe, gy, tx, vec(fx::bn_c_eval_gw), vec(fx::bn_c_eval_gb),
                              vec(fx::bn_c_eval_mw), vec(fx::bn_c_eval_mb), "eval");
}

TEST_CASE("batch_norm2d: one value per channel cannot be normalised in training") {
    sib::nn::batch_norm2d<double> bn(3);
    const dtensor x({1, 3, 1, 1}, {1.0, 2.0, 3.0});
    dtensor y(x.shape());
    CHECK_THROWS_WITH_AS(bn.forward(x, y),
                         "BatchNorm2d: expected more than 1 value per channel when training, got input [1,3,1,1]",
                         sib::error);
    CHECK(bn.num_batches_tracked == 0);
    bn.training = false;  // evaluation uses the running statistics: fine
    bn.forward(x, y);
    CHECK(y[2] == doctest::Approx(3.0 / std::sqrt(1.0 + 1e-5)).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(bn.output_shape({2, 4, 3, 3}), "BatchNorm2d(3): expects input [N,3,H,W], got [2,4,3,3]",
                         sib::error);
    CHECK_THROWS_WITH_AS(bn.output_shape({2, 3}), "BatchNorm2d(3): expects input [N,3,H,W], got [2,3]",
                         sib::error);
}

TEST_CASE("batch_norm2d: state-dict order and the int64 counter") {
    sib::nn::batch_norm2d<double> bn(5);
    std::vector<std::string> names;
    std::vector<bool> trainable;
    bn.for_each_parameter([&](std::string_view name, dtensor& v, dtensor* g) {
        names.emplace_back(name);
        trainable.push_back(g != nullptr);
        CHECK(v.shape() == sib::shape{5});
    });
    CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var"});
    CHECK(trainable == std::vector<bool>{true, true, false, false});
    CHECK(bn.weight.to_vector() == std::vector<double>(5, 1.0));
    CHECK(bn.bias.to_vector() == std::vector<double>(5, 0.0));
    CHECK(bn.running_mean.to_vector() == std::vector<double>(5, 0.0));
    CHECK(bn.running_var.to_vector() == std::vector<double>(5, 1.0));
    int counters = 0;
    bn.for_each_counter([&](std::string_view name, sib::index_t& v) {
        CHECK(name == "num_batches_tracked");
        v = 41;
        ++counters;
    });
    CHECK(counters == 1);
    CHECK(bn.num_batches_tracked == 41);
}

TEST_CASE("batch_norm2d: float32 agrees with float64") {
    for (bool training : {true, false}) {
        CAPTURE(training);
        sib::nn::batch_norm2d<float> f(3);
        sib::nn::batch_norm2d<double> d(3);
        sib::rng r(12), r2(12);
        randomize_batch_norm(f, r);
        randomize_batch_norm(d, r2);
        f.training = d.training = training;
        expect_float_agrees(f, d, {4, 3, 5, 7}, 3, 1e-4, 1e-5);
        expect_close(sib::tensor_cast<double>(f.running_var).to_vector(), d.running_var.to_vector(),
                     1e-6, 1e-7, "float32 running_var");
    }
}

// ---- Dropout ---------------------------------------------------------------------------------

TEST_CASE("dropout: keep rate and scaling") {
    for (double p : {0.1, 0.3, 0.5, 0.9}) {
        CAPTURE(p);
        sib::nn::dropout<double> d(p);
        d.reseed(17);
        const sib::index_t n = 200000;
        const dtensor x({n, 1}, 1.0);
        const dtensor y = run_forward(d, x);
        sib::index_t kept = 0;
        for (sib::index_t i = 0; i < n; ++i) {
            if (y[i] != 0.0) {
                ++kept;
                CHECK_MESSAGE(y[i] == 1.0 / (1.0 - p), "kept value ", y[i]);
            }
        }
        // Binomial(n, 1-p): 6 standard deviations (the draw is fixed by the seed).
        const double rate = static_cast<double>(kept) / n;
        const double sd = std::sqrt(p * (1 - p) / n);
        CHECK(std::abs(rate - (1 - p)) < 6 * sd);
    }
    sib::nn::dropout<double> keep_all(0.0), drop_all(1.0);
    sib::rng r(2);
    const dtensor x = random_tensor({3, 5}, r);
    expect_close(run_forward(keep_all, x).to_vector(), x.to_vector(), 0.0, 0.0, "p = 0");
    expect_close(run_forward(drop_all, x).to_vector(), std::vector<double>(15, 0.0), 0.0, 0.0, "p = 1");
    CHECK_THROWS_WITH_AS(sib::nn::dropout<double>(1.5),
                         "Dropout: probability has to be between 0 and 1, but got 1.5", sib::error);
    CHECK_THROWS_AS(sib::nn::dropout<double>(-0.1), sib::error);
}

TEST_CASE("dropout: identity in evaluation") {
    sib::nn::dropout<double> d(0.5);
    d.training = false;
    sib::rng r(3);
    const dtensor x = random_tensor({2, 3, 4}, r), g = random_tensor({2, 3, 4}, r);
    const dtensor y = run_forward(d, x);
    expect_close(y.to_vector(), x.to_vector(), 0.0, 0.0, "eval forward");
    dtensor gx(x.shape()), ty(x.shape());
    d.vjp(x, y, g, gx);
    d.jvp(x, y, g, ty);
    expect_close(gx.to_vector(), g.to_vector(), 0.0, 0.0, "eval vjp");
    expect_close(ty.to_vector(), g.to_vector(), 0.0, 0.0, "eval jvp");
    CHECK_FALSE(d.mask_applied());
    check_layer_rules(d, {3, 2, 5});
}

TEST_CASE("dropout: vjp and jvp use the mask of the last forward") {
    sib::nn::dropout<double> d(0.4, 5);
    sib::rng r(4);
    const dtensor x = random_tensor({4, 2, 3, 3}, r), g = random_tensor({4, 2, 3, 3}, r);
    run_forward(d, x);
    const auto first = d.mask().to_vector();
    const dtensor y = run_forward(d, x);  // not frozen: a new mask
    const auto mask = d.mask().to_vector();
    CHECK(mask != first);
    d.training = false;  // a mode switch after forward does not change what the rules differentiate
    dtensor gx(x.shape()), ty(x.shape());
    d.vjp(x, y, g, gx);
    d.jvp(x, y, g, ty);
    for (sib::index_t i = 0; i < x.size(); ++i) {
        CHECK((y[i] == 0.0) == (mask[i] == 0.0));
        CHECK(y[i] == x[i] * mask[i]);
        CHECK(gx[i] == g[i] * mask[i]);
        CHECK(ty[i] == g[i] * mask[i]);
    }
    CHECK_THROWS_WITH_AS(d.vjp(x, y, dtensor({2, 2}, 0.0), gx),
                         "Dropout: input [2,2] does not match the mask of the last forward [4,2,3,3]",
                         sib::error);
}

TEST_CASE("dropout: frozen masks, next_mask and determinism for a seed") {
    sib::rng r(6);
    const dtensor x = random_tensor({3, 4, 5}, r);
    sib::nn::dropout<double> a(0.5), b(0.5);
    a.reseed(99);
    b.reseed(99);
    CHECK(run_forward(a, x).to_vector() == run_forward(b, x).to_vector());
    CHECK(run_forward(a, x).to_vector() == run_forward(b, x).to_vector());
    b.reseed(100);
    CHECK(run_forward(a, x).to_vector() != run_forward(b, x).to_vector());

    sib::nn::dropout<double> f(0.5, 7);
    f.freeze_mask = true;
    const auto y1 = run_forward(f, x).to_vector();
    CHECK(run_forward(f, x).to_vector() == y1);
    f.next_mask();
    const auto y2 = run_forward(f, x).to_vector();
    CHECK(y2 != y1);
    CHECK(run_forward(f, x).to_vector() == y2);
    // A frozen mask of another shape cannot apply: a smaller last batch draws a new one.
    const dtensor small = random_tensor({2, 4, 5}, r);
    run_forward(f, small);
    CHECK(f.mask().shape() == small.shape());
    // Reseeding replays the same sequence of masks.
    sib::nn::dropout<double> g(0.5, 7);
    g.freeze_mask = true;
    CHECK(run_forward(g, x).to_vector() == y1);
    g.next_mask(x.shape());
    CHECK(run_forward(g, x).to_vector() == y2);
}

TEST_CASE("dropout: five rules by central differences with a frozen mask") {
    for (const sib::shape s : {sib::shape{1, 7}, sib::shape{2, 3, 4, 5}, sib::shape{3, 1, 1, 3}}) {
        CAPTURE(s.str());
        sib::nn::dropout<double> d(0.3, 8);
        d.freeze_mask = true;
        check_layer_rules(d, s);
    }
}

TEST_CASE("dropout: float32 and float64 draw the same masks") {
    sib::nn::dropout<float> f(0.25, 31);
    sib::nn::dropout<double> d(0.25, 31);
    expect_float_agrees(f, d, {6, 50}, 1, 1e-6, 1e-7);
    expect_close(sib::tensor_cast<double>(f.mask()).to_vector(), d.mask().to_vector(), 1e-7, 0.0,
                 "float32 mask");
}
