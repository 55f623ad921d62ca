// Explaining a model's decisions on images with ground-truth masks and scoring the maps: what
// `sib eval --model SPEC --weights W --benchmark NAME` does, as one call.
//
//   const auto test = sib::data::make_benchmark_split("shapes", 0, false, 200);
//   const auto r = sib::metrics::score_explanations(model, test, sib::explain::core_methods());
//   std::cout << r.to_markdown() << r.to_json().dump() << "\n";
//
// Per method: the maps of every image (`batch` images per explanation call, as sib::explain::
// explain_in_batches), the localisation metrics of each map against its mask, and, when asked for,
// deletion and insertion (faithfulness_batch, on the class each map explains: the label, or the
// prediction with target_mode::prediction); each metric as the mean over images with a bootstrap
// interval (report::add). Also the model's accuracy (arg-max logit against the label) and the wall
// time per method.
#pragma once
#include <sib/autodiff/sweeps.hpp>
#include <sib/core/concepts.hpp>
#include <sib/data/dataset.hpp>
#include <sib/decoders/decoder.hpp>
#include <sib/explain/batched.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/methods.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/metrics/bootstrap.hpp>
#include <sib/metrics/faithfulness.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <sib/io/json.hpp>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace metrics {

// The metrics that need the model: deletion and insertion (slow: 2 x (steps + 1) model calls per
// image). The others are the six of localisation_metrics.
inline constexpr std::array<std::string_view, 2> faithfulness_metrics{"deletion", "insertion"};

inline bool is_faithfulness_metric(std::string_view m) {
    for (auto f : faithfulness_metrics)
        if (f == m) return true;
    return false;
}
inline bool is_known_metric(std::string_view m) {
    for (const auto& l : localisation_metrics)
        if (m == l.first) return true;
    return is_faithfulness_metric(m);
}

// The localisation metrics, then deletion and insertion when `faithfulness`, in that order.
inline std::vector<std::string> metric_names(bool faithfulness) {
    std::vector<std::string> out;
    for (const auto& l : localisation_metrics) out.emplace_back(l.first);
    if (faithfulness) out.insert(out.end(), faithfulness_metrics.begin(), faithfulness_metrics.end());
    return out;
}
// "ebpg, bg_energy, ..., deletion, insertion", for messages.
inline std::string metric_list() {
    std::string s;
    for (const auto& m : metric_names(true)) s += (s.empty() ? "" : ", ") + m;
    return s;
}

// The localisation metrics among `wanted` (in that order; others are skipped) of maps against
// masks, added to the report under `method`.
inline void add_localisation(report& r, const std::string& method, std::span<const std::string> wanted,
                             const tensor<float>& maps, const tensor<float>& masks, const bootstrap_options& bo = {}) {
    const auto scores = localisation_batch(maps, masks);
    for (const auto& name : wanted)
        for (const auto& [metric, field] : localisation_metrics)
            if (name == metric) r.add(method, name, column(scores, field), bo);
}

struct score_options {
    // Metrics to report, in this column order (deletion and insertion after the others); known:
    // metric_names(true).
    std::vector<std::string> metrics = metric_names(false);
    explain::explain_options explain;  // target, layer, steps, samples, seed, ...
    index_t batch = 64;                // images per explanation call (seeded methods depend on it)
    bootstrap_options bootstrap;       // resamples, confidence, seed
    faithfulness_options faithfulness;
    explain::progress_callback progress;  // hears the images each batch finished (explained or scored)
};

struct score_report {
    report table;                              // (method, metric) -> mean, interval, counts
    index_t images = 0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();  // arg-max logit == label
    explain::target_mode target = explain::target_mode::label;
    std::vector<std::int64_t> predictions;     // per image
    std::vector<std::pair<std::string, double>> seconds;  // per method: explaining and scoring

    std::string to_markdown(int digits = 3) const { return table.to_markdown(digits); }
    // {"images", "accuracy", "target": "label"|"pred", "methods": table.to_json(), "seconds": {method: s}}
    io::json to_json() const {
        io::json s = io::json::object();
        for (const auto& [m, t] : seconds) s[m] = t;
        return {{"images", images},
                {"accuracy", accuracy},
                {"target", target == explain::target_mode::label ? "label" : "pred"},
                {"methods", table.to_json()},
                {"seconds", s}};
    }
};

// The explanations by `methods` of images [N,C,H,W] with labels [N] and masks [N,1,H,W] (or
// [N,H,W]), scored. Everything is checked before the first explanation: known methods and
// metrics, no repeats, logits [N,K], labels in range, CAM target layers, keep_channels off (maps
// are scored spatially), at least 2 images for an interval.
template <model M>
score_report score_explanations(M& m, const tensor<float>& images, const labels_tensor<>& labels,
                                const tensor<float>& masks, std::span<const std::string> methods,
                                const score_options& o = {}) {
    using T = typename M::value_type;
    static_assert(std::is_same_v<typename M::backend, cpu>, "score_explanations: the model must run on the CPU backend");
    require(images.rank() == 4, "score_explanations: images must be [N,C,H,W], got ", images.shape().str());
    const index_t n = images.dim(0);
    require(labels.rank() == 1 && labels.dim(0) == n, "score_explanations: ", labels.shape().str(), " labels for ", n,
            " images");
    const index_t h = images.dim(2), w = images.dim(3);
    require(masks.shape() == sib::shape{n, h, w} || masks.shape() == sib::shape{n, 1, h, w}, "score_explanations: masks ",
            masks.shape().str(), " do not match images ", images.shape().str(), " (want [", n, ",1,", h, ",", w, "])");
    require(n >= 2, "score_explanations: a bootstrap interval needs at least 2 images, got ", n);
    require(o.batch >= 1, "score_explanations: batch must be at least 1, got ", o.batch);
    require(!o.explain.keep_channels, "score_explanations: keep_channels gives maps per channel; scores need spatial maps");
    for (std::size_t i = 0; i < methods.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            require(methods[i] != methods[j], "score_explanations: method ", methods[i], " given twice");
    bool want_faithfulness = false;
    for (std::size_t i = 0; i < o.metrics.size(); ++i) {
        const std::string& name = o.metrics[i];
        require(is_known_metric(name), "score_explanations: unknown metric '", name, "' (known: ", metric_list(), ")");
        for (std::size_t j = 0; j < i; ++j)
            require(o.metrics[j] != name, "score_explanations: metric ", name, " given twice");
        want_faithfulness = want_faithfulness || is_faithfulness_metric(name);
    }
    explain::check_methods(m, images.shape(), methods, o.explain);
    loss::check_labels(labels, m.output_shape(images.shape())[1]);

    score_report r;
    r.images = n;
    r.target = o.explain.target;
    const tensor<T> x = tensor_cast<T>(images);
    r.predictions = explain::predictions(m, x, o.batch);
    const auto y = labels.to_vector();
    index_t correct = 0;
    for (index_t i = 0; i < n; ++i) correct += r.predictions[static_cast<std::size_t>(i)] == y[static_cast<std::size_t>(i)];
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    // Faithfulness follows the class each map explains.
    const labels_tensor<> targets =
        o.explain.target == explain::target_mode::label ? labels : labels_tensor<>({n}, r.predictions);

    // The target probability of a batch of perturbed images, in evaluation mode (softmax in double).
    autodiff::sweep_workspace<T> ws;
    tensor<double> p;
    auto probability = [&](const tensor<float>& batch, const labels_tensor<>& target) {
        explain::eval_mode_scope<M> scope(m);
        decoders::softmax_rows(tensor_cast<double>(autodiff::forward_sweep(m, ws, tensor_cast<T>(batch))), p);
        const index_t rows = batch.dim(0), k = p.dim(1);
        std::vector<double> out(static_cast<std::size_t>(rows));
        for (index_t i = 0; i < rows; ++i) out[static_cast<std::size_t>(i)] = p[i * k + target[i]];
        return out;
    };

    for (const auto& method : methods) {
        const auto start = std::chrono::steady_clock::now();
        const tensor<float> maps = explain::explain_in_batches(m, x, labels, method, o.explain, o.batch, o.progress);
        add_localisation(r.table, method, o.metrics, maps, masks, o.bootstrap);
        if (want_faithfulness) {
            std::vector<double> deletion, insertion;
            for (index_t first = 0; first < n; first += o.batch) {
                const index_t k = std::min(o.batch, n - first);
                for (const auto& s : faithfulness_batch(probability, explain::rows_of(images, first, k),
                                                        explain::rows_of(targets, first, k),
                                                        explain::rows_of(maps, first, k), o.faithfulness)) {
                    deletion.push_back(s.deletion);
                    insertion.push_back(s.insertion);
                }
                if (o.progress) o.progress(k);
            }
            for (const auto& name : o.metrics) {
                if (name == "deletion") r.table.add(method, name, deletion, o.bootstrap);
                if (name == "insertion") r.table.add(method, name, insertion, o.bootstrap);
            }
        }
        r.seconds.emplace_back(method, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return r;
}

// The same for a dataset with masks, e.g. a benchmark's test split (sib::data::make_benchmark_split).
template <model M, data::dataset D>
score_report score_explanations(M& m, const D& d, std::span<const std::string> methods, const score_options& o = {}) {
    require(d.has_masks(), "score_explanations: the dataset has no masks to score against");
    if constexpr (std::is_same_v<D, data::in_memory_dataset>) {
        return score_explanations(m, d.images(), d.labels(), d.masks(), methods, o);
    } else {
        const index_t n = d.size();
        const sib::shape s = d.image_shape();
        tensor<float> images({n, s[0], s[1], s[2]}), masks({n, 1, s[1], s[2]});
        labels_tensor<> labels({n});
        for (index_t i = 0; i < n; ++i) {
            d.image(i, images.data() + i * s.numel());
            d.mask(i, masks.data() + i * s[1] * s[2]);
            labels[i] = d.label(i);
        }
        return score_explanations(m, images, labels, masks, methods, o);
    }
}

}  // namespace metrics
SIB_END_NAMESPACE
