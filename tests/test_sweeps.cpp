// The sweeps and the objective step against central differences of the whole loss in float64,
// with a test term that reads R directly, so the machinery is checked apart from the mask.
#include "support/gradcheck.hpp"
#include <sib/decoders/softmax_energy.hpp>
#include <sib/decoders/target_log_prob.hpp>
#include <sib/decoders/sum_log_prob.hpp>
#include <sib/decoders/target_logit.hpp>
#include <sib/loss/right_reasons.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/branch_sum.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sequential.hpp>
#include <sib/loss/compose.hpp>
#include <sib/autodiff/step.hpp>

using namespace sibtest;
using namespace sib::loss;  // the term operators, for the test term defined here

namespace {
// 0.5 * sum w_i R_i^2 + sum v_i R_i x_i: depends on R (first and second order) and on x.
struct r_probe_term {
    static constexpr bool needs_explanation = true;
    std::vector<double> w, v;
    void report(sib::loss::term_values& out) const { out.add("probe", 0.0); }
    template <class Ctx>
    auto forward(Ctx& c) {
        using T = typename Ctx::value_type;
        const auto& R = *c.R;
        const auto& x = *c.x;
        if (w.empty()) {
            sib::rng r(77);
            for (sib::index_t i = 0; i < R.size(); ++i) {
                w.push_back(r.uniform(0.5, 1.5));
                v.push_back(r.normal());
            }
        }
        double s = 0;
        for (sib::index_t i = 0; i < R.size(); ++i) s += 0.5 * w[i] * R[i] * R[i] + v[i] * R[i] * x[i];
        return static_cast<T>(s);
    }
    template <class Ctx>
    void backward(Ctx& c, double scale) {
        for (sib::index_t i = 0; i < c.R->size(); ++i)
            c.Rbar[i] += scale * (w[i] * (*c.R)[i] + v[i] * (*c.x)[i]);
    }
};
static_assert(sib::loss::loss_term<r_probe_term>);

struct no_mask {
    template <class Tn>
    void forward(const Tn& R, Tn& M) {
        M.resize({R.dim(0), 1});
        M.zero();
    }
    template <class Tn>
    void vjp(const Tn&, Tn&) {}
};

template <class Model, class Expr, class Decoder>
void check_step_gradient(Model& m, const sib::shape& in, Expr expr, Decoder decoder, double rtol = 1e-6) {
    sib::rng r(5);
    const dtensor x = random_tensor(in, r);
    dtensor annotation({in[0], 1, in[2], in[3]});
    for (auto& v : annotation) v = r.uniform() < 0.4 ? 1.0 : 0.0;
    const sib::index_t classes = m.output_shape(in)[1];
    sib::tensor<std::int64_t> y({in[0]});
    for (sib::index_t i = 0; i < in[0]; ++i) y[i] = static_cast<std::int64_t>(r.below(classes));
    sib::autodiff::step_workspace<double> ws;
    no_mask mask;
    m.for_each_parameter([](std::string_view, dtensor&, dtensor* g) { if (g) g->zero(); });
    sib::autodiff::objective_step(m, ws, x, y, expr, mask, decoder, &annotation);
    std::vector<dtensor*> params, grads;
    m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        if (g) { params.push_back(&v); grads.push_back(g); }
    });
    std::vector<dtensor> analytic;
    for (auto* g : grads) analytic.push_back(*g);
    auto loss = [&] {
        sib::autodiff::step_workspace<double> w2;
        for (auto* g : grads) g->zero();
        return static_cast<double>(sib::autodiff::objective_step(m, w2, x, y, expr, mask, decoder, &annotation).total);
    };
    // A central difference of a loss of size |L| carries rounding noise of about 1e-16 |L| / eps.
    const double noise = 1e-16 * std::max(1.0, std::abs(loss())) / 1e-6;
    for (std::size_t p = 0; p < params.size(); ++p) {
        auto num = numeric_gradient(*params[p], loss, 1e-6);
        expect_close(analytic[p].to_vector(), num, rtol, 20 * noise, "d total / d param #" + std::to_string(p));
    }
}
}  // namespace

TEST_CASE("objective step: CE + R terms, every decoder, by central differences") {
    using namespace sib::nn;
    auto make = [] {
        sequential m(flatten<double>{}, linear<double>(12, 7), relu<double>{}, linear<double>(7, 4));
        sib::rng r(11);
        m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
            if (g) for (auto& e : v) e = r.normal() * 0.7;
        });
        return m;
    };
    using sib::loss::ce;
    SUBCASE("softmax energy") {
        auto m = make();
        check_step_gradient(m, {3, 1, 3, 4}, ce() + 2.0 * r_probe_term{}, sib::decoders::softmax_energy{});
    }
    SUBCASE("target log-probability") {
        auto m = make();
        check_step_gradient(m, {3, 1, 3, 4}, ce() + 2.0 * r_probe_term{}, sib::decoders::target_log_prob{});
    }
    SUBCASE("target logit") {
        auto m = make();
        check_step_gradient(m, {1, 1, 3, 4}, ce() + 2.0 * r_probe_term{}, sib::decoders::target_logit{});
    }
    SUBCASE("shaped and negated terms") {
        auto m = make();
        check_step_gradient(m, {2, 1, 3, 4}, ce() + 0.5 * sib::loss::exp(-r_probe_term{}),
                            sib::decoders::softmax_energy{});
    }
    SUBCASE("right for the right reasons, sum of log-probabilities decoder") {
        auto m = make();
        check_step_gradient(m, {3, 1, 3, 4}, ce() + 3.0 * sib::loss::right_reasons<double>(), sib::decoders::sum_log_prob{});
    }
    SUBCASE("cross entropy alone") {
        auto m = make();
        check_step_gradient(m, {5, 1, 3, 4}, ce(), sib::decoders::softmax_energy{});
    }
}

// The tangent and backward sweeps read their seed where it is, not from a copy: a seed that is the
// workspace buffer the first layer writes must still give the same numbers (it is copied first).
TEST_CASE("sweeps: a seed in the buffer the first layer writes gives what a separate seed gives") {
    using namespace sib::nn;
    sequential m(linear<double>(12, 7), relu<double>{}, linear<double>(7, 4));
    sib::rng r(13);
    m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
        if (g) for (auto& e : v) e = r.normal() * 0.7;
    });
    const dtensor x = random_tensor({3, 12}, r), rbar = random_tensor({3, 12}, r),
                  zbar = random_tensor({3, 4}, r), seed = random_tensor({3, 4}, r);
    sib::autodiff::sweep_workspace<double> ws;
    sib::autodiff::forward_sweep(m, ws, x);
    ws.seed() = seed;
    sib::autodiff::decoder_sweep(m, ws);
    const dtensor t_separate = sib::autodiff::tangent_sweep(m, ws, rbar);
    ws.tangent_next = rbar;
    const dtensor t_in_place = sib::autodiff::tangent_sweep(m, ws, ws.tangent_next);
    CHECK(t_in_place.to_vector() == t_separate.to_vector());
    const sib::autodiff::sweep_options opt{.input_gradient = true};
    sib::autodiff::backward_sweep(m, ws, zbar, opt);
    const dtensor a_separate = ws.adjoint;
    ws.adjoint_next = zbar;
    sib::autodiff::backward_sweep(m, ws, ws.adjoint_next, opt);
    CHECK(ws.adjoint.to_vector() == a_separate.to_vector());
    CHECK(a_separate.shape() == x.shape());
}

// Runs every sweep on two copies of a model, storing every output and with sweep_workspace::relu_in_place,
// twice (the second round reuses the buffers): the same bits. Returns the in-place workspace.
template <class Make>
sib::autodiff::sweep_workspace<double> check_in_place_sweeps(Make make, const sib::shape& in, sib::index_t classes) {
    auto m_stored = make(), m_in_place = make();
    sib::rng r(19);
    const dtensor x = random_tensor(in, r), rbar = random_tensor(in, r), zbar = random_tensor({in[0], classes}, r),
                  seed = random_tensor({in[0], classes}, r);
    struct result {
        std::vector<double> logits, explanation, tangent, adjoint, gradients;
    };
    auto run = [&](auto& m, bool in_place, sib::autodiff::sweep_workspace<double>& ws) {
        ws.relu_in_place = in_place;
        m.for_each_parameter([](std::string_view, dtensor&, dtensor* g) { if (g) g->zero(); });
        result out;
        out.logits = sib::autodiff::forward_sweep(m, ws, x).to_vector();
        ws.seed() = seed;
        out.explanation = sib::autodiff::decoder_sweep(m, ws).to_vector();
        out.tangent = sib::autodiff::tangent_sweep(m, ws, rbar).to_vector();
        sib::autodiff::backward_sweep(m, ws, zbar, {.input_gradient = true});
        out.adjoint = ws.adjoint.to_vector();
        m.for_each_parameter([&](std::string_view, dtensor&, dtensor* g) {
            if (g) out.gradients.insert(out.gradients.end(), g->begin(), g->end());
        });
        return out;
    };
    sib::autodiff::sweep_workspace<double> ws_stored, ws_in_place;
    for (int round = 0; round < 2; ++round) {
        const result a = run(m_stored, false, ws_stored), b = run(m_in_place, true, ws_in_place);
        CHECK(a.logits == b.logits);
        CHECK(a.explanation == b.explanation);
        CHECK(a.tangent == b.tangent);
        CHECK(a.adjoint == b.adjoint);
        CHECK(a.gradients == b.gradients);
    }
    return ws_in_place;
}

// A ReLU after a BatchNorm may run in place: the BatchNorm's output slot then stays empty.
TEST_CASE("sweeps: a ReLU in place after a BatchNorm gives the same bits and stores one activation") {
    using namespace sib::nn;
    auto make = [] {
        sequential m(conv2d<double>(2, 3, 3, 1, 1), batch_norm2d<double>(3), relu<double>{}, conv2d<double>(3, 3, 3, 2, 1),
                     batch_norm2d<double>(3), relu<double>{}, relu<double>{}, flatten<double>{}, linear<double>(12, 4));
        sib::rng r(17);
        m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
            if (g) for (auto& e : v) e = r.normal() * 0.7;
        });
        return m;
    };
    const auto ws = check_in_place_sweeps(make, {2, 2, 4, 4}, 4);
    // The ReLUs after the BatchNorms (layers 2 and 5) ran in place, the one after a ReLU did not.
    CHECK(ws.activations[3].size() == 0);
    CHECK(ws.activations[6].size() == 0);
    CHECK(ws.activations[7].size() != 0);
    CHECK(ws.activation(3).size() == ws.activations[2].size());
}

// The same after a residual block, whose rules read its input, not its sum. (Its branch runs its own
// ReLU in place either way; the torchvision and residual tests check that one.)
TEST_CASE("sweeps: a ReLU in place after a residual block gives the same bits") {
    using namespace sib::nn;
    auto make = [] {
        sequential m(conv2d<double>(2, 3, 3, 1, 1),
                     branch_sum(sequential(conv2d<double>(3, 3, 3, 1, 1, false), batch_norm2d<double>(3), relu<double>{},
                                           conv2d<double>(3, 3, 3, 1, 1, false), batch_norm2d<double>(3))),
                     relu<double>{}, flatten<double>{}, linear<double>(48, 4));
        sib::rng r(23);
        m.for_each_parameter([&](std::string_view, dtensor& v, dtensor* g) {
            if (g) for (auto& e : v) e = r.normal() * 0.7;
        });
        return m;
    };
    const auto ws = check_in_place_sweeps(make, {2, 2, 4, 4}, 4);
    CHECK(ws.activations[3].size() == 0);  // the ReLU after the block ran in place
    CHECK(ws.activations[2].size() != 0);
}
