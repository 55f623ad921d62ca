// Many images at a time: the maps of a whole set by one method, `batch` images per call, and the
// model's predictions, as `sib explain`, `sib eval` and sib::metrics::score_explanations run them.
// A progress callback, when given, hears the number of images each batch finished.
#pragma once
#include <sib/autodiff/sweeps.hpp>
#include <sib/decoders/argmax.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/explain.hpp>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

// Called with the number of images a batch just finished.
using progress_callback = std::function<void(index_t)>;

// Rows [first, first + n) of a [N, ...] tensor, as a new tensor.
template <class T, class B>
tensor<T, B> rows_of(const tensor<T, B>& t, index_t first, index_t n) {
    require(t.rank() >= 1 && first >= 0 && n >= 0 && first + n <= t.dim(0), "rows_of: rows [", first, ", ",
            first + n, ") of ", t.shape().str());
    sib::shape s = t.shape();
    s[0] = n;
    tensor<T, B> out(s);
    const index_t len = t.shape().sample_numel();
    B::copy(n * len, t.data() + first * len, out.data());
    return out;
}

// The maps of all images x [N,C,H,W] by one method as float ([N,H,W], or [N,C,H,W] with
// keep_channels), `batch` images per explain() call (the seeded methods depend on the batch
// size). labels may be empty when the target is the prediction.
template <model M>
tensor<float> explain_in_batches(M& m, const model_tensor<M>& x, const model_labels<M>& labels, std::string_view method,
                                 const explain_options& o, index_t batch, const progress_callback& progress = {}) {
    require(batch >= 1, "explain_in_batches: batch must be at least 1, got ", batch);
    const index_t n = x.dim(0);
    tensor<float> all;
    for (index_t first = 0; first < n; first += batch) {
        const index_t k = std::min(batch, n - first);
        const auto xs = rows_of(x, first, k);
        const auto ys = labels.empty() ? model_labels<M>{} : rows_of(labels, first, k);
        const tensor<float> maps = explain(m, xs, ys, method, o);
        if (first == 0) {
            sib::shape s = maps.shape();
            s[0] = n;
            all.resize(s);
        }
        cpu::copy(maps.size(), maps.data(), all.data() + first * maps.shape().sample_numel());
        if (progress) progress(k);
    }
    return all;
}

// The model's prediction (arg-max logit, first maximum) for every image of x [N,...], in
// evaluation mode, `batch` images per model call.
template <model M>
std::vector<std::int64_t> predictions(M& m, const model_tensor<M>& x, index_t batch) {
    require(batch >= 1, "predictions: batch must be at least 1, got ", batch);
    eval_mode_scope<M> scope(m);
    autodiff::sweep_workspace<typename M::value_type, typename M::backend> ws;
    model_labels<M> pred;
    std::vector<std::int64_t> out;
    out.reserve(static_cast<std::size_t>(x.dim(0)));
    for (index_t first = 0; first < x.dim(0); first += batch) {
        const index_t k = std::min(batch, x.dim(0) - first);
        decoders::argmax_rows(autodiff::forward_sweep(m, ws, rows_of(x, first, k)), pred);
        const auto p = pred.to_vector();
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace explain
SIB_END_NAMESPACE
