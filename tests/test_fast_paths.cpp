// The fast paths of the CPU layers (issue "Speed") against the general ones and the definitions:
// Conv2d's per-thread fused rules against its batched rules (the path a backend without nested
// primitives takes), the flat-tap im2col/col2im (stride 1, same padding; taps wholly in the
// padding) by central differences and direct loops, MaxPool2d(2)'s select kernel and the argmax
// scatter against direct loops (ties, -inf, NaN, overlapping windows), results independent of the
// thread count, and a whole S-IB training step that allocates nothing once warm.
#include "support/gradcheck.hpp"
#include <sib/backend/cpu/threading.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/autodiff/step.hpp>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <tuple>
#include <utility>
#include <vector>

using namespace sibtest;
using sib::index_t;
using sib::nn::window2d;

// ---- counting allocator: every operator new of the program, counted while armed -------------

namespace {
std::atomic<bool> count_allocations{false};
std::atomic<long> allocations{0};
void* counted(std::size_t n, std::size_t align) {
    if (count_allocations.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                                : std::malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
}
// Out of line, so that the compiler does not pair a visible free with operator new.
[[gnu::noinline]] void release(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }

namespace {

struct thread_count_guard {
    int saved = sib::num_threads();
    ~thread_count_guard() { sib::set_num_threads(saved); }
};

// The CPU backend without nested primitives: Conv2d then takes the batched path a device backend
// takes, on the same memory, so the two paths can be compared here.
struct cpu_batched : sib::cpu {
    static constexpr bool nested_primitives = false;
};

template <class B>
using conv = sib::nn::conv2d<double, B>;

template <class B>
sib::tensor<double, B> as(const dtensor& t) {
    return sib::tensor<double, B>(t.shape(), t.to_vector());
}

// Every rule of one Conv2d at (x, tx, gy): y, ty, gx, and the gradients after param_vjp + mixed.
struct conv_results {
    std::vector<double> y, ty, gx, gw, gb;
};

template <class B>
conv_results run_conv_rules(const window2d& w, index_t in, index_t out, bool bias, index_t limit,
                            const std::vector<double>& weight, const std::vector<double>& b, const dtensor& x,
                            const dtensor& tx, const dtensor& gy) {
    conv<B> l(in, out, w, bias);
    l.set_workspace_limit(limit);
    l.weight = sib::tensor<double, B>(l.weight.shape(), weight);
    if (bias) l.bias = sib::tensor<double, B>(l.bias.shape(), b);
    const auto xb = as<B>(x), txb = as<B>(tx), gyb = as<B>(gy);
    sib::tensor<double, B> y(l.output_shape(x.shape())), ty(y.shape()), gx(x.shape());
    l.forward(xb, y);
    l.jvp(xb, y, txb, ty);
    l.vjp(xb, y, gyb, gx);
    l.weight_grad.zero();
    if (bias) l.bias_grad.zero();
    l.param_vjp(xb, y, gyb);
    l.mixed(xb, y, txb, gyb);
    return {y.to_vector(), ty.to_vector(), gx.to_vector(), l.weight_grad.to_vector(),
            bias ? l.bias_grad.to_vector() : std::vector<double>{}};
}

struct conv_case {
    index_t in, out;
    window2d win;
    bool bias;
    sib::shape input;
};

// Flat taps (stride 1, output as wide as the input), taps wholly in the padding, stride 1 without
// flat taps, strides, rectangular windows, a batch of one and odd sizes.
const std::vector<conv_case> conv_cases = {
    {2, 3, window2d::square(3, 1, 1), true, {3, 2, 5, 7}},
    {1, 4, window2d::square(3, 1, 1), true, {1, 1, 1, 1}},
    {2, 2, window2d::square(5, 1, 2), false, {2, 2, 1, 2}},
    {2, 2, window2d::square(5, 1, 2), true, {2, 2, 2, 1}},
    {3, 2, window2d::square(3, 1, 0), true, {2, 3, 6, 5}},
    {2, 3, window2d::square(2, 1, 1), true, {2, 2, 4, 5}},
    {2, 3, window2d{3, 1, 1, 1, 1, 0}, true, {2, 2, 5, 4}},
    {2, 2, window2d::square(3, 2, 1), true, {3, 2, 7, 6}},
    {3, 2, window2d{2, 3, 1, 2, 0, 1}, false, {2, 3, 6, 7}},
    {1, 2, window2d::square(1), true, {2, 1, 3, 4}},
    // 1x1 with stride 1 (no im2col: one sample per product and per weight-gradient group here) and
    // with stride 2 (a ResNet's downsample shortcut).
    {3, 4, window2d::square(1), true, {3, 3, 12, 12}},
    {4, 3, window2d::square(1, 2), false, {2, 4, 5, 6}},
    // Batches large enough for several samples per product (few output pixels, as in a ResNet's
    // last stages), with a last product of fewer samples, and one weight-gradient group or two.
    {3, 4, window2d::square(3, 2, 1), true, {19, 3, 5, 4}},
    {2, 3, window2d::square(3, 1, 1), false, {33, 2, 3, 3}},
    {2, 3, window2d::square(1), true, {24, 2, 2, 2}},
    // Output planes above conv2d::tiny_plane (16 pixels), where im2col and col2im copy spans, with
    // strides, without flat taps and with a rectangular window; then planes of 2x2 and below, where
    // both work a cell at a time.
    {2, 2, window2d::square(3, 2, 1), true, {2, 2, 11, 10}},
    {3, 2, window2d::square(3, 1, 0), true, {2, 3, 8, 7}},
    {3, 2, window2d{2, 3, 1, 2, 0, 1}, false, {2, 3, 10, 11}},
    {2, 3, window2d::square(3, 1, 1), false, {9, 2, 2, 2}},
    {2, 3, window2d::square(3, 2, 1), true, {5, 2, 3, 4}},
    // More output channels than the chunk has pixels: the weight gradient's whole-chunk product.
    {2, 16, window2d::square(3, 1, 1), true, {3, 2, 2, 2}},
};

// Many output channels and few pixels, whose weight gradient is one product over the whole chunk
// (its per-group partials would be larger than the chunk's im2col rows), from one group's worth of
// pixels and from two, and a direct 1x1 convolution. Their outputs are too wide for central
// differences at the checks' tolerance (the difference quotient of a sum of 40,000 terms is only
// good to some 1e-6): forward, jvp and vjp are compared with the batched rules.
const std::vector<conv_case> wide_conv_cases = {
    {2, 128, window2d::square(3, 1, 1), true, {5, 2, 2, 2}},
    {2, 200, window2d::square(3, 1, 1), false, {5, 2, 8, 8}},
    {2, 128, window2d::square(1), true, {3, 2, 4, 4}},
};

// 3x3, stride 1, padding 1, 16 to 128 channels and 64 tiles (2x2 output cells) or more per
// product: forward, jvp and vjp take Winograd's F(2x2,3x3) (the weight gradients stay im2col
// products). A batch of one, odd sizes (tiles half outside the plane), planes one row high, and
// several samples per product with a last product of fewer; planes of more tiles than a product
// holds (blocks of tile rows, the last one shorter).
const std::vector<conv_case> winograd_conv_cases = {
    {16, 16, window2d::square(3, 1, 1), true, {1, 16, 16, 16}},
    {16, 16, window2d::square(3, 1, 1), true, {2, 16, 40, 38}},
    {24, 16, window2d::square(3, 1, 1), false, {1, 24, 33, 29}},
    {17, 19, window2d::square(3, 1, 1), false, {3, 17, 17, 15}},
    {16, 24, window2d::square(3, 1, 1), true, {23, 16, 7, 7}},
    {16, 16, window2d::square(3, 1, 1), true, {2, 16, 1, 130}},
    {20, 16, window2d::square(3, 1, 1), true, {2, 20, 131, 1}},
};

}  // namespace

TEST_CASE("conv2d fast path: every rule by central differences on the flat-tap and padding-only shapes") {
    std::uint64_t seed = 300;
    for (const auto& c : conv_cases) {
        conv<sib::cpu> l(c.in, c.out, c.win, c.bias);
        INFO(l.name(), " input ", c.input.str());
        sib::rng r(seed);
        randomize_parameters(l, r);
        check_layer_rules(l, c.input, ++seed);
    }
}

TEST_CASE("conv2d fast path: the fused rules equal the batched rules, whole batch and in chunks") {
    thread_count_guard guard;
    sib::rng r(11);
    std::vector<conv_case> cases = conv_cases;
    cases.insert(cases.end(), wide_conv_cases.begin(), wide_conv_cases.end());
    cases.insert(cases.end(), winograd_conv_cases.begin(), winograd_conv_cases.end());
    for (const auto& c : cases) {
        conv<sib::cpu> shape_of(c.in, c.out, c.win, c.bias);
        INFO(shape_of.name(), " input ", c.input.str());
        const auto weight = random_tensor(shape_of.weight.shape(), r).to_vector();
        const auto b = c.bias ? random_tensor(shape_of.bias.shape(), r).to_vector() : std::vector<double>{};
        const dtensor x = random_tensor(c.input, r), tx = random_tensor(c.input, r);
        const dtensor gy = random_tensor(shape_of.output_shape(c.input), r);
        const index_t per_sample = c.in * c.win.area() * gy.dim(2) * gy.dim(3);
        for (index_t limit : {conv<sib::cpu>::default_workspace_limit, per_sample, index_t(1)}) {
            for (int threads : {1, 2}) {
                sib::set_num_threads(threads);
                INFO("limit ", limit, " threads ", threads);
                const auto fused = run_conv_rules<sib::cpu>(c.win, c.in, c.out, c.bias, limit, weight, b, x, tx, gy);
                const auto batched =
                    run_conv_rules<cpu_batched>(c.win, c.in, c.out, c.bias, limit, weight, b, x, tx, gy);
                expect_close(fused.y, batched.y, 1e-13, 1e-13, "forward");
                expect_close(fused.ty, batched.ty, 1e-13, 1e-13, "jvp");
                expect_close(fused.gx, batched.gx, 1e-13, 1e-13, "vjp");
                expect_close(fused.gw, batched.gw, 1e-13, 1e-13, "weight gradient");
                expect_close(fused.gb, batched.gb, 1e-13, 1e-13, "bias gradient");
            }
        }
    }
}

// Winograd's transforms add and subtract values before the products, so in float32 its rounding
// differs from the im2col products'. Here float32 forward and vjp, with Winograd and without,
// against float64: Winograd's largest error stays within three times the im2col products'
// (measured: 0.4x to 1.7x) and within 1e-5 of the output's scale. ResNet-like channels, a plane of
// whole tiles and one of blocks of tile rows.
TEST_CASE("conv2d fast path: Winograd in float32 is about as close to float64 as the im2col products") {
    sib::rng r(13);
    for (const conv_case& c : {conv_case{64, 64, window2d::square(3, 1, 1), true, {8, 64, 16, 16}},
                               conv_case{32, 48, window2d::square(3, 1, 1), false, {2, 32, 40, 38}}}) {
        conv<sib::cpu> exact(c.in, c.out, c.win, c.bias);
        INFO(exact.name(), " input ", c.input.str());
        sib::optim::pytorch_default(exact, r);
        exact.set_winograd(false);
        const dtensor x = random_tensor(c.input, r);
        const sib::shape out = exact.output_shape(c.input);
        const dtensor gy = random_tensor(out, r);
        dtensor y(out), gx(c.input);
        exact.forward(x, y);
        exact.vjp(x, y, gy, gx);
        auto error = [](const auto& approx, const dtensor& want) {
            double e = 0, scale = 0;
            for (index_t i = 0; i < want.size(); ++i) {
                e = std::max(e, std::abs(static_cast<double>(approx[i]) - want[i]));
                scale = std::max(scale, std::abs(want[i]));
            }
            return std::pair{e, scale};
        };
        double forward_error[2], vjp_error[2], forward_scale = 0, vjp_scale = 0;
        for (int winograd = 0; winograd < 2; ++winograd) {
            sib::nn::conv2d<float> l(c.in, c.out, c.win, c.bias);
            l.set_winograd(winograd == 1);
            const auto narrow = [](const dtensor& t) {
                const auto v = t.to_vector();
                return sib::tensor<float>(t.shape(), std::vector<float>(v.begin(), v.end()));
            };
            l.weight = narrow(exact.weight);
            if (c.bias) l.bias = narrow(exact.bias);
            const sib::tensor<float> xf = narrow(x), gyf = narrow(gy);
            sib::tensor<float> yf(out), gxf(c.input);
            l.forward(xf, yf);
            l.vjp(xf, yf, gyf, gxf);
            std::tie(forward_error[winograd], forward_scale) = error(yf, y);
            std::tie(vjp_error[winograd], vjp_scale) = error(gxf, gx);
        }
        INFO("forward error im2col ", forward_error[0], " winograd ", forward_error[1], " (scale ", forward_scale,
             "); vjp error im2col ", vjp_error[0], " winograd ", vjp_error[1], " (scale ", vjp_scale, ")");
        CHECK(forward_error[1] > 0);  // float32 indeed, and Winograd's own rounding
        CHECK(forward_error[1] <= 3 * forward_error[0]);
        CHECK(vjp_error[1] <= 3 * vjp_error[0]);
        CHECK(forward_error[1] <= 1e-5 * forward_scale);
        CHECK(vjp_error[1] <= 1e-5 * vjp_scale);
    }
}

TEST_CASE("conv2d fast path: the same bits with one and with two threads") {
    thread_count_guard guard;
    sib::rng r(12);
    // Winograd's products of several samples each, then of blocks of tile rows; the same shape as
    // the first with too few channels for Winograd (im2col products of two samples each); several
    // samples per im2col product (3x3 outputs); the weight gradient's whole-chunk product, split
    // between the threads (2x2 outputs).
    for (const conv_case& c : {conv_case{16, 32, window2d::square(3, 1, 1), true, {37, 16, 14, 14}},
                               conv_case{16, 16, window2d::square(3, 1, 1), false, {3, 16, 40, 38}},
                               conv_case{8, 16, window2d::square(3, 1, 1), true, {37, 8, 14, 14}},
                               conv_case{8, 16, window2d::square(3, 2, 1), true, {37, 8, 6, 6}},
                               conv_case{16, 192, window2d::square(3, 2, 1), true, {37, 16, 4, 4}}}) {
        conv<sib::cpu> shape_of(c.in, c.out, c.win, c.bias);
        const auto weight = random_tensor(shape_of.weight.shape(), r).to_vector();
        const auto b = random_tensor(shape_of.bias.shape(), r).to_vector();
        const dtensor x = random_tensor(c.input, r), tx = random_tensor(c.input, r);
        const dtensor gy = random_tensor(shape_of.output_shape(c.input), r);
        const auto limit = conv<sib::cpu>::default_workspace_limit;
        sib::set_num_threads(1);
        const auto one = run_conv_rules<sib::cpu>(c.win, c.in, c.out, c.bias, limit, weight, b, x, tx, gy);
        sib::set_num_threads(2);
        const auto two = run_conv_rules<sib::cpu>(c.win, c.in, c.out, c.bias, limit, weight, b, x, tx, gy);
        CHECK(one.y == two.y);
        CHECK(one.ty == two.ty);
        CHECK(one.gx == two.gx);
        CHECK(one.gw == two.gw);
        CHECK(one.gb == two.gb);
    }
}

namespace {

// MaxPool2d by the definition: the first cell inside the input starts at -inf, a later cell wins
// when it is strictly larger or NaN (PyTorch's CPU kernel), y and the flat argmax.
void naive_max_pool(const dtensor& x, const window2d& g, std::vector<double>& y, std::vector<index_t>& arg) {
    const index_t H = x.dim(2), W = x.dim(3);
    const index_t OH = g.out_h(H), OW = g.out_w(W);
    y.clear();
    arg.clear();
    for (index_t p = 0; p < x.dim(0) * x.dim(1); ++p)
        for (index_t i = 0; i < OH; ++i)
            for (index_t j = 0; j < OW; ++j) {
                const index_t r0 = std::max<index_t>(i * g.stride_h - g.pad_h, 0);
                const index_t c0 = std::max<index_t>(j * g.stride_w - g.pad_w, 0);
                double best = -std::numeric_limits<double>::infinity();
                index_t at = (p * H + r0) * W + c0;
                for (index_t r = r0; r < std::min(i * g.stride_h - g.pad_h + g.kernel_h, H); ++r)
                    for (index_t c = c0; c < std::min(j * g.stride_w - g.pad_w + g.kernel_w, W); ++c) {
                        const double v = x[(p * H + r) * W + c];
                        if (v > best || std::isnan(v)) {
                            best = v;
                            at = (p * H + r) * W + c;
                        }
                    }
                y.push_back(best);
                arg.push_back(at);
            }
}

// Values with ties, -inf and NaN (among them windows of only -inf and of several NaN).
dtensor awkward_tensor(const sib::shape& s, sib::rng& r) {
    dtensor t(s);
    for (auto& v : t) {
        const double u = r.uniform();
        v = u < 0.1   ? -std::numeric_limits<double>::infinity()
            : u < 0.2 ? std::numeric_limits<double>::quiet_NaN()
            : u < 0.5 ? static_cast<double>(r.below(3))
                      : r.normal();
    }
    return t;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("max_pool2d fast path: y and argmax equal the definition with ties, -inf and NaN") {
    sib::rng r(13);
    const std::vector<std::pair<window2d, sib::shape>> cases = {
        {window2d::square(2, 2), {3, 2, 6, 8}},     // the 2x2 select kernel
        {window2d::square(2, 2), {2, 3, 7, 5}},     // odd sizes: the last row and column are unused
        {window2d::square(2, 2), {1, 1, 2, 2}},
        {window2d::square(2, 1), {2, 2, 5, 6}},     // 2x2 overlapping: the fixed-length loops
        {window2d::square(2, 2, 1), {2, 2, 5, 6}},  // 2x2 with padding: clipped windows
        {window2d::square(3, 2, 1), {2, 2, 7, 8}},  // 3x3
        // 3x3 with stride 2: the vectorised loop over the windows inside a row, clipped columns on
        // either side (odd and even widths, with and without padding), and rows too narrow for it.
        {window2d::square(3, 2, 1), {2, 2, 9, 37}},
        {window2d::square(3, 2, 1), {1, 2, 6, 40}},
        {window2d::square(3, 2), {2, 1, 7, 41}},
        {window2d::square(3, 2, 1), {1, 1, 3, 2}},
        {window2d::square(3, 3), {1, 2, 10, 9}},
        {window2d{2, 3, 1, 2, 1, 1}, {2, 1, 6, 7}},  // the general loops
    };
    for (const auto& [w, in] : cases) {
        sib::nn::max_pool2d<double> l(w);
        INFO(l.name(), " input ", in.str());
        for (int trial = 0; trial < 4; ++trial) {
            const dtensor x = trial == 0 ? random_tensor(in, r) : awkward_tensor(in, r);
            std::vector<double> want;
            std::vector<index_t> want_arg;
            naive_max_pool(x, w, want, want_arg);
            const dtensor y = run_forward(l, x);
            CHECK(same_bits(y.to_vector(), want));
            CHECK(l.argmax().to_vector() == want_arg);
        }
    }
}

TEST_CASE("max_pool2d fast path: the scatter vjp sums overlapping windows as the gather did") {
    sib::rng r(14);
    for (const auto& w : {window2d::square(3, 1, 1), window2d::square(3, 2, 1), window2d::square(2, 2)}) {
        sib::nn::max_pool2d<double> l(w);
        const sib::shape in{2, 3, 7, 6};
        INFO(l.name());
        // Few distinct values, so that one pixel is the argmax of several windows.
        dtensor x(in);
        for (auto& v : x) v = static_cast<double>(r.below(3));
        const dtensor y = run_forward(l, x);
        const dtensor gy = random_tensor(y.shape(), r);
        dtensor gx(in);
        l.vjp(x, y, gy, gx);
        // gx[i] = sum, in output order, of gy over the windows whose argmax is i.
        std::vector<double> want(static_cast<std::size_t>(x.size()), 0.0);
        const auto arg = l.argmax().to_vector();
        for (std::size_t o = 0; o < arg.size(); ++o) want[static_cast<std::size_t>(arg[o])] += gy[static_cast<index_t>(o)];
        CHECK(same_bits(gx.to_vector(), want));
        // jvp is its adjoint.
        const dtensor tx = random_tensor(in, r);
        dtensor ty(y.shape());
        l.jvp(x, y, tx, ty);
        CHECK(dot(gy, ty) == doctest::Approx(dot(gx, tx)).epsilon(1e-14));
    }
}

TEST_CASE("training step: no allocation once warm, S-IB and cross entropy, one and two threads") {
    thread_count_guard guard;
    // A plain chain, and a ResNet in BatchNorm's training mode, whose torchvision names
    // ("layer2.0.downsample.1.running_mean") are longer than std::string keeps without allocating;
    // with 16 channels its 3x3 convolutions take Winograd's products.
    for (const char* spec :
         {"Conv2d(1,4,3,padding=1); ReLU; MaxPool2d(2); Conv2d(4,6,3,padding=1); ReLU; MaxPool2d(2); Flatten; "
          "Linear(294,5)",
          "resnet18_small(num_classes=5, in_channels=1, width=4)",
          "resnet18_small(num_classes=5, in_channels=1, width=16)"})
    for (int threads : {1, 2}) {
        INFO(std::string(spec));
        sib::set_num_threads(threads);
        sib::models::spec_model<float> model(spec);
        model.set_training(true);
        sib::rng g(3);
        sib::optim::pytorch_default(model, g);
        sib::tensor<float> x({8, 1, 28, 28});
        sib::tensor<std::int64_t> y({8});
        for (auto& v : x) v = static_cast<float>(g.uniform());
        for (auto& v : y) v = static_cast<std::int64_t>(g.below(5));
        sib::optim::adamw<float> opt;
        sib::masks::density_mask<float> mask;
        sib::autodiff::step_workspace<float> ws;
        auto sib_objective = sib::loss::sib_objective<float>();
        auto ce_objective = sib::loss::ce();
        auto step = [&](bool with_sib) {
            opt.zero_grad(model);
            if (with_sib)
                sib::autodiff::objective_step(model, ws, x, y, sib_objective, mask);
            else
                sib::autodiff::objective_step(model, ws, x, y, ce_objective, mask);
            opt.step(model);
        };
        for (int i = 0; i < 2; ++i) step(true);
        for (bool with_sib : {true, false}) {
            INFO("threads ", threads, with_sib ? " S-IB" : " cross entropy");
            allocations = 0;
            count_allocations = true;
            step(with_sib);
            count_allocations = false;
            CHECK(allocations.load() == 0);
        }
    }
}
