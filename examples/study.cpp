// The S-IB study (issue: explanations, metrics and the study), written as a user of the library
// would: for every benchmark, train CE, S-IB (paper weights and 100x) and RRR models with one fixed budget and several
// seeds, explain the test images with the six core methods, score the maps against the ground-truth
// masks, and write a Markdown report that compares the objectives paired by seed and image.
//
//   study [--out reports/study.md] [--seeds 3] [--train-limit 12000] [--epochs 1] [--test-limit 1000]
//         [--explain-count 200] [--benchmarks fmnist,fmnist-decoy,...] [--threads 2]
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/explain/explain.hpp>
#include <sib/explain/methods.hpp>
#include <sib/layers/spec_model.hpp>
#include <sib/metrics/bootstrap.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/train/choice.hpp>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace {

struct config {
    std::string out = "reports/study.md";
    int seeds = 3;
    sib::index_t train_limit = 12000, test_limit = 1000, explain_count = 200, epochs = 1;
    std::vector<std::string> benchmarks = sib::data::benchmark_names();
    int threads = 2;
    std::string models_dir = "build/study-models";  // seed-0 checkpoints, for contact sheets
};

// What is trained and compared. CE is the reference every other arm is paired against. S-IB runs
// at the paper's weights and, as a sensitivity check of one setting for every benchmark (not a
// per-cell choice), at 100 times both weights: at the paper's weights the terms' gradient is a few
// thousandths of CE's on these small images.
struct arm {
    std::string name, title, objective;
    double weight_scale = 1;  // multiplies lambda_bg and lambda_fg
};
const std::vector<arm> arms{{"ce", "CE", "ce"},
                            {"sib", "S-IB", "sib"},
                            {"sib-x100", "S-IB x100", "sib", 100},
                            {"rrr", "RRR", "rrr"}};
const std::vector<std::string> methods = sib::explain::core_methods();  // the six of docs/explanations.md
const std::vector<std::string> metric_names{"ebpg", "pointing_game", "rank_acc", "auroc", "gini"};

// The small reference CNN of the core issue, sized to the benchmark's images.
std::string spec_for(const sib::shape& chw, int classes) {
    const auto c = chw[0], h = chw[1] / 4, w = chw[2] / 4;
    return "Conv2d(" + std::to_string(c) + ",16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; "
           "MaxPool2d(2); Flatten; Linear(" + std::to_string(32 * h * w) + "," + std::to_string(classes) + ")";
}

// The first n test images, labels and masks as tensors.
struct test_batch {
    sib::tensor<float> images, masks;
    sib::tensor<std::int64_t> labels;
};
test_batch first_images(const sib::data::in_memory_dataset& d, sib::index_t n) {
    n = std::min(n, d.size());
    const auto s = d.image_shape();
    test_batch b{sib::tensor<float>({n, s[0], s[1], s[2]}), sib::tensor<float>({n, 1, s[1], s[2]}),
                 sib::tensor<std::int64_t>({n})};
    for (sib::index_t i = 0; i < n; ++i) {
        d.image(i, b.images.data() + i * s.numel());
        d.mask(i, b.masks.data() + i * s[1] * s[2]);
        b.labels[i] = d.label(i);
    }
    return b;
}

double accuracy(sib::nn::spec_model<float>& m, const sib::data::in_memory_dataset& d) {
    return sib::train::evaluate_accuracy(m, d);
}

std::string fmt(double v, int digits = 3) {
    if (std::isnan(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}
// Images whose value is undefined (e.g. an all-zero map) are left out, so two cells may average
// different images: the count says how many.
std::string fmt_interval(const sib::metrics::bootstrap_interval& b) {
    std::string s = fmt(b.mean) + " [" + fmt(b.lo) + ", " + fmt(b.hi) + "]";
    if (b.nan_count > 0) s += " (" + std::to_string(b.nan_count) + " NaN)";
    return s;
}

// results[benchmark][objective][seed][method][metric] = per-image values
using per_image = std::vector<double>;
using method_scores = std::map<std::string, std::map<std::string, per_image>>;

}  // namespace

int main(int argc, char** argv) {
    config cfg;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--out") cfg.out = v;
        else if (k == "--seeds") cfg.seeds = std::stoi(v);
        else if (k == "--train-limit") cfg.train_limit = std::stoll(v);
        else if (k == "--test-limit") cfg.test_limit = std::stoll(v);
        else if (k == "--explain-count") cfg.explain_count = std::stoll(v);
        else if (k == "--epochs") cfg.epochs = std::stoll(v);
        else if (k == "--benchmarks") cfg.benchmarks = sib::split_list(v);
        else if (k == "--threads") cfg.threads = std::stoi(v);
        else if (k == "--models-dir") cfg.models_dir = v;
        else {
            std::cerr << "study: unknown flag " << k << "\n";
            return 2;
        }
    }
    try {
        sib::set_num_threads(cfg.threads);
        const auto t_start = std::chrono::steady_clock::now();
        std::ostringstream md;
        md << "# S-IB study\n\n"
           << "Generated by `scripts/study.sh` (examples/study.cpp). Budget per model: the first "
           << cfg.train_limit << " training images, " << cfg.epochs << " epoch(s), batch 64, AdamW 1e-3, "
           << "S-IB at the paper's settings (lambda_bg 1000, lambda_fg 0.01, exp shaping, default window) and at 100 times "
           << "both weights (S-IB x100: lambda_bg 1e5, lambda_fg 1), RRR lambda 1000. "
           << cfg.seeds << " seeds per objective (the seed sets weights and batch order; data are fixed). "
           << "Explanations of the first " << cfg.explain_count << " test images, target = label. "
           << "Metrics per docs/metrics.md on |map| against the ground-truth foreground mask. "
           << "Intervals: 95% bootstrap over images (pooled over seeds); differences are paired by seed and image. "
           << "A metric is undefined (NaN) on an image whose map is all zero (Grad-CAM's ReLU can zero a map) or whose mask is empty: "
           << "such images are left out, and a cell says how many.\n\n";

        for (const auto& bench : cfg.benchmarks) {
            std::cerr << "study: " << bench << "\n";
            const auto data = sib::data::make_benchmark(bench, 0, cfg.train_limit, cfg.test_limit);
            std::optional<sib::data::in_memory_dataset> shortcut_test;
            if (bench == "fmnist-decoy" || bench == "fmnist-color") {
                // The test images with the training distribution's shortcut intact, for contrast.
                const auto src = sib::data::load_fashion_mnist(sib::data::fashion_mnist_default_dir, false);
                shortcut_test = sib::data::benchmark_by_name(bench).generate(src, 0, /*train=*/true, cfg.test_limit);
            }
            const auto batch = first_images(data.test, cfg.explain_count);
            const std::string spec = spec_for(data.train.image_shape(), data.train.num_classes());
            std::map<std::string, std::vector<double>> acc, acc_shortcut;
            std::map<std::string, method_scores> scores;  // objective -> method -> metric -> values over (seed, image)
            for (const auto& a : arms) {
                const std::string& objective = a.name;
                for (int seed = 0; seed < cfg.seeds; ++seed) {
                    sib::nn::spec_model<float> model(spec);
                    sib::train::run_choice c;
                    c.objective = a.objective;
                    c.sib.lambda_bg *= a.weight_scale;
                    c.sib.lambda_fg *= a.weight_scale;
                    sib::train::train_options o;
                    o.epochs = cfg.epochs;
                    o.seed = static_cast<std::uint64_t>(seed);
                    o.progress = sib::train::progress_mode::plain;
                    if (seed == 0) {
                        std::filesystem::create_directories(cfg.models_dir);
                        o.checkpoint = std::filesystem::path(cfg.models_dir) / (bench + "-" + objective + ".safetensors");
                    }
                    const auto r = sib::train::with_trainer(model, c, o, spec, [&](auto& t) {
                        t.initialise();
                        return t.run(data.train, data.test);
                    });
                    acc[objective].push_back(r.test_accuracy);
                    if (shortcut_test) acc_shortcut[objective].push_back(accuracy(model, *shortcut_test));
                    for (const auto& method : methods) {
                        sib::explain::explain_options eo;
                        eo.seed = static_cast<std::uint64_t>(seed);
                        const auto maps = sib::explain::explain(model, batch.images, batch.labels, method, eo);
                        const auto sc = sib::metrics::localisation_batch(maps, batch.masks);
                        for (const auto& [name, field] : sib::metrics::localisation_metrics) {
                            auto& dst = scores[objective][method][name];
                            for (const auto& s : sc) dst.push_back(s.*field);
                        }
                    }
                    std::cerr << "study: " << bench << " " << objective << " seed " << seed << ": accuracy "
                              << r.test_accuracy << "\n";
                }
            }
            md << "## " << bench << "\n\nModel: `" << spec << "`\n\n";
            md << "| objective | test accuracy (per seed) |"
               << (shortcut_test ? " accuracy with the shortcut intact |" : "") << "\n|---|---|"
               << (shortcut_test ? "---|" : "") << "\n";
            for (const auto& a : arms) {
                const std::string& objective = a.name;
                md << "| " << a.title << " |";
                for (double v : acc[objective]) md << " " << fmt(v);
                if (shortcut_test) {
                    md << " |";
                    for (double v : acc_shortcut[objective]) md << " " << fmt(v);
                }
                md << " |\n";
            }
            md << "\n";
            for (const auto& metric : metric_names) {
                md << "**" << metric << "** (mean [95% CI]; differences from CE paired by seed and image)\n\n| method |";
                for (const auto& a : arms) md << " " << a.title << " |";
                for (std::size_t i = 1; i < arms.size(); ++i) md << " " << arms[i].title << " - CE |";
                md << "\n|---|";
                for (std::size_t i = 1; i < 2 * arms.size(); ++i) md << "---|";
                md << "\n";
                for (const auto& method : methods) {
                    auto interval = [](const std::vector<double>& v) {
                        try {
                            return fmt_interval(sib::metrics::bootstrap(v));
                        } catch (const sib::error&) {
                            return std::string("n/a");
                        }
                    };
                    auto paired = [](const std::vector<double>& a, const std::vector<double>& b) {
                        try {
                            return fmt_interval(sib::metrics::paired_bootstrap(a, b));
                        } catch (const sib::error&) {
                            return std::string("n/a");
                        }
                    };
                    const auto& ce = scores["ce"][method][metric];
                    md << "| " << method << " |";
                    for (const auto& a : arms) md << " " << interval(scores[a.name][method][metric]) << " |";
                    for (std::size_t i = 1; i < arms.size(); ++i)
                        md << " " << paired(scores[arms[i].name][method][metric], ce) << " |";
                    md << "\n";
                }
                md << "\n";
            }
            // Written after every benchmark so a long study leaves a partial report.
            std::ofstream(cfg.out) << md.str();
        }
        const double minutes =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() / 60.0;
        md << "Total time: " << fmt(minutes, 1) << " minutes with " << cfg.threads << " threads.\n";
        std::ofstream(cfg.out) << md.str();
        std::cout << "{\"report\":\"" << cfg.out << "\",\"minutes\":" << minutes << "}\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "study: error: " << e.what() << "\n";
        return 1;
    }
}
