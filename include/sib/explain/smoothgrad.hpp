// SmoothGrad (Smilkov et al. 2017): the mean over n draws of max_c |g(x + e)|, e ~ N(0, sigma_b^2)
// elementwise with sigma_b = noise_level * (max x_b - min x_b) per image; with keep_channels the
// mean of |g(x + e)| per channel (Captum's NoiseTunnel over Saliency). g = d z_t / d x with t chosen
// on the clean input.
//
// The noise is drawn on the host from sib::rng(seed), in the order draw k, image b, element (C
// order), e = sigma_b * normal(), so a map depends only on the seed, the model and the batch; it
// is uploaded once per draw. Each draw is one model call on the whole batch, shaped exactly as
// saliency's call, and the mean is a running mean: with noise_level 0 every draw is x itself and
// the result is bit for bit saliency.
#pragma once
#include <sib/core/rng.hpp>
#include <sib/explain/saliency.hpp>
#include <cstdint>

SIB_BEGIN_NAMESPACE
namespace explain {

struct smoothgrad_options {
    target_mode target = target_mode::label;
    bool keep_channels = false;
    int samples = 25;
    double noise_level = 0.15;  // standard deviation as a fraction of each image's value range
    std::uint64_t seed = 0;
};

// Calls consume(g, k) with g = d z_t / d x at x + e_k for the draws k = 0 .. samples-1. Selects
// the targets into ws.targets first.
template <model M, class F>
void for_each_noisy_gradient(M& m, model_workspace<M>& ws, const model_tensor<M>& x,
                             const model_labels<M>& labels, const smoothgrad_options& opt,
                             const char* method, F&& consume) {
    using T = typename M::value_type;
    using B = typename M::backend;
    check_input(method, x, labels, opt.target);
    require(opt.samples >= 1, method, ": needs at least 1 sample, got ", opt.samples);
    require(opt.noise_level >= 0, method, ": noise level must be non-negative, got ", opt.noise_level);
    const index_t n = x.dim(0), len = x.shape().sample_numel();
    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, n);
    select_targets(method, z, labels, opt.target, ws.targets);

    image_range(x, ws.per_image);
    ws.host_small.resize(static_cast<std::size_t>(2 * n));
    B::to_host(2 * n, ws.per_image.data(), ws.host_small.data());

    rng r(opt.seed);
    ws.host.resize(static_cast<std::size_t>(x.size()));
    ws.rows.resize(x.shape());
    for (int k = 0; k < opt.samples; ++k) {
        for (index_t b = 0; b < n; ++b) {
            const auto lo = static_cast<double>(ws.host_small[static_cast<std::size_t>(2 * b)]);
            const auto hi = static_cast<double>(ws.host_small[static_cast<std::size_t>(2 * b + 1)]);
            const double sigma = opt.noise_level * (hi - lo);
            T* e = ws.host.data() + b * len;
            for (index_t i = 0; i < len; ++i) e[i] = static_cast<T>(sigma * r.normal());
        }
        B::from_host(x.size(), ws.host.data(), ws.rows.data());
        T* pr = ws.rows.data();
        const T* px = x.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) { pr[i] = px[i] + pr[i]; });
        consume(target_gradient(m, ws, ws.rows, ws.targets, method), k);
    }
}

template <model M>
void smoothgrad(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
                const smoothgrad_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    for_each_noisy_gradient(m, ws, x, labels, opt, "smoothgrad", [&](const model_tensor<M>& g, int k) {
        saliency_of_gradient(g, opt.keep_channels, ws.cam);
        if (k == 0) {
            out.resize(ws.cam.shape());
            out.zero();
        }
        const T count = static_cast<T>(k + 1);
        const T* pv = ws.cam.data();
        T* po = out.data();
        B::parallel_for(out.size(), [=] SIB_HD(index_t i) { running_update(pv[i], count, po[i], static_cast<T*>(nullptr)); });
    });
}

}  // namespace explain
SIB_END_NAMESPACE
