// Occlusion (Zeiler and Fergus 2014) as Captum's Occlusion computes it: a window of all channels
// slides over the image from the top-left corner with the given stride; positions per axis are
// ceil((H - window) / stride) + 1, so the last window may be cut by the border and every pixel is
// covered. Each window is replaced by the baseline (0), and the map at a pixel is the drop of the
// target logit, z_t(x) - z_t(x occluded), averaged over the windows that cover it. A window larger
// than the image is clamped to it; a stride larger than the window would leave pixels uncovered and
// is refused (as Captum refuses it). Rows are image-major (row r is window r % P of image r / P),
// internal_batch_size at a time.
#pragma once
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/gradients.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

struct occlusion_options {
    target_mode target = target_mode::label;
    index_t window = 8;  // square window, in pixels
    index_t stride = 4;
    double baseline = 0.0;
    index_t internal_batch_size = 128;  // rows (image, window) per model call
};

namespace detail {
// Window positions along an axis of size `size`: ceil((size - k) / s) + 1.
inline index_t occlusion_positions(index_t size, index_t k, index_t s) { return (size - k + s - 1) / s + 1; }
}  // namespace detail

template <model M>
void occlusion(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
               const occlusion_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    const char* method = "occlusion";
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    check_input(method, x, labels, opt.target);
    require(opt.window >= 1 && opt.stride >= 1, method, ": window and stride must be positive, got ", opt.window,
            " and ", opt.stride);
    const index_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), hw = h * w, len = c * hw;
    const index_t kh = opt.window < h ? opt.window : h, kw = opt.window < w ? opt.window : w;
    require((opt.stride <= kh || kh == h) && (opt.stride <= kw || kw == w), method, ": stride ", opt.stride,
            " exceeds the window ", kh, "x", kw, " and would leave pixels uncovered");
    const index_t s = opt.stride;
    const index_t ph = detail::occlusion_positions(h, kh, s), pw = detail::occlusion_positions(w, kw, s);
    const index_t positions = ph * pw;

    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, n);
    select_targets(method, z, labels, opt.target, ws.targets);
    target_logits(z, ws.targets, ws.per_image);

    ws.weights.resize({n, positions});  // the drop of every window
    const T base = static_cast<T>(opt.baseline);
    const row_layout rows{n, positions, true};
    const index_t chunk = rows_per_call(opt.internal_batch_size);
    for (index_t first = 0; first < rows.size(); first += chunk) {
        const index_t count = first + chunk < rows.size() ? chunk : rows.size() - first;
        ws.rows.resize({count, c, h, w});
        const T* px = x.data();
        T* pr = ws.rows.data();
        B::parallel_for(count * len, [=] SIB_HD(index_t i) {
            const index_t r = first + i / len, p = rows.variant(r);
            const index_t y = (i % hw) / w, xx = i % w;
            const index_t y0 = (p / pw) * s, x0 = (p % pw) * s;
            const bool inside = y >= y0 && y < y0 + kh && xx >= x0 && xx < x0 + kw;
            pr[i] = inside ? base : px[rows.image(r) * len + i % len];
        });
        gather_row_targets(ws.targets, rows, first, count, ws.row_targets);
        const auto& zr = autodiff::forward_sweep(m, ws.sweeps, ws.rows);
        target_logits(zr, ws.row_targets, ws.scores);
        const T* clean = ws.per_image.data();
        const T* sc = ws.scores.data();
        T* drop = ws.weights.data();
        B::parallel_for(count, [=] SIB_HD(index_t j) { drop[first + j] = clean[rows.image(first + j)] - sc[j]; });
    }

    // Windows covering row y start at p*s with p*s <= y < p*s + kh.
    out.resize({n, h, w});
    const T* drop = ws.weights.data();
    T* po = out.data();
    B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
        const index_t b = i / hw, y = (i % hw) / w, xx = i % w;
        const index_t py0 = y >= kh ? (y - kh) / s + 1 : 0, py1 = (y / s < ph - 1 ? y / s : ph - 1);
        const index_t px0 = xx >= kw ? (xx - kw) / s + 1 : 0, px1 = (xx / s < pw - 1 ? xx / s : pw - 1);
        T sum = 0;
        index_t covered = 0;
        for (index_t a = py0; a <= py1; ++a)
            for (index_t e = px0; e <= px1; ++e) {
                sum += drop[b * ph * pw + a * pw + e];
                ++covered;
            }
        po[i] = sum / static_cast<T>(covered);
    }, 4);
}

}  // namespace explain
SIB_END_NAMESPACE
