// sib eval: localisation (and optionally faithfulness) metrics with bootstrap intervals, either of
// given maps against given masks, or of a model's explanations on a benchmark's test split.
#include "explain_common.hpp"
#include <sib/explain/eval_mode.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/weights.hpp>
#include <sib/layers/spec_model.hpp>
#include <sib/metrics/faithfulness.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>

namespace sib_cli {

namespace {

const std::vector<std::string>& localisation_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& m : sib::metrics::localisation_metrics) v.emplace_back(m.first);
        return v;
    }();
    return names;
}

// --metrics: "all" (the six localisation metrics, plus deletion and insertion with
// --faithfulness) or a comma-separated list.
std::vector<std::string> parse_metrics(const std::string& text, bool faithfulness, bool have_model) {
    std::vector<std::string> out;
    if (text == "all") {
        out = localisation_names();
        if (faithfulness) out.insert(out.end(), {"deletion", "insertion"});
        return out;
    }
    std::string known;
    for (const auto& n : localisation_names()) known += n + ", ";
    known += "deletion, insertion";
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string m = text.substr(start, comma - start);
        const bool slow = m == "deletion" || m == "insertion";
        bool ok = slow;
        for (const auto& n : localisation_names()) ok = ok || n == m;
        sib::require(ok, "--metrics: unknown metric '", m, "' (known: ", known, "; or all)");
        sib::require(!slow || have_model, "--metrics: ", m, " needs a model (--model, --weights, --benchmark)");
        sib::require(!slow || faithfulness, "--metrics: ", m, " is slow and runs only with --faithfulness");
        for (const auto& seen : out) sib::require(seen != m, "--metrics: ", m, " given twice");
        out.push_back(m);
        start = comma + 1;
    }
    return out;
}

void require_bootstrap_images(sib::index_t n, const std::string& what) {
    sib::require(n >= 2, what, ": a bootstrap interval needs at least 2 images, got ", n);
}

sib::metrics::bootstrap_options bootstrap_from(const args& a, std::uint64_t seed) {
    const long long r = a.integer("--resamples");
    sib::require(r >= 1, "--resamples must be at least 1, got ", r);
    return {static_cast<int>(r), 0.95, seed};
}

// Adds the localisation metrics in `wanted` of maps against masks to the report under `method`.
void add_localisation(sib::metrics::report& rep, const std::string& method, const std::vector<std::string>& wanted,
                      const sib::tensor<float>& maps, const sib::tensor<float>& masks,
                      const sib::metrics::bootstrap_options& bo) {
    const auto scores = sib::metrics::localisation_batch(maps, masks);
    for (const auto& name : wanted)
        for (const auto& [metric, field] : sib::metrics::localisation_metrics)
            if (name == metric) rep.add(method, name, sib::metrics::column(scores, field), bo);
}

nlohmann::ordered_json summary_json(const sib::metrics::metric_summary& s) {
    auto number = [](double v) { return std::isnan(v) ? nlohmann::ordered_json() : nlohmann::ordered_json(v); };
    return {{"mean", number(s.mean)}, {"lo", number(s.lo)}, {"hi", number(s.hi)}, {"count", s.count},
            {"nan_count", s.nan_count}};
}

// Form (a): given maps against given masks.
int eval_maps(const args& a, std::uint64_t seed) {
    for (const char* f : {"--model", "--weights", "--benchmark", "--methods", "--count"})
        sib::require(!a.set(f), f, " goes with --model/--weights/--benchmark, not with --maps");
    sib::require(!a.set("--faithfulness"), "--faithfulness needs a model (--model, --weights, --benchmark)");
    sib::require(a.set("--masks"), "--maps needs --masks S.npy");
    const std::string maps_path = a.str("--maps"), masks_path = a.str("--masks");
    const auto metrics = parse_metrics(a.str("--metrics"), false, false);
    const auto bo = bootstrap_from(a, seed);
    const sib::tensor<float> maps = sib::io::load_npy<float>(maps_path);
    const sib::tensor<float> masks = sib::io::load_npy<float>(masks_path);
    const auto spatial = [](const sib::shape& s) {
        if (s.rank() == 3) return s;
        if (s.rank() == 4 && s[1] == 1) return sib::shape{s[0], s[2], s[3]};
        return sib::shape{};
    };
    sib::require(spatial(maps.shape()).rank() == 3, maps_path, ": maps must be [B,H,W] or [B,1,H,W], got ",
                 maps.shape().str());
    sib::require(spatial(masks.shape()).rank() == 3, masks_path, ": masks must be [B,H,W] or [B,1,H,W], got ",
                 masks.shape().str());
    sib::require(spatial(maps.shape()) == spatial(masks.shape()), "maps ", maps.shape().str(), " (", maps_path,
                 ") and masks ", masks.shape().str(), " (", masks_path, ") differ in batch or spatial size");
    require_bootstrap_images(maps.dim(0), maps_path);

    sib::metrics::report rep;
    const std::string method = std::filesystem::path(maps_path).stem().string();
    add_localisation(rep, method, metrics, maps, masks, bo);
    std::cout << rep.to_markdown();
    nlohmann::ordered_json per_metric = nlohmann::ordered_json::object();
    for (const auto& m : metrics) per_metric[m] = summary_json(*rep.find(method, m));
    nlohmann::ordered_json j = {{"maps", maps_path}, {"masks", masks_path}, {"images", maps.dim(0)},
                                {"metrics", per_metric}};
    std::cout << j.dump() << std::endl;
    return 0;
}

// Form (b): a model's explanations of a benchmark's test split.
int eval_model(const args& a, std::uint64_t seed) {
    sib::require(!a.set("--masks"), "--masks goes with --maps; a benchmark brings its own masks");
    for (const char* f : {"--model", "--weights", "--benchmark"})
        sib::require(a.set(f), "missing ", f, " (sib eval takes --maps/--masks, or --model, --weights and "
                     "--benchmark; see sib eval --help)");
    const bool faithfulness = a.set("--faithfulness");
    const auto methods = parse_methods(a.str("--methods"), "--methods");
    const auto metrics = parse_metrics(a.str("--metrics"), faithfulness, true);
    const auto bo = bootstrap_from(a, seed);
    const auto opt = explain_options_from(a, seed);
    const sib::index_t batch = batch_from(a);
    const long long count = a.integer("--count");
    sib::require(count >= 0, "--count must be non-negative (0: the whole test split), got ", count);
    require_bootstrap_images(count == 0 ? 2 : count, "--count");
    const std::string bench = a.str("--benchmark");
    const auto test = benchmark_test_split(bench, seed, count);
    require_bootstrap_images(test.size(), "the test split of " + bench);
    sib::require(test.has_masks(), bench, ": the test split has no masks to score against");
    bool want_deletion = false, want_insertion = false;
    for (const auto& m : metrics) {
        want_deletion = want_deletion || m == "deletion";
        want_insertion = want_insertion || m == "insertion";
    }

    return with_dtype(a, [&]<class T>() {
        sib::nn::spec_model<T> model(a.str("--model"));
        check_before_explaining(model, test.images().shape(), &test.labels(), methods, opt);
        sib::io::load_weights(model, a.str("--weights"));
        const sib::tensor<T> x = sib::tensor_cast<T>(test.images());
        const sib::index_t n = test.size();

        const auto pred = predictions(model, x, batch);
        const auto y = test.labels().to_vector();
        sib::index_t correct = 0;
        for (sib::index_t i = 0; i < n; ++i) correct += pred[static_cast<std::size_t>(i)] == y[static_cast<std::size_t>(i)];
        const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
        // Faithfulness follows the class each map explains.
        const sib::tensor<std::int64_t> targets =
            opt.target == sib::explain::target_mode::label ? test.labels() : sib::tensor<std::int64_t>({n}, pred);

        // The target probability of a batch of perturbed images, in evaluation mode.
        sib::autodiff::sweep_workspace<T> ws;
        auto probability = [&](const sib::tensor<float>& images, const sib::tensor<std::int64_t>& labels) {
            sib::explain::eval_mode_scope<sib::nn::spec_model<T>> scope(model);
            const auto z = sib::autodiff::forward_sweep(model, ws, sib::tensor_cast<T>(images)).to_vector();
            const sib::index_t rows = images.dim(0), k = static_cast<sib::index_t>(z.size()) / rows;
            std::vector<double> p(static_cast<std::size_t>(rows));
            for (sib::index_t r = 0; r < rows; ++r) {
                const T* zr = z.data() + r * k;
                double top = static_cast<double>(zr[0]), sum = 0;
                for (sib::index_t j = 1; j < k; ++j) top = std::max(top, static_cast<double>(zr[j]));
                for (sib::index_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(zr[j]) - top);
                p[static_cast<std::size_t>(r)] = std::exp(static_cast<double>(zr[labels.data()[r]]) - top) / sum;
            }
            return p;
        };

        sib::metrics::report rep;
        nlohmann::ordered_json seconds = nlohmann::ordered_json::object();
        sib::train::progress_options po;
        po.label = "eval";
        po.unit = "img";
        sib::train::progress bar(static_cast<sib::index_t>(methods.size()) * n * (faithfulness ? 2 : 1), po);
        for (const auto& m : methods) {
            const auto start = std::chrono::steady_clock::now();
            const sib::tensor<float> maps = explain_in_batches(model, x, test.labels(), m, opt, batch, bar);
            add_localisation(rep, m, metrics, maps, test.masks(), bo);
            if (faithfulness && (want_deletion || want_insertion)) {
                std::vector<double> del, ins;
                for (sib::index_t first = 0; first < n; first += batch) {
                    const sib::index_t k = std::min(batch, n - first);
                    const auto f = sib::metrics::faithfulness_batch(probability, rows_of(test.images(), first, k),
                                                                   rows_of(targets, first, k), rows_of(maps, first, k));
                    for (const auto& s : f) {
                        del.push_back(s.deletion);
                        ins.push_back(s.insertion);
                    }
                    bar.advance(k);
                }
                for (const auto& name : metrics) {
                    if (name == "deletion") rep.add(m, name, del, bo);
                    if (name == "insertion") rep.add(m, name, ins, bo);
                }
            }
            seconds[m] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        bar.finish();

        std::cout << rep.to_markdown();
        nlohmann::ordered_json j = {{"benchmark", bench}, {"images", n}, {"accuracy", accuracy},
                                    {"target", opt.target == sib::explain::target_mode::label ? "label" : "pred"},
                                    {"methods", rep.to_json()}, {"seconds", seconds}};
        std::cout << j.dump() << std::endl;
        return 0;
    });
}

}  // namespace

int cmd_eval(int argc, char** argv) {
    args a("eval", "Scores explanation maps against ground-truth masks: ebpg, bg_energy, pointing_game,\n"
                   "rank_acc, auroc, gini (and deletion/insertion with --faithfulness), each as the mean\n"
                   "over images with a 95% bootstrap interval. Two forms:\n"
                   "  sib eval --maps A.npy --masks S.npy              given maps [B,H,W] and masks\n"
                   "  sib eval --model SPEC --weights W --benchmark NAME   explain and score its test split\n"
                   "Prints a Markdown table, then JSON on the last line.");
    a.flag("--maps", "A.npy", "maps [B,H,W] or [B,1,H,W] (form 1)", "")
        .flag("--masks", "S.npy", "masks [B,H,W] or [B,1,H,W], foreground > 0.5 (form 1)", "")
        .flag("--model", "SPEC", "model spec (form 2)", "")
        .flag("--weights", "W", ".safetensors file or folder of param.<name>.npy (form 2)", "")
        .flag("--benchmark", "NAME", "fmnist, fmnist-decoy, fmnist-clutter, fmnist-color or shapes (form 2)", "")
        .flag("--count", "N", "the first N test images (0: all)", "1000")
        .flag("--methods", "all|every|M,...", "methods to explain with (form 2)", "all")
        .flag("--metrics", "all|M,...", "metrics to report", "all")
        .option("--faithfulness", "also deletion and insertion AUC (slow: 2 x 51 model calls per image)")
        .flag("--resamples", "N", "bootstrap resamples", "2000")
        .flag("--seed", "S", "seed of the benchmark, the seeded methods and the bootstrap", "0");
    add_explain_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, std::cout)) return 0;
    apply_threads(a);
    const std::uint64_t seed = seed_from(a);
    if (a.set("--maps")) return eval_maps(a, seed);
    return eval_model(a, seed);
}

}  // namespace sib_cli
