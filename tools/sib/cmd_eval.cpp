// sib eval: localisation (and optionally faithfulness) metrics with bootstrap intervals, either of
// given maps against given masks, or of a model's explanations on a benchmark's test split.
#include "explain_common.hpp"
#include <sib/io/npy.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <sib/metrics/score_explanations.hpp>
#include <filesystem>

namespace sib_cli {

namespace {

// --metrics: "all" (the six localisation metrics, plus deletion and insertion with
// --faithfulness) or a comma-separated list.
std::vector<std::string> parse_metrics(const std::string& text, bool faithfulness, bool have_model) {
    if (text == "all") return sib::metrics::metric_names(faithfulness);
    std::vector<std::string> out;
    for (auto& m : sib::split_list(text)) {
        const bool slow = sib::metrics::is_faithfulness_metric(m);
        sib::require(sib::metrics::is_known_metric(m), "--metrics: unknown metric '", m, "' (known: ",
                     sib::metrics::metric_list(), "; or all)");
        sib::require(!slow || have_model, "--metrics: ", m, " needs a model (--model, --weights, --benchmark)");
        sib::require(!slow || faithfulness, "--metrics: ", m, " is slow and runs only with --faithfulness");
        for (const auto& seen : out) sib::require(seen != m, "--metrics: ", m, " given twice");
        out.push_back(std::move(m));
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
    sib::metrics::add_localisation(rep, method, metrics, maps, masks, bo);
    std::cout << rep.to_markdown();
    sib::io::json j = {{"maps", maps_path}, {"masks", masks_path}, {"images", maps.dim(0)},
                                {"metrics", rep.to_json()[method]}};
    std::cout << j.dump() << std::endl;
    return 0;
}

// Form (b): a model's explanations of a benchmark's test split (sib::metrics::score_explanations).
int eval_model(const args& a, std::uint64_t seed) {
    sib::require(!a.set("--masks"), "--masks goes with --maps; a benchmark brings its own masks");
    for (const char* f : {"--model", "--weights"})
        sib::require(a.set(f), "missing ", f, " (sib eval takes --maps/--masks, or --model, --weights and "
                     "--benchmark or --data; see sib eval --help)");
    sib::require(a.set("--benchmark") != a.set("--data"), "give exactly one of --benchmark NAME or --data DIR");
    check_photo_flags(a);
    const bool faithfulness = a.set("--faithfulness");
    const auto methods = parse_methods(a.str("--methods"), "--methods");
    sib::metrics::score_options so;
    so.metrics = parse_metrics(a.str("--metrics"), faithfulness, true);
    so.bootstrap = bootstrap_from(a, seed);
    so.explain = explain_options_from(a, seed);
    so.batch = batch_from(a);
    const long long count = a.integer("--count");
    sib::require(count >= 0, "--count must be non-negative (0: the whole test split), got ", count);
    require_bootstrap_images(count == 0 ? 2 : count, "--count");
    const std::string source = a.set("--data") ? a.str("--data") : a.str("--benchmark");
    const auto test = a.set("--data") ? photo_test_split(a, count) : benchmark_test_split(source, seed, count);
    require_bootstrap_images(test.size(), "the test split of " + source);
    sib::require(test.has_masks(), source, ": the test split has no masks to score against",
                 a.set("--data") ? " (DIR/masks/test/<class>/<image>.png)" : "");
    bool slow = false;
    for (const auto& m : so.metrics) slow = slow || sib::metrics::is_faithfulness_metric(m);

    return with_dtype(a, [&]<class T>() {
        sib::models::spec_model<T> model(a.str("--model"));
        resolve_layer(a, model, so.explain);
        check_before_explaining(model, test.images().shape(), &test.labels(), methods, so.explain);
        sib::io::load_weights(model, a.str("--weights"));
        sib::train::progress_options po;
        po.label = "eval";
        po.unit = "img";
        sib::train::progress bar(static_cast<sib::index_t>(methods.size()) * test.size() * (slow ? 2 : 1), po);
        so.progress = advancing(bar);
        const sib::metrics::score_report r = sib::metrics::score_explanations(model, test, methods, so);
        bar.finish();

        std::cout << r.to_markdown();
        sib::io::json j = {{a.set("--data") ? "data" : "benchmark", source}};
        j.update(r.to_json());
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
                   "  sib eval --model SPEC --weights W --data DIR          the same on photo folders' DIR/test\n"
                   "Prints a Markdown table, then JSON on the last line.\n\n" +
                       sib::explain::methods_help() + "\n\n" + sib::data::benchmarks_help());
    a.flag("--maps", "A.npy", "maps [B,H,W] or [B,1,H,W] (form 1)", "")
        .flag("--masks", "S.npy", "masks [B,H,W] or [B,1,H,W], foreground > 0.5 (form 1)", "")
        .flag("--model", "SPEC", model_flag_help() + " (form 2)", "")
        .flag("--weights", "W", ".safetensors file or folder of param.<name>.npy (form 2)", "")
        .flag("--benchmark", "NAME", benchmark_flag_help() + " (form 2)", "")
        .flag("--count", "N", "the first N test images (0: all)", "1000")
        .flag("--methods", "all|every|M,...", "methods to explain with (form 2; see above)", "all")
        .flag("--metrics", "all|M,...", "metrics to report", "all")
        .option("--faithfulness", "also deletion and insertion AUC (slow: 2 x 51 model calls per image)")
        .flag("--resamples", "N", "bootstrap resamples", "2000")
        .flag("--seed", "S", "seed of the benchmark, the seeded methods and the bootstrap", "0");
    add_photo_flags(a);
    add_explain_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, std::cout)) return 0;
    apply_threads(a);
    const std::uint64_t seed = seed_from(a);
    if (a.set("--maps")) return eval_maps(a, seed);
    return eval_model(a, seed);
}

}  // namespace sib_cli
