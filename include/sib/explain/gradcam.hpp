// Grad-CAM (Selvaraju et al. 2017): relu(sum_k w_k A_k) with w_k = mean_ij G_kij, A the output of
// the target layer and G = d z_t / dA, bilinearly upsampled to the input (half-pixel centres, as
// F.interpolate(align_corners=False)); the relu comes first, at the layer's resolution, as in
// pytorch-grad-cam and Captum. No normalisation: the map is raw.
//
// Also the pieces the other CAM methods share: which layer (the Sequential index whose output is
// A; by default the last layer with a 4-D output), A and G from one forward and a decoder sweep
// that stops at that layer, and the relu + upsampling at the end. A is ws.sweeps.activations[l+1]
// and G is ws.sweeps.decoded[l+1].
#pragma once
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/gradients.hpp>
#include <sib/explain/upsample_bilinear.hpp>
#include <sib/layers/sequential.hpp>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

struct cam_options {
    target_mode target = target_mode::label;
    int layer = -1;  // the Sequential index whose output is used; -1: the last with a 4-D output
};

// "layer 7 (Flatten)" for models that keep layer texts (spec_model), "layer 7" otherwise.
template <model M>
std::string layer_label(const M& m, int i) {
    std::string s = "layer " + std::to_string(i);
    if constexpr (requires { m.layer_text(i); }) s += " (" + std::string(m.layer_text(i)) + ")";
    return s;
}

// The output shape of every layer for an input of shape `in`.
template <model M>
std::vector<sib::shape> layer_output_shapes(M& m, const sib::shape& in) {
    m.output_shape(in);  // names the first layer that does not fit, before the walk below
    std::vector<sib::shape> out;
    sib::shape s = in;
    m.for_each_layer([&](auto& l, int) {
        s = l.output_shape(s);
        out.push_back(s);
    });
    return out;
}

namespace detail {
// The last layer whose output is a map [B,K,h,w] of more than one pixel: a global pooling's 1x1
// output (a ResNet's avgpool) would make every CAM map constant, so the default is the layer before
// it (a ResNet's layer4, the last block's output, as pytorch-grad-cam's examples choose). When no
// 4-D output has more than one pixel, the last 4-D one; -1 when there is none.
inline int last_4d(const std::vector<sib::shape>& shapes) {
    int last = -1;
    for (int i = static_cast<int>(shapes.size()) - 1; i >= 0; --i) {
        const auto& s = shapes[static_cast<std::size_t>(i)];
        if (s.rank() != 4) continue;
        if (s[2] * s[3] > 1) return i;
        if (last < 0) last = i;
    }
    return last;
}
}  // namespace detail

// The default CAM target layer: the last layer whose output is a map of more than one pixel (else
// the last 4-D output), or -1 when there is none.
template <model M>
int default_cam_layer(M& m, const sib::shape& in) {
    return detail::last_4d(layer_output_shapes(m, in));
}

// The index of the layer whose output is the module `path`'s, as PyTorch users name target layers
// (pytorch-grad-cam's target_layers, torchvision's module paths): the last top-level child named
// `path` or inside it ("layer4" is the output of layer4's last block, "layer4.0" of its first,
// "features.28" that layer). Children without a name (nn::named) are named by index, so "7" is
// layer 7 of a spec model; a spec's module names ("layer4.1.relu: ReLU", a named model's
// expansion) are its children's names, as nn::named's are. Unknown paths are one line listing the
// top-level modules.
template <model M>
int find_module(M& m, std::string_view path) {
    int found = -1;
    std::vector<std::string> tops;
    m.for_each_layer([&](auto& l, int i) {
        std::string name;
        if constexpr (requires { m.module_name(i); })
            name = m.module_name(i);
        else
            name = nn::detail::child_name(l, i);
        if (name == path || (name.size() > path.size() && name.compare(0, path.size(), path) == 0 && name[path.size()] == '.'))
            found = i;
        const std::string top = name.substr(0, name.find('.'));
        if (tops.empty() || tops.back() != top) tops.push_back(top);
    });
    if (found < 0) {
        std::string known;
        for (const auto& t : tops) known += (known.empty() ? "" : ", ") + t;
        fail("no module '", path, "' in the model (its modules: ", known, ")");
    }
    return found;
}

// The target layer for `layer` (-1: the default), checked to output [B,K,h,w].
template <model M>
int resolve_cam_layer(M& m, const sib::shape& in, int layer, const char* method) {
    const auto shapes = layer_output_shapes(m, in);
    if (layer == -1) {
        layer = detail::last_4d(shapes);
        require(layer >= 0, method, ": no layer outputs a 4-D tensor for input ", in.str());
        return layer;
    }
    require(layer >= 0 && layer < m.num_layers(), method, ": layer ", layer, " is out of range (the model has ",
            m.num_layers(), " layers, 0..", m.num_layers() - 1, ")");
    const auto& s = shapes[static_cast<std::size_t>(layer)];
    require(s.rank() == 4, method, ": ", layer_label(m, layer), " output is ", s.str(), ", not 4-D");
    return layer;
}

// Forward on x, targets into ws.targets, and G = d z_t / dA by a decoder sweep down to the layer.
// Returns the layer; A = ws.sweeps.activations[layer+1], G = ws.sweeps.decoded[layer+1].
template <model M>
int cam_activation_and_gradient(M& m, model_workspace<M>& ws, const model_tensor<M>& x, const model_labels<M>& labels,
                                const cam_options& opt, const char* method) {
    check_input(method, x, labels, opt.target);
    const int layer = resolve_cam_layer(m, x.shape(), opt.layer, method);
    forward_select_and_seed(m, ws, x, labels, opt.target, method);
    decoder_sweep_to(m, ws.sweeps, layer + 1);
    return layer;
}

// cam[b,i,j] = sum_k w[b,k] A[b,k,i,j].
template <class T, class B>
void channel_weighted_sum(const tensor<T, B>& a, const tensor<T, B>& w, tensor<T, B>& cam) {
    const index_t n = a.dim(0), c = a.dim(1), hw = a.dim(2) * a.dim(3);
    cam.resize({n, a.dim(2), a.dim(3)});
    const T* pa = a.data();
    const T* pw = w.data();
    T* pc = cam.data();
    B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
        const index_t b = i / hw;
        const T* v = pa + b * c * hw + i % hw;
        T s = 0;
        for (index_t k = 0; k < c; ++k) s += pw[b * c + k] * v[k * hw];
        pc[i] = s;
    }, c);
}

// w[b,k] = f(A[b,k,:], G[b,k,:], hw): one number per channel from its activation and gradient.
template <class T, class B, class F>
void per_channel(const tensor<T, B>& a, const tensor<T, B>& g, tensor<T, B>& w, F f) {
    const index_t n = a.dim(0), c = a.dim(1), hw = a.dim(2) * a.dim(3);
    w.resize({n, c});
    const T* pa = a.data();
    const T* pg = g.data();
    T* pw = w.data();
    B::parallel_for(n * c, [=] SIB_HD(index_t i) { pw[i] = f(pa + i * hw, pg + i * hw, hw); }, hw);
}

// cam[b,i,j] = sum_k f(A[b,k,i,j], G[b,k,i,j]): the CAMs weighted per element.
template <class T, class B, class F>
void elementwise_channel_sum(const tensor<T, B>& a, const tensor<T, B>& g, tensor<T, B>& cam, F f) {
    const index_t n = a.dim(0), c = a.dim(1), hw = a.dim(2) * a.dim(3);
    cam.resize({n, a.dim(2), a.dim(3)});
    const T* pa = a.data();
    const T* pg = g.data();
    T* pc = cam.data();
    B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
        const index_t base = (i / hw) * c * hw + i % hw;
        T s = 0;
        for (index_t k = 0; k < c; ++k) s += f(pa[base + k * hw], pg[base + k * hw]);
        pc[i] = s;
    }, c);
}

// out = upsample(relu(cam)) to the input's h x w; cam is clamped in place.
template <class T, class B>
void relu_and_upsample(tensor<T, B>& cam, index_t h, index_t w, tensor<T, B>& out) {
    T* pc = cam.data();
    B::parallel_for(cam.size(), [=] SIB_HD(index_t i) { pc[i] = pc[i] > T(0) ? pc[i] : T(0); });
    upsample_bilinear(cam, h, w, out);
}

// Grad-CAM's channel weights: the spatial mean of G.
template <class T, class B>
void gradcam_weights(const tensor<T, B>& a, const tensor<T, B>& g, tensor<T, B>& w) {
    per_channel(a, g, w, [] SIB_HD(const T*, const T* gk, index_t hw) {
        T s = 0;
        for (index_t i = 0; i < hw; ++i) s += gk[i];
        return s / static_cast<T>(hw);
    });
}

template <model M>
void gradcam(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
             const cam_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    const auto l = static_cast<std::size_t>(cam_activation_and_gradient(m, ws, x, labels, opt, "gradcam"));
    const auto& a = ws.sweeps.activations[l + 1];
    gradcam_weights(a, ws.sweeps.decoded[l + 1], ws.weights);
    channel_weighted_sum(a, ws.weights, ws.cam);
    relu_and_upsample(ws.cam, x.dim(2), x.dim(3), out);
}

}  // namespace explain
SIB_END_NAMESPACE
