// RISE (Petsiuk et al. 2018): N random masks M_i, each a cells x cells grid of Bernoulli(p) values
// bilinearly upsampled to (cells+1) * ceil(H/cells) by (cells+1) * ceil(W/cells) and cropped at a
// random shift in [0, cell) per axis; the map is sum_i P_t(x * M_i) M_i / (N p), P_t the softmax
// probability of the target. The masks are the same for every image of the batch (as RISE's
// batched code), drawn from sib::rng(seed) on the host in mask order: the cells in C order
// (uniform() < p), then the row shift, then the column shift (below(cell)). The upsampling is
// upsample_bilinear's (half-pixel centres, edges clamped), where the original code used
// skimage.transform.resize (mode='reflect'): the two differ only within half a cell of the
// upsampled grid's border. Rows are mask-major (row r is mask r / B on image r % B),
// internal_batch_size at a time.
#pragma once
#include <sib/core/rng.hpp>
#include <sib/decoders/decoder.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/gradients.hpp>
#include <sib/explain/upsample_bilinear.hpp>
#include <cstdint>

SIB_BEGIN_NAMESPACE
namespace explain {

struct rise_options {
    target_mode target = target_mode::label;
    int masks = 2000;
    int cells = 8;             // the low-resolution grid is cells x cells
    double probability = 0.5;  // p: chance that a cell is kept
    std::uint64_t seed = 0;
    index_t internal_batch_size = 128;  // rows (mask, image) per model call
};

template <model M>
void rise(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
          const rise_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    const char* method = "rise";
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    check_input(method, x, labels, opt.target);
    require(opt.masks >= 1, method, ": needs at least 1 mask, got ", opt.masks);
    require(opt.cells >= 1, method, ": needs at least 1 cell per axis, got ", opt.cells);
    require(opt.probability > 0 && opt.probability <= 1, method, ": probability must be in (0, 1], got ",
            opt.probability);
    const index_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), hw = h * w, len = c * hw;
    const index_t s = opt.cells;
    const index_t cell_h = (h + s - 1) / s, cell_w = (w + s - 1) / s;
    const index_t up_h = (s + 1) * cell_h, up_w = (s + 1) * cell_w;

    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, n);
    select_targets(method, z, labels, opt.target, ws.targets);

    out.resize({n, h, w});
    out.zero();
    rng r(opt.seed);
    const index_t masks_per_call = rows_per_call(opt.internal_batch_size) / n > 0 ? rows_per_call(opt.internal_batch_size) / n : 1;
    for (index_t first_mask = 0; first_mask < opt.masks; first_mask += masks_per_call) {
        const index_t nm = first_mask + masks_per_call < opt.masks ? masks_per_call : opt.masks - first_mask;
        // Grids and shifts on the host, in mask order.
        ws.host.resize(static_cast<std::size_t>(nm * s * s));
        ws.host_index.resize(static_cast<std::size_t>(2 * nm));
        for (index_t i = 0; i < nm; ++i) {
            for (index_t j = 0; j < s * s; ++j)
                ws.host[static_cast<std::size_t>(i * s * s + j)] = r.uniform() < opt.probability ? T(1) : T(0);
            ws.host_index[static_cast<std::size_t>(2 * i)] = static_cast<index_t>(r.below(static_cast<std::uint64_t>(cell_h)));
            ws.host_index[static_cast<std::size_t>(2 * i + 1)] = static_cast<index_t>(r.below(static_cast<std::uint64_t>(cell_w)));
        }
        ws.saved.resize({nm, s, s});
        B::from_host(nm * s * s, ws.host.data(), ws.saved.data());
        ws.index.resize({2 * nm});
        B::from_host(2 * nm, ws.host_index.data(), ws.index.data());
        upsample_bilinear(ws.saved, up_h, up_w, ws.planes);
        // Crop: mask i is planes[i, dy + y, dx + x].
        ws.cam.resize({nm, h, w});
        {
            const T* pu = ws.planes.data();
            const index_t* shift = ws.index.data();
            T* pc = ws.cam.data();
            B::parallel_for(nm * hw, [=] SIB_HD(index_t i) {
                const index_t q = i / hw, y = (i % hw) / w, xx = i % w;
                pc[i] = pu[q * up_h * up_w + (shift[2 * q] + y) * up_w + shift[2 * q + 1] + xx];
            });
        }
        const row_layout rows{n, nm, false};
        ws.rows.resize({nm * n, c, h, w});
        {
            const T* px = x.data();
            const T* pc = ws.cam.data();
            T* pr = ws.rows.data();
            B::parallel_for(nm * n * len, [=] SIB_HD(index_t i) {
                const index_t r = i / len;
                pr[i] = px[rows.image(r) * len + i % len] * pc[rows.variant(r) * hw + i % hw];
            });
        }
        gather_row_targets(ws.targets, rows, 0, nm * n, ws.row_targets);
        const auto& zr = autodiff::forward_sweep(m, ws.sweeps, ws.rows);
        decoders::softmax_rows(zr, ws.mean);
        target_logits(ws.mean, ws.row_targets, ws.scores);  // target probabilities
        // sal[b] += P_i M_i in mask order.
        const T* pp = ws.scores.data();
        const T* pc = ws.cam.data();
        T* po = out.data();
        B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
            const index_t b = i / hw, px = i % hw;
            T acc = po[i];
            for (index_t q = 0; q < nm; ++q) acc += pp[q * n + b] * pc[q * hw + px];
            po[i] = acc;
        }, nm);
    }
    T* po = out.data();
    const T scale = static_cast<T>(opt.masks) * static_cast<T>(opt.probability);
    B::parallel_for(out.size(), [=] SIB_HD(index_t i) { po[i] /= scale; });
}

}  // namespace explain
SIB_END_NAMESPACE
