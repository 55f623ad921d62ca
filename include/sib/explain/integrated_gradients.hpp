// Integrated Gradients (Sundararajan et al. 2017): sum_c (x - x0) * gbar, where gbar is the
// trapezoid mean of g(x0 + a (x - x0)) over a = k/m, k = 0..m (weights 1/2 at both ends), with a
// constant baseline x0 (0 by default); keep_channels gives (x - x0) * gbar per channel (Captum's
// IntegratedGradients, method='riemann_trapezoid', n_steps = m + 1). Completeness: the map sums to
// z_t(x) - z_t(x0) up to the quadrature error. g = d z_t / d x with t chosen on x.
//
// The (m+1)*B scaled inputs go through the model internal_batch_size rows at a time, step-major
// (row r is step r / B of image r % B); each image sums its steps in step order.
#pragma once
#include <sib/explain/input_x_gradient.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

struct integrated_gradients_options {
    target_mode target = target_mode::label;
    bool keep_channels = false;
    int steps = 32;  // m: the path is sampled at m + 1 points
    double baseline = 0.0;
    index_t internal_batch_size = 128;  // rows (image, step) per model call
};

template <model M>
void integrated_gradients(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
                          const integrated_gradients_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    const char* method = "integrated_gradients";
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    check_input(method, x, labels, opt.target);
    require(opt.steps >= 1, method, ": needs at least 1 step, got ", opt.steps);
    const index_t n = x.dim(0), len = x.shape().sample_numel();
    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, n);
    select_targets(method, z, labels, opt.target, ws.targets);

    ws.mean.resize(x.shape());
    ws.mean.zero();
    const T x0 = static_cast<T>(opt.baseline);
    const index_t steps = opt.steps;
    const row_layout rows{n, steps + 1, false};
    const index_t chunk = rows_per_call(opt.internal_batch_size);
    for (index_t first = 0; first < rows.size(); first += chunk) {
        const index_t count = first + chunk < rows.size() ? chunk : rows.size() - first;
        sib::shape s = x.shape();
        s[0] = count;
        ws.rows.resize(s);
        const T* px = x.data();
        T* pr = ws.rows.data();
        B::parallel_for(count * len, [=] SIB_HD(index_t i) {
            const index_t r = first + i / len;
            const T a = static_cast<T>(rows.variant(r)) / static_cast<T>(steps);
            pr[i] = x0 + a * (px[rows.image(r) * len + i % len] - x0);
        });
        gather_row_targets(ws.targets, rows, first, count, ws.row_targets);
        const T* pg = target_gradient(m, ws, ws.rows, ws.row_targets, method).data();
        T* acc = ws.mean.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t e) {
            const index_t b = e / len, i = e % len;
            // Step-major rows of image b are b, b + B, b + 2B, ...
            for (index_t r = first + (b - first % n + n) % n; r < first + count; r += n) {
                const index_t k = rows.variant(r);
                const T w = (k == 0 || k == steps) ? T(0.5) : T(1);
                acc[e] += w * pg[(r - first) * len + i];
            }
        }, count / n + 1);
    }
    T* acc = ws.mean.data();
    const T m_steps = static_cast<T>(steps);
    B::parallel_for(x.size(), [=] SIB_HD(index_t i) { acc[i] /= m_steps; });
    product_over_channels(x, x0, ws.mean, opt.keep_channels, out);
}

}  // namespace explain
SIB_END_NAMESPACE
