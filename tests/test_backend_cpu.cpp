// The CPU backend's primitives against direct loops: GEMM in all four transpose combinations on
// the tiny, vector, packed and split paths (with padded leading dimensions, alpha and beta), the
// strided batched GEMM and its fallback for backends without it, the stable segmented sort (ties,
// signed zeros, infinities, NaN), and results that do not depend on the thread count.
#include "support/gradcheck.hpp"
#include <sib/backend/cpu/cpu.hpp>
#include <sib/backend/gemm_batched.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/core/concepts.hpp>
#include <sib/layers/relu.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using sib::index_t;

namespace {

// Restores the thread count a test changed.
struct thread_count_guard {
    int saved = sib::num_threads();
    ~thread_count_guard() { sib::set_num_threads(saved); }
};

template <class T>
std::vector<T> random_values(std::size_t n, sib::rng& r) {
    std::vector<T> v(n);
    for (auto& e : v) e = static_cast<T>(r.normal());
    return v;
}

struct gemm_case {
    bool ta, tb;
    index_t m, n, k;
    index_t pad;  // extra columns of every leading dimension
    double alpha, beta;
};

// C = alpha op(A) op(B) + beta C in long double, from the same stored operands.
template <class T>
std::vector<double> naive_gemm(const gemm_case& g, const std::vector<T>& a, index_t lda,
                               const std::vector<T>& b, index_t ldb, const std::vector<T>& c, index_t ldc) {
    std::vector<double> out(c.begin(), c.end());
    for (index_t i = 0; i < g.m; ++i)
        for (index_t j = 0; j < g.n; ++j) {
            long double s = 0;
            for (index_t l = 0; l < g.k; ++l) {
                const T av = g.ta ? a[l * lda + i] : a[i * lda + l];
                const T bv = g.tb ? b[j * ldb + l] : b[l * ldb + j];
                s += static_cast<long double>(av) * bv;
            }
            const double old = g.beta == 0 ? 0.0 : g.beta * static_cast<double>(c[i * ldc + j]);
            out[i * ldc + j] = static_cast<double>(g.alpha * s) + old;
        }
    return out;
}

template <class T>
std::vector<T> run_gemm(const gemm_case& g, const std::vector<T>& a, index_t lda, const std::vector<T>& b,
                        index_t ldb, std::vector<T> c, index_t ldc) {
    sib::cpu::gemm(g.ta, g.tb, g.m, g.n, g.k, static_cast<T>(g.alpha), a.data(), lda, b.data(), ldb,
                   static_cast<T>(g.beta), c.data(), ldc);
    return c;
}

const std::vector<gemm_case> gemm_cases = {
    {false, false, 3, 4, 5, 0, 1.0, 0.0},        // tiny: Eigen's coefficient-wise path
    {false, true, 1, 40, 30, 2, 1.0, 1.0},       // one row: GEMV
    {true, false, 33, 1, 25, 1, -0.5, 0.5},      // one column: GEMV
    {false, false, 37, 29, 41, 3, 0.5, -0.25},   // packed, odd sizes
    {true, false, 37, 29, 41, 0, 1.0, 0.0},
    {false, true, 29, 37, 41, 1, 1.0, 1.0},
    {true, true, 29, 37, 41, 2, 2.0, 0.0},
    {false, false, 200, 150, 90, 1, 1.0, 0.0},   // large enough to be split between threads
    {true, true, 150, 200, 90, 0, 0.5, 1.0},
    {false, true, 64, 300, 80, 0, 1.0, 1.0},     // split along the columns
    {false, false, 200, 150, 90, 2, 1.0, -0.25}, // split: each block scales its own rows of C
    {false, true, 64, 300, 80, 1, 0.5, 0.0},     // split: each block clears its own columns of C
    {true, false, 7, 9, 0, 0, 1.0, 0.5},         // k = 0: only the scaling by beta
};

}  // namespace

// The backend concept names every primitive the layers call: a backend missing one fails the
// concept (and so every layer on it), not a rule deep inside a layer.
namespace {
struct cpu_without_reduce_sum : sib::cpu {
    static void reduce_sum() = delete;
};
struct cpu_without_concurrency : sib::cpu {
    static void concurrency() = delete;
};
}  // namespace
static_assert(sib::backend<sib::cpu>);
static_assert(!sib::backend<cpu_without_reduce_sum>);
static_assert(!sib::backend<cpu_without_concurrency>);
static_assert(sib::layer<sib::nn::relu<float>>);
static_assert(!sib::layer<sib::nn::relu<float, cpu_without_reduce_sum>>);

TEST_CASE("cpu copy and fill: spans shared among threads cover every element once") {
    thread_count_guard guard;
    // Three whole spans and a partial one, with a sentinel after the end.
    const index_t n = 3 * sib::cpu::copy_span + 17;
    std::vector<float> src(static_cast<std::size_t>(n)), dst(static_cast<std::size_t>(n) + 1, -1.0f);
    for (index_t i = 0; i < n; ++i) src[static_cast<std::size_t>(i)] = static_cast<float>(i % 1009);
    for (int threads : {1, 2}) {
        sib::set_num_threads(threads);
        sib::cpu::copy(n, src.data(), dst.data());
        CHECK(std::equal(src.begin(), src.end(), dst.begin()));
        CHECK(dst.back() == -1.0f);
        sib::cpu::fill(n, dst.data(), 2.5f);
        CHECK(std::all_of(dst.begin(), dst.end() - 1, [](float v) { return v == 2.5f; }));
        CHECK(dst.back() == -1.0f);
    }
}

TEST_CASE("cpu gemm: every transpose combination and path against direct loops") {
    thread_count_guard guard;
    sib::rng r(1);
    for (int threads : {1, 2}) {
        sib::set_num_threads(threads);
        for (const auto& g : gemm_cases) {
            INFO("threads ", threads, " ta ", g.ta, " tb ", g.tb, " m ", g.m, " n ", g.n, " k ", g.k);
            const index_t lda = (g.ta ? g.m : g.k) + g.pad, ldb = (g.tb ? g.k : g.n) + g.pad, ldc = g.n + g.pad;
            const auto a = random_values<double>(static_cast<std::size_t>((g.ta ? g.k : g.m) * lda), r);
            const auto b = random_values<double>(static_cast<std::size_t>((g.tb ? g.n : g.k) * ldb), r);
            auto c = random_values<double>(static_cast<std::size_t>(g.m * ldc), r);
            // beta = 0 must clear C, NaN included (as BLAS does).
            if (g.beta == 0 && g.m * g.n > 0)
                c[0] = c[static_cast<std::size_t>((g.m - 1) * ldc + g.n - 1)] = std::numeric_limits<double>::quiet_NaN();
            const auto want = naive_gemm(g, a, lda, b, ldb, c, ldc);
            const auto got = run_gemm(g, a, lda, b, ldb, c, ldc);
            sibtest::expect_close(std::vector<double>(got.begin(), got.end()), want, 1e-12, 1e-12, "gemm double");
            // float against the double reference: rounding of float only.
            const std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end()), cf(c.begin(), c.end());
            const auto gotf = run_gemm(g, af, lda, bf, ldb, cf, ldc);
            sibtest::expect_close(std::vector<double>(gotf.begin(), gotf.end()), want, 1e-4, 1e-4, "gemm float");
        }
    }
}

TEST_CASE("cpu gemm: the same bits with one and with two threads") {
    thread_count_guard guard;
    sib::rng r(2);
    for (const auto& g : gemm_cases) {
        INFO("ta ", g.ta, " tb ", g.tb, " m ", g.m, " n ", g.n, " k ", g.k);
        const index_t lda = (g.ta ? g.m : g.k) + g.pad, ldb = (g.tb ? g.k : g.n) + g.pad, ldc = g.n + g.pad;
        const auto a = random_values<float>(static_cast<std::size_t>((g.ta ? g.k : g.m) * lda), r);
        const auto b = random_values<float>(static_cast<std::size_t>((g.tb ? g.n : g.k) * ldb), r);
        const auto c = random_values<float>(static_cast<std::size_t>(g.m * ldc), r);
        sib::set_num_threads(1);
        const auto one = run_gemm(g, a, lda, b, ldb, c, ldc);
        sib::set_num_threads(2);
        const auto two = run_gemm(g, a, lda, b, ldb, c, ldc);
        CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
    }
}

namespace {
// A backend with gemm only, as a device backend may be: sib::gemm_batched must loop over gemm.
struct gemm_only {
    template <class T>
    static void gemm(bool ta, bool tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                     const T* b, index_t ldb, T beta, T* c, index_t ldc) {
        sib::cpu::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
};
}  // namespace

TEST_CASE("cpu gemm_batched: equals one gemm per product, shared operands included; so does the fallback") {
    thread_count_guard guard;
    sib::rng r(3);
    const index_t m = 13, n = 21, k = 17, count = 7;
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (index_t stride_a : {index_t(0), m * k}) {
                INFO("ta ", ta, " tb ", tb, " stride_a ", stride_a);
                const auto a = random_values<double>(static_cast<std::size_t>(m * k * count), r);
                const auto b = random_values<double>(static_cast<std::size_t>(k * n * count), r);
                const auto c0 = random_values<double>(static_cast<std::size_t>(m * n * count), r);
                const index_t lda = ta ? m : k, ldb = tb ? k : n;
                std::vector<double> want = c0;
                for (index_t i = 0; i < count; ++i)
                    sib::cpu::gemm(ta, tb, m, n, k, 0.75, a.data() + i * stride_a, lda, b.data() + i * k * n, ldb,
                                   0.5, want.data() + i * m * n, n);
                for (int threads : {1, 2}) {
                    sib::set_num_threads(threads);
                    std::vector<double> got = c0, fallback = c0;
                    sib::cpu::gemm_batched(ta, tb, m, n, k, 0.75, a.data(), lda, stride_a, b.data(), ldb, k * n, 0.5,
                                           got.data(), n, m * n, count);
                    sib::gemm_batched<gemm_only>(ta, tb, m, n, k, 0.75, a.data(), lda, stride_a, b.data(), ldb, k * n,
                                                 0.5, fallback.data(), n, m * n, count);
                    CHECK(got == want);
                    CHECK(fallback == want);
                }
            }
}

namespace {
// The order segmented_sort promises: ascending, -0 equal to +0, NaN after everything, and ties
// (NaNs among themselves included) in index order.
template <class T>
std::vector<index_t> reference_argsort(const T* row, index_t len) {
    std::vector<index_t> p(static_cast<std::size_t>(len));
    for (index_t i = 0; i < len; ++i) p[static_cast<std::size_t>(i)] = i;
    std::stable_sort(p.begin(), p.end(), [row](index_t i, index_t j) {
        const bool in = std::isnan(row[i]), jn = std::isnan(row[j]);
        if (in || jn) return !in && jn;
        return row[i] < row[j];
    });
    return p;
}

template <class T>
void check_sort(index_t segments, index_t len, sib::rng& r) {
    INFO("segments ", segments, " len ", len, " ", sizeof(T) == 4 ? "float" : "double");
    std::vector<T> keys(static_cast<std::size_t>(segments * len));
    const T specials[] = {T(0), T(-0.0), std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                          std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::quiet_NaN(),
                          std::numeric_limits<T>::denorm_min(), -std::numeric_limits<T>::max()};
    for (auto& k : keys) {
        const double u = r.uniform();
        if (u < 0.15)
            k = specials[r.below(8)];
        else if (u < 0.5)
            k = static_cast<T>(static_cast<double>(r.below(7)) - 3.0);  // many ties
        else
            k = static_cast<T>(r.normal() * 100.0);
    }
    std::vector<T> sorted(keys.size());
    std::vector<index_t> perm(keys.size());
    sib::cpu::segmented_sort(keys.data(), sorted.data(), perm.data(), segments, len);
    for (index_t s = 0; s < segments; ++s) {
        const T* row = keys.data() + s * len;
        const auto want = reference_argsort(row, len);
        for (index_t i = 0; i < len; ++i) {
            const auto at = static_cast<std::size_t>(s * len + i);
            REQUIRE_MESSAGE(perm[at] == want[static_cast<std::size_t>(i)], "segment ", s, " position ", i);
            const T v = row[perm[at]];
            CHECK(std::memcmp(&sorted[at], &v, sizeof(T)) == 0);
        }
    }
}
}  // namespace

TEST_CASE("cpu segmented_sort: stable ascending order with signed zeros, infinities and NaN last") {
    thread_count_guard guard;
    sib::rng r(4);
    for (int threads : {1, 2}) {
        sib::set_num_threads(threads);
        for (index_t len : {1, 2, 3, 255, 256, 257, 1000}) {
            check_sort<float>(5, len, r);
            check_sort<double>(3, len, r);
        }
        check_sort<float>(64, 784, r);  // the density mask's rows at 28 x 28, on the parallel path
    }
    std::vector<float> none;
    std::vector<index_t> no_perm;
    sib::cpu::segmented_sort(none.data(), none.data(), no_perm.data(), 0, 5);  // nothing to do
}

TEST_CASE("cpu concurrency: the thread count outside a parallel region, one inside") {
    thread_count_guard guard;
    sib::set_num_threads(2);
    CHECK(sib::cpu::concurrency() == 2);
    std::vector<index_t> inside(64, -1);
    index_t* p = inside.data();
    sib::cpu::parallel_for(64, [=](index_t i) { p[i] = sib::cpu::concurrency(); }, sib::cpu::parallel_grain);
    for (index_t v : inside) CHECK(v == 1);
    sib::set_num_threads(1);
    CHECK(sib::cpu::concurrency() == 1);
}
