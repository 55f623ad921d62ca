// The S-IB building blocks of docs/objective.md ("Soft quantile" to "Background term"): soft quantile, density
// mask, the dependence estimators and row normalisation. Every VJP is checked against central
// differences in float64, values and gradients against PyTorch autograd (fixtures), and the density
// mask against the golden masks of the reference implementation.
#include "fixtures/mask_mi_fixtures.hpp"
#include "support/gradcheck.hpp"
#include <sib/core/concepts.hpp>
#include <sib/io/npy.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/masks/soft_quantile.hpp>
#include <sib/mi/cka.hpp>
#include <sib/mi/hsic_linear.hpp>
#include <sib/mi/hsic_rbf.hpp>
#include <sib/mi/hsic_unbiased.hpp>
#include <sib/mi/normalize_rows.hpp>
#include <sib/mi/variance_proxy.hpp>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace sibtest;
namespace fx = mask_mi_fixtures;

static_assert(sib::mi_estimator<sib::mi::hsic_linear<double>>);
static_assert(sib::mi_estimator<sib::mi::hsic_unbiased<float>>);
static_assert(sib::mi_estimator<sib::mi::hsic_rbf<double>>);
static_assert(sib::mi_estimator<sib::mi::cka<float>>);
static_assert(sib::mi_estimator<sib::mi::variance_proxy<double>>);
static_assert(sib::mask<sib::masks::density_mask<double>>);
static_assert(sib::mask<sib::masks::density_mask<float>>);
static_assert(!sib::mask<sib::mi::hsic_linear<double>>);

namespace {

dtensor fixture(const std::vector<long long>& shape, const std::vector<double>& values) {
    return dtensor(sib::shape(shape.begin(), shape.end()), values);
}

std::vector<double> scaled(std::vector<double> v, double s) {
    for (auto& e : v) e *= s;
    return v;
}

template <class T>
std::vector<double> as_double(const sib::tensor<T>& t) {
    const auto v = t.to_vector();
    return {v.begin(), v.end()};
}

}  // namespace

// ---- soft quantile ------------------------------------------------------------------------------

TEST_CASE("soft quantile: weights, value and vjp against PyTorch") {
    struct fixture_case {
        const char* name;
        double q, tau;
        const std::vector<long long>& shape;
        const std::vector<double>&v, &y, &gy, &gv;
    };
    for (const auto& c : {fixture_case{"q=0.8", 0.8, 0.1, fx::sq_q80_v_shape, fx::sq_q80_v, fx::sq_q80_y,
                                       fx::sq_q80_gy, fx::sq_q80_gv},
                          fixture_case{"q=0.05 tau=1", 0.05, 1.0, fx::sq_q05_t1_v_shape, fx::sq_q05_t1_v,
                                       fx::sq_q05_t1_y, fx::sq_q05_t1_gy, fx::sq_q05_t1_gv}}) {
        CAPTURE(c.name);
        sib::masks::soft_quantile<double> sq(c.q, c.tau);
        const dtensor v = fixture(c.shape, c.v);
        dtensor y;
        sq.forward(v, y);
        CHECK(y.shape() == sib::shape{v.dim(0)});
        expect_close(y.to_vector(), c.y, 1e-13, 1e-15, "value");
        double total = 0;
        for (double w : sq.weights()) total += w;
        CHECK(total == doctest::Approx(1.0).epsilon(1e-14));
        dtensor gv(v.shape(), 0.0);
        sq.vjp(dtensor({v.dim(0)}, c.gy), gv);
        expect_close(gv.to_vector(), c.gv, 1e-13, 1e-15, "vjp");
    }
}

TEST_CASE("soft quantile: vjp by central differences, accumulation, hard-quantile limit") {
    sib::rng r(11);
    for (double q : {0.0, 0.3, 0.8, 1.0}) {
        CAPTURE(q);
        sib::masks::soft_quantile<double> sq(q, 0.7);
        dtensor v = random_tensor({3, 8}, r);
        const dtensor gy = random_tensor({3}, r);
        dtensor y;
        sq.forward(v, y);
        dtensor gv(v.shape(), 0.0);
        sq.vjp(gy, gv);
        auto num = numeric_gradient(v, [&] {
            dtensor yy;
            sq.forward(v, yy);
            return dot(gy, yy);
        }, 1e-6);
        expect_close(gv.to_vector(), num, 1e-7, 1e-9, "vjp");
        // The vjp adds: a second call doubles the result.
        sq.forward(v, y);
        sq.vjp(gy, gv);
        expect_close(gv.to_vector(), scaled(num, 2), 1e-7, 1e-9, "vjp accumulates");
    }
    // As tau -> 0 with q(n-1) on an integer, the soft quantile is that order statistic.
    sib::masks::soft_quantile<double> median(0.5, 1e-3);
    dtensor v({1, 5}, std::vector<double>{4, -1, 7, 2, 0});
    dtensor y;
    median.forward(v, y);
    CHECK(y[0] == doctest::Approx(2.0).epsilon(1e-12));
    // A row of one element is its own quantile.
    sib::masks::soft_quantile<double> single(0.8);
    single.forward(dtensor({2, 1}, std::vector<double>{3, -5}), y);
    CHECK(y.to_vector() == std::vector<double>{3, -5});
}

TEST_CASE("soft quantile: rejects bad settings and shapes") {
    CHECK_THROWS_WITH_AS(sib::masks::soft_quantile<double>(1.5), "soft quantile: q must lie in [0, 1], got 1.5", sib::error);
    CHECK_THROWS_WITH_AS(sib::masks::soft_quantile<double>(0.5, 0.0), "soft quantile: temperature must be positive, got 0",
                         sib::error);
    sib::masks::soft_quantile<double> sq(0.5);
    dtensor y;
    CHECK_THROWS_WITH_AS(sq.forward(dtensor({2, 3, 4}), y), "soft quantile: expects [rows, n] with n > 0, got [2,3,4]",
                         sib::error);
}

// ---- density mask -------------------------------------------------------------------------------

namespace {

dtensor mask_of(sib::masks::density_mask<double>& m, const dtensor& r) {
    dtensor out;
    m.forward(r, out);
    return out;
}

// Every element of the vjp against a central difference of <Mbar, M(R)>, plus a directional check.
void check_mask_vjp(const sib::masks::density_mask_options& o, const sib::shape& s, std::uint64_t seed) {
    sib::masks::density_mask<double> m(o);
    sib::rng r(seed);
    dtensor R = random_tensor(s, r);
    const dtensor M = mask_of(m, R);
    const dtensor Mbar = random_tensor(M.shape(), r);
    dtensor Rbar(s, 0.0);
    m.vjp(Mbar, Rbar);
    auto num = numeric_gradient(R, [&] { return dot(Mbar, mask_of(m, R)); }, 1e-6);
    expect_close(Rbar.to_vector(), num, 1e-6, 1e-8, "density mask vjp");
    // J t along a random direction, against <Rbar, t>.
    const dtensor t = random_tensor(s, r);
    dtensor Rp = R, Rm = R;
    for (sib::index_t i = 0; i < R.size(); ++i) {
        Rp[i] += 1e-6 * t[i];
        Rm[i] -= 1e-6 * t[i];
    }
    const double directional = (dot(Mbar, mask_of(m, Rp)) - dot(Mbar, mask_of(m, Rm))) / 2e-6;
    CHECK(dot(Rbar, t) == doctest::Approx(directional).epsilon(1e-6));
}

}  // namespace

TEST_CASE("density mask: vjp by central differences, windows 1, 3, 5 and larger than the image") {
    for (sib::index_t k : {1, 3, 5, 9}) {
        CAPTURE(k);
        sib::masks::density_mask_options o;
        o.window = k;
        check_mask_vjp(o, {2, 2, 6, 7}, 100 + static_cast<std::uint64_t>(k));
    }
    // Other settings, one channel, batch 1, odd sizes.
    sib::masks::density_mask_options o;
    o.window = 3;
    o.temperature = 0.3;
    o.slope = 4;
    o.q_low = 0.1;
    o.q_high = 0.9;
    o.q_intensity = 0.6;
    o.q_density = 0.7;
    check_mask_vjp(o, {1, 1, 5, 3}, 7);
    check_mask_vjp(o, {3, 3, 4, 5}, 8);
}

TEST_CASE("density mask: value and vjp against PyTorch") {
    struct fixture_case {
        const char* name;
        sib::index_t k;
        double tau, slope;
        const std::vector<long long>& shape;
        const std::vector<double>&R, &M, &Mbar, &Rbar;
    };
    for (const auto& c :
         {fixture_case{"k3", 3, 0.1, 10.0, fx::dm_k3_R_shape, fx::dm_k3_R, fx::dm_k3_M, fx::dm_k3_Mbar, fx::dm_k3_Rbar},
          fixture_case{"k5 tau 0.3 slope 4", 5, 0.3, 4.0, fx::dm_k5_t03_s4_R_shape, fx::dm_k5_t03_s4_R,
                       fx::dm_k5_t03_s4_M, fx::dm_k5_t03_s4_Mbar, fx::dm_k5_t03_s4_Rbar}}) {
        CAPTURE(c.name);
        sib::masks::density_mask_options o;
        o.window = c.k;
        o.temperature = c.tau;
        o.slope = c.slope;
        sib::masks::density_mask<double> m(o);
        const dtensor R = fixture(c.shape, c.R);
        const dtensor M = mask_of(m, R);
        CHECK(M.shape() == sib::shape{R.dim(0), 1, R.dim(2), R.dim(3)});
        expect_close(M.to_vector(), c.M, 1e-12, 1e-15, "M");
        dtensor Rbar(R.shape(), 0.0);
        m.vjp(dtensor(M.shape(), c.Mbar), Rbar);
        expect_close(Rbar.to_vector(), c.Rbar, 1e-10, 1e-13, "Rbar");
        // The vjp adds into Rbar.
        m.vjp(dtensor(M.shape(), c.Mbar), Rbar);
        expect_close(Rbar.to_vector(), scaled(c.Rbar, 2), 1e-10, 1e-13, "Rbar accumulates");
    }
}

TEST_CASE("density mask: a window covering the whole image gives a flat mask of 0.5") {
    sib::masks::density_mask_options o;
    o.window = 15;
    sib::masks::density_mask<double> m(o);
    sib::rng r(5);
    const dtensor M = mask_of(m, random_tensor({2, 2, 6, 7}, r));
    for (double v : M) CHECK(v == doctest::Approx(0.5).epsilon(1e-12));
}

TEST_CASE("density mask: default window, and rejected settings and shapes") {
    sib::masks::density_mask<double> m;
    CHECK(m.window_for(28, 28) == 3);
    CHECK(m.window_for(224, 224) == 31);
    CHECK(m.window_for(224, 100) == 13);
    CHECK(m.window_for(6, 6) == 1);
    sib::rng r(1);
    dtensor M;
    m.forward(random_tensor({2, 1, 30, 40}, r), M);
    CHECK(m.window() == 5);
    for (sib::index_t k : {4, 0 - 1, -3}) {
        sib::masks::density_mask_options o;
        o.window = k;
        CHECK_THROWS_WITH_AS(sib::masks::density_mask<double>{o},
                             ("density mask: window must be odd and positive, got " + std::to_string(k)).c_str(),
                             sib::error);
    }
    CHECK_THROWS_WITH_AS(m.forward(dtensor({2, 36}), M), "density mask: expects R [B,C,H,W], got [2,36]", sib::error);
    m.forward(random_tensor({2, 1, 6, 6}, r), M);
    dtensor Rbar({2, 1, 6, 5}, 0.0);
    CHECK_THROWS_WITH_AS(m.vjp(M, Rbar), "density mask: vjp expects Rbar [2,1,6,6], got [2,1,6,5]", sib::error);
}

TEST_CASE("density mask: float32 agrees with float64") {
    sib::masks::density_mask_options o;
    o.window = 3;
    sib::rng r(21);
    const dtensor R = random_tensor({3, 3, 9, 8}, r);
    const dtensor Mbar = random_tensor({3, 1, 9, 8}, r);
    sib::masks::density_mask<double> md(o);
    sib::masks::density_mask<float> mf(o);
    dtensor Md, Rbar_d(R.shape(), 0.0);
    sib::tensor<float> Mf, Rbar_f(R.shape(), 0.0f);
    md.forward(R, Md);
    mf.forward(sib::tensor_cast<float>(R), Mf);
    md.vjp(Mbar, Rbar_d);
    mf.vjp(sib::tensor_cast<float>(Mbar), Rbar_f);
    expect_close(as_double(Mf), Md.to_vector(), 1e-4, 1e-6, "M float32");
    double scale = 0;
    for (double v : Rbar_d) scale = std::max(scale, std::abs(v));
    expect_close(as_double(Rbar_f), Rbar_d.to_vector(), 1e-3, 1e-4 * scale, "Rbar float32");
}

TEST_CASE("density mask: the golden masks of the reference implementation") {
    const std::string root = SIB_GOLDEN_DIR;
    // Each case's mask settings are those in its meta.json; they differ only in the window.
    const std::pair<const char*, sib::index_t> cases[] = {
        {"cnn_1x12x12", 5}, {"cnn_3x8x8_linear", 3}, {"mlp_1x6x6", 3}, {"tanh_avg_2x8x8", 3}};
    for (const auto& [name, window] : cases) {
        CAPTURE(name);
        const std::string dir = root + "/" + name + "/";
        {
            std::ifstream meta(dir + "meta.json");
            const std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
            REQUIRE_MESSAGE(text.find("\"window\": " + std::to_string(window) + ",") != std::string::npos,
                            "golden ", name, ": unexpected window in meta.json");
            for (const char* setting : {"\"temperature\": 0.1,", "\"slope\": 10.0,", "\"q_low\": 0.05,",
                                        "\"q_high\": 0.95,", "\"q_intensity\": 0.8,", "\"q_density\": 0.8"})
                REQUIRE_MESSAGE(text.find(setting) != std::string::npos, "golden ", name, ": meta.json lacks ",
                                setting);
        }
        sib::masks::density_mask_options o;
        o.window = window;
        const auto R = sib::io::load_npy<double>(dir + "R.npy");
        const auto want = sib::io::load_npy<double>(dir + "M.npy");
        sib::masks::density_mask<double> md(o);
        dtensor M;
        md.forward(R, M);
        REQUIRE(M.shape() == want.shape());
        expect_close(M.to_vector(), want.to_vector(), 1e-8, 0, "golden M float64");
        sib::masks::density_mask<float> mf(o);
        sib::tensor<float> Mf;
        mf.forward(sib::tensor_cast<float>(R), Mf);
        expect_close(as_double(Mf), want.to_vector(), 2e-3, 0, "golden M float32");
    }
}

// ---- estimators ---------------------------------------------------------------------------------

namespace {

// dU and dV of `e` against central differences of gbar * value, at random U [b, n], V [b, m].
template <class E>
void check_estimator_vjp(E& e, sib::index_t b, sib::index_t n, sib::index_t m, std::uint64_t seed,
                         double rtol = 1e-6) {
    sib::rng r(seed);
    dtensor U = random_tensor({b, n}, r);
    dtensor V = random_tensor({b, m}, r);
    for (sib::index_t i = 0; i < V.size(); ++i) V[i] += 0.5 * U[i % U.size()];
    const double gbar = 0.7;
    dtensor dU, dV;
    e.vjp(U, V, gbar, dU, dV);
    CHECK(dU.shape() == U.shape());
    CHECK(dV.shape() == V.shape());
    auto num_u = numeric_gradient(U, [&] { return gbar * e.value(U, V); }, 1e-6);
    auto num_v = numeric_gradient(V, [&] { return gbar * e.value(U, V); }, 1e-6);
    expect_close(dU.to_vector(), num_u, rtol, 1e-9, "dU");
    expect_close(dV.to_vector(), num_v, rtol, 1e-9, "dV");
    // The overload without dV gives the same dU; an overwritten dU does not keep old values.
    dtensor dU_only(U.shape(), 123.0);
    e.vjp(U, V, gbar, dU_only);
    expect_close(dU_only.to_vector(), dU.to_vector(), 1e-14, 1e-15, "dU without dV");
}

}  // namespace

TEST_CASE("estimators: vjp by central differences") {
    SUBCASE("hsic_linear") {
        sib::mi::hsic_linear<double> e;
        check_estimator_vjp(e, 6, 5, 4, 1);
        check_estimator_vjp(e, 2, 3, 1, 2);
    }
    SUBCASE("hsic_unbiased") {
        sib::mi::hsic_unbiased<double> e;
        check_estimator_vjp(e, 6, 5, 4, 3);
        check_estimator_vjp(e, 4, 2, 3, 4);
    }
    SUBCASE("hsic_rbf at fixed bandwidths, and the median heuristic's vjp is the one at its sigma") {
        sib::mi::hsic_rbf<double> e(1.3, 0.8);
        check_estimator_vjp(e, 6, 5, 4, 5);
        check_estimator_vjp(e, 3, 1, 2, 6);
        sib::rng r(7);
        const dtensor U = random_tensor({7, 3}, r), V = random_tensor({7, 2}, r);
        sib::mi::hsic_rbf<double> median;
        dtensor dU, dV, dU_fixed, dV_fixed;
        const double v = median.value(U, V);
        median.vjp(U, V, 0.7, dU, dV);
        sib::mi::hsic_rbf<double> fixed(median.last_sigma_u(), median.last_sigma_v());
        CHECK(fixed.value(U, V) == doctest::Approx(v).epsilon(1e-15));
        fixed.vjp(U, V, 0.7, dU_fixed, dV_fixed);
        expect_close(dU.to_vector(), dU_fixed.to_vector(), 1e-15, 0, "median dU");
        expect_close(dV.to_vector(), dV_fixed.to_vector(), 1e-15, 0, "median dV");
    }
    SUBCASE("cka") {
        sib::mi::cka<double> e;
        check_estimator_vjp(e, 6, 5, 4, 8);
        check_estimator_vjp(e, 3, 2, 2, 9);
    }
    SUBCASE("variance_proxy") {
        sib::mi::variance_proxy<double> e;
        check_estimator_vjp(e, 6, 5, 4, 10);
        check_estimator_vjp(e, 1, 2, 1, 11);
    }
}

TEST_CASE("estimators: values and gradients against PyTorch") {
    const dtensor U = fixture(fx::mi_U_shape, fx::mi_U), V = fixture(fx::mi_V_shape, fx::mi_V);
    auto check = [&](auto&& e, double value, const std::vector<double>& du, const std::vector<double>& dv) {
        CHECK(e.value(U, V) == doctest::Approx(value).epsilon(1e-12));
        dtensor dU, dV;
        e.vjp(U, V, fx::mi_gbar, dU, dV);
        expect_close(dU.to_vector(), du, 1e-11, 1e-14, "dU");
        expect_close(dV.to_vector(), dv, 1e-11, 1e-14, "dV");
    };
    SUBCASE("hsic_linear") { check(sib::mi::hsic_linear<double>{}, fx::hsic_linear_value, fx::hsic_linear_dU, fx::hsic_linear_dV); }
    SUBCASE("hsic_unbiased") {
        check(sib::mi::hsic_unbiased<double>{}, fx::hsic_unbiased_value, fx::hsic_unbiased_dU, fx::hsic_unbiased_dV);
    }
    SUBCASE("hsic_rbf") {
        sib::mi::hsic_rbf<double> e;
        check(e, fx::hsic_rbf_value, fx::hsic_rbf_dU, fx::hsic_rbf_dV);
        CHECK(e.last_sigma_u() == doctest::Approx(fx::hsic_rbf_sigma_u).epsilon(1e-13));
        CHECK(e.last_sigma_v() == doctest::Approx(fx::hsic_rbf_sigma_v).epsilon(1e-13));
    }
    SUBCASE("cka") { check(sib::mi::cka<double>{}, fx::cka_value, fx::cka_dU, fx::cka_dV); }
    SUBCASE("variance_proxy") {
        check(sib::mi::variance_proxy<double>{}, fx::variance_proxy_value, fx::variance_proxy_dU, fx::variance_proxy_dV);
    }
}

TEST_CASE("estimators: hand-made values") {
    // U = V = [[1], [-1]]: K = L = [[1,-1],[-1,1]] is already centred, tr(K K) = 4, (B-1)^2 = 1.
    const dtensor pm({2, 1}, std::vector<double>{1, -1});
    CHECK(sib::mi::hsic_linear<double>{}.value(pm, pm) == doctest::Approx(4.0).epsilon(1e-15));

    sib::rng r(3);
    const dtensor U = random_tensor({9, 6}, r), V = random_tensor({9, 4}, r);
    // CKA(U, U) = 1; CKA ignores the scale of either side and lies in [0, 1].
    sib::mi::cka<double> c;
    CHECK(c.value(U, U) == doctest::Approx(1.0).epsilon(1e-14));
    dtensor V3 = V;
    for (auto& e : V3) e *= 3;
    CHECK(c.value(U, V3) == doctest::Approx(c.value(U, V)).epsilon(1e-13));
    CHECK(c.value(U, V) > 0);
    CHECK(c.value(U, V) < 1);
    // At CKA(U, U) = 1, its maximum, the gradient vanishes.
    dtensor dU, dV;
    c.vjp(U, U, 1.0, dU, dV);
    for (double e : dU) CHECK(std::abs(e) < 1e-13);
    // A side with no spread: CKA is 0 with zero gradients, not NaN.
    const dtensor same({9, 3}, 2.0);
    CHECK(c.value(same, V3) == 0.0);
    c.vjp(same, same, 1.0, dU, dV);
    for (double e : dU) CHECK(e == 0.0);

    // HSIC with U = V equals the squared Frobenius norm of the centred Gram matrix / (B-1)^2.
    {
        sib::mi::hsic_linear<double> h;
        std::vector<double> kc(81);
        for (int i = 0; i < 9; ++i)
            for (int j = 0; j < 9; ++j) {
                double s = 0;
                for (int k = 0; k < 6; ++k) s += U[i * 6 + k] * U[j * 6 + k];
                kc[i * 9 + j] = s;
            }
        std::vector<double> row(9, 0);
        double all = 0;
        for (int i = 0; i < 9; ++i) {
            for (int j = 0; j < 9; ++j) row[i] += kc[i * 9 + j] / 9;
            all += row[i] / 9;
        }
        double f = 0;
        for (int i = 0; i < 9; ++i)
            for (int j = 0; j < 9; ++j) f += std::pow(kc[i * 9 + j] - row[i] - row[j] + all, 2);
        CHECK(h.value(U, U) == doctest::Approx(f / 64).epsilon(1e-13));
    }

    // Variance proxy: a constant row has variance 0; [1,2,3,4] has unbiased variance 5/3.
    sib::mi::variance_proxy<double> vp;
    const dtensor rows({2, 4}, std::vector<double>{5, 5, 5, 5, 1, 2, 3, 4});
    CHECK(vp.value(rows, rows) == doctest::Approx((0 + 5.0 / 3) / 2).epsilon(1e-15));
    const dtensor flat({1, 4}, 5.0);
    CHECK(vp.value(flat, flat) == 0.0);
    vp.vjp(flat, rows, 1.0, dU, dV);
    for (double e : dU) CHECK(e == 0.0);
    CHECK(dV.shape() == rows.shape());
    for (double e : dV) CHECK(e == 0.0);

    // Median heuristic with an even number of pairs: distances of {0,1,3,7} are 1,2,3,4,6,7.
    sib::mi::hsic_rbf<double> rbf;
    const dtensor line({4, 1}, std::vector<double>{0, 1, 3, 7});
    rbf.value(line, line);
    CHECK(rbf.last_sigma_u() == 3.5);
    // Identical rows: median 0, sigma falls back to 1, K = 1 1' and HSIC is 0.
    CHECK(rbf.value(same, same) == doctest::Approx(0.0).epsilon(1e-15));
    CHECK(rbf.last_sigma_u() == 1.0);
}

TEST_CASE("estimators: the unbiased HSIC of independent samples averages to 0, the biased one does not") {
    // For independent U, V with N(0, I_3) rows, E[H K H] = 3 H and likewise for L, so
    // E[tr(K H L H)] = 9 tr(H) = 9 (B-1): the biased estimator averages 9 / (B-1), the unbiased one 0.
    // One draw of either has a standard deviation of about sqrt(18) / B, so the test averages 200
    // draws (standard deviation of the mean about 0.006 at B = 50) and allows 5 of them.
    sib::rng r(17);
    const sib::index_t b = 50;
    const int draws = 200;
    double biased = 0, unbiased = 0;
    sib::mi::hsic_linear<double> hb;
    sib::mi::hsic_unbiased<double> hu;
    for (int d = 0; d < draws; ++d) {
        const dtensor U = random_tensor({b, 3}, r), V = random_tensor({b, 3}, r);
        biased += hb.value(U, V) / draws;
        unbiased += hu.value(U, V) / draws;
    }
    CHECK(biased == doctest::Approx(9.0 / (b - 1)).epsilon(0.03 / (9.0 / (b - 1))));
    CHECK(std::abs(unbiased) < 0.03);
    // Dependent samples: both are clearly positive and close to each other.
    const dtensor U = random_tensor({b, 3}, r), V = random_tensor({b, 3}, r);
    dtensor W = U;
    for (sib::index_t i = 0; i < W.size(); ++i) W[i] += 0.1 * V[i];
    const double dep_b = hb.value(U, W), dep_u = hu.value(U, W);
    CHECK(dep_u > 2);
    CHECK(dep_b == doctest::Approx(dep_u).epsilon(0.2));
}

TEST_CASE("estimators: rejected shapes") {
    dtensor du, dv;
    CHECK_THROWS_WITH_AS(sib::mi::hsic_unbiased<double>{}.value(dtensor({3, 2}, 0.0), dtensor({3, 2}, 0.0)),
                         "hsic_unbiased: needs at least 4 rows, got 3", sib::error);
    CHECK_THROWS_WITH_AS(
        sib::mi::hsic_linear<double>{}.vjp(dtensor({4, 2}, 0.0), dtensor({5, 2}, 0.0), 1.0, du, dv),
        "hsic_linear: U and V need one row per sample and the same number of rows, got [4,2] and [5,2]", sib::error);
    CHECK_THROWS_WITH_AS(sib::mi::hsic_rbf<double>{}.value(dtensor({1, 2}, 0.0), dtensor({1, 2}, 0.0)),
                         "hsic_rbf: needs at least 2 rows, got 1", sib::error);
    CHECK_THROWS_WITH_AS(sib::mi::variance_proxy<double>{}.value(dtensor({3, 1}, 0.0), dtensor({3, 1}, 0.0)),
                         "variance_proxy: needs at least one row of at least 2 values, got [3,1]", sib::error);
}

TEST_CASE("estimators: float32 agrees with float64") {
    sib::rng r(23);
    const dtensor U = random_tensor({8, 3, 4, 4}, r), V = random_tensor({8, 2, 4, 4}, r);
    const auto Uf = sib::tensor_cast<float>(U), Vf = sib::tensor_cast<float>(V);
    auto compare = [&](auto&& ed, auto&& ef) {
        CHECK(static_cast<double>(ef.value(Uf, Vf)) == doctest::Approx(ed.value(U, V)).epsilon(1e-5));
        dtensor dU, dV;
        sib::tensor<float> dUf, dVf;
        ed.vjp(U, V, 0.7, dU, dV);
        ef.vjp(Uf, Vf, 0.7f, dUf, dVf);
        CHECK(dU.shape() == U.shape());
        double su = 0, sv = 0;
        for (double e : dU) su = std::max(su, std::abs(e));
        for (double e : dV) sv = std::max(sv, std::abs(e));
        expect_close(as_double(dUf), dU.to_vector(), 1e-4, 1e-5 * su, "dU float32");
        expect_close(as_double(dVf), dV.to_vector(), 1e-4, 1e-5 * sv, "dV float32");
    };
    compare(sib::mi::hsic_linear<double>{}, sib::mi::hsic_linear<float>{});
    compare(sib::mi::hsic_unbiased<double>{}, sib::mi::hsic_unbiased<float>{});
    compare(sib::mi::hsic_rbf<double>{}, sib::mi::hsic_rbf<float>{});
    compare(sib::mi::cka<double>{}, sib::mi::cka<float>{});
    compare(sib::mi::variance_proxy<double>{}, sib::mi::variance_proxy<float>{});
}

// ---- normalize_rows -----------------------------------------------------------------------------

TEST_CASE("normalize_rows: vjp by central differences and against PyTorch") {
    sib::mi::normalize_rows<double> nr;
    sib::rng r(31);
    dtensor A = random_tensor({3, 2, 5}, r);
    const dtensor Ubar = random_tensor(A.shape(), r);
    dtensor U, Abar;
    nr.forward(A, U);
    nr.vjp(A, U, Ubar, Abar);
    auto num = numeric_gradient(A, [&] {
        dtensor u;
        nr.forward(A, u);
        return dot(Ubar, u);
    }, 1e-6);
    expect_close(Abar.to_vector(), num, 1e-7, 1e-9, "vjp");
    for (sib::index_t b = 0; b < 3; ++b) {
        double s = 0;
        for (sib::index_t i = 0; i < 10; ++i) s += U[b * 10 + i] * U[b * 10 + i];
        CHECK(s == doctest::Approx(1.0).epsilon(1e-14));
    }
    // Against F.normalize, including a zero row (the eps branch: u = 0, abar = ubar / 1e-12).
    const dtensor Af = fixture(fx::nr_A_shape, fx::nr_A);
    nr.forward(Af, U);
    expect_close(U.to_vector(), fx::nr_U, 1e-14, 1e-16, "u");
    nr.vjp(Af, U, fixture(fx::nr_Ubar_shape, fx::nr_Ubar), Abar);
    expect_close(Abar.to_vector(), fx::nr_Abar, 1e-13, 1e-15, "abar");
}
