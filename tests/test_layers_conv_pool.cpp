#include "support/gradcheck.hpp"
#include "fixtures/conv_pool_fixtures.hpp"
#include <sib/layers/adaptive_avg_pool2d.hpp>
#include <sib/layers/avg_pool2d.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace sibtest;
namespace fx = conv_pool_fixtures;
using sib::index_t;
using sib::nn::window2d;

static_assert(sib::check_layer<sib::nn::conv2d<float>>());
static_assert(sib::check_layer<sib::nn::max_pool2d<float>>());
static_assert(sib::check_layer<sib::nn::avg_pool2d<float>>());
static_assert(sib::check_layer<sib::nn::adaptive_avg_pool2d<float>>());

namespace {

dtensor fixture(const std::vector<long long>& shape, const std::vector<double>& values) {
    return dtensor(sib::shape(shape.begin(), shape.end()), values);
}

// ---- independent references: direct loops over the definitions ---------------------------

// PyTorch's Conv2d: y[n,o,i,j] = b[o] + sum_{c,a,b} w[o,c,a,b] x[n,c,i*s-p+a, j*s-p+b], 0 outside.
std::vector<double> naive_conv(const dtensor& x, const dtensor& w, const dtensor* b, const window2d& g) {
    const index_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0);
    const index_t OH = (H + 2 * g.pad_h - g.kernel_h) / g.stride_h + 1;
    const index_t OW = (W + 2 * g.pad_w - g.kernel_w) / g.stride_w + 1;
    std::vector<double> y;
    for (index_t n = 0; n < N; ++n)
        for (index_t o = 0; o < O; ++o)
            for (index_t i = 0; i < OH; ++i)
                for (index_t j = 0; j < OW; ++j) {
                    double s = b ? (*b)[o] : 0.0;
                    for (index_t c = 0; c < C; ++c)
                        for (index_t a = 0; a < g.kernel_h; ++a)
                            for (index_t e = 0; e < g.kernel_w; ++e) {
                                const index_t r = i * g.stride_h - g.pad_h + a, q = j * g.stride_w - g.pad_w + e;
                                if (r < 0 || r >= H || q < 0 || q >= W) continue;
                                s += w[((o * C + c) * g.kernel_h + a) * g.kernel_w + e] * x[((n * C + c) * H + r) * W + q];
                            }
                    y.push_back(s);
                }
    return y;
}

// Visits every output window as (plane, first row, first col) in the padded frame.
template <class F>
void for_each_window(const sib::shape& in, const window2d& g, F&& f) {
    const index_t OH = (in[2] + 2 * g.pad_h - g.kernel_h) / g.stride_h + 1;
    const index_t OW = (in[3] + 2 * g.pad_w - g.kernel_w) / g.stride_w + 1;
    for (index_t p = 0; p < in[0] * in[1]; ++p)
        for (index_t i = 0; i < OH; ++i)
            for (index_t j = 0; j < OW; ++j) f(p, i * g.stride_h - g.pad_h, j * g.stride_w - g.pad_w);
}

// Max over the window with padding as -inf; the first maximum in row-major order wins.
std::vector<double> naive_max_pool(const dtensor& x, const window2d& g) {
    const index_t H = x.dim(2), W = x.dim(3);
    std::vector<double> y;
    for_each_window(x.shape(), g, [&](index_t p, index_t r0, index_t c0) {
        double m = -std::numeric_limits<double>::infinity();
        for (index_t r = r0; r < r0 + g.kernel_h; ++r)
            for (index_t c = c0; c < c0 + g.kernel_w; ++c)
                if (r >= 0 && r < H && c >= 0 && c < W) m = std::max(m, x[(p * H + r) * W + c]);
        y.push_back(m);
    });
    return y;
}

// Sum over the window divided by the cells counted: those in the padded frame or those in x.
std::vector<double> naive_avg_pool(const dtensor& x, const window2d& g, bool count_pad) {
    const index_t H = x.dim(2), W = x.dim(3);
    std::vector<double> y;
    for_each_window(x.shape(), g, [&](index_t p, index_t r0, index_t c0) {
        double s = 0;
        int counted = 0;
        for (index_t r = r0; r < r0 + g.kernel_h; ++r)
            for (index_t c = c0; c < c0 + g.kernel_w; ++c) {
                const bool in_x = r >= 0 && r < H && c >= 0 && c < W;
                const bool in_frame = r >= -g.pad_h && r < H + g.pad_h && c >= -g.pad_w && c < W + g.pad_w;
                if (in_x) s += x[(p * H + r) * W + c];
                if (count_pad ? in_frame : in_x) ++counted;
            }
        y.push_back(s / counted);
    });
    return y;
}

// Output cell i averages [floor(i*H/out), ceil((i+1)*H/out)) along each axis.
std::vector<double> naive_adaptive(const dtensor& x, index_t oh, index_t ow) {
    const index_t P = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
    std::vector<double> y;
    for (index_t p = 0; p < P; ++p)
        for (index_t i = 0; i < oh; ++i)
            for (index_t j = 0; j < ow; ++j) {
                const auto r0 = static_cast<index_t>(std::floor(double(i * H) / oh));
                const auto r1 = static_cast<index_t>(std::ceil(double((i + 1) * H) / oh));
                const auto c0 = static_cast<index_t>(std::floor(double(j * W) / ow));
                const auto c1 = static_cast<index_t>(std::ceil(double((j + 1) * W) / ow));
                double s = 0;
                for (index_t r = r0; r < r1; ++r)
                    for (index_t c = c0; c < c1; ++c) s += x[(p * H + r) * W + c];
                y.push_back(s / double((r1 - r0) * (c1 - c0)));
            }
    return y;
}

// ---- configurations -------------------------------------------------------------------------

struct conv_config {
    index_t in, out;
    window2d win;
    bool bias;
    sib::shape input;
};

// Batch 1, odd sizes, strides 1-3, padding 0-2, kernels not dividing the size, 1x1, rectangular.
const std::vector<conv_config> conv_configs = {
    {1, 2, window2d::square(3), true, {1, 1, 5, 5}},
    {2, 3, window2d::square(3, 2, 1), true, {2, 2, 7, 6}},
    {3, 2, window2d::square(4, 3, 2), false, {2, 3, 9, 8}},
    {3, 4, window2d::square(1), true, {2, 3, 4, 5}},
    {2, 2, window2d{2, 3, 1, 2, 0, 1}, true, {2, 2, 6, 7}},
    {2, 3, window2d::square(5, 2, 2), false, {1, 2, 5, 5}},
};

struct pool_config {
    window2d win;
    bool count_pad;
    sib::shape input;
};

const std::vector<pool_config> pool_configs = {
    {window2d::square(2, 2), true, {1, 1, 5, 5}},
    {window2d::square(3, 2, 1), true, {2, 3, 7, 8}},
    {window2d::square(3, 2, 1), false, {2, 3, 7, 8}},
    {window2d::square(3, 3), true, {1, 2, 10, 9}},
    {window2d::square(2, 1, 1), false, {2, 2, 5, 6}},
    {window2d::square(4, 3, 2), false, {1, 1, 9, 11}},
    {window2d::square(5, 1, 2), true, {2, 1, 9, 7}},
    {window2d{2, 3, 2, 1, 1, 1}, false, {1, 2, 6, 7}},
};

struct adaptive_config {
    index_t oh, ow;
    sib::shape input;
};

const std::vector<adaptive_config> adaptive_configs = {
    {1, 1, {2, 3, 5, 7}}, {3, 2, {1, 2, 7, 5}}, {4, 4, {1, 1, 3, 3}}, {1, 1, {1, 1, 1, 1}}, {2, 3, {2, 1, 6, 9}},
};

template <class T>
sib::nn::conv2d<T> make_conv(const conv_config& c) {
    return sib::nn::conv2d<T>(c.in, c.out, c.win, c.bias);
}

// Copies the parameters of a float64 layer into another layer of any element type.
template <class Dst>
void copy_parameters(sib::nn::conv2d<double>& src, Dst& dst) {
    std::vector<dtensor*> from;
    src.for_each_parameter([&](std::string_view, dtensor& v, dtensor*) { from.push_back(&v); });
    std::size_t i = 0;
    dst.for_each_parameter([&](std::string_view, auto& v, auto*) {
        using E = typename std::decay_t<decltype(v)>::value_type;
        v = sib::tensor_cast<E>(*from[i++]);
    });
}

std::string where(const sib::shape& s) { return " at input " + s.str(); }

}  // namespace

// ---- five rules by central differences --------------------------------------------------------

TEST_CASE("conv2d: five rules by central differences") {
    std::uint64_t seed = 10;
    for (const auto& c : conv_configs) {
        auto l = make_conv<double>(c);
        INFO(l.name(), where(c.input));
        sib::rng r(seed);
        randomize_parameters(l, r);
        check_layer_rules(l, c.input, ++seed);
    }
}

TEST_CASE("conv2d: five rules when the batch is split into workspace chunks") {
    // A limit of one element forces one sample per chunk; 2*K*P forces chunks of 2 with a remainder.
    for (index_t samples_per_chunk : {1, 2}) {
        sib::nn::conv2d<double> l(2, 3, 3, 2, 1);
        const sib::shape in{5, 2, 7, 6};
        const index_t k = 2 * 9, p = l.output_shape(in)[2] * l.output_shape(in)[3];
        l.set_workspace_limit(samples_per_chunk == 1 ? 1 : samples_per_chunk * k * p);
        sib::rng r(4);
        randomize_parameters(l, r);
        INFO("samples per chunk ", samples_per_chunk);
        check_layer_rules(l, in, 7);
    }
}

TEST_CASE("max_pool2d: five rules by central differences") {
    std::uint64_t seed = 30;
    for (const auto& c : pool_configs) {
        sib::nn::max_pool2d<double> l(c.win);
        INFO(l.name(), where(c.input));
        check_layer_rules(l, c.input, ++seed);
    }
}

TEST_CASE("avg_pool2d: five rules by central differences") {
    std::uint64_t seed = 50;
    for (const auto& c : pool_configs) {
        sib::nn::avg_pool2d<double> l(c.win, c.count_pad);
        INFO(l.name(), where(c.input));
        check_layer_rules(l, c.input, ++seed);
    }
}

TEST_CASE("adaptive_avg_pool2d: five rules by central differences") {
    std::uint64_t seed = 70;
    for (const auto& c : adaptive_configs) {
        sib::nn::adaptive_avg_pool2d<double> l(c.oh, c.ow);
        INFO(l.name(), where(c.input));
        check_layer_rules(l, c.input, ++seed);
    }
}

// ---- forward against the naive loops ----------------------------------------------------------

TEST_CASE("conv2d and pools: forward equals the naive loops") {
    sib::rng r(5);
    for (const auto& c : conv_configs) {
        auto l = make_conv<double>(c);
        INFO(l.name(), where(c.input));
        randomize_parameters(l, r);
        const dtensor x = random_tensor(c.input, r);
        CHECK(l.output_shape(c.input) ==
              sib::shape{c.input[0], c.out, c.win.out_h(c.input[2]), c.win.out_w(c.input[3])});
        expect_close(run_forward(l, x).to_vector(), naive_conv(x, l.weight, c.bias ? &l.bias : nullptr, c.win),
                     1e-13, 1e-13, "conv2d forward");
    }
    for (const auto& c : pool_configs) {
        const dtensor x = random_tensor(c.input, r);
        sib::nn::max_pool2d<double> mp(c.win);
        sib::nn::avg_pool2d<double> ap(c.win, c.count_pad);
        INFO(ap.name(), where(c.input));
        expect_close(run_forward(mp, x).to_vector(), naive_max_pool(x, c.win), 0, 0, "max_pool2d forward");
        expect_close(run_forward(ap, x).to_vector(), naive_avg_pool(x, c.win, c.count_pad), 1e-14, 1e-15,
                     "avg_pool2d forward");
    }
    for (const auto& c : adaptive_configs) {
        const dtensor x = random_tensor(c.input, r);
        sib::nn::adaptive_avg_pool2d<double> l(c.oh, c.ow);
        INFO(l.name(), where(c.input));
        expect_close(run_forward(l, x).to_vector(), naive_adaptive(x, c.oh, c.ow), 1e-14, 1e-15,
                     "adaptive_avg_pool2d forward");
    }
}

// Inputs large enough that every kernel takes the OpenMP path (work above cpu::parallel_grain);
// vjp is checked as the adjoint of jvp, <gy, J tx> = <J^T gy, tx>, which holds at any size.
TEST_CASE("conv2d and pools: large inputs on the parallel path") {
    sib::rng r(6);
    const sib::shape in{4, 8, 32, 31};
    const dtensor x = random_tensor(in, r), tx = random_tensor(in, r);
    auto check = [&](auto& l, const std::vector<double>& naive) {
        INFO(l.name());
        const dtensor y = run_forward(l, x);
        expect_close(y.to_vector(), naive, 1e-13, 1e-13, "forward");
        const dtensor gy = random_tensor(y.shape(), r);
        dtensor ty(y.shape()), gx(in);
        l.jvp(x, y, tx, ty);
        l.vjp(x, y, gy, gx);
        CHECK(dot(gy, ty) == doctest::Approx(dot(gx, tx)).epsilon(1e-12));
    };
    sib::nn::conv2d<double> conv(8, 6, 3, 1, 1);
    randomize_parameters(conv, r);
    check(conv, naive_conv(x, conv.weight, &conv.bias, conv.window()));
    sib::nn::max_pool2d<double> mp(3, 2, 1);
    check(mp, naive_max_pool(x, mp.window()));
    sib::nn::avg_pool2d<double> ap(3, 1, 1, false);
    check(ap, naive_avg_pool(x, ap.window(), false));
    sib::nn::adaptive_avg_pool2d<double> gap(1);
    check(gap, naive_adaptive(x, 1, 1));
}

// ---- PyTorch reference values -----------------------------------------------------------------

namespace {
template <class T>
void check_conv_fixture(sib::nn::conv2d<T>& l, const std::vector<long long>& xs, const std::vector<double>& x,
                        const std::vector<double>& y, const std::vector<double>& gy,
                        const std::vector<double>& gx, const std::vector<double>& gw,
                        const std::vector<double>* gb, double tol) {
    using tt = sib::tensor<T>;
    const tt xin = sib::tensor_cast<T>(fixture(xs, x));
    tt out(l.output_shape(xin.shape()));
    l.forward(xin, out);
    const tt g = sib::tensor_cast<T>(dtensor(out.shape(), gy));
    tt gin(xin.shape());
    l.vjp(xin, out, g, gin);
    l.weight_grad.zero();
    if (gb) l.bias_grad.zero();
    l.param_vjp(xin, out, g);
    expect_close(sib::tensor_cast<double>(out).to_vector(), y, tol, tol, "conv2d y vs PyTorch");
    expect_close(sib::tensor_cast<double>(gin).to_vector(), gx, tol, tol, "conv2d grad input vs PyTorch");
    expect_close(sib::tensor_cast<double>(l.weight_grad).to_vector(), gw, tol, tol, "conv2d grad weight vs PyTorch");
    if (gb) expect_close(sib::tensor_cast<double>(l.bias_grad).to_vector(), *gb, tol, tol, "conv2d grad bias vs PyTorch");
}

template <class L>
void check_pool_fixture(L& l, const std::vector<long long>& xs, const std::vector<double>& x,
                        const std::vector<double>& y, const std::vector<double>& gy,
                        const std::vector<double>& gx, double tol) {
    const dtensor xin = fixture(xs, x);
    const dtensor out = run_forward(l, xin);
    const dtensor gin = run_vjp(l, xin, dtensor(out.shape(), gy));
    expect_close(out.to_vector(), y, tol, tol, l.name() + " y vs PyTorch");
    expect_close(gin.to_vector(), gx, tol, tol, l.name() + " grad input vs PyTorch");
}
}  // namespace

// float64 against float64 PyTorch: only summation order differs, so 1e-12 is ample and tight.
TEST_CASE("conv2d: matches PyTorch (stride 2, padding 1; kernel 4, stride 3, padding 2, no bias)") {
    {
        sib::nn::conv2d<double> l(2, 3, 3, 2, 1);
        l.weight = fixture(fx::conv_s2_p1_weight_shape, fx::conv_s2_p1_weight);
        l.bias = fixture(fx::conv_s2_p1_bias_shape, fx::conv_s2_p1_bias);
        check_conv_fixture(l, fx::conv_s2_p1_x_shape, fx::conv_s2_p1_x, fx::conv_s2_p1_y, fx::conv_s2_p1_gy,
                           fx::conv_s2_p1_gx, fx::conv_s2_p1_gweight, &fx::conv_s2_p1_gbias, 1e-12);
    }
    {
        sib::nn::conv2d<double> l(3, 2, 4, 3, 2, false);
        l.weight = fixture(fx::conv_k4_s3_p2_nobias_weight_shape, fx::conv_k4_s3_p2_nobias_weight);
        check_conv_fixture(l, fx::conv_k4_s3_p2_nobias_x_shape, fx::conv_k4_s3_p2_nobias_x,
                           fx::conv_k4_s3_p2_nobias_y, fx::conv_k4_s3_p2_nobias_gy, fx::conv_k4_s3_p2_nobias_gx,
                           fx::conv_k4_s3_p2_nobias_gweight, nullptr, 1e-12);
    }
    // float32 against the float64 reference: sums of at most 2*3*3 O(1) products (and 32 terms in the
    // weight gradient), so float32 rounding stays well below 1e-5.
    {
        sib::nn::conv2d<float> l(2, 3, 3, 2, 1);
        l.weight = sib::tensor_cast<float>(fixture(fx::conv_s2_p1_weight_shape, fx::conv_s2_p1_weight));
        l.bias = sib::tensor_cast<float>(fixture(fx::conv_s2_p1_bias_shape, fx::conv_s2_p1_bias));
        check_conv_fixture(l, fx::conv_s2_p1_x_shape, fx::conv_s2_p1_x, fx::conv_s2_p1_y, fx::conv_s2_p1_gy,
                           fx::conv_s2_p1_gx, fx::conv_s2_p1_gweight, &fx::conv_s2_p1_gbias, 1e-5);
    }
}

TEST_CASE("max_pool2d: matches PyTorch, ties included") {
    {
        sib::nn::max_pool2d<double> l(3, 2, 1);
        check_pool_fixture(l, fx::maxpool_k3_s2_p1_x_shape, fx::maxpool_k3_s2_p1_x, fx::maxpool_k3_s2_p1_y,
                           fx::maxpool_k3_s2_p1_gy, fx::maxpool_k3_s2_p1_gx, 1e-15);
    }
    {
        sib::nn::max_pool2d<double> l(2);
        CHECK(l.name() == "MaxPool2d(2)");
        check_pool_fixture(l, fx::maxpool_k2_x_shape, fx::maxpool_k2_x, fx::maxpool_k2_y, fx::maxpool_k2_gy,
                           fx::maxpool_k2_gx, 1e-15);
    }
    {
        // Integer inputs: most windows hold tied maxima, so the gradient shows which cell won.
        sib::nn::max_pool2d<double> l(3, 1, 1);
        check_pool_fixture(l, fx::maxpool_ties_k3_s1_p1_x_shape, fx::maxpool_ties_k3_s1_p1_x,
                           fx::maxpool_ties_k3_s1_p1_y, fx::maxpool_ties_k3_s1_p1_gy, fx::maxpool_ties_k3_s1_p1_gx,
                           1e-15);
        const auto& s = fx::maxpool_ties_k3_s1_p1_x_shape;
        const index_t plane = s[2] * s[3], planes_out = l.argmax().size() / s[0] / s[1];
        std::vector<double> in_plane;
        for (index_t i = 0; i < l.argmax().size(); ++i) {
            CHECK(l.argmax()[i] / plane == i / planes_out);
            in_plane.push_back(static_cast<double>(l.argmax()[i] % plane));
        }
        expect_close(in_plane, fx::maxpool_ties_k3_s1_p1_indices, 0, 0, "max_pool2d argmax vs PyTorch indices");
    }
}

TEST_CASE("avg_pool2d: matches PyTorch, with and without counting the padding") {
    {
        sib::nn::avg_pool2d<double> l(3, 2, 1, true);
        check_pool_fixture(l, fx::avgpool_k3_s2_p1_incl_x_shape, fx::avgpool_k3_s2_p1_incl_x,
                           fx::avgpool_k3_s2_p1_incl_y, fx::avgpool_k3_s2_p1_incl_gy, fx::avgpool_k3_s2_p1_incl_gx,
                           1e-14);
    }
    {
        sib::nn::avg_pool2d<double> l(3, 2, 1, false);
        CHECK(l.name() == "AvgPool2d(3,stride=2,padding=1,count_include_pad=False)");
        check_pool_fixture(l, fx::avgpool_k3_s2_p1_excl_x_shape, fx::avgpool_k3_s2_p1_excl_x,
                           fx::avgpool_k3_s2_p1_excl_y, fx::avgpool_k3_s2_p1_excl_gy, fx::avgpool_k3_s2_p1_excl_gx,
                           1e-14);
    }
    {
        sib::nn::avg_pool2d<double> l(2);
        check_pool_fixture(l, fx::avgpool_k2_x_shape, fx::avgpool_k2_x, fx::avgpool_k2_y, fx::avgpool_k2_gy,
                           fx::avgpool_k2_gx, 1e-14);
    }
}

TEST_CASE("avg_pool2d: static kernels as the density mask calls them ([N,1,H,W], stride 1, padding k/2)") {
    const window2d g = window2d::square(5, 1, 2);
    const dtensor x = fixture(fx::avgpool_k5_s1_p2_mask_x_shape, fx::avgpool_k5_s1_p2_mask_x);
    dtensor y(x.shape());
    sib::nn::avg_pool2d<double>::apply(g, true, x, y);
    expect_close(y.to_vector(), fx::avgpool_k5_s1_p2_mask_y, 1e-14, 1e-14, "avg pool kernel vs PyTorch");
    dtensor gx(x.shape());
    sib::nn::avg_pool2d<double>::apply_transpose(g, true, dtensor(y.shape(), fx::avgpool_k5_s1_p2_mask_gy), gx);
    expect_close(gx.to_vector(), fx::avgpool_k5_s1_p2_mask_gx, 1e-14, 1e-14, "avg pool transpose kernel vs PyTorch");
}

TEST_CASE("adaptive_avg_pool2d: matches PyTorch (1x1, 3x2, output larger than input)") {
    {
        sib::nn::adaptive_avg_pool2d<double> l(1);
        CHECK(l.name() == "AdaptiveAvgPool2d(1)");
        check_pool_fixture(l, fx::adaptive_1_x_shape, fx::adaptive_1_x, fx::adaptive_1_y, fx::adaptive_1_gy,
                           fx::adaptive_1_gx, 1e-14);
    }
    {
        sib::nn::adaptive_avg_pool2d<double> l(3, 2);
        CHECK(l.name() == "AdaptiveAvgPool2d((3,2))");
        check_pool_fixture(l, fx::adaptive_3x2_x_shape, fx::adaptive_3x2_x, fx::adaptive_3x2_y, fx::adaptive_3x2_gy,
                           fx::adaptive_3x2_gx, 1e-14);
    }
    {
        sib::nn::adaptive_avg_pool2d<double> l(4);
        check_pool_fixture(l, fx::adaptive_4_from_3_x_shape, fx::adaptive_4_from_3_x, fx::adaptive_4_from_3_y,
                           fx::adaptive_4_from_3_gy, fx::adaptive_4_from_3_gx, 1e-14);
    }
}

// ---- float32 against float64 --------------------------------------------------------------------

namespace {
// Runs forward, vjp and jvp of a float32 and a float64 layer on the same data and compares them.
// Values are O(1) sums of at most a few dozen O(1) terms, so float32 agrees to about 1e-6.
template <class L32, class L64>
void check_float32_agrees(L32& l32, L64& l64, const sib::shape& in, std::uint64_t seed) {
    using ftensor = sib::tensor<float>;
    sib::rng r(seed);
    const dtensor x = random_tensor(in, r), tx = random_tensor(in, r);
    const sib::shape out = l64.output_shape(in);
    const dtensor gy = random_tensor(out, r);
    const ftensor xf = sib::tensor_cast<float>(x), txf = sib::tensor_cast<float>(tx), gyf = sib::tensor_cast<float>(gy);

    dtensor y(out), gx(in), ty(out);
    ftensor yf(out), gxf(in), tyf(out);
    l64.forward(x, y);
    l32.forward(xf, yf);
    l64.vjp(x, y, gy, gx);
    l32.vjp(xf, yf, gyf, gxf);
    l64.jvp(x, y, tx, ty);
    l32.jvp(xf, yf, txf, tyf);
    const double tol = 1e-5;
    expect_close(sib::tensor_cast<double>(yf).to_vector(), y.to_vector(), tol, tol, "float32 forward");
    expect_close(sib::tensor_cast<double>(gxf).to_vector(), gx.to_vector(), tol, tol, "float32 vjp");
    expect_close(sib::tensor_cast<double>(tyf).to_vector(), ty.to_vector(), tol, tol, "float32 jvp");
}
}  // namespace

TEST_CASE("conv2d and pools: float32 agrees with float64") {
    std::uint64_t seed = 90;
    for (const auto& c : conv_configs) {
        auto l64 = make_conv<double>(c);
        auto l32 = make_conv<float>(c);
        INFO(l64.name(), where(c.input));
        sib::rng r(++seed);
        randomize_parameters(l64, r);
        copy_parameters(l64, l32);
        check_float32_agrees(l32, l64, c.input, seed);

        // Parameter rules: param_vjp and mixed accumulate the same weight gradients.
        sib::rng q(seed + 1000);
        const dtensor x = random_tensor(c.input, q), tx = random_tensor(c.input, q);
        const sib::shape out = l64.output_shape(c.input);
        const dtensor gy = random_tensor(out, q);
        for (bool mixed : {false, true}) {
            zero_gradients(l64);
            l32.weight_grad.zero();
            if (c.bias) l32.bias_grad.zero();
            dtensor y = run_forward(l64, x);
            sib::tensor<float> yf(out);
            l32.forward(sib::tensor_cast<float>(x), yf);
            if (mixed) {
                l64.mixed(x, y, tx, gy);
                l32.mixed(sib::tensor_cast<float>(x), yf, sib::tensor_cast<float>(tx), sib::tensor_cast<float>(gy));
            } else {
                l64.param_vjp(x, y, gy);
                l32.param_vjp(sib::tensor_cast<float>(x), yf, sib::tensor_cast<float>(gy));
            }
            expect_close(sib::tensor_cast<double>(l32.weight_grad).to_vector(), l64.weight_grad.to_vector(), 1e-5,
                         1e-5, mixed ? "float32 mixed weight" : "float32 param_vjp weight");
            if (c.bias)
                expect_close(sib::tensor_cast<double>(l32.bias_grad).to_vector(), l64.bias_grad.to_vector(), 1e-5,
                             1e-5, "float32 param_vjp bias");
        }
    }
    for (const auto& c : pool_configs) {
        sib::nn::max_pool2d<float> m32(c.win);
        sib::nn::max_pool2d<double> m64(c.win);
        sib::nn::avg_pool2d<float> a32(c.win, c.count_pad);
        sib::nn::avg_pool2d<double> a64(c.win, c.count_pad);
        INFO(a64.name(), where(c.input));
        check_float32_agrees(m32, m64, c.input, ++seed);
        check_float32_agrees(a32, a64, c.input, ++seed);
    }
    for (const auto& c : adaptive_configs) {
        sib::nn::adaptive_avg_pool2d<float> l32(c.oh, c.ow);
        sib::nn::adaptive_avg_pool2d<double> l64(c.oh, c.ow);
        INFO(l64.name(), where(c.input));
        check_float32_agrees(l32, l64, c.input, ++seed);
    }
}

// ---- parameters, initialisation, chunking -------------------------------------------------------

TEST_CASE("conv2d: parameters in state-dict order and PyTorch's default initialisation") {
    sib::nn::conv2d<double> l(3, 8, 3);
    std::vector<std::string> names;
    std::vector<sib::shape> shapes;
    l.for_each_parameter([&](std::string_view n, dtensor& v, dtensor* g) {
        names.emplace_back(n);
        shapes.push_back(v.shape());
        CHECK(g != nullptr);
        CHECK(g->shape() == v.shape());
    });
    CHECK(names == std::vector<std::string>{"weight", "bias"});
    CHECK(shapes == std::vector<sib::shape>{{8, 3, 3, 3}, {8}});

    sib::nn::conv2d<double> nb(3, 8, 3, 1, 0, false);
    names.clear();
    nb.for_each_parameter([&](std::string_view n, dtensor&, dtensor*) { names.emplace_back(n); });
    CHECK(names == std::vector<std::string>{"weight"});

    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3*3*3, for weight and bias; 216 draws fill it.
    sib::rng r(11);
    l.reset_parameters(r);
    const double bound = 1.0 / std::sqrt(27.0);
    double wmax = 0, wmean = 0;
    for (double v : l.weight) {
        CHECK(std::abs(v) <= bound);
        wmax = std::max(wmax, std::abs(v));
        wmean += v / double(l.weight.size());
    }
    CHECK(wmax > 0.95 * bound);
    CHECK(std::abs(wmean) < 0.1 * bound);
    for (double v : l.bias) CHECK(std::abs(v) <= bound);
    sib::rng r2(11);
    sib::nn::conv2d<double> again(3, 8, 3);
    again.reset_parameters(r2);
    CHECK(again.weight.to_vector() == l.weight.to_vector());
    CHECK(again.bias.to_vector() == l.bias.to_vector());
}

TEST_CASE("conv2d: chunked workspace gives the same numbers as one chunk") {
    sib::nn::conv2d<double> whole(2, 3, 3, 2, 1), chunked(2, 3, 3, 2, 1);
    sib::rng r(8);
    randomize_parameters(whole, r);
    copy_parameters(whole, chunked);
    const sib::shape in{5, 2, 7, 6};
    chunked.set_workspace_limit(2 * 18 * 12);  // two samples per chunk, the last chunk has one
    const dtensor x = random_tensor(in, r), tx = random_tensor(in, r);
    const dtensor gy = random_tensor(whole.output_shape(in), r);
    expect_close(run_forward(chunked, x).to_vector(), run_forward(whole, x).to_vector(), 1e-15, 1e-15, "forward");
    expect_close(run_vjp(chunked, x, gy).to_vector(), run_vjp(whole, x, gy).to_vector(), 1e-15, 1e-15, "vjp");
    for (auto* l : {&whole, &chunked}) {
        zero_gradients(*l);
        dtensor y = run_forward(*l, x);
        l->param_vjp(x, y, gy);
        l->mixed(x, y, tx, gy);
    }
    expect_close(chunked.weight_grad.to_vector(), whole.weight_grad.to_vector(), 1e-14, 1e-14, "weight grad");
    expect_close(chunked.bias_grad.to_vector(), whole.bias_grad.to_vector(), 1e-14, 1e-14, "bias grad");
}

// check_layer_rules checks accumulation on the first parameter only; this covers the bias too.
TEST_CASE("conv2d: param_vjp and mixed add to every gradient, never overwrite") {
    sib::nn::conv2d<double> l(2, 3, 3, 2, 1);
    sib::rng r(12);
    randomize_parameters(l, r);
    const sib::shape in{2, 2, 5, 6};
    const dtensor x = random_tensor(in, r), tx = random_tensor(in, r);
    const dtensor gy = random_tensor(l.output_shape(in), r);
    const dtensor y = run_forward(l, x);
    auto grads_after = [&](auto&& rules) {
        zero_gradients(l);
        rules();
        std::vector<std::vector<double>> out;
        for (auto* g : gradients_of(l)) out.push_back(g->to_vector());
        return out;
    };
    const auto p = grads_after([&] { l.param_vjp(x, y, gy); });
    const auto m = grads_after([&] { l.mixed(x, y, tx, gy); });
    const auto both = grads_after([&] {
        l.param_vjp(x, y, gy);
        l.mixed(x, y, tx, gy);
        l.param_vjp(x, y, gy);
    });
    REQUIRE(both.size() == 2);
    for (std::size_t k = 0; k < both.size(); ++k) {
        std::vector<double> want(both[k].size());
        for (std::size_t i = 0; i < want.size(); ++i) want[i] = 2 * p[k][i] + m[k][i];
        expect_close(both[k], want, 1e-13, 1e-13, "accumulated gradient #" + std::to_string(k));
    }
}

// ---- one-line errors --------------------------------------------------------------------------

TEST_CASE("conv2d and pools: bad inputs and settings fail with one line naming the problem") {
    sib::nn::conv2d<double> c(1, 16, 3);
    CHECK_THROWS_WITH_AS(c.output_shape({2, 3, 28, 28}), "Conv2d(1,16,3): expects input [N,1,H,W], got [2,3,28,28]",
                         sib::error);
    CHECK_THROWS_WITH_AS(c.output_shape({1, 28, 28}), "Conv2d(1,16,3): expects input [N,1,H,W], got [1,28,28]",
                         sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::conv2d<double>(1, 4, 5).output_shape({1, 1, 3, 3}),
                         "Conv2d(1,4,5): input [1,1,3,3] with padding 0 is smaller than the kernel 5", sib::error);
    CHECK(sib::nn::conv2d<double>(1, 4, 5, 1, 1).output_shape({1, 1, 3, 3}) == sib::shape{1, 4, 1, 1});
    CHECK_THROWS_WITH_AS(sib::nn::conv2d<double>(0, 4, 3), "Conv2d(0,4,3): channels must be positive", sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::conv2d<double>(1, 4, 3, 0),
                         "Conv2d(1,4,3,stride=0): stride must be positive, got 0", sib::error);
    CHECK(sib::nn::conv2d<double>(1, 16, 3, 2, 1, false).name() == "Conv2d(1,16,3,stride=2,padding=1,bias=False)");
    CHECK(sib::nn::conv2d<double>(2, 2, window2d{2, 3, 1, 2, 0, 1}).name() == "Conv2d(2,2,(2,3),stride=(1,2),padding=(0,1))");

    CHECK_THROWS_WITH_AS(sib::nn::max_pool2d<double>(2, 2, 2), "MaxPool2d(2,padding=2): padding 2 exceeds half the kernel 2",
                         sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::max_pool2d<double>(2).output_shape({4, 8, 8}),
                         "MaxPool2d(2): expects input [N,C,H,W], got [4,8,8]", sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::max_pool2d<double>(3, 2).output_shape({1, 1, 2, 5}),
                         "MaxPool2d(3,stride=2): input [1,1,2,5] with padding 0 is smaller than the kernel 3", sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::avg_pool2d<double>(3, 1, 2), "AvgPool2d(3,stride=1,padding=2): padding 2 exceeds half the kernel 3",
                         sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::avg_pool2d<double>(3).output_shape({2, 3, 8}),
                         "AvgPool2d(3): expects input [N,C,H,W], got [2,3,8]", sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::adaptive_avg_pool2d<double>(1).output_shape({2, 3}),
                         "AdaptiveAvgPool2d(1): expects input [N,C,H,W] with H,W > 0, got [2,3]", sib::error);
    CHECK_THROWS_WITH_AS(sib::nn::adaptive_avg_pool2d<double>(0), "AdaptiveAvgPool2d(0): output size must be positive",
                         sib::error);
}
