// One entry point over every attribution method, by name, for the command line and for users who
// choose the method at run time: explain(model, x, labels, "gradcam", options) -> [B,H,W] float
// (or [B,C,H,W] with keep_channels, for the gradient family). The model's mode is restored after.
#pragma once
#include <sib/explain/gradcam.hpp>
#include <sib/explain/gradcam_pp.hpp>
#include <sib/explain/guided_backprop.hpp>
#include <sib/explain/hirescam.hpp>
#include <sib/explain/input_x_gradient.hpp>
#include <sib/explain/integrated_gradients.hpp>
#include <sib/explain/layercam.hpp>
#include <sib/explain/occlusion.hpp>
#include <sib/explain/rise.hpp>
#include <sib/explain/saliency.hpp>
#include <sib/explain/scorecam.hpp>
#include <sib/explain/smoothgrad.hpp>
#include <sib/explain/vargrad.hpp>
#include <sib/explain/xgradcam.hpp>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

// Every option of every method, flat, with each method's defaults; a method reads only its own.
struct explain_options {
    target_mode target = target_mode::label;
    bool keep_channels = false;  // gradient family only
    int layer = -1;              // CAM methods: Sequential index of the target layer; -1: the last 4-D
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

inline constexpr std::array<std::string_view, 14> method_names{
    "saliency", "input_x_gradient", "smoothgrad",  "integrated_gradients", "gradcam",  "gradcam_pp", "guided_backprop",
    "layercam", "xgradcam",         "hirescam",    "scorecam",             "vargrad",  "occlusion",  "rise"};

// The methods whose map has a channel axis before reduction (keep_channels applies).
inline bool is_gradient_family(std::string_view method) {
    return method == "saliency" || method == "input_x_gradient" || method == "smoothgrad" ||
           method == "integrated_gradients" || method == "guided_backprop" || method == "vargrad";
}

inline std::string method_list() {
    std::string s;
    for (auto n : method_names) {
        if (!s.empty()) s += ", ";
        s += n;
    }
    return s;
}

// Into `out` of the model's element type and backend.
template <model M>
void explain_into(M& m, const model_tensor<M>& x, const model_labels<M>& labels, std::string_view method,
                  model_tensor<M>& out, const explain_options& o = {}, model_workspace<M>* ws = nullptr) {
    bool known = false;
    for (auto n : method_names) known = known || n == method;
    require(known, "explain: unknown method '", method, "' (known: ", method_list(), ")");
    require(!o.keep_channels || is_gradient_family(method), "explain: keep_channels applies to the gradient "
            "family only (saliency, input_x_gradient, smoothgrad, integrated_gradients, guided_backprop, vargrad), not ",
            method);
    const gradient_options grad{o.target, o.keep_channels};
    const smoothgrad_options noisy{o.target, o.keep_channels, o.samples, o.noise_level, o.seed};
    const cam_options cam{o.target, o.layer};
    if (method == "saliency") return saliency(m, x, labels, out, grad, ws);
    if (method == "input_x_gradient") return input_x_gradient(m, x, labels, out, grad, ws);
    if (method == "smoothgrad") return smoothgrad(m, x, labels, out, noisy, ws);
    if (method == "vargrad") return vargrad(m, x, labels, out, noisy, ws);
    if (method == "integrated_gradients")
        return integrated_gradients(m, x, labels, out,
                                    integrated_gradients_options{o.target, o.keep_channels, o.steps, o.baseline,
                                                                 o.internal_batch_size},
                                    ws);
    if (method == "guided_backprop") return guided_backprop(m, x, labels, out, grad, ws);
    if (method == "gradcam") return gradcam(m, x, labels, out, cam, ws);
    if (method == "gradcam_pp") return gradcam_pp(m, x, labels, out, cam, ws);
    if (method == "layercam") return layercam(m, x, labels, out, cam, ws);
    if (method == "xgradcam") return xgradcam(m, x, labels, out, cam, ws);
    if (method == "hirescam") return hirescam(m, x, labels, out, cam, ws);
    if (method == "scorecam")
        return scorecam(m, x, labels, out, scorecam_options{o.target, o.layer, o.internal_batch_size}, ws);
    if (method == "occlusion")
        return occlusion(m, x, labels, out,
                         occlusion_options{o.target, o.window, o.stride, o.baseline, o.internal_batch_size}, ws);
    return rise(m, x, labels, out, rise_options{o.target, o.masks, o.cells, o.probability, o.seed, o.internal_batch_size},
                ws);
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

}  // namespace explain
SIB_END_NAMESPACE
