// The Thrust backend (issue 6), tested on the CPU through Thrust's OMP system. Built as its own
// executable (sib_tests_thrust_omp), since it needs the CCCL headers; the same source compiled by
// nvcc with SIB_TEST_CUDA runs these checks on sib::thrust_cuda (ctest label gpu).
//
// What it proves on the Thrust backend:
//   - the primitives: against direct loops, and the segmented sort against sib::cpu bit for bit;
//   - every golden case in float64 to 1e-8, and float32 equal to the CPU backend's to 1e-5;
//   - every layer's five rules by central differences in float64, and float32 rules equal to CPU;
//   - mask, soft quantile, estimators, normalisation, cross entropy, decoders, the objective step
//     with every decoder, the optimizers, initialisation, the batch loader and the trainer give
//     the CPU backend's numbers (which the CPU suite proves correct);
//   - a training step moves only the batch to the device and scalars back.
#include "support/backend_gradcheck.hpp"
#include "support/golden_case.hpp"
#include <sib/backend/thrust/systems.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/data/loader.hpp>
#include <sib/decoders/softmax_energy.hpp>
#include <sib/decoders/sum_log_prob.hpp>
#include <sib/decoders/target_log_prob.hpp>
#include <sib/decoders/target_logit.hpp>
#include <sib/io/safetensors.hpp>
#include <sib/layers/residual.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/loss/objective.hpp>
#include <sib/loss/right_reasons.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/masks/soft_quantile.hpp>
#include <sib/mi/cka.hpp>
#include <sib/mi/hsic_linear.hpp>
#include <sib/mi/hsic_rbf.hpp>
#include <sib/mi/hsic_unbiased.hpp>
#include <sib/mi/normalize_rows.hpp>
#include <sib/mi/variance_proxy.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/optim/sgd.hpp>
#include <sib/autodiff/step.hpp>
#include <sib/train/choice.hpp>
#if defined(SIB_TEST_NCCL)
#include <sib/dist/nccl.hpp>
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <vector>

#if defined(SIB_TEST_CUDA)
using test_backend = sib::thrust_cuda;
#else
using test_backend = sib::thrust_omp;
#endif

using namespace sibtest;
using sib::index_t;
using TB = test_backend;

static_assert(sib::backend<TB>);
static_assert(sib::backend<sib::thrust_cpp>);
// Device tensors cannot be indexed from the host, even where the memory is host memory.
template <class X>
concept host_indexable = requires(X t) { t[0]; };
static_assert(!host_indexable<sib::tensor<float, TB>>);
static_assert(host_indexable<sib::tensor<float>>);
static_assert(sib::check_layer<sib::nn::conv2d<float, TB>>());
static_assert(sib::check_layer<sib::nn::batch_norm2d<double, TB>>());
static_assert(sib::mi_estimator<sib::mi::hsic_rbf<double, TB>>);
static_assert(sib::mask<sib::masks::density_mask<float, TB>>);

namespace {

// max |got - want| / max |want|: the array-relative error (absolute error in units of the largest
// entry), the measure for results whose small entries are differences of large terms.
template <class A, class Bv>
double relative_difference(const std::vector<A>& got, const std::vector<Bv>& want) {
    REQUIRE(got.size() == want.size());
    double scale = 0, worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(static_cast<double>(want[i])));
        worst = std::max(worst, std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])));
    }
    return worst == 0 ? 0 : worst / std::max(scale, std::numeric_limits<double>::min());
}

// Backend results against CPU results: float64 to rounding, float32 to 1e-5 (the issue's bound).
template <class T>
constexpr double same_tolerance() {
    return std::is_same_v<T, double> ? 1e-12 : 1e-5;
}

template <class T, class Bd, class Bs>
void expect_same(const sib::tensor<T, Bd>& got, const sib::tensor<T, Bs>& want, const std::string& what) {
    CHECK_MESSAGE(got.shape() == want.shape(), what, ": shape ", got.shape().str(), " vs ", want.shape().str());
    if (!(got.shape() == want.shape())) return;
    const double d = relative_difference(got.to_vector(), want.to_vector());
    CHECK_MESSAGE(d <= same_tolerance<T>(), what, ": relative difference ", d, " > ", same_tolerance<T>());
}
template <class T>
void expect_same_value(double got, double want, const std::string& what) {
    const double d = std::abs(got - want) / std::max(std::abs(want), 1e-300);
    CHECK_MESSAGE(d <= same_tolerance<T>(), what, ": ", got, " vs ", want);
}

template <class T>
sib::tensor<T> host_random(const sib::shape& s, sib::rng& r, double scale = 1.0) {
    std::vector<T> v(static_cast<std::size_t>(s.numel()));
    for (auto& e : v) e = static_cast<T>(r.normal() * scale);
    return sib::tensor<T>(s, v);
}

// The same values as a CPU tensor and as a test-backend tensor.
template <class T>
struct pair_of {
    sib::tensor<T> cpu;
    sib::tensor<T, TB> dev;
};
template <class T>
pair_of<T> random_pair(const sib::shape& s, sib::rng& r, double scale = 1.0) {
    auto c = host_random<T>(s, r, scale);
    return {c, to_backend<TB>(c)};
}

// Copies every parameter and buffer of one model into another of the same spec (any backends).
template <class Msrc, class Mdst>
void copy_parameters(Msrc& src, Mdst& dst) {
    using T = typename Msrc::value_type;
    std::vector<std::vector<T>> values;
    src.for_each_parameter([&](std::string_view, auto& v, auto*) { values.push_back(v.to_vector()); });
    std::size_t i = 0;
    dst.for_each_parameter([&](std::string_view, auto& v, auto*) {
        using Bd = typename std::decay_t<decltype(v)>::backend;
        const auto& h = values.at(i++);
        REQUIRE(static_cast<index_t>(h.size()) == v.size());
        Bd::from_host(v.size(), h.data(), v.data());
    });
}

template <class Ma, class Mb>
void expect_same_parameters(Ma& a, Mb& b, bool gradients, const std::string& what) {
    using T = typename Ma::value_type;
    std::vector<std::pair<std::string, std::vector<T>>> want;
    b.for_each_parameter([&](std::string_view name, auto& v, auto* g) {
        if (gradients && !g) return;
        want.emplace_back(std::string(name), gradients ? g->to_vector() : v.to_vector());
    });
    std::size_t i = 0;
    a.for_each_parameter([&](std::string_view name, auto& v, auto* g) {
        if (gradients && !g) return;
        REQUIRE(i < want.size());
        CHECK(want[i].first == std::string(name));
        const double d = relative_difference(gradients ? g->to_vector() : v.to_vector(), want[i].second);
        CHECK_MESSAGE(d <= same_tolerance<T>(), what, " ", name, ": relative difference ", d);
        ++i;
    });
    CHECK(i == want.size());
}

std::vector<std::filesystem::path> all_golden_cases() {
    auto cases = golden_case_dirs(SIB_GOLDEN_DIR);
    for (auto& d : golden_case_dirs(std::filesystem::path(SIB_TEST_DATA_DIR) / "golden_extra"))
        cases.push_back(d);
    return cases;
}

}  // namespace

// ---- primitives ---------------------------------------------------------------------------------

TEST_CASE("thrust backend: parallel_for, reduce_sum, copy and fill") {
    sib::tensor<double, TB> t({1000});
    double* p = t.data();
    TB::parallel_for(t.size(), [=] SIB_HD(index_t i) { p[i] = static_cast<double>(i); });
    TB::parallel_for(0, [=] SIB_HD(index_t i) { p[i] = -1; });  // n = 0 launches nothing
    const auto v = t.to_vector();
    for (index_t i = 0; i < 1000; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == static_cast<double>(i));
    CHECK(TB::reduce_sum(t.size(), [=] SIB_HD(index_t i) { return p[i]; }) == 999.0 * 1000.0 / 2.0);
    CHECK(TB::reduce_sum(0, [=] SIB_HD(index_t i) { return p[i]; }) == 0.0);
    // float terms accumulate in double: 2^24 + 1 is not a float, the sum of its parts is exact.
    sib::tensor<float, TB> f({3}, std::vector<float>{16777216.0f, 0.5f, 0.5f});
    const float* pf = f.data();
    CHECK(TB::reduce_sum(3, [=] SIB_HD(index_t i) { return pf[i]; }) == 16777217.0);

    sib::tensor<double, TB> c({1000});
    TB::copy(t.size(), t.data(), c.data());
    CHECK(c.to_vector() == v);
    c.fill(2.5);
    CHECK(c.to_vector() == std::vector<double>(1000, 2.5));
    TB::fill(0, c.data(), 7.0);
    TB::copy(0, t.data(), c.data());
    CHECK(c.to_vector() == std::vector<double>(1000, 2.5));
}

TEST_CASE("thrust backend: host transfers are counted, with their bytes") {
    sib::tensor<float, TB> t({10});
    const std::vector<float> h(10, 1.5f);
    const auto before = TB::transfers.snapshot();
    TB::from_host(10, h.data(), t.data());
    std::vector<float> back(10);
    TB::to_host(10, t.data(), back.data());
    const float* p = t.data();
    (void)TB::reduce_sum(10, [=] SIB_HD(index_t i) { return p[i]; });
    const auto d = TB::transfers.snapshot() - before;
    CHECK(back == h);
    CHECK(d.from_host == 1);
    CHECK(d.to_host == 1);
    CHECK(d.scalar_readbacks == 1);
    CHECK(d.bytes_from_host == 40);
    CHECK(d.bytes_to_host == 40);
    TB::transfers.reset();
    CHECK(TB::transfers.snapshot().from_host == 0);
}

TEST_CASE("thrust backend: buffers keep contents and capacity like aligned_buffer") {
    sib::thrust_buffer<double, TB::system> b(4);
    CHECK(b.size() == 4);
    const std::vector<double> h{1, 2, 3, 4};
    TB::from_host(4, h.data(), b.data());
    b.resize(2);
    CHECK(b.size() == 2);
    CHECK(b.capacity() == 4);
    const double* kept = b.data();
    b.resize(4);  // within capacity: same storage, contents kept
    CHECK(b.data() == kept);
    std::vector<double> back(4);
    TB::to_host(4, b.data(), back.data());
    CHECK(back == h);
    b.resize(6);  // growth keeps the old contents
    TB::to_host(4, b.data(), back.data());
    CHECK(back == h);
    sib::thrust_buffer<double, TB::system> copy(b);
    CHECK(copy.size() == 6);
    CHECK(copy.data() != b.data());
    TB::to_host(4, copy.data(), back.data());
    CHECK(back == h);
    sib::thrust_buffer<double, TB::system> moved(std::move(copy));
    CHECK(moved.size() == 6);
    CHECK(copy.size() == 0);
    sib::thrust_buffer<double, TB::system> empty;
    CHECK(empty.data() == nullptr);
    // Tensors copy deeply.
    sib::tensor<double, TB> t({2, 2}, h);
    sib::tensor<double, TB> u = t;
    u.fill(0.0);
    CHECK(t.to_vector() == h);
}

TEST_CASE_TEMPLATE("thrust backend: gemm in every transposition, with strides, alpha and beta", T, float, double) {
    sib::rng r(3);
    const index_t m = 5, n = 4, k = 3, pad = 2;
    for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            // Stored shapes with padded rows (leading dimension > logical width).
            const index_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
            const index_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
            auto a = host_random<T>({a_rows, lda}, r);
            auto b = host_random<T>({b_rows, ldb}, r);
            auto c = host_random<T>({m, ldc}, r);
            const T alpha = T(0.75), beta = T(-0.5);
            const auto c0 = c.to_vector();
            std::vector<double> want(c0.begin(), c0.end());
            for (index_t i = 0; i < m; ++i)
                for (index_t j = 0; j < n; ++j) {
                    double s = 0;
                    for (index_t q = 0; q < k; ++q) {
                        const double av = ta ? a[q * lda + i] : a[i * lda + q];
                        const double bv = tb ? b[j * ldb + q] : b[q * ldb + j];
                        s += av * bv;
                    }
                    want[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
                }
            auto da = to_backend<TB>(a), db = to_backend<TB>(b), dc = to_backend<TB>(c);
            TB::gemm(ta, tb, m, n, k, alpha, da.data(), lda, db.data(), ldb, beta, dc.data(), ldc);
            expect_close(sib::tensor_cast<double>(to_cpu(dc)).to_vector(), want,
                         std::is_same_v<T, float> ? 1e-5 : 1e-13, 1e-6, "gemm");
        }
    }
    // k = 0: C = beta C, and beta = 0 clears even NaN, as the CPU backend.
    sib::tensor<T, TB> c({2, 3}, std::vector<T>{1, 2, 3, std::numeric_limits<T>::quiet_NaN(), 5, 6});
    TB::gemm(false, false, 2, 3, 0, T(1), c.data(), 3, c.data(), 3, T(0), c.data(), 3);
    CHECK(c.to_vector() == std::vector<T>(6, T(0)));
    c.fill(T(2));
    TB::gemm(false, false, 2, 3, 0, T(1), c.data(), 3, c.data(), 3, T(3), c.data(), 3);
    CHECK(c.to_vector() == std::vector<T>(6, T(6)));
    TB::gemm(false, false, 0, 3, 4, T(1), c.data(), 3, c.data(), 3, T(0), c.data(), 3);
    CHECK(c.to_vector() == std::vector<T>(6, T(6)));
}

TEST_CASE_TEMPLATE("thrust backend: batched gemm equals one gemm per product, shared operands too", T, float,
                   double) {
    sib::rng r(4);
    const index_t m = 3, n = 5, k = 4, count = 3;
    for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
            CAPTURE(ta);
            CAPTURE(tb);
            // A is shared by every product (stride 0), as Conv2d's weight is.
            auto a = to_backend<TB>(host_random<T>({m * k}, r));
            auto b = to_backend<TB>(host_random<T>({count * k * n}, r));
            auto c = to_backend<TB>(host_random<T>({count * m * n}, r));
            auto c_each = c;
            const index_t lda = ta ? m : k, ldb = tb ? k : n;
            TB::gemm_batched(ta, tb, m, n, k, T(1.5), a.data(), lda, 0, b.data(), ldb, k * n, T(0.5), c.data(), n,
                             m * n, count);
            for (index_t i = 0; i < count; ++i)
                TB::gemm(ta, tb, m, n, k, T(1.5), a.data(), lda, b.data() + i * k * n, ldb, T(0.5),
                         c_each.data() + i * m * n, n);
            expect_close(sib::tensor_cast<double>(to_cpu(c)).to_vector(),
                         sib::tensor_cast<double>(to_cpu(c_each)).to_vector(), 1e-6, 1e-6, "batched");
        }
    }
}

namespace {

// The stable per-segment argsort under torch.sort's order (-0 ties with +0, NaN ties and sorts
// last), on the host: the reference for keys the CPU backend's comparison may not order.
template <class T>
std::vector<index_t> reference_argsort(const std::vector<T>& keys, index_t segments, index_t len) {
    std::vector<index_t> perm(keys.size());
    for (index_t s = 0; s < segments; ++s) {
        auto first = perm.begin() + s * len;
        for (index_t i = 0; i < len; ++i) first[i] = i;
        const T* row = keys.data() + s * len;
        std::stable_sort(first, first + len, [row](index_t i, index_t j) {
            const bool ni = std::isnan(row[i]), nj = std::isnan(row[j]);
            if (ni || nj) return !ni && nj;
            return row[i] < row[j];
        });
    }
    return perm;
}

}  // namespace

TEST_CASE_TEMPLATE("thrust backend: segmented sort, ties, signed zeros, infinities and NaN", T, float, double) {
    sib::rng r(9);
    struct layout {
        index_t segments, len;
    };
    for (bool with_nan : {false, true}) {
        for (const layout l : {layout{1, 1}, layout{1, 17}, layout{7, 1}, layout{5, 33}, layout{3, 1000}}) {
            CAPTURE(with_nan);
            CAPTURE(l.segments);
            CAPTURE(l.len);
            const index_t total = l.segments * l.len;
            std::vector<T> keys(static_cast<std::size_t>(total));
            // Few distinct values, so most keys tie, plus -0 against +0, infinities and NaN.
            for (auto& k : keys) k = static_cast<T>(static_cast<int>(r.below(5)) - 2);
            const T nan = with_nan ? std::numeric_limits<T>::quiet_NaN() : T(1);
            const T specials[] = {T(-0.0), nan, std::numeric_limits<T>::infinity(),
                                  -std::numeric_limits<T>::infinity(), nan};
            for (std::size_t i = 0; i < std::size(specials) && 3 + 7 * i < keys.size(); ++i)
                keys[3 + 7 * i] = specials[i];
            sib::tensor<T, TB> kd({total}, keys), sd({total});
            sib::tensor<index_t, TB> pd({total});
            TB::segmented_sort(kd.data(), sd.data(), pd.data(), l.segments, l.len);
            const auto perm = pd.to_vector();
            CHECK(perm == reference_argsort(keys, l.segments, l.len));
            // sorted is the keys gathered through perm, bit for bit (-0 stays -0).
            std::vector<T> gathered(keys.size());
            for (index_t i = 0; i < total; ++i) gathered[i] = keys[(i / l.len) * l.len + perm[i]];
            const auto sorted = sd.to_vector();
            CHECK(std::memcmp(sorted.data(), gathered.data(), sorted.size() * sizeof(T)) == 0);
            if (!with_nan) {  // where < is a total order, exactly what the CPU backend gives
                sib::tensor<T> kc({total}, keys), sc({total});
                sib::tensor<index_t> pc({total});
                sib::cpu::segmented_sort(kc.data(), sc.data(), pc.data(), l.segments, l.len);
                CHECK(perm == pc.to_vector());
            }
        }
    }
    TB::segmented_sort<T>(nullptr, nullptr, nullptr, 0, 5);  // empty: nothing to do
}

// ---- golden cases -------------------------------------------------------------------------------

TEST_CASE("thrust golden: every case in float64 to 1e-8") {
    const auto cases = all_golden_cases();
    REQUIRE(cases.size() >= 14);
    for (const auto& dir : cases) check_golden_case<double, TB>(dir, 1e-8);
}

TEST_CASE("thrust golden: float32 agrees with the CPU backend to 1e-5, and the reference to 2e-3") {
    for (const auto& dir : all_golden_cases()) {
        CAPTURE(dir.filename().string());
        check_golden_case<float, TB>(dir, 2e-3);
        const golden_outputs dev = run_golden_case<float, TB>(dir);
        const golden_outputs cpu = run_golden_case<float, sib::cpu>(dir);
        auto same = [](const std::vector<double>& a, const std::vector<double>& b, const char* what) {
            const double d = relative_difference(a, b);
            CHECK_MESSAGE(d <= 1e-5, what, ": relative difference to the CPU backend ", d);
        };
        same(dev.logits, cpu.logits, "logits");
        same(dev.R, cpu.R, "R");
        same(dev.M, cpu.M, "M");
        REQUIRE(dev.grads.size() == cpu.grads.size());
        for (std::size_t i = 0; i < dev.grads.size(); ++i) same(dev.grads[i].second, cpu.grads[i].second, dev.grads[i].first.c_str());
        const double values[][2] = {{dev.ce, cpu.ce}, {dev.fg, cpu.fg}, {dev.bg, cpu.bg}, {dev.total, cpu.total}};
        for (const auto& v : values) CHECK(std::abs(v[0] - v[1]) <= 1e-5 * std::abs(v[1]));
    }
}

// ---- layers: the five rules by central differences on the backend ----------------------------------

namespace {

template <class L>
void check_randomized(L& layer, const sib::shape& in, std::uint64_t seed, gradcheck_options opt = {}) {
    on_host<L> host(layer);
    sib::rng r(seed);
    randomize_parameters(host, r);
    check_layer_rules(host, in, seed + 1, opt);
}

template <class L>
void check_batch_norm(L& bn, const sib::shape& in, std::uint64_t seed, gradcheck_options opt = {}) {
    on_host<L> host(bn);
    sib::rng r(seed);
    host.for_each_parameter([&](std::string_view name, dtensor& v, dtensor*) {
        for (auto& e : v) {
            if (name == "weight") e = 1.0 + 0.5 * r.normal();
            if (name == "bias" || name == "running_mean") e = 0.5 * r.normal();
            if (name == "running_var") e = 0.5 + r.uniform();
        }
    });
    check_layer_rules(host, in, seed + 1, opt);
}

}  // namespace

TEST_CASE("thrust layers: linear, relu, flatten") {
    using namespace sib::nn;
    for (bool bias : {true, false}) {
        linear<double, TB> l(7, 5, bias);
        check_randomized(l, {3, 7}, 3);
        check_randomized(l, {1, 7}, 4);
    }
    relu<double, TB> a;
    check_layer_rules_on_backend(a, {2, 3, 5, 5});
    flatten<double, TB> f;
    check_layer_rules_on_backend(f, {2, 3, 3, 5});
}

TEST_CASE("thrust layers: conv2d (batch 1, odd sizes, stride, padding, rectangular, chunked)") {
    using sib::nn::window2d;
    struct conv_case {
        index_t in, out;
        window2d win;
        bool bias;
        sib::shape input;
    };
    const conv_case cases[] = {
        {1, 2, window2d::square(3), true, {1, 1, 5, 5}},
        {2, 3, window2d::square(3, 2, 1), true, {2, 2, 7, 6}},
        {3, 2, window2d::square(4, 3, 2), false, {2, 3, 9, 8}},
        {3, 4, window2d::square(1), true, {2, 3, 4, 5}},
        {2, 2, window2d{2, 3, 1, 2, 0, 1}, true, {2, 2, 6, 7}},
        {2, 3, window2d::square(5, 2, 2), false, {1, 2, 5, 5}},
    };
    std::uint64_t seed = 10;
    for (const auto& c : cases) {
        sib::nn::conv2d<double, TB> l(c.in, c.out, c.win, c.bias);
        CAPTURE(l.name());
        check_randomized(l, c.input, ++seed);
    }
    for (index_t limit : {index_t(1), index_t(2 * 18 * 12)}) {  // one sample, then two, per chunk
        sib::nn::conv2d<double, TB> l(2, 3, 3, 2, 1);
        l.set_workspace_limit(limit);
        CAPTURE(limit);
        check_randomized(l, {5, 2, 7, 6}, 4);
    }
}

TEST_CASE("thrust layers: max, average and adaptive pooling") {
    using sib::nn::window2d;
    struct pool_case {
        window2d win;
        bool count_pad;
        sib::shape input;
    };
    const pool_case cases[] = {
        {window2d::square(2, 2), true, {1, 1, 5, 5}},       {window2d::square(3, 2, 1), true, {2, 3, 7, 8}},
        {window2d::square(3, 2, 1), false, {2, 3, 7, 8}},   {window2d::square(3, 3), true, {1, 2, 10, 9}},
        {window2d::square(2, 1, 1), false, {2, 2, 5, 6}},   {window2d::square(4, 3, 2), false, {1, 1, 9, 11}},
        {window2d::square(5, 1, 2), true, {2, 1, 9, 7}},    {window2d{2, 3, 2, 1, 1, 1}, false, {1, 2, 6, 7}},
    };
    std::uint64_t seed = 30;
    for (const auto& c : cases) {
        sib::nn::max_pool2d<double, TB> mp(c.win);
        sib::nn::avg_pool2d<double, TB> ap(c.win, c.count_pad);
        CAPTURE(ap.name());
        check_layer_rules_on_backend(mp, c.input, ++seed);
        check_layer_rules_on_backend(ap, c.input, ++seed);
    }
    struct adaptive_case {
        index_t oh, ow;
        sib::shape input;
    };
    for (const adaptive_case& c : {adaptive_case{1, 1, {2, 3, 5, 7}}, adaptive_case{3, 2, {1, 2, 7, 5}},
                                  adaptive_case{4, 4, {1, 1, 3, 3}}, adaptive_case{2, 3, {2, 1, 6, 9}}}) {
        sib::nn::adaptive_avg_pool2d<double, TB> l(c.oh, c.ow);
        CAPTURE(l.name());
        check_layer_rules_on_backend(l, c.input, ++seed);
    }
}

TEST_CASE("thrust layers: activations, with their curvature") {
    using namespace sib::nn;
    const sib::shape shapes[] = {{1, 7}, {5, 3}, {2, 3, 5, 5}, {3, 2, 1, 7}};
    std::uint64_t seed = 11;
    for (const auto& s : shapes) {
        CAPTURE(s.str());
        leaky_relu<double, TB> lr(0.2);
        check_layer_rules_on_backend(lr, s, ++seed);
        sib::nn::tanh<double, TB> th;
        check_layer_rules_on_backend(th, s, ++seed, {.input_scale = 3.0});
        sigmoid<double, TB> sg;
        check_layer_rules_on_backend(sg, s, ++seed, {.input_scale = 4.0});
        gelu<double, TB> ge;
        check_layer_rules_on_backend(ge, s, ++seed, {.input_scale = 3.0});
        softplus<double, TB> sp(2.0, 3.0);  // both sides of the threshold
        check_layer_rules_on_backend(sp, s, ++seed, {.input_scale = 2.0});
    }
}

TEST_CASE("thrust layers: batch_norm2d in training and evaluation, dropout with a frozen mask") {
    const sib::shape shapes[] = {{2, 4, 4, 5}, {1, 4, 3, 3}, {3, 4, 1, 2}, {2, 4, 1, 1}};
    for (bool affine : {true, false}) {
        for (bool training : {true, false}) {
            CAPTURE(affine);
            CAPTURE(training);
            std::uint64_t seed = 21;
            for (const auto& s : shapes) {
                CAPTURE(s.str());
                sib::nn::batch_norm2d<double, TB> bn(4, 1e-5, 0.1, affine);
                bn.training = training;
                check_batch_norm(bn, s, seed++);
            }
        }
    }
    sib::nn::batch_norm2d<double, TB> far(3, 0.5, 0.1);
    check_batch_norm(far, {2, 3, 3, 4}, 9, {.input_scale = 10.0});
    for (const sib::shape s : {sib::shape{1, 7}, sib::shape{2, 3, 4, 5}}) {
        sib::nn::dropout<double, TB> d(0.3, 8);
        d.freeze_mask = true;
        check_layer_rules_on_backend(d, s);
    }
}

TEST_CASE("thrust layers: a residual block (inner sweeps on the backend)") {
    using namespace sib::nn;
    residual block(conv2d<double, TB>(3, 3, 3, 1, 1), sib::nn::tanh<double, TB>{}, conv2d<double, TB>(3, 3, 1));
    check_randomized(block, {2, 3, 5, 4}, 4);
    check_randomized(block, {1, 3, 3, 3}, 9);
}

// ---- layers in float32: every rule equals the CPU backend's ---------------------------------------

namespace {

// Runs forward, vjp, jvp, curvature, param_vjp and mixed of the single layer of `spec` on both
// backends from the same parameters and inputs, and compares every result.
template <class T>
void expect_rules_match_cpu(const std::string& spec, const sib::shape& in, std::uint64_t seed) {
    CAPTURE(spec);
    sib::models::spec_model<T> mc(spec);
    sib::models::spec_model<T, TB> md(spec);
    sib::rng r(seed);
    sib::optim::pytorch_default(mc, r);
    copy_parameters(mc, md);
    const sib::shape out = mc.output_shape(in);
    auto x = random_pair<T>(in, r), gy = random_pair<T>(out, r), tx = random_pair<T>(in, r);
    sib::tensor<T> yc(out), gxc(in), tyc(out), axc(in, T(0));
    sib::tensor<T, TB> yd(out), gxd(in), tyd(out), axd(in, T(0));
    auto run = [&](auto& m, const auto& xx, const auto& gg, const auto& tt, auto& y, auto& gx, auto& ty, auto& ax) {
        m.for_each_layer([&](auto& l, int) {
            l.forward(xx, y);
            l.vjp(xx, y, gg, gx);
            l.jvp(xx, y, tt, ty);
            l.curvature(xx, y, tt, gg, ax);
            l.param_vjp(xx, y, gg);
            l.mixed(xx, y, tt, gg);
        });
    };
    run(mc, x.cpu, gy.cpu, tx.cpu, yc, gxc, tyc, axc);
    run(md, x.dev, gy.dev, tx.dev, yd, gxd, tyd, axd);
    expect_same(yd, yc, "forward");
    expect_same(gxd, gxc, "vjp");
    expect_same(tyd, tyc, "jvp");
    expect_same(axd, axc, "curvature");
    expect_same_parameters(md, mc, true, "param_vjp + mixed");
}

}  // namespace

TEST_CASE_TEMPLATE("thrust layers: every rule equals the CPU backend's", T, float, double) {
    const std::pair<const char*, sib::shape> cases[] = {
        {"Conv2d(2,3,3,stride=2,padding=1)", {2, 2, 7, 6}},
        {"Conv2d(3,2,(2,3),stride=(1,2),padding=(0,1),bias=False)", {1, 3, 6, 7}},
        {"Linear(12,5)", {3, 12}},
        {"ReLU", {2, 3, 4, 5}},
        {"LeakyReLU(0.2)", {2, 3, 4, 5}},
        {"Tanh", {2, 3, 4, 5}},
        {"Sigmoid", {2, 3, 4, 5}},
        {"GELU", {2, 3, 4, 5}},
        {"Softplus(2,3)", {2, 3, 4, 5}},
        {"MaxPool2d(3,stride=2,padding=1)", {2, 3, 7, 8}},
        {"AvgPool2d(3,stride=1,padding=1,count_include_pad=False)", {2, 3, 5, 6}},
        {"AdaptiveAvgPool2d((2,3))", {2, 3, 7, 8}},
        {"Flatten", {2, 3, 4, 5}},
        {"BatchNorm2d(3)", {4, 3, 5, 6}},
    };
    std::uint64_t seed = 100;
    for (const auto& [spec, in] : cases) expect_rules_match_cpu<T>(spec, in, ++seed);
}

// ---- S-IB pieces: the backend gives the CPU backend's numbers ---------------------------------------

TEST_CASE_TEMPLATE("thrust mask: soft quantile and density mask equal the CPU backend's", T, float, double) {
    sib::rng r(5);
    {
        // Ties in the rows: the permutation must match for the scatter in vjp to.
        std::vector<T> v(4 * 9);
        for (auto& e : v) e = static_cast<T>(static_cast<int>(r.below(4)));
        sib::tensor<T> vc({4, 9}, v);
        auto vd = to_backend<TB>(vc);
        sib::masks::soft_quantile<T> qc(0.8, 0.1);
        sib::masks::soft_quantile<T, TB> qd(0.8, 0.1);
        sib::tensor<T> oc;
        sib::tensor<T, TB> od;
        qc.forward(vc, oc);
        qd.forward(vd, od);
        expect_same(od, oc, "soft quantile");
        auto gbar = random_pair<T>({4}, r);
        sib::tensor<T> bc({4, 9}, T(0.5));
        sib::tensor<T, TB> bd({4, 9}, T(0.5));
        qc.vjp(gbar.cpu, bc);
        qd.vjp(gbar.dev, bd);
        expect_same(bd, bc, "soft quantile vjp");
    }
    for (index_t window : {1, 3, 5, 0}) {
        for (const sib::shape s : {sib::shape{2, 1, 8, 8}, sib::shape{3, 3, 7, 9}, sib::shape{1, 2, 28, 28}}) {
            CAPTURE(window);
            CAPTURE(s.str());
            sib::masks::density_mask_options o;
            o.window = window;
            sib::masks::density_mask<T> mc(o);
            sib::masks::density_mask<T, TB> md(o);
            auto R = random_pair<T>(s, r);
            sib::tensor<T> Mc;
            sib::tensor<T, TB> Md;
            mc.forward(R.cpu, Mc);
            md.forward(R.dev, Md);
            expect_same(Md, Mc, "M");
            auto Mbar = random_pair<T>(Mc.shape(), r);
            sib::tensor<T> Rbc(s, T(0.25));
            sib::tensor<T, TB> Rbd(s, T(0.25));
            mc.vjp(Mbar.cpu, Rbc);
            md.vjp(Mbar.dev, Rbd);
            expect_same(Rbd, Rbc, "Rbar");
        }
    }
}

namespace {

template <template <class, class> class E, class T>
void expect_estimator_matches_cpu(const char* name, E<T, sib::cpu> ec, E<T, TB> ed, std::uint64_t seed) {
    CAPTURE(name);
    sib::rng r(seed);
    auto u = random_pair<T>({6, 2, 5}, r), v = random_pair<T>({6, 7}, r);
    expect_same_value<T>(static_cast<double>(ed.value(u.dev, v.dev)), static_cast<double>(ec.value(u.cpu, v.cpu)),
                         "value");
    sib::tensor<T> duc, dvc;
    sib::tensor<T, TB> dud, dvd;
    ec.vjp(u.cpu, v.cpu, T(0.7), duc, dvc);
    ed.vjp(u.dev, v.dev, T(0.7), dud, dvd);
    expect_same(dud, duc, "dU");
    expect_same(dvd, dvc, "dV");
    ed.vjp(u.dev, v.dev, T(0.7), dud);
    expect_same(dud, duc, "dU alone");
}

}  // namespace

TEST_CASE_TEMPLATE("thrust estimators: HSIC (linear, RBF, unbiased), CKA, variance, normalize_rows", T, float, double) {
    expect_estimator_matches_cpu<sib::mi::hsic_linear, T>("hsic_linear", {}, {}, 1);
    expect_estimator_matches_cpu<sib::mi::hsic_rbf, T>("hsic_rbf median", sib::mi::hsic_rbf<T>(), sib::mi::hsic_rbf<T, TB>(), 2);
    expect_estimator_matches_cpu<sib::mi::hsic_rbf, T>("hsic_rbf fixed", sib::mi::hsic_rbf<T>(1.5, 0.7),
                                                   sib::mi::hsic_rbf<T, TB>(1.5, 0.7), 3);
    expect_estimator_matches_cpu<sib::mi::hsic_unbiased, T>("hsic_unbiased", {}, {}, 4);
    expect_estimator_matches_cpu<sib::mi::cka, T>("cka", {}, {}, 5);
    expect_estimator_matches_cpu<sib::mi::variance_proxy, T>("variance_proxy", {}, {}, 6);
    sib::rng r(7);
    auto a = random_pair<T>({3, 2, 4}, r), g = random_pair<T>({3, 2, 4}, r);
    sib::mi::normalize_rows<T> nc;
    sib::mi::normalize_rows<T, TB> nd;
    sib::tensor<T> uc, bc;
    sib::tensor<T, TB> ud, bd;
    nc.forward(a.cpu, uc);
    nd.forward(a.dev, ud);
    expect_same(ud, uc, "normalize_rows");
    nc.vjp(a.cpu, uc, g.cpu, bc);
    nd.vjp(a.dev, ud, g.dev, bd);
    expect_same(bd, bc, "normalize_rows vjp");
}

TEST_CASE_TEMPLATE("thrust loss: cross entropy, label check and the three decoders", T, float, double) {
    sib::rng r(8);
    auto z = random_pair<T>({5, 4}, r, 2.0), t = random_pair<T>({5, 4}, r);
    const std::vector<std::int64_t> labels{0, 3, 1, 1, 2};
    sib::tensor<std::int64_t> yc({5}, labels);
    sib::tensor<std::int64_t, TB> yd({5}, labels);
    sib::tensor<T> dzc({5, 4}, T(0.1));
    sib::tensor<T, TB> dzd({5, 4}, T(0.1));
    expect_same_value<T>(sib::loss::cross_entropy(z.dev, yd, &dzd, T(0.5)), sib::loss::cross_entropy(z.cpu, yc, &dzc, T(0.5)),
                         "cross entropy");
    expect_same(dzd, dzc, "d cross entropy");
    sib::loss::check_labels(yd, 4);
    CHECK_THROWS_WITH_AS(sib::loss::check_labels(yd, 3), "label 3 at index 1 is out of range for 3 classes", sib::error);
    auto decoders = [&](const auto& d, const char* name) {
        CAPTURE(name);
        sib::tensor<T> sc({5, 4});
        sib::tensor<T, TB> sd({5, 4});
        d.seed(z.cpu, yc, sc);
        d.seed(z.dev, yd, sd);
        expect_same(sd, sc, "seed");
        sib::tensor<T> hc({5, 4}, T(0.3));
        sib::tensor<T, TB> hd({5, 4}, T(0.3));
        d.hvp(z.cpu, yc, t.cpu, hc);
        d.hvp(z.dev, yd, t.dev, hd);
        expect_same(hd, hc, "hvp");
    };
    decoders(sib::decoders::softmax_energy{}, "softmax energy");
    decoders(sib::decoders::target_log_prob{}, "target log-probability");
    decoders(sib::decoders::target_logit{}, "target logit");
    decoders(sib::decoders::sum_log_prob{}, "sum of log-probabilities");
}

namespace {

const char* const every_layer_spec =
    "Conv2d(2,4,3,padding=1,bias=False); BatchNorm2d(4); ReLU; MaxPool2d(2); Conv2d(4,4,3,stride=1,padding=1); "
    "GELU; AvgPool2d(3,stride=1,padding=1); Tanh; Conv2d(4,3,1); Softplus; AdaptiveAvgPool2d((2,2)); "
    "Sigmoid; Flatten; Linear(12,6); LeakyReLU(0.1); Linear(6,5)";

}  // namespace

namespace {

// One objective step on both backends from the same weights and batch; every value, array and
// gradient compared. `annotated` passes ground-truth foreground masks (for RRR).
template <class T, class Ec, class Ed, class D>
void expect_step_matches_cpu(Ec objective_cpu, Ed objective_dev, D decoder, const char* name, std::uint64_t seed,
                             bool annotated = false) {
    CAPTURE(name);
    sib::models::spec_model<T> mc(every_layer_spec);
    sib::models::spec_model<T, TB> md(every_layer_spec);
    sib::rng r(seed);
    sib::optim::pytorch_default(mc, r);
    copy_parameters(mc, md);
    auto x = random_pair<T>({4, 2, 8, 8}, r);
    const std::vector<std::int64_t> labels{4, 0, 2, 2};
    sib::tensor<std::int64_t> yc({4}, labels);
    sib::tensor<std::int64_t, TB> yd({4}, labels);
    sib::masks::density_mask_options o;
    o.window = 3;
    sib::masks::density_mask<T> maskc(o);
    sib::masks::density_mask<T, TB> maskd(o);
    sib::autodiff::step_workspace<T> wc;
    sib::autodiff::step_workspace<T, TB> wd;
    std::vector<T> fg(4 * 8 * 8);
    for (auto& e : fg) e = r.uniform() < 0.4 ? T(1) : T(0);
    const sib::tensor<T> sc({4, 1, 8, 8}, fg);
    const sib::tensor<T, TB> sd({4, 1, 8, 8}, fg);
    const auto vc = sib::autodiff::objective_step(mc, wc, x.cpu, yc, objective_cpu, maskc, decoder, annotated ? &sc : nullptr);
    const auto vd = sib::autodiff::objective_step(md, wd, x.dev, yd, objective_dev, maskd, decoder, annotated ? &sd : nullptr);
    expect_same_value<T>(vd.total, vc.total, "total");
    expect_same_value<T>(vd.terms["ce"], vc.terms["ce"], "ce");
    if (!std::isnan(static_cast<double>(vc.terms["fg"]))) expect_same_value<T>(vd.terms["fg"], vc.terms["fg"], "fg");
    if (!std::isnan(static_cast<double>(vc.terms["bg"]))) expect_same_value<T>(vd.terms["bg"], vc.terms["bg"], "bg");
    if (!std::isnan(static_cast<double>(vc.terms["fg"]))) {
        expect_same(wd.sweeps.explanation(), wc.sweeps.explanation(), "R");
        expect_same(wd.mask, wc.mask, "M");
    }
    expect_same(wd.sweeps.logits(), wc.sweeps.logits(), "logits");
    expect_same_parameters(md, mc, true, "gradient");
    expect_same_parameters(md, mc, false, "parameters and running statistics");
}

}  // namespace

TEST_CASE_TEMPLATE("thrust objective: a step through every layer, every decoder and objective, equals CPU", T, float,
                   double) {
    using namespace sib::loss;
    const sib::loss::sib_settings linear{2.0, 0.5, shaping::linear};
    expect_step_matches_cpu<T>(sib::loss::sib_objective<T>(), sib::loss::sib_objective<T, TB>(), sib::decoders::softmax_energy{},
                               "S-IB, softmax energy", 1);
    expect_step_matches_cpu<T>(sib::loss::sib_objective<T>(linear), sib::loss::sib_objective<T, TB>(linear),
                               sib::decoders::target_log_prob{}, "S-IB linear, target log-probability", 2);
    expect_step_matches_cpu<T>(sib::loss::sib_objective<T>(), sib::loss::sib_objective<T, TB>(), sib::decoders::target_logit{},
                               "S-IB, target logit", 3);
    expect_step_matches_cpu<T>(ce() + 0.1 * exp(-foreground<T, sib::cpu, sib::mi::hsic_rbf>()) + 10.0 * background<T>(),
                               ce() + 0.1 * exp(-foreground<T, TB, sib::mi::hsic_rbf>()) + 10.0 * background<T, TB>(),
                               sib::decoders::softmax_energy{}, "CE + RBF foreground + background", 4);
    expect_step_matches_cpu<T>(ce() + 0.1 * foreground<T, sib::cpu, sib::mi::cka>(),
                               ce() + 0.1 * foreground<T, TB, sib::mi::cka>(), sib::decoders::softmax_energy{},
                               "CE + CKA foreground", 5);
    expect_step_matches_cpu<T>(ce(), ce(), sib::decoders::softmax_energy{}, "CE alone", 6);
    expect_step_matches_cpu<T>(ce() + 10.0 * right_reasons<T>(), ce() + 10.0 * right_reasons<T, TB>(),
                               sib::decoders::sum_log_prob{}, "right for the right reasons", 7, true);
}

namespace {

// The S-IB step's parts on the CPU and on the device, side by side (the paper's objective, the
// default mask): step() runs one step on each and returns both values, CPU first.
template <class T>
struct sib_step_pair {
    sib::masks::density_mask<T> mask_cpu;
    sib::masks::density_mask<T, TB> mask_dev;
    sib::autodiff::step_workspace<T> ws_cpu;
    sib::autodiff::step_workspace<T, TB> ws_dev;
    sib::loss::sib_objective_t<T> objective_cpu = sib::loss::sib_objective<T>();
    sib::loss::sib_objective_t<T, TB> objective_dev = sib::loss::sib_objective<T, TB>();

    template <class Mc, class Md, class X>
    auto step(Mc& mc, Md& md, const X& x, const sib::tensor<std::int64_t>& yc,
              const sib::tensor<std::int64_t, TB>& yd) {
        auto vc = sib::autodiff::objective_step(mc, ws_cpu, x.cpu, yc, objective_cpu, mask_cpu);
        auto vd = sib::autodiff::objective_step(md, ws_dev, x.dev, yd, objective_dev, mask_dev);
        return std::pair{vc, vd};
    }
};

template <class T, class B>
auto make_residual_model() {
    using namespace sib::nn;
    return sequential(conv2d<T, B>(1, 2, 3, 1, 1), residual(sib::nn::tanh<T, B>{}, conv2d<T, B>(2, 2, 3, 1, 1)),
                      relu<T, B>{}, flatten<T, B>{}, linear<T, B>(2 * 6 * 6, 3));
}

}  // namespace

TEST_CASE_TEMPLATE("thrust objective: a model with a residual block equals CPU", T, float, double) {
    auto mc = make_residual_model<T, sib::cpu>();
    auto md = make_residual_model<T, TB>();
    sib::rng r(2);
    sib::optim::pytorch_default(mc, r);
    copy_parameters(mc, md);
    auto x = random_pair<T>({4, 1, 6, 6}, r);
    const std::vector<std::int64_t> labels{0, 2, 1, 1};
    sib::tensor<std::int64_t> yc({4}, labels);
    sib::tensor<std::int64_t, TB> yd({4}, labels);
    sib_step_pair<T> pair;
    const auto [vc, vd] = pair.step(mc, md, x, yc, yd);
    expect_same_value<T>(vd.total, vc.total, "total");
    expect_same(pair.ws_dev.sweeps.explanation(), pair.ws_cpu.sweeps.explanation(), "R");
    expect_same_parameters(md, mc, true, "gradient");
}

// ---- optimizers, initialisation, data, trainer ----------------------------------------------------

TEST_CASE_TEMPLATE("thrust optim: SGD and AdamW follow the CPU trajectory; init draws the CPU values", T, float,
                   double) {
    // A convolution's bias right before batch normalisation has gradient 0 up to rounding, which no
    // two summation orders agree on: those layers have no bias here.
    const char* spec = "Conv2d(1,3,3,bias=False); BatchNorm2d(3); ReLU; Flatten; Linear(48,4)";
    auto run = [&](auto opt_cpu, auto opt_dev, const char* name) {
        CAPTURE(name);
        sib::models::spec_model<T> mc(spec);
        sib::models::spec_model<T, TB> md(spec);
        sib::rng rc(17), rd(17);
        sib::optim::kaiming_normal(mc, rc);
        sib::optim::kaiming_normal(md, rd);
        expect_same_parameters(md, mc, false, "kaiming_normal");
        sib::rng r(18);
        auto x = random_pair<T>({3, 1, 6, 6}, r);
        const std::vector<std::int64_t> labels{1, 3, 0};
        sib::tensor<std::int64_t> yc({3}, labels);
        sib::tensor<std::int64_t, TB> yd({3}, labels);
        sib_step_pair<T> pair;
        for (int step = 0; step < 4; ++step) {
            opt_cpu.zero_grad(mc);
            opt_dev.zero_grad(md);
            pair.step(mc, md, x, yc, yd);
            opt_cpu.step(mc);
            opt_dev.step(md);
        }
        expect_same_parameters(md, mc, false, "after 4 steps");
        std::vector<std::vector<T>> sc, sd;
        opt_cpu.for_each_state([&](const std::string&, const sib::tensor<T>& v) { sc.push_back(v.to_vector()); });
        opt_dev.for_each_state([&](const std::string&, const sib::tensor<T, TB>& v) { sd.push_back(v.to_vector()); });
        REQUIRE(sc.size() == sd.size());
        for (std::size_t i = 0; i < sc.size(); ++i) CHECK(relative_difference(sd[i], sc[i]) <= same_tolerance<T>());
    };
    sib::optim::sgd_options so;
    so.lr = 0.05;
    so.momentum = 0.9;
    so.nesterov = true;
    so.weight_decay = 1e-3;
    run(sib::optim::sgd<T>(so), sib::optim::sgd<T, TB>(so), "SGD, Nesterov, weight decay");
    sib::optim::adamw_options ao;
    ao.lr = 0.01;
    ao.amsgrad = true;
    run(sib::optim::adamw<T>(ao), sib::optim::adamw<T, TB>(ao), "AdamW, amsgrad");
    sib::models::spec_model<T> pc(spec);
    sib::models::spec_model<T, TB> pd(spec);
    sib::rng r1(4), r2(4);
    sib::optim::pytorch_default(pc, r1);
    sib::optim::pytorch_default(pd, r2);
    expect_same_parameters(pd, pc, false, "pytorch_default");
}

TEST_CASE("thrust data: the batch loader uploads the CPU backend's batches") {
    const auto ds = sib::data::make_shapes(3, true, 10);
    sib::data::loader_options lo;
    lo.batch_size = 4;
    lo.seed = 5;
    lo.crop_padding = 2;
    lo.horizontal_flip = true;
    lo.mean = {0.5};
    lo.std_dev = {0.25};
    sib::data::batch_loader<float> lc(ds, lo);
    sib::data::batch_loader<float, TB> ld(ds, lo);
    lc.set_epoch(1);
    ld.set_epoch(1);
    sib::data::batch<float> bc;
    sib::data::batch<float, TB> bd;
    for (index_t k = 0; k < lc.num_batches(); ++k) {
        lc.load(k, bc);
        ld.load(k, bd);
        CHECK(bd.images.to_vector() == bc.images.to_vector());
        CHECK(bd.labels.to_vector() == bc.labels.to_vector());
        CHECK(bd.masks.to_vector() == bc.masks.to_vector());
        CHECK(bd.indices == bc.indices);
    }
}

TEST_CASE("thrust train: two epochs equal the CPU run, and the checkpoint holds the same weights") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("sib_thrust_train_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto train = sib::data::make_shapes(1, true, 12);
    const auto test = sib::data::make_shapes(1, false, 6);
    const std::string spec = "Conv2d(3,4,3,stride=2,padding=1,bias=False); BatchNorm2d(4); ReLU; MaxPool2d(2); Flatten; "
                             "Linear(256,6)";
    std::ostringstream quiet;
    auto options = [&](const char* file) {
        sib::train::train_options o;
        o.epochs = 2;
        o.batch_size = 4;
        o.seed = 2;
        o.checkpoint = dir / file;
        o.progress = sib::train::progress_mode::plain;
        o.progress_stream = &quiet;
        return o;
    };
    const auto oc = options("cpu.safetensors");
    const auto od = options("dev.safetensors");
    sib::train::run_choice choice;  // S-IB, AdamW
    choice.mask.window = 3;
    auto run = [&](auto& model, const sib::train::train_options& o) {
        return sib::train::with_trainer(model, choice, o, spec, [&](auto& t) {
            t.initialise();
            return t.run(train, test);
        });
    };
    sib::models::spec_model<double> mc(spec);
    sib::models::spec_model<double, TB> md(spec);
    const auto rc = run(mc, oc);
    const auto rd = run(md, od);
    CHECK(rd.steps == rc.steps);
    expect_same_value<double>(rd.train_loss, rc.train_loss, "train loss");
    CHECK(rd.test_accuracy == rc.test_accuracy);
    expect_same_parameters(md, mc, false, "trained weights");
    const auto fc = sib::io::safetensors_file::load(dir / "cpu.safetensors");
    const auto fd = sib::io::safetensors_file::load(dir / "dev.safetensors");
    mc.for_each_parameter([&](std::string_view name, sib::tensor<double>&, sib::tensor<double>*) {
        const std::string n(name);
        CHECK(relative_difference(fd.get<double>(n).to_vector(), fc.get<double>(n).to_vector()) <= 1e-12);
    });
    // And the device model resumes from its own checkpoint.
    sib::models::spec_model<double, TB> mr(spec);
    sib::train::with_trainer(mr, choice, od, spec, [&](auto& t) { t.resume(dir / "dev.safetensors"); });
    expect_same_parameters(mr, md, false, "resumed weights");
    fs::remove_all(dir);
}

TEST_CASE("thrust train: --accumulate 2 on the device equals the CPU run (the gradient accumulator on the backend)") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("sib_thrust_accumulate_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const auto train = sib::data::make_shapes(3, true, 16);
    const auto test = sib::data::make_shapes(3, false, 6);
    const std::string spec = "Conv2d(3,4,3,stride=2,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(256,6)";
    std::ostringstream quiet;
    sib::train::train_options o;
    o.epochs = 1;
    o.batch_size = 8;
    o.accumulate = 2;
    o.seed = 4;
    o.progress_stream = &quiet;
    sib::train::run_choice choice;  // S-IB, AdamW
    choice.mask.window = 3;
    auto run = [&](auto& model, const sib::train::train_options& opt) {
        return sib::train::with_trainer(model, choice, opt, spec, [&](auto& t) {
            t.initialise();
            return t.run(train, test);
        });
    };
    sib::models::spec_model<double> mc(spec);
    sib::models::spec_model<double, TB> md(spec);
    const auto rc = run(mc, o);
    const auto rd = run(md, o);
    CHECK(rd.steps == 2);
    CHECK(rd.steps == rc.steps);
    expect_same_value<double>(rd.train_loss, rc.train_loss, "train loss");
    expect_same_parameters(md, mc, false, "trained weights");
#if defined(SIB_TEST_NCCL)
    // NCCL with one rank on the device: its collectives on device and host arrays leave them as they
    // are, and the trainer holding it trains to the same weights as without it.
    sib::dist::nccl gpu;
    CHECK(gpu.rank() == 0);
    CHECK(gpu.size() == 1);
    sib::tensor<float, TB> v(sib::shape{5}, std::vector<float>{1, -2, 3.5f, 0, 7});
    gpu.all_reduce_sum(v.data(), 5);
    gpu.broadcast(v.data(), 5, 0);
    CHECK(v.to_vector() == std::vector<float>{1, -2, 3.5f, 0, 7});
    std::int64_t flags[2] = {3, 4};
    gpu.all_reduce_sum(flags, 2);
    CHECK(flags[0] == 3);
    CHECK(flags[1] == 4);
    CHECK(sib::dist::failed_ranks(gpu, true).empty());
    gpu.barrier();
    sib::models::spec_model<double, TB> mn(spec);
    auto on = o;
    on.comm = gpu;
    const auto rn = run(mn, on);
    CHECK(rn.steps == rd.steps);
    expect_same_parameters(mn, md, false, "weights trained with NCCL");
#endif
    fs::remove_all(dir);
}

// ---- host traffic of a training step ----------------------------------------------------------------

TEST_CASE("thrust transfers: a training step uploads the batch and reads back scalars only") {
    const auto ds = sib::data::make_shapes(4, true, 24);
    sib::data::loader_options lo;
    lo.batch_size = 6;
    auto count_steps = [&](const std::string& spec) {
        CAPTURE(spec);
        sib::models::spec_model<float, TB> model(spec);
        sib::rng r(1);
        sib::optim::pytorch_default(model, r);
        sib::optim::adamw<float, TB> opt;
        sib::masks::density_mask<float, TB> mask;
        auto objective = sib::loss::sib_objective<float, TB>();
        sib::autodiff::step_workspace<float, TB> ws;
        sib::data::batch_loader<float, TB> loader(ds, lo);
        loader.set_epoch(0);
        sib::data::batch<float, TB> batch;
        auto step = [&](index_t k) {
            loader.load(k, batch);
            opt.zero_grad(model);
            const auto v = sib::autodiff::objective_step(model, ws, batch.images, batch.labels, objective, mask);
            opt.step(model);
            return v;
        };
        step(0);  // the first step creates optimizer state and the soft-quantile weights
        const auto before = TB::transfers.snapshot();
        for (index_t k = 1; k < 4; ++k) CHECK(std::isfinite(static_cast<double>(step(k).total)));
        return TB::transfers.snapshot() - before;
    };
    // Per step: images, labels and masks up (the shapes benchmark has masks). Back: the
    // cross-entropy value, once in the forward and once recomputed by its backward, the HSIC
    // value and the background variance, one double each. No arrays come back.
    const auto plain = count_steps(
        "Conv2d(3,4,3,padding=1,bias=False); BatchNorm2d(4); ReLU; MaxPool2d(2); Conv2d(4,4,3,padding=1); GELU; "
        "AdaptiveAvgPool2d(2); Flatten; Linear(16,6)");
    CHECK(plain.from_host == 3 * 3);
    CHECK(plain.to_host == 0);
    CHECK(plain.scalar_readbacks == 3 * 4);
    CHECK(plain.bytes_from_host == 3 * (6 * 3 * 32 * 32 * 4 + 6 * 8 + 6 * 32 * 32 * 4));
    // Dropout draws its mask on the host (the same masks on every backend for a seed): one more
    // upload per step.
    const auto with_dropout = count_steps("Conv2d(3,4,3,padding=1); ReLU; Dropout(0.25); Flatten; Linear(4096,6)");
    CHECK(with_dropout.from_host == 3 * 4);
    CHECK(with_dropout.to_host == 0);
}
