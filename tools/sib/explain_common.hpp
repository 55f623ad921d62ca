// Pieces `sib explain` and `sib eval` share: method lists, the explanation flags, a benchmark's
// test split, the up-front checks (so that bad input fails before any work, in one line), and
// explaining a set of images in batches with progress.
#pragma once
#include "common.hpp"
#include <sib/data/benchmarks.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/explain.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/train/progress.hpp>
#include <sib/autodiff/sweeps.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace sib_cli {

// The six methods docs/explanations.md defines (--method all); --method every is all 14.
inline const std::vector<std::string>& core_methods() {
    static const std::vector<std::string> names{"saliency", "input_x_gradient", "smoothgrad",
                                                "integrated_gradients", "gradcam", "gradcam_pp"};
    return names;
}

// "all", "every" or a comma-separated list of known methods (no repeats).
inline std::vector<std::string> parse_methods(const std::string& text, const std::string& flag) {
    if (text == "all") return core_methods();
    if (text == "every") return {sib::explain::method_names.begin(), sib::explain::method_names.end()};
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string m = text.substr(start, comma - start);
        bool known = false;
        for (auto n : sib::explain::method_names) known = known || n == m;
        sib::require(known, flag, ": unknown method '", m, "' (known: ", sib::explain::method_list(),
                     "; or all, every)");
        for (const auto& seen : out) sib::require(seen != m, flag, ": method ", m, " given twice");
        out.push_back(m);
        start = comma + 1;
    }
    return out;
}

inline bool is_cam_method(const std::string& m) {
    return m == "gradcam" || m == "gradcam_pp" || m == "layercam" || m == "xgradcam" || m == "hirescam" ||
           m == "scorecam";
}

inline void add_explain_flags(args& a) {
    a.flag("--target", "label|pred", "class explained: the label or the model's prediction", "label")
        .flag("--layer", "N", "CAM methods: Sequential index of the target layer; -1: the last 4-D output", "-1")
        .flag("--steps", "K", "integrated_gradients: steps m", "32")
        .flag("--samples", "K", "smoothgrad, vargrad: noise draws", "25")
        .flag("--batch", "N", "images per explanation call (seeded methods depend on it)", "64")
        .flag("--dtype", "float32|float64", "arithmetic precision", "float32");
}

inline sib::explain::explain_options explain_options_from(const args& a, std::uint64_t seed) {
    sib::explain::explain_options o;
    o.target = a.choice("--target", {"label", "pred"}) == "label" ? sib::explain::target_mode::label
                                                                    : sib::explain::target_mode::prediction;
    const long long layer = a.integer("--layer");
    sib::require(layer >= -1, "--layer must be a layer index (or -1 for the default), got ", layer);
    o.layer = static_cast<int>(layer);
    const long long steps = a.integer("--steps"), samples = a.integer("--samples");
    sib::require(steps >= 1, "--steps must be at least 1, got ", steps);
    sib::require(samples >= 1, "--samples must be at least 1, got ", samples);
    o.steps = static_cast<int>(steps);
    o.samples = static_cast<int>(samples);
    o.seed = seed;
    return o;
}

inline sib::index_t batch_from(const args& a) {
    const long long b = a.integer("--batch");
    sib::require(b >= 1, "--batch must be at least 1, got ", b);
    return b;
}

inline std::uint64_t seed_from(const args& a) {
    const long long s = a.integer("--seed");
    sib::require(s >= 0, "--seed must be non-negative, got ", s);
    return static_cast<std::uint64_t>(s);
}

// The first `count` images of a benchmark's test split (generated from `seed` as `sib train`
// generates it), without building the training split.
inline sib::data::in_memory_dataset benchmark_test_split(const std::string& name, std::uint64_t seed,
                                                         sib::index_t count) {
    namespace d = sib::data;
    bool known = false;
    for (const auto& n : d::benchmark_names()) known = known || n == name;
    std::string list;
    for (const auto& n : d::benchmark_names()) list += (list.empty() ? "" : ", ") + n;
    sib::require(known, "--benchmark: unknown '", name, "' (known: ", list, ")");
    if (name == "shapes") return d::make_shapes(seed, false, count);
    const d::in_memory_dataset src = d::load_fashion_mnist(d::fashion_mnist_default_dir, false);
    if (name == "fmnist") return d::make_fmnist(src, count);
    if (name == "fmnist-decoy") return d::make_fmnist_decoy(src, seed, false, count);
    if (name == "fmnist-clutter") return d::make_fmnist_clutter(src, seed, false, count);
    return d::make_fmnist_color(src, seed, false, count);
}

// Rows [first, first + n) of a [N, ...] tensor.
template <class T, class B>
sib::tensor<T, B> rows_of(const sib::tensor<T, B>& t, sib::index_t first, sib::index_t n) {
    sib::shape s = t.shape();
    s[0] = n;
    sib::tensor<T, B> out(s);
    const sib::index_t len = t.shape().sample_numel();
    B::copy(n * len, t.data() + first * len, out.data());
    return out;
}

// Item i of a [N, ...] tensor, without the leading axis.
template <class T, class B>
sib::tensor<T, B> item_of(const sib::tensor<T, B>& t, sib::index_t i) {
    auto out = rows_of(t, i, 1);
    const sib::shape& s = t.shape();
    out.reshape(sib::shape(s.begin() + 1, s.end()));
    return out;
}

// Everything that would otherwise fail in the middle of the work: the model fits the images and
// ends in logits, the labels name its classes, and every CAM method has a 4-D target layer.
template <class M>
void check_before_explaining(M& model, const sib::shape& images, const sib::tensor<std::int64_t>* labels,
                             const std::vector<std::string>& methods, const sib::explain::explain_options& o) {
    const sib::shape z = model.output_shape(images);
    sib::require(z.rank() == 2, "--model: must end in logits [B,K], gives ", z.str(), " for images ", images.str());
    if (labels) sib::loss::check_labels(*labels, z[1]);
    for (const auto& m : methods)
        if (is_cam_method(m)) sib::explain::resolve_cam_layer(model, images, o.layer, m.c_str());
    if (o.keep_channels)
        for (const auto& m : methods)
            sib::require(sib::explain::is_gradient_family(m), "--keep-channels applies to the gradient family only "
                         "(saliency, input_x_gradient, smoothgrad, integrated_gradients, guided_backprop, vargrad), not ",
                         m);
}

// The maps of all images x [N,C,H,W] by one method, `batch` images per call, advancing `bar` by
// the images done. labels may be empty when the target is the prediction.
template <class M>
sib::tensor<float> explain_in_batches(M& model, const sib::tensor<typename M::value_type>& x,
                                      const sib::tensor<std::int64_t>& labels, const std::string& method,
                                      const sib::explain::explain_options& o, sib::index_t batch,
                                      sib::train::progress& bar) {
    const sib::index_t n = x.dim(0);
    sib::tensor<float> all;
    for (sib::index_t first = 0; first < n; first += batch) {
        const sib::index_t k = std::min(batch, n - first);
        const auto xs = rows_of(x, first, k);
        const auto ys = labels.empty() ? sib::tensor<std::int64_t>{} : rows_of(labels, first, k);
        const sib::tensor<float> maps = sib::explain::explain(model, xs, ys, method, o);
        if (first == 0) {
            sib::shape s = maps.shape();
            s[0] = n;
            all.resize(s);
        }
        sib::cpu::copy(maps.size(), maps.data(), all.data() + first * maps.shape().sample_numel());
        bar.advance(k);
    }
    return all;
}

// The model's prediction (arg-max logit, first maximum) for every image, in evaluation mode.
template <class M>
std::vector<std::int64_t> predictions(M& model, const sib::tensor<typename M::value_type>& x, sib::index_t batch) {
    using T = typename M::value_type;
    sib::explain::eval_mode_scope<M> scope(model);
    sib::autodiff::sweep_workspace<T> ws;
    std::vector<std::int64_t> out;
    for (sib::index_t first = 0; first < x.dim(0); first += batch) {
        const sib::index_t k = std::min(batch, x.dim(0) - first);
        const auto z = sib::autodiff::forward_sweep(model, ws, rows_of(x, first, k)).to_vector();
        const sib::index_t classes = static_cast<sib::index_t>(z.size()) / k;
        for (sib::index_t i = 0; i < k; ++i) {
            sib::index_t best = 0;
            for (sib::index_t j = 1; j < classes; ++j)
                if (z[static_cast<std::size_t>(i * classes + j)] > z[static_cast<std::size_t>(i * classes + best)]) best = j;
            out.push_back(best);
        }
    }
    return out;
}

}  // namespace sib_cli
