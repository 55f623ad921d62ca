// The gradient every gradient-family attribution reads, g = d z_t / d x, and the choice of the
// class t it explains: the label, or the model's prediction on the clean input (fixed once, so
// SmoothGrad and Integrated Gradients explain one class on every perturbed or scaled input).
//
// g is the decoded map R of the target_logit decoder, read from the same sweeps that training
// uses. So saliency and input x gradient of the training model (with target = label) are R-like
// quantities: a loss term can read them as it reads R (a right-for-the-right-reasons penalty on
// the map outside a mask, say), and the objective step's tangent sweep differentiates them once
// more into parameter gradients. Grad-CAM contracts an inner layer's activation with its decoded
// gradient; the step's tangent sweep starts at the input, so Grad-CAM is not trainable this way.
//
// Integrated Gradients, Score-CAM, occlusion and RISE evaluate many inputs per image. They go
// through the model in internal batches of "rows", each an (image, variant) pair, so memory stays
// bounded by the internal batch size; per image, results are accumulated in variant order, so they
// do not depend on how the rows are chunked (up to the GEMM's rounding).
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/error.hpp>
#include <sib/core/tensor.hpp>
#include <sib/decoders/argmax.hpp>
#include <sib/decoders/target_logit.hpp>
#include <sib/autodiff/sweeps.hpp>
#include <cstdint>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

// The class explained: the label given per image, or the prediction argmax_k z_k (first maximum,
// as torch.argmax).
enum class target_mode { label, prediction };

template <class M>
using model_tensor = tensor<typename M::value_type, typename M::backend>;
template <class M>
using model_labels = labels_tensor<typename M::backend>;

// Buffers reused across calls: pass one workspace to repeated explanations to avoid reallocation.
template <class T, class B = cpu>
struct explain_workspace {
    autodiff::sweep_workspace<T, B> sweeps;
    labels_tensor<B> targets;      // the class explained, per image
    labels_tensor<B> row_targets;  // the class explained, per row of an internal batch
    tensor<T, B> rows;                // an internal batch of perturbed, scaled or masked inputs
    tensor<T, B> scores;              // per row: the target's logit or probability
    tensor<T, B> mean, m2;            // running mean and sum of squared deviations, per image
    tensor<T, B> saved;               // an activation kept while the model runs on rows
    tensor<T, B> planes, weights, cam;
    tensor<T, B> per_image;           // one number per image (range, clean score)
    std::vector<T> host;              // random values drawn on the host, uploaded at once
    std::vector<T> host_small;
    std::vector<index_t> host_index;
    tensor<index_t, B> index;
};

template <class M>
using model_workspace = explain_workspace<typename M::value_type, typename M::backend>;

// Rows of an internal batch. Variant-major rows r = v*images + b (draws, steps, masks) keep the
// images of one variant together; image-major rows r = b*variants + v (windows, channels) keep
// the variants of one image together.
struct row_layout {
    index_t images, variants;
    bool image_major;
    SIB_HD index_t image(index_t r) const { return image_major ? r / variants : r % images; }
    SIB_HD index_t variant(index_t r) const { return image_major ? r % variants : r / images; }
    index_t size() const { return images * variants; }
};

// Rows per model call: at least one.
inline index_t rows_per_call(index_t internal_batch_size) {
    return internal_batch_size > 0 ? internal_batch_size : 1;
}

template <class T, class B>
void check_input(const char* method, const tensor<T, B>& x, const labels_tensor<B>& labels,
                 target_mode mode) {
    require(x.rank() == 4, method, ": expects input [B,C,H,W], got ", x.shape().str());
    require(x.size() > 0, method, ": empty input ", x.shape().str());
    if (mode == target_mode::label)
        require(labels.rank() == 1 && labels.size() == x.dim(0), method, ": ", labels.size(),
                " labels for a batch of ", x.dim(0), " (use the prediction as target when there are no labels)");
}

template <class T, class B>
void check_logits(const char* method, const tensor<T, B>& z, index_t batch) {
    require(z.rank() == 2 && z.dim(0) == batch, method, ": the model must output logits [", batch,
            ",K], got ", z.shape().str());
}

// targets[b] = labels[b] (checked against the class count) or the prediction of row b of z.
template <class T, class B>
void select_targets(const char* method, const tensor<T, B>& z, const labels_tensor<B>& labels,
                    target_mode mode, labels_tensor<B>& targets) {
    const index_t n = z.dim(0), k = z.dim(1);
    targets.resize({n});
    std::int64_t* pt = targets.data();
    if (mode == target_mode::label) {
        const auto host = labels.to_vector();
        for (index_t i = 0; i < n; ++i)
            require(host[static_cast<std::size_t>(i)] >= 0 && host[static_cast<std::size_t>(i)] < k, method,
                    ": label ", host[static_cast<std::size_t>(i)], " of image ", i, " is out of range for ", k,
                    " classes");
        B::copy(n, labels.data(), pt);
        return;
    }
    decoders::argmax_rows(z, targets);
}

// row_targets[j] = targets[image of row first + j].
template <class B>
void gather_row_targets(const tensor<std::int64_t, B>& targets, const row_layout& rows, index_t first,
                        index_t count, tensor<std::int64_t, B>& row_targets) {
    row_targets.resize({count});
    const std::int64_t* pt = targets.data();
    std::int64_t* pr = row_targets.data();
    B::parallel_for(count, [=] SIB_HD(index_t j) { pr[j] = pt[rows.image(first + j)]; });
}

// scores[j] = z[j, t_j], the target logit of every row.
template <class T, class B>
void target_logits(const tensor<T, B>& z, const tensor<std::int64_t, B>& t, tensor<T, B>& scores) {
    const index_t n = z.dim(0), k = z.dim(1);
    scores.resize({n});
    const T* pz = z.data();
    const std::int64_t* pt = t.data();
    T* ps = scores.data();
    B::parallel_for(n, [=] SIB_HD(index_t r) { ps[r] = pz[r * k + pt[r]]; });
}

// g_{l} = J_{l+1}^T g_{l+1} for the layers above activation `stop` only: decoded[stop..L] are
// valid afterwards (decoded[0] is the input gradient when stop is 0).
template <model M>
void decoder_sweep_to(M& m, autodiff::sweep_workspace<typename M::value_type, typename M::backend>& ws, int stop) {
    m.for_each_layer_reverse([&](auto& layer, int i) {
        if (i < stop) return;
        const auto k = static_cast<std::size_t>(i);
        ws.decoded[k].resize(ws.activations[k].shape());
        layer.vjp(ws.activations[k], ws.activations[k + 1], ws.decoded[k + 1], ws.decoded[k]);
    });
}

// Runs the model on x and seeds the decoder with onehot(t): ws.sweeps.seed() is set, the logits
// are ws.sweeps.logits(). Returns the logits.
template <model M>
const model_tensor<M>& forward_and_seed(M& m, model_workspace<M>& ws, const model_tensor<M>& x,
                                        const tensor<std::int64_t, typename M::backend>& t,
                                        const char* method) {
    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, x.dim(0));
    decoders::target_logit{}.seed(z, t, ws.sweeps.seed());
    return z;
}

// Runs the model on x, picks the targets into ws.targets and seeds onehot(targets).
template <model M>
const model_tensor<M>& forward_select_and_seed(M& m, model_workspace<M>& ws, const model_tensor<M>& x,
                                               const model_labels<M>& labels, target_mode mode,
                                               const char* method) {
    const auto& z = autodiff::forward_sweep(m, ws.sweeps, x);
    check_logits(method, z, x.dim(0));
    select_targets(method, z, labels, mode, ws.targets);
    decoders::target_logit{}.seed(z, ws.targets, ws.sweeps.seed());
    return z;
}

// g = d z_t / d x for targets chosen on x itself; returns g (ws.sweeps.decoded[0], shape of x).
// The model must be in evaluation mode (see eval_mode_scope), else samples are coupled.
template <model M>
const model_tensor<M>& input_gradient(M& m, model_workspace<M>& ws, const model_tensor<M>& x,
                                      const model_labels<M>& labels, target_mode mode,
                                      const char* method = "input_gradient") {
    check_input(method, x, labels, mode);
    forward_select_and_seed(m, ws, x, labels, mode, method);
    return autodiff::decoder_sweep(m, ws.sweeps);
}

// g = d z_t / d x for given per-row targets t (rows of perturbed inputs).
template <model M>
const model_tensor<M>& target_gradient(M& m, model_workspace<M>& ws, const model_tensor<M>& x,
                                       const tensor<std::int64_t, typename M::backend>& t,
                                       const char* method = "target_gradient") {
    forward_and_seed(m, ws, x, t, method);
    return autodiff::decoder_sweep(m, ws.sweeps);
}

// Per-image minimum and maximum of x [B, ...] into out [B,2] (min, max).
template <class T, class B>
void image_range(const tensor<T, B>& x, tensor<T, B>& out) {
    const index_t n = x.dim(0), len = x.shape().sample_numel();
    out.resize({n, 2});
    const T* px = x.data();
    T* po = out.data();
    B::parallel_for(n, [=] SIB_HD(index_t b) {
        const T* v = px + b * len;
        T lo = v[0], hi = v[0];
        for (index_t i = 1; i < len; ++i) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        po[2 * b] = lo;
        po[2 * b + 1] = hi;
    }, len);
}

// Running mean over variants: mean += (v - mean) / k for the k-th value (k from 1). Equal values
// leave the mean exactly equal to them, so a noise-free SmoothGrad is exactly saliency; with
// m2 != nullptr also Welford's sum of squared deviations, exactly 0 for equal values.
template <class T>
SIB_HD inline void running_update(T v, T k, T& mean, T* m2) {
    const T delta = v - mean;
    mean += delta / k;
    if (m2) *m2 += delta * (v - mean);
}

}  // namespace explain
SIB_END_NAMESPACE
