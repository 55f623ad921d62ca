// One entry point over every attribution method, by name, for the command line and for users who
// choose the method at run time: explain(model, x, labels, "gradcam", options) -> [B,H,W] float
// (or [B,C,H,W] with keep_channels, for the gradient family). The model's mode is restored after.
// The methods, their families and the groups "all" and "every" are the table of methods.hpp; the
// one switch from a method to its function is explain_into below.
#pragma once
#include <sib/explain/gradcam.hpp>
#include <sib/explain/gradcam_pp.hpp>
#include <sib/explain/guided_backprop.hpp>
#include <sib/explain/hirescam.hpp>
#include <sib/explain/input_x_gradient.hpp>
#include <sib/explain/integrated_gradients.hpp>
#include <sib/explain/layercam.hpp>
#include <sib/explain/methods.hpp>
#include <sib/explain/occlusion.hpp>
#include <sib/explain/rise.hpp>
#include <sib/explain/saliency.hpp>
#include <sib/explain/scorecam.hpp>
#include <sib/explain/smoothgrad.hpp>
#include <sib/explain/vargrad.hpp>
#include <sib/explain/xgradcam.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

// Every option of every method, flat, with each method's defaults; a method reads only its own.
struct explain_options {
    target_mode target = target_mode::label;
    bool keep_channels = false;  // gradient family only
    int layer = -1;              // CAM methods: Sequential index of the target layer; -1: default_cam_layer (the last map)
    int samples = 25;            // smoothgrad, vargrad
    double noise_level = 0.15;   // smoothgrad, vargrad: noise stddev / (max x - min x)
    int steps = 32;              // integrated_gradients: m
    double baseline = 0.0;       // integrated_gradients, occlusion
    index_t window = 8;          // occlusion
    index_t stride = 4;          // occlusion
    int masks = 2000;            // rise
    int cells = 8;               // rise
    double probability = 0.5;    // rise
    std::uint64_t seed = 0;      // smoothgrad, vargrad, rise
    index_t internal_batch_size = 128;  // integrated_gradients, scorecam, occlusion, rise
};

namespace detail {
inline void check_keep_channels(const method_entry& e, const explain_options& o) {
    require(!o.keep_channels || e.family == method_family::gradient, "explain: keep_channels applies to the gradient "
            "family only (", method_list(method_family::gradient), "), not ", e.name);
}
}  // namespace detail

// Into `out` of the model's element type and backend.
template <model M>
void explain_into(M& m, const model_tensor<M>& x, const model_labels<M>& labels, std::string_view method,
                  model_tensor<M>& out, const explain_options& o = {}, model_workspace<M>* ws = nullptr) {
    const method_entry& e = method_by_name(method, "explain");
    detail::check_keep_channels(e, o);
    const gradient_options grad{o.target, o.keep_channels};
    const smoothgrad_options noisy{o.target, o.keep_channels, o.samples, o.noise_level, o.seed};
    const cam_options cam{o.target, o.layer};
    switch (e.id) {
        case method_id::saliency: return saliency(m, x, labels, out, grad, ws);
        case method_id::input_x_gradient: return input_x_gradient(m, x, labels, out, grad, ws);
        case method_id::smoothgrad: return smoothgrad(m, x, labels, out, noisy, ws);
        case method_id::integrated_gradients:
            return integrated_gradients(m, x, labels, out,
                                        integrated_gradients_options{o.target, o.keep_channels, o.steps, o.baseline,
                                                                     o.internal_batch_size},
                                        ws);
        case method_id::gradcam: return gradcam(m, x, labels, out, cam, ws);
        case method_id::gradcam_pp: return gradcam_pp(m, x, labels, out, cam, ws);
        case method_id::guided_backprop: return guided_backprop(m, x, labels, out, grad, ws);
        case method_id::layercam: return layercam(m, x, labels, out, cam, ws);
        case method_id::xgradcam: return xgradcam(m, x, labels, out, cam, ws);
        case method_id::hirescam: return hirescam(m, x, labels, out, cam, ws);
        case method_id::scorecam:
            return scorecam(m, x, labels, out, scorecam_options{o.target, o.layer, o.internal_batch_size}, ws);
        case method_id::vargrad: return vargrad(m, x, labels, out, noisy, ws);
        case method_id::occlusion:
            return occlusion(m, x, labels, out,
                             occlusion_options{o.target, o.window, o.stride, o.baseline, o.internal_batch_size}, ws);
        case method_id::rise:
            return rise(m, x, labels, out,
                        rise_options{o.target, o.masks, o.cells, o.probability, o.seed, o.internal_batch_size}, ws);
    }
    fail("explain: method '", method, "' has no entry point");  // a method_id without a case above
}

// The raw map as float on the host backend: [B,H,W], or [B,C,H,W] with keep_channels.
template <model M>
tensor<float> explain(M& m, const model_tensor<M>& x, const model_labels<M>& labels, std::string_view method,
                      const explain_options& options = {}) {
    model_tensor<M> out;
    explain_into(m, x, labels, method, out, options);
    const auto v = out.to_vector();
    return tensor<float>(out.shape(), std::vector<float>(v.begin(), v.end()));
}

// What would otherwise fail in the middle of explaining images of shape `images` [B,C,H,W] by
// each of `methods`: an unknown method, a model that does not end in logits [B,K], a CAM method
// without a 4-D target layer, keep_channels outside the gradient family. Runs output shapes only
// (no weights needed), so a command line can check before it loads anything.
template <model M>
void check_methods(M& m, const sib::shape& images, std::span<const std::string> methods, const explain_options& o = {}) {
    const sib::shape z = m.output_shape(images);
    require(z.rank() == 2, "explain: the model must end in logits [B,K], gives ", z.str(), " for images ",
            images.str());
    for (const auto& name : methods) {
        const method_entry& e = method_by_name(name, "explain");
        if (e.family == method_family::cam) resolve_cam_layer(m, images, o.layer, name.c_str());
        detail::check_keep_channels(e, o);
    }
}

}  // namespace explain
SIB_END_NAMESPACE
