// The LibTorch side of the speed benchmark: the same nn::Sequential as a sib spec model (or, for the
// ResNet cases, torchvision's ResNet in torch_resnet.hpp), the same weights, and the S-IB objective of docs/objective.md written with torch ops and autograd (double backprop
// through torch::autograd::grad(create_graph=true)). It shares no code with sib's sweeps: only the
// layer geometry and the initial weights are read from the sib model, so an agreement of the two
// losses and gradients is evidence that both sides compute the same thing.
#pragma once
#include <sib/core/error.hpp>
#include <sib/models/spec_model.hpp>
#include <torch/torch.h>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sib_bench {

template <class T>
constexpr torch::Dtype torch_dtype() {
    return std::is_same_v<T, float> ? torch::kFloat32 : torch::kFloat64;
}

// A copy of a sib tensor (host memory) as a torch tensor of the same shape.
template <class T>
torch::Tensor to_torch(const sib::tensor<T>& t) {
    std::vector<std::int64_t> sizes;
    for (int i = 0; i < t.rank(); ++i) sizes.push_back(t.dim(i));
    return torch::from_blob(const_cast<T*>(t.data()), sizes, torch_dtype<T>()).clone();
}
inline torch::Tensor to_torch(const sib::tensor<std::int64_t>& t) {
    return torch::from_blob(const_cast<std::int64_t*>(t.data()), {t.size()}, torch::kInt64).clone();
}

// The torch::nn::Sequential with the layers of m, in m's dtype. Layers without a counterpart here
// are refused by name rather than skipped, so the two sides never benchmark different models.
template <class T>
torch::nn::Sequential torch_model_like(sib::models::spec_model<T>& m) {
    namespace tnn = torch::nn;
    tnn::Sequential seq;
    m.for_each_layer([&](auto& l, int i) {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, sib::nn::conv2d<T>>) {
            const auto& w = l.window();
            seq->push_back(tnn::Conv2d(tnn::Conv2dOptions(l.in_channels(), l.out_channels(), {w.kernel_h, w.kernel_w})
                                           .stride({w.stride_h, w.stride_w})
                                           .padding({w.pad_h, w.pad_w})
                                           .bias(l.has_bias())));
        } else if constexpr (std::is_same_v<L, sib::nn::linear<T>>) {
            seq->push_back(tnn::Linear(tnn::LinearOptions(l.in_features(), l.out_features()).bias(l.has_bias())));
        } else if constexpr (std::is_same_v<L, sib::nn::relu<T>>) {
            seq->push_back(tnn::ReLU());
        } else if constexpr (std::is_same_v<L, sib::nn::max_pool2d<T>>) {
            const auto& w = l.window();
            seq->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({w.kernel_h, w.kernel_w})
                                              .stride({w.stride_h, w.stride_w})
                                              .padding({w.pad_h, w.pad_w})));
        } else if constexpr (std::is_same_v<L, sib::nn::flatten<T>>) {
            seq->push_back(tnn::Flatten());
        } else {
            sib::fail("torch side: layer ", i, " (", m.layer_text(i),
                      ") has no LibTorch counterpart in this benchmark (Conv2d, Linear, ReLU, MaxPool2d, Flatten)");
        }
    });
    seq->to(torch_dtype<T>());
    return seq;
}

// Copies every parameter and buffer of the sib model m (a spec model or a compile-time model such
// as sib::models::resnet18) into the torch module by name ("0.weight", "layer1.0.bn1.running_mean",
// ...): sib's parameters (those with a gradient) into named_parameters(), its buffers (running
// statistics; num_batches_tracked through for_each_counter) into named_buffers(). Every torch
// parameter and buffer must be written, so the two sides never hold different models.
template <class Model, class Net>
void copy_state(Model& m, Net& net) {
    torch::NoGradGuard no_grad;
    auto params = net->named_parameters();
    auto buffers = net->named_buffers();
    std::size_t copied_params = 0, copied_buffers = 0;
    m.for_each_parameter([&](std::string_view name, auto& value, auto* grad) {
        auto* p = grad != nullptr ? params.find(std::string(name)) : buffers.find(std::string(name));
        sib::require(p != nullptr, "torch side: no ", grad != nullptr ? "parameter" : "buffer", " '", name,
                     "' in the torch model");
        sib::require(p->numel() == value.size(), "torch side: '", name, "' has ", p->numel(), " elements in torch and ",
                     value.size(), " in sib");
        p->copy_(to_torch(value).reshape(p->sizes()));
        ++(grad != nullptr ? copied_params : copied_buffers);
    });
    if constexpr (requires { m.for_each_counter([](std::string_view, sib::index_t&) {}); }) {
        m.for_each_counter([&](std::string_view name, sib::index_t& count) {
            auto* p = buffers.find(std::string(name));
            sib::require(p != nullptr, "torch side: no buffer '", name, "' in the torch model");
            p->fill_(static_cast<std::int64_t>(count));
            ++copied_buffers;
        });
    }
    sib::require(copied_params == params.size(), "torch side: sib has ", copied_params, " parameters, torch ",
                 params.size());
    sib::require(copied_buffers == buffers.size(), "torch side: sib has ", copied_buffers, " buffers, torch ",
                 buffers.size());
}

// docs/objective.md, "Soft quantile": ascending sort of each row, averaged with softmax(-|i - q(n-1)|/tau) weights.
inline torch::Tensor soft_quantile(const torch::Tensor& v, double q, double tau) {
    const auto n = v.size(1);
    const auto sorted = std::get<0>(torch::sort(v, 1));
    const auto i = torch::arange(n, v.options());
    const auto w = torch::softmax(-(i - q * static_cast<double>(n - 1)).abs() / tau, 0);
    return (sorted * w).sum(1);
}

struct torch_mask_options {
    double temperature = 0.1, slope = 10;
    double q_low = 0.05, q_high = 0.95, q_intensity = 0.8, q_density = 0.8;
};

// docs/objective.md, "Density mask": the density mask [B,1,H,W] of R [B,C,H,W], default window.
inline torch::Tensor density_mask(const torch::Tensor& r, const torch_mask_options& o) {
    const auto b = r.size(0), h = r.size(2), w = r.size(3);
    const std::int64_t k = 2 * ((15 * std::min(h, w)) / 224) + 1;
    const auto g = r.mean(1).abs().reshape({b, h * w});
    const auto lo = soft_quantile(g, o.q_low, o.temperature).unsqueeze(1);
    const auto hi = soft_quantile(g, o.q_high, o.temperature).unsqueeze(1);
    const auto gn = (g - lo) / (hi - lo + 1e-8);
    const auto hh = torch::sigmoid(o.slope * (gn - soft_quantile(gn, o.q_intensity, o.temperature).unsqueeze(1)));
    const auto d = torch::avg_pool2d(hh.reshape({b, 1, h, w}), {k, k}, {1, 1}, {k / 2, k / 2},
                                     /*ceil_mode=*/false, /*count_include_pad=*/true)
                       .reshape({b, h * w});
    const auto m = torch::sigmoid(o.slope * (d - soft_quantile(d, o.q_density, o.temperature).unsqueeze(1)));
    return m.reshape({b, 1, h, w});
}

inline torch::Tensor normalize_rows(const torch::Tensor& a) {
    return a / a.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

// docs/objective.md, "Foreground term": tr(K H L H) / (B-1)^2 with K = U U^T, L = V V^T, H = I - 1 1^T / B.
inline torch::Tensor hsic_linear(const torch::Tensor& u, const torch::Tensor& v) {
    const auto b = u.size(0);
    const auto k = u.mm(u.t()), l = v.mm(v.t());
    const auto centre = torch::eye(b, u.options()) - torch::ones({b, b}, u.options()) / static_cast<double>(b);
    return k.mm(centre).mm(l).mm(centre).trace() / static_cast<double>((b - 1) * (b - 1));
}

struct torch_values {
    torch::Tensor total, ce, fg, bg;
};

// docs/objective.md with the default decoder, lambda_bg = 1000, lambda_fg = 0.01, psi = exp.
// x must require grad (R is its gradient); the graph is kept for the parameter backward.
template <class Net>
torch_values sib_objective(Net& model, const torch::Tensor& x, const torch::Tensor& y,
                                  const torch_mask_options& o = {}) {
    const auto z = model->forward(x);
    const auto p = torch::softmax(z, 1);
    const auto phi = 0.5 * (p * p).sum();
    const auto r = torch::autograd::grad({phi}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    const auto m = density_mask(r, o);
    const auto b = x.size(0);
    torch_values v;
    v.fg = hsic_linear(normalize_rows((r * m).reshape({b, -1})), normalize_rows((x * m).reshape({b, -1})));
    v.bg = (r * (1 - m)).reshape({b, -1}).var(1, /*unbiased=*/true).mean();
    v.ce = torch::nn::functional::cross_entropy(z, y);
    v.total = v.ce + 1000.0 * torch::exp(v.bg) + 0.01 * torch::exp(-v.fg);
    return v;
}

template <class Net>
torch_values ce_objective(Net& model, const torch::Tensor& x, const torch::Tensor& y) {
    torch_values v;
    v.ce = torch::nn::functional::cross_entropy(model->forward(x), y);
    v.total = v.ce;
    return v;
}

// AdamW's hyperparameters on both sides: torch.optim's defaults, which sib::optim::adamw's are.
inline constexpr double adamw_lr = 1e-3, adamw_eps = 1e-8, adamw_weight_decay = 1e-2;

// One model (any module holder with forward: the nn::Sequential below, torch_resnet), its AdamW
// (torch.optim defaults, as sib::optim::adamw) and one batch.
template <class Net>
struct torch_trainer_of {
    Net model;
    std::vector<torch::Tensor> params;
    std::unique_ptr<torch::optim::AdamW> opt;
    torch::Tensor x, x_leaf, y;  // x_leaf: x as a leaf that requires grad, for R = dphi/dx

    // net: the torch model in the dtype of T; every parameter and buffer is copied from m.
    template <class Model, class T>
    torch_trainer_of(Net net, Model& m, const sib::tensor<T>& xs, const sib::tensor<std::int64_t>& ys)
        : model(std::move(net)) {
        model->to(torch_dtype<T>());
        copy_state(m, model);
        model->train();  // BatchNorm on batch statistics, as sib's (training) forward
        params = model->parameters();
        opt = std::make_unique<torch::optim::AdamW>(
            params, torch::optim::AdamWOptions(adamw_lr).betas({0.9, 0.999}).eps(adamw_eps).weight_decay(adamw_weight_decay));
        x = to_torch(xs);
        x_leaf = x.detach().requires_grad_(true);
        y = to_torch(ys);
    }

    // Loss and gradients, no update. The backward goes to the parameters only (as sib, which never
    // forms dL/dx), so torch is not charged for a gradient nobody reads.
    torch_values objective(bool sib) {
        auto v = sib ? sib_objective(model, x_leaf, y) : ce_objective(model, x, y);
        v.total.backward({}, /*retain_graph=*/false, /*create_graph=*/false, params);
        return v;
    }

    // zero_grad + forward + loss + backward + AdamW update.
    torch_values step(bool sib) {
        opt->zero_grad();
        auto v = objective(sib);
        opt->step();
        return v;
    }
};

// The reference models' trainer: the nn::Sequential of a sib spec model.
struct torch_trainer : torch_trainer_of<torch::nn::Sequential> {
    template <class T>
    torch_trainer(sib::models::spec_model<T>& m, const sib::tensor<T>& xs, const sib::tensor<std::int64_t>& ys)
        : torch_trainer_of(torch_model_like(m), m, xs, ys) {}
};

}  // namespace sib_bench
