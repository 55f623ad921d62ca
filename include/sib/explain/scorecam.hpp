// Score-CAM (Wang et al. 2020) as pytorch-grad-cam computes it: each channel A_k of the target
// layer is upsampled to the input (nn.UpsamplingBilinear2d, i.e. align_corners=True), normalised
// to [0,1] per image and channel, (v - min) / (max - min + 1e-8), and multiplies the input (all
// channels); the target logit of each masked input is a score, w = softmax over the channels of the
// scores, and the map is relu(sum_k w_k A_k) upsampled as Grad-CAM's. No gradients: B*K forward
// rows, internal_batch_size at a time (image-major: row r is channel r % K of image r / K).
#pragma once
#include <sib/explain/gradcam.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace explain {

struct scorecam_options {
    target_mode target = target_mode::label;
    int layer = -1;
    index_t internal_batch_size = 128;  // rows (image, channel) per model call
};

// Every plane of p [.., H, W] to [0,1]: (v - min) / (max - min + 1e-8).
template <class T, class B>
void normalise_planes(tensor<T, B>& p) {
    const int r = p.rank();
    const index_t hw = p.dim(r - 2) * p.dim(r - 1), planes = p.size() / hw;
    T* pp = p.data();
    B::parallel_for(planes, [=] SIB_HD(index_t q) {
        T* v = pp + q * hw;
        T lo = v[0], hi = v[0];
        for (index_t i = 1; i < hw; ++i) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        const T den = hi - lo + static_cast<T>(1e-8);
        for (index_t i = 0; i < hw; ++i) v[i] = (v[i] - lo) / den;
    }, hw);
}

template <model M>
void scorecam(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
              const scorecam_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    const char* method = "scorecam";
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    check_input(method, x, labels, opt.target);
    const auto l = static_cast<std::size_t>(resolve_cam_layer(m, x.shape(), opt.layer, method));
    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, x.dim(0));
    select_targets(method, z, labels, opt.target, ws.targets);
    const auto& a = ws.sweeps.activations[l + 1];
    ws.saved.resize(a.shape());
    B::copy(a.size(), a.data(), ws.saved.data());

    const index_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), hw = h * w, k = a.dim(1);
    upsample_bilinear(ws.saved, h, w, ws.planes, true);
    normalise_planes(ws.planes);

    ws.weights.resize({n, k});
    const row_layout rows{n, k, true};
    const index_t chunk = rows_per_call(opt.internal_batch_size);
    for (index_t first = 0; first < rows.size(); first += chunk) {
        const index_t count = first + chunk < rows.size() ? chunk : rows.size() - first;
        ws.rows.resize({count, c, h, w});
        const T* px = x.data();
        const T* pm = ws.planes.data();
        T* pr = ws.rows.data();
        const index_t len = c * hw;
        B::parallel_for(count * len, [=] SIB_HD(index_t i) {
            const index_t r = first + i / len;
            // Row r = b*K + k is also the index of plane (b, k).
            pr[i] = px[rows.image(r) * len + i % len] * pm[r * hw + i % hw];
        });
        gather_row_targets(ws.targets, rows, first, count, ws.row_targets);
        const auto& zr = autodiff::forward_sweep(m, ws.sweeps, ws.rows);
        target_logits(zr, ws.row_targets, ws.scores);
        B::copy(count, ws.scores.data(), ws.weights.data() + first);
    }
    decoders::softmax_rows(ws.weights, ws.weights);  // in place
    channel_weighted_sum(ws.saved, ws.weights, ws.cam);
    relu_and_upsample(ws.cam, h, w, out);
}

}  // namespace explain
SIB_END_NAMESPACE
