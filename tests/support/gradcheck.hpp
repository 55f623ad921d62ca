// Central-difference checks in float64 of the five layer rules (docs/second-order.md, "Differentiating through
// the decoder"). Every rule is compared element by element against a difference quotient of a
// scalar built from forward and vjp alone, so a wrong rule cannot agree by accident.
#pragma once
#include <doctest/doctest.h>
#include <sib/core/concepts.hpp>
#include <sib/core/rng.hpp>
#include <sib/layers/layer.hpp>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace sibtest {

using dtensor = sib::tensor<double>;

inline dtensor random_tensor(const sib::shape& s, sib::rng& r, double scale = 1.0) {
    dtensor t(s);
    for (auto& v : t) v = r.normal() * scale;
    return t;
}

inline double dot(const dtensor& a, const dtensor& b) {
    double s = 0;
    for (sib::index_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// |a-b| <= atol + rtol*max(|a|,|b|), reported with the failing index.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& want,
                         double rtol, double atol, const std::string& what) {
    REQUIRE_MESSAGE(got.size() == want.size(), what, ": size ", got.size(), " vs ", want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double tol = atol + rtol * std::max(std::abs(got[i]), std::abs(want[i]));
        if (!(std::abs(got[i] - want[i]) <= tol)) {
            FAIL_CHECK(what, "[", i, "]: got ", got[i], " want ", want[i]);
            return;
        }
    }
}

struct gradcheck_options {
    double eps = 1e-6;
    double rtol = 1e-6;
    double atol = 1e-8;
    double input_scale = 1.0;
    bool check_params = true;
};

// Runs forward on a copy of x and returns y.
template <class L>
dtensor run_forward(L& layer, const dtensor& x) {
    dtensor y(layer.output_shape(x.shape()));
    layer.forward(x, y);
    return y;
}

template <class L>
dtensor run_vjp(L& layer, const dtensor& x, const dtensor& gy) {
    dtensor y = run_forward(layer, x);
    dtensor gx(x.shape());
    layer.vjp(x, y, gy, gx);
    return gx;
}

template <class L>
std::vector<dtensor*> parameters_of(L& layer) {
    std::vector<dtensor*> out;
    layer.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        if (g) out.push_back(&v);
    });
    return out;
}
template <class L>
std::vector<dtensor*> gradients_of(L& layer) {
    std::vector<dtensor*> out;
    layer.for_each_parameter([&](std::string_view, dtensor&, dtensor* g) {
        if (g) out.push_back(g);
    });
    return out;
}
template <class L>
void zero_gradients(L& layer) {
    for (auto* g : gradients_of(layer)) g->zero();
}

// Central difference of scalar(x) along every element of `v` (a tensor owned by the caller that
// scalar reads).
template <class F>
std::vector<double> numeric_gradient(dtensor& v, F&& scalar, double eps) {
    std::vector<double> out(static_cast<std::size_t>(v.size()));
    for (sib::index_t i = 0; i < v.size(); ++i) {
        const double keep = v[i];
        v[i] = keep + eps;
        const double fp = scalar();
        v[i] = keep - eps;
        const double fm = scalar();
        v[i] = keep;
        out[static_cast<std::size_t>(i)] = (fp - fm) / (2 * eps);
    }
    return out;
}

// Checks vjp, param_vjp, jvp, mixed and curvature of `layer` at a random input of shape `in`.
template <class L>
void check_layer_rules(L& layer, const sib::shape& in, std::uint64_t seed = 1,
                       gradcheck_options opt = {}) {
    static_assert(sib::check_layer<L>());
    sib::rng r(seed);
    dtensor x = random_tensor(in, r, opt.input_scale);
    const sib::shape out = layer.output_shape(in);
    const dtensor gy = random_tensor(out, r);
    const dtensor tx = random_tensor(in, r);

    // vjp: gx_i = d/dx_i <gy, f(x)>
    {
        const dtensor gx = run_vjp(layer, x, gy);
        auto num = numeric_gradient(x, [&] { return dot(gy, run_forward(layer, x)); }, opt.eps);
        expect_close(gx.to_vector(), num, opt.rtol, opt.atol, "vjp");
    }
    // jvp: ty = d/de f(x + e tx)
    {
        dtensor y = run_forward(layer, x);
        dtensor ty(out);
        layer.jvp(x, y, tx, ty);
        dtensor xp = x, xm = x;
        for (sib::index_t i = 0; i < x.size(); ++i) {
            xp[i] += opt.eps * tx[i];
            xm[i] -= opt.eps * tx[i];
        }
        const dtensor yp = run_forward(layer, xp), ym = run_forward(layer, xm);
        std::vector<double> num(static_cast<std::size_t>(yp.size()));
        for (sib::index_t i = 0; i < yp.size(); ++i) num[i] = (yp[i] - ym[i]) / (2 * opt.eps);
        expect_close(ty.to_vector(), num, opt.rtol, opt.atol, "jvp");
    }
    // curvature: ax_i = d/dx_i <tx, J(x)^T gy>
    {
        dtensor y = run_forward(layer, x);
        dtensor ax(in, 0.0);
        layer.curvature(x, y, tx, gy, ax);
        auto num = numeric_gradient(x, [&] { return dot(tx, run_vjp(layer, x, gy)); }, opt.eps);
        if (!L::has_curvature) {
            for (double v : num) CHECK_MESSAGE(std::abs(v) <= 1e-6, "a layer declared without curvature has curvature ", v);
        }
        expect_close(ax.to_vector(), num, opt.rtol, opt.atol, "curvature");
    }
    if (!opt.check_params) return;
    auto params = parameters_of(layer);
    auto grads = gradients_of(layer);
    // param_vjp: dtheta = d/dtheta <gy, f(x)>
    {
        zero_gradients(layer);
        dtensor y = run_forward(layer, x);
        layer.param_vjp(x, y, gy);
        for (std::size_t p = 0; p < params.size(); ++p) {
            auto num = numeric_gradient(*params[p], [&] { return dot(gy, run_forward(layer, x)); }, opt.eps);
            expect_close(grads[p]->to_vector(), num, opt.rtol, opt.atol, "param_vjp #" + std::to_string(p));
        }
    }
    // mixed: dtheta = d/dtheta <tx, J^T gy>
    {
        zero_gradients(layer);
        dtensor y = run_forward(layer, x);
        layer.mixed(x, y, tx, gy);
        for (std::size_t p = 0; p < params.size(); ++p) {
            auto num = numeric_gradient(*params[p], [&] { return dot(tx, run_vjp(layer, x, gy)); }, opt.eps);
            expect_close(grads[p]->to_vector(), num, opt.rtol, opt.atol, "mixed #" + std::to_string(p));
        }
    }
    // Accumulation: a second call must add, not overwrite.
    if (!params.empty()) {
        zero_gradients(layer);
        dtensor y = run_forward(layer, x);
        layer.param_vjp(x, y, gy);
        const auto once = grads[0]->to_vector();
        layer.param_vjp(x, y, gy);
        std::vector<double> twice_expected(once.size());
        for (std::size_t i = 0; i < once.size(); ++i) twice_expected[i] = 2 * once[i];
        expect_close(grads[0]->to_vector(), twice_expected, 1e-12, 1e-14, "param_vjp accumulates");
    }
}

// Fills every parameter with N(0, scale^2).
template <class L>
void randomize_parameters(L& layer, sib::rng& r, double scale = 0.5) {
    layer.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        if (g)
            for (auto& e : v) e = r.normal() * scale;
    });
}

}  // namespace sibtest
