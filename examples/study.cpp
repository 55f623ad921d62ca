// The S-IB study, written as a user of the library would: for every benchmark, train CE, S-IB with
// both weights scaled by s (lambda_bg = 1000 s, lambda_fg = 0.01 s, for each s of --scales) and RRR
// with one fixed budget and several seeds, logging per epoch why each objective moves the weights
// (train/diagnostics.hpp: each term's gradient against CE's, fg, bg, the mask's IoU with the
// object); explain the test images with the six core methods, score the maps against the
// ground-truth masks, and write a Markdown report that compares every arm with CE paired by seed
// and image, with PNG charts (metric and accuracy against s, training curves).
//
// The model follows the benchmark (study_models): the small reference CNN on fmnist and
// fmnist-decoy, the small-image ResNet-18 (3x3 stem, no max-pool; torchvision's blocks) on
// fmnist-color, shapes and fmnist-clutter. A ResNet-18 step costs about a hundred small-CNN steps,
// so the ResNet arms have their own budget (--resnet-*), the same for every arm and seed.
//
// `study --help` lists the flags. A limit of 0 is the whole split. Charts, contact sheets and logs go
// beside the report, in <report stem>/.
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/autodiff/sweeps.hpp>
#include <sib/decoders/decoder.hpp>
#include <sib/explain/batched.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/explain.hpp>
#include <sib/explain/methods.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/metrics/bootstrap.hpp>
#include <sib/metrics/faithfulness.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/models/resnet.hpp>
#include <sib/io/chart.hpp>
#include <sib/io/heatmap.hpp>
#include <sib/io/png.hpp>
#include <sib/train/choice.hpp>
#include <sib/train/curves.hpp>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace {

// How much one model of a benchmark trains on.
struct budget {
    sib::index_t train_limit = 0, epochs = 5;  // train_limit 0: the whole split
    sib::index_t explain_count = 200;          // test images explained and scored per model
    sib::index_t faithfulness_count = 32;      // of those, the first scored by deletion and insertion
};

struct config {
    std::string out = "reports/study.md";
    int seeds = 3;
    budget cnn{0, 5, 200, 32}, resnet{1000, 1, 100, 24};
    // RRR's weight per model family. Ross et al. chose lambda_1 = 1000 on MNIST-like data; on the
    // small CNN at initialisation that puts the term at about a tenth of the cross entropy (rrr
    // about 2e-4 against CE 2.3). The ResNet's input gradient is far larger at initialisation (rrr
    // about 4), and lambda 1000 pins it to a constant output (accuracy 0.1). The same tenth-of-CE
    // rule gives 0.06 there, rounded to 0.1. Fixed per model family, never per benchmark.
    double cnn_rrr_lambda = 1000, resnet_rrr_lambda = 0.1;
    sib::index_t resnet_width = 8;
    sib::index_t test_limit = 1000, diagnose = 64;
    std::vector<std::string> benchmarks = sib::data::benchmark_names();
    std::vector<double> scales{1, 10, 100, 1000};
    std::string reading;  // Markdown written by hand, put at the top of the report
    int threads = 2;
    std::string models_dir = "build/study-models";  // seed-0 checkpoints
};

std::string budget_text(const budget& b) {
    return (b.train_limit > 0 ? "the first " + std::to_string(b.train_limit) : std::string("all")) +
           " training images, " + std::to_string(b.epochs) + " epoch(s), " + std::to_string(b.explain_count) +
           " test images explained, the first " + std::to_string(std::min(b.faithfulness_count, b.explain_count)) +
           " of them also by deletion and insertion";
}

// What is trained and compared. CE is the reference every other arm is paired against; S-IB's
// weights are a dial (s multiplies both, the same s for every benchmark: nothing is tuned per cell).
struct arm {
    std::string name, title, objective;
    double weight_scale = 1;  // multiplies lambda_bg and lambda_fg
};
std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}
std::vector<arm> make_arms(const std::vector<double>& scales) {
    std::vector<arm> a{{"ce", "CE", "ce"}};
    for (double s : scales) a.push_back({"sib-s" + number_text(s), "S-IB s=" + number_text(s), "sib", s});
    a.push_back({"rrr", "RRR", "rrr"});
    return a;
}
const std::vector<std::string> methods = sib::explain::core_methods();  // the six of docs/explanations.md
// The localisation metrics of every explained image, then deletion and insertion (slow: 102 forward
// passes per image and method) on a subset.
const std::vector<std::string> metric_names{"ebpg", "pointing_game", "rank_acc", "auroc", "gini", "deletion", "insertion"};
std::string metric_note(const std::string& metric) {
    if (metric == "deletion") return "; lower is better: the probability of the label falls fast as the map's top pixels go";
    if (metric == "insertion") return "; higher is better";
    return "";
}

// The small reference CNN of the core issue, sized to the benchmark's images.
std::string spec_for(const sib::shape& chw, sib::index_t classes) {
    const auto c = chw[0], h = chw[1] / 4, w = chw[2] / 4;
    return "Conv2d(" + std::to_string(c) + ",16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; "
           "MaxPool2d(2); Flatten; Linear(" + std::to_string(32 * h * w) + "," + std::to_string(classes) + ")";
}

// Which model each benchmark trains: the table of the study's design (item 1 of its issue).
enum class model_kind { small_cnn, resnet18_small };
model_kind model_for(const std::string& benchmark) {
    return benchmark == "fmnist" || benchmark == "fmnist-decoy" ? model_kind::small_cnn : model_kind::resnet18_small;
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

// Item i of a batch tensor, without its batch axis.
sib::tensor<float> item_of(const sib::tensor<float>& t, sib::index_t i) {
    const sib::shape& s = t.shape();
    sib::tensor<float> out(sib::shape(s.begin() + 1, s.end()));
    sib::cpu::copy(out.size(), t.data() + i * out.size(), out.data());
    return out;
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

constexpr const char* usage = R"(usage: study [options]

Trains CE, S-IB with both weights scaled by s, and RRR on the benchmarks (several seeds each, with
per-epoch diagnostics); explains test images with the six core methods, scores the maps and writes
a Markdown report, with PNG charts, contact sheets and logs in <report stem>/. scripts/study.sh
runs it.

  --out FILE                  the report (default: reports/study.md)
  --benchmarks A,B            benchmarks (default: all five)
  --seeds N                   seeds per arm (default: 3)
  --scales S1,S2              S-IB weight scales s: lambda_bg = 1000 s, lambda_fg = 0.01 s (default: 1,10,100,1000)
  --train-limit N             small CNN (fmnist, fmnist-decoy): training images, 0 = all (default: 0)
  --epochs N                  small CNN: epochs (default: 5)
  --explain-count N           small CNN: test images explained per model (default: 200)
  --rrr-lambda L              small CNN: RRR weight (default: 1000)
  --faithfulness-count N      small CNN: of the explained images, the first N also by deletion and insertion (default: 32)
  --resnet-train-limit N      ResNet-18 (the other benchmarks): training images, 0 = all (default: 1000)
  --resnet-epochs N           ResNet-18: epochs (default: 1)
  --resnet-explain-count N    ResNet-18: test images explained per model (default: 100)
  --resnet-rrr-lambda L       ResNet-18: RRR weight (default: 0.1)
  --resnet-faithfulness-count N  ResNet-18: images scored by deletion and insertion (default: 24)
  --resnet-width W            ResNet-18: channels of its first stage (default: 8)
  --test-limit N              test images for accuracy (default: 1000)
  --diagnose N                test images for the per-epoch diagnostics (default: 64)
  --reading FILE              hand-written Markdown put at the top of the report
  --models-dir DIR            seed-0 checkpoints (default: build/study-models)
  --threads N                 threads (default: 2)
)";

// Reads the flags into cfg. Returns the exit status when the program should stop here: 0 after
// --help, 2 after a bad flag or value (one line on stderr).
std::optional<int> parse_flags(int argc, char** argv, config& cfg) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::cout << usage;
            return 0;
        }
        if (i + 1 >= argc) {
            std::cerr << "study: " << k << " needs a value (study --help lists the flags)\n";
            return 2;
        }
        const std::string v = argv[++i];
        try {
        if (k == "--out") cfg.out = v;
        else if (k == "--seeds") cfg.seeds = std::stoi(v);
        else if (k == "--train-limit") cfg.cnn.train_limit = std::stoll(v);
        else if (k == "--resnet-train-limit") cfg.resnet.train_limit = std::stoll(v);
        else if (k == "--resnet-epochs") cfg.resnet.epochs = std::stoll(v);
        else if (k == "--resnet-width") cfg.resnet_width = std::stoll(v);
        else if (k == "--test-limit") cfg.test_limit = std::stoll(v);
        else if (k == "--explain-count") cfg.cnn.explain_count = std::stoll(v);
        else if (k == "--resnet-explain-count") cfg.resnet.explain_count = std::stoll(v);
        else if (k == "--epochs") cfg.cnn.epochs = std::stoll(v);
        else if (k == "--benchmarks") cfg.benchmarks = sib::split_list(v);
        else if (k == "--threads") cfg.threads = std::stoi(v);
        else if (k == "--models-dir") cfg.models_dir = v;
        else if (k == "--diagnose") cfg.diagnose = std::stoll(v);
        else if (k == "--reading") cfg.reading = v;
        else if (k == "--scales") {
            cfg.scales.clear();
            for (const auto& x : sib::split_list(v)) cfg.scales.push_back(std::stod(x));
        }
        else if (k == "--rrr-lambda") cfg.cnn_rrr_lambda = std::stod(v);
        else if (k == "--faithfulness-count") cfg.cnn.faithfulness_count = std::stoll(v);
        else if (k == "--resnet-faithfulness-count") cfg.resnet.faithfulness_count = std::stoll(v);
        else if (k == "--resnet-rrr-lambda") cfg.resnet_rrr_lambda = std::stod(v);
        else {
            std::cerr << "study: unknown flag " << k << " (study --help lists the flags)\n";
            return 2;
        }
        } catch (const std::logic_error&) {  // std::stoi and friends: not a number, or out of range
            std::cerr << "study: " << k << ": not a number: " << v << "\n";
            return 2;
        }
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    config cfg;
    if (const auto exit_status = parse_flags(argc, argv, cfg)) return *exit_status;
    try {
        sib::set_num_threads(cfg.threads);
        const auto arms = make_arms(cfg.scales);
        const auto t_start = std::chrono::steady_clock::now();
        // Charts and logs beside the report: reports/study.md -> reports/study/.
        const std::filesystem::path out_dir = std::filesystem::path(cfg.out).replace_extension("");
        std::filesystem::create_directories(out_dir / "logs");
        const std::string rel = out_dir.filename().string();  // how the report links them
        std::ostringstream md;
        md << "# S-IB study\n\n";
        if (!cfg.reading.empty()) {
            std::ifstream in(cfg.reading);
            sib::require(in.good(), "study: --reading ", cfg.reading, ": cannot open");
            md << in.rdbuf() << "\n\n";
        }
        std::string scales;
        for (double v : cfg.scales) scales += (scales.empty() ? "" : ", ") + number_text(v);
        md << "## How this was made\n\n"
           << "Generated by `scripts/study.sh` (examples/study.cpp). Models: the small CNN on fmnist and fmnist-decoy ("
           << budget_text(cfg.cnn) << "); the small-image ResNet-18 of width " << cfg.resnet_width
           << " (torchvision's blocks, 3x3 stem, no max-pool) on the other benchmarks (" << budget_text(cfg.resnet)
           << "). Every arm: batch 64, AdamW 1e-3, "
           << "S-IB with both weights scaled by s in {" << scales << "} (lambda_bg = 1000 s, lambda_fg = 0.01 s; "
           << "s = 1 is the paper's setting; exp shaping, default window), RRR lambda " << number_text(cfg.cnn_rrr_lambda)
           << " on the small CNN and " << number_text(cfg.resnet_rrr_lambda) << " on the ResNet (the same rule: "
           << "the term starts at about a tenth of the cross entropy; lambda 1000 pins the ResNet to a constant output). "
           << cfg.seeds << " seeds per arm (the seed sets weights and batch order; data are fixed). "
           << "Every epoch logs, on the first " << cfg.diagnose << " test images, each term's parameter-gradient "
           << "norm against the cross entropy's, the terms' values and the IoU of the density mask M > 0.5 "
           << "with the object (`sib train --diagnose`; logs in `" << rel << "/logs/`). "
           << "Explanations of the first test images (count above), target = label. "
           << "Metrics per docs/metrics.md on |map| against the ground-truth foreground mask; deletion and insertion "
           << "(RISE: 50 steps, pixels removed to 0 or inserted into a Gaussian blur of kernel 11 and sigma 5, "
           << "area under the target's probability) on the first explained images (count above). "
           << "Intervals: 95% bootstrap over images (pooled over seeds); differences are paired by seed and image. "
           << "A metric is undefined (NaN) on an image whose map is all zero (Grad-CAM's ReLU can zero a map) or whose mask is empty: "
           << "such images are left out, and a cell says how many.\n\n";

        for (const auto& bench : cfg.benchmarks) {
            std::cerr << "study: " << bench << "\n";
            const model_kind kind = model_for(bench);
            const budget& b = kind == model_kind::small_cnn ? cfg.cnn : cfg.resnet;
            const double rrr_lambda = kind == model_kind::small_cnn ? cfg.cnn_rrr_lambda : cfg.resnet_rrr_lambda;
            const auto data = sib::data::make_benchmark(bench, 0, b.train_limit, cfg.test_limit);
            std::optional<sib::data::in_memory_dataset> shortcut_test;
            if (bench == "fmnist-decoy" || bench == "fmnist-color") {
                // The test images with the training distribution's shortcut intact, for contrast.
                const auto src = sib::data::load_fashion_mnist(sib::data::fashion_mnist_default_dir, false);
                shortcut_test = sib::data::benchmark_by_name(bench).generate(src, 0, /*train=*/true, cfg.test_limit);
            }
            const auto batch = first_images(data.test, b.explain_count);
            const sib::shape image_shape = data.train.image_shape();
            const sib::index_t classes = data.train.num_classes();
            const sib::models::resnet_options resnet_options{
                .num_classes = classes, .in_channels = image_shape[0], .width = cfg.resnet_width};
            const std::string spec = kind == model_kind::small_cnn
                                         ? spec_for(image_shape, classes)
                                         : "resnet18_small(num_classes=" + std::to_string(classes) +
                                               ",in_channels=" + std::to_string(image_shape[0]) +
                                               ",width=" + std::to_string(cfg.resnet_width) + ")";
            std::vector<sib::train::log_run> curves;  // seed 0 of every arm
            std::map<std::string, std::vector<double>> acc, acc_shortcut;
            std::map<std::string, method_scores> scores;  // objective -> method -> metric -> values over (seed, image)
            // One arm and seed on any model: train, score the shortcut, explain and score the maps;
            // seed 0 also leaves a checkpoint, its curves and a contact sheet of the first images.
            const auto run = [&](auto& model, const arm& a, int seed) {
                const std::string& objective = a.name;
                sib::train::run_choice c;
                c.objective = a.objective;
                c.sib.lambda_bg *= a.weight_scale;
                c.sib.lambda_fg *= a.weight_scale;
                c.lambda_rrr = rrr_lambda;
                sib::train::train_options o;
                o.epochs = b.epochs;
                o.seed = static_cast<std::uint64_t>(seed);
                o.progress = sib::train::progress_mode::plain;
                o.log = out_dir / "logs" / (bench + "-" + objective + "-seed" + std::to_string(seed) + ".jsonl");
                std::filesystem::remove(o.log);
                if (seed == 0) {
                    std::filesystem::create_directories(cfg.models_dir);
                    o.checkpoint = std::filesystem::path(cfg.models_dir) / (bench + "-" + objective + ".safetensors");
                }
                const auto r = sib::train::with_trainer(model, c, o, spec, [&](auto& t) {
                    t.initialise();
                    t.enable_diagnostics(cfg.diagnose);
                    return t.run(data.train, data.test);
                });
                acc[objective].push_back(r.test_accuracy);
                if (seed == 0) curves.push_back({a.title, sib::train::read_jsonl(o.log)});
                if (shortcut_test) acc_shortcut[objective].push_back(sib::train::evaluate_accuracy(model, *shortcut_test));
                // The label's probability of a batch of perturbed images, in evaluation mode.
                sib::autodiff::sweep_workspace<float> probe;
                sib::tensor<float> p;
                const auto probability = [&](const sib::tensor<float>& images, const sib::tensor<std::int64_t>& target) {
                    sib::explain::eval_mode_scope<std::decay_t<decltype(model)>> scope(model);
                    sib::decoders::softmax_rows(sib::autodiff::forward_sweep(model, probe, images), p);
                    std::vector<double> out(static_cast<std::size_t>(images.dim(0)));
                    for (sib::index_t i = 0; i < images.dim(0); ++i) out[static_cast<std::size_t>(i)] = p[i * p.dim(1) + target[i]];
                    return out;
                };
                const sib::index_t faithful = std::min(b.faithfulness_count, batch.images.dim(0));
                std::vector<sib::tensor<float>> maps;
                for (const auto& method : methods) {
                    sib::explain::explain_options eo;
                    eo.seed = static_cast<std::uint64_t>(seed);
                    maps.push_back(sib::explain::explain(model, batch.images, batch.labels, method, eo));
                    const auto sc = sib::metrics::localisation_batch(maps.back(), batch.masks);
                    for (const auto& [name, field] : sib::metrics::localisation_metrics) {
                        auto& dst = scores[objective][method][name];
                        for (const auto& s : sc) dst.push_back(s.*field);
                    }
                    if (faithful > 0) {
                        using sib::explain::rows_of;
                        for (const auto& s : sib::metrics::faithfulness_batch(probability, rows_of(batch.images, 0, faithful),
                                                                              rows_of(batch.labels, 0, faithful),
                                                                              rows_of(maps.back(), 0, faithful))) {
                            scores[objective][method]["deletion"].push_back(s.deletion);
                            scores[objective][method]["insertion"].push_back(s.insertion);
                        }
                    }
                }
                if (seed == 0) {
                    std::vector<sib::io::contact_sheet_row> rows;
                    for (sib::index_t i = 0; i < std::min<sib::index_t>(8, batch.images.dim(0)); ++i) {
                        sib::io::contact_sheet_row row{item_of(batch.images, i), item_of(batch.masks, i), {}};
                        for (const auto& m : maps) row.maps.push_back(item_of(m, i));
                        rows.push_back(std::move(row));
                    }
                    sib::io::write_contact_sheet(out_dir / (bench + "-" + objective + ".png"), rows, methods);
                }
                std::cerr << "study: " << bench << " " << objective << " seed " << seed << ": accuracy "
                          << r.test_accuracy << ", " << r.images_per_second << " images/s\n";
            };
            for (const auto& a : arms)
                for (int seed = 0; seed < cfg.seeds; ++seed) {
                    if (kind == model_kind::small_cnn) {
                        sib::models::spec_model<float> model(spec);
                        run(model, a, seed);
                    } else {
                        sib::models::resnet18_small<float> model(resnet_options);
                        run(model, a, seed);
                    }
                }
            md << "## " << bench << "\n\nModel: `" << spec << "`; " << budget_text(b) << "\n\n";
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
            // Per metric: CE's value, and every other arm minus CE, paired by seed and image.
            const auto interval = [](const std::vector<double>& v) -> std::optional<sib::metrics::bootstrap_interval> {
                try {
                    return sib::metrics::bootstrap(v);
                } catch (const sib::error&) {
                    return std::nullopt;
                }
            };
            const auto paired = [](const std::vector<double>& a, const std::vector<double>& b)
                -> std::optional<sib::metrics::bootstrap_interval> {
                try {
                    return sib::metrics::paired_bootstrap(a, b);
                } catch (const sib::error&) {
                    return std::nullopt;
                }
            };
            const auto cell = [](const std::optional<sib::metrics::bootstrap_interval>& b) {
                return b ? fmt_interval(*b) : std::string("n/a");
            };
            for (const auto& metric : metric_names) {
                md << "**" << metric << "** (mean [95% CI]; differences from CE paired by seed and image" << metric_note(metric)
                   << ")\n\n| method | CE |";
                for (std::size_t i = 1; i < arms.size(); ++i) md << " " << arms[i].title << " - CE |";
                md << "\n|---|";
                for (std::size_t i = 0; i < arms.size(); ++i) md << "---|";
                md << "\n";
                for (const auto& method : methods) {
                    const auto& ce = scores["ce"][method][metric];
                    md << "| " << method << " | " << cell(interval(ce)) << " |";
                    for (std::size_t i = 1; i < arms.size(); ++i)
                        md << " " << cell(paired(scores[arms[i].name][method][metric], ce)) << " |";
                    md << "\n";
                }
                md << "\n";
            }

            // Pictures: accuracy against s; each metric's S-IB(s) - CE against s, one line per method;
            // the seed-0 runs' training curves with their diagnostics.
            const auto s_arms = [&] {
                std::vector<const arm*> v;
                for (const auto& a : arms)
                    if (a.objective == "sib") v.push_back(&a);
                return v;
            }();
            const auto mean_of = [](const std::vector<double>& v) {
                double t = 0;
                for (double x : v) t += x;
                return v.empty() ? NAN : t / static_cast<double>(v.size());
            };
            const auto extreme = [](const std::vector<double>& v, bool high) {
                return v.empty() ? NAN : high ? *std::max_element(v.begin(), v.end()) : *std::min_element(v.begin(), v.end());
            };
            if (!s_arms.empty()) {
                std::vector<sib::io::chart_series> acc_series;
                for (const auto& a : arms) {
                    sib::io::chart_series series{a.objective == "sib" ? std::string("S-IB") : a.title};
                    if (a.objective == "sib" && &a != s_arms.front()) continue;  // one series for all s
                    for (const arm* sa : s_arms) {
                        const auto& v = acc[a.objective == "sib" ? sa->name : a.name];
                        series.x.push_back(sa->weight_scale);
                        series.y.push_back(mean_of(v));
                        series.lower.push_back(extreme(v, false));
                        series.upper.push_back(extreme(v, true));
                    }
                    acc_series.push_back(std::move(series));
                }
                const std::string acc_png = bench + "-accuracy.png";
                sib::io::write_png(out_dir / acc_png, sib::io::render_chart(acc_series, {
                    .title = bench + ": test accuracy", .x_label = "S-IB weight scale s (CE and RRR: constant)",
                    .y_label = "accuracy (mean, bars: min-max over seeds)", .width = 560, .height = 340, .log_x = true}));
                std::vector<sib::io::canvas> panels;
                for (const auto& metric : metric_names) {
                    std::vector<sib::io::chart_series> per_method;
                    for (const auto& method : methods) {
                        sib::io::chart_series series{method};
                        for (const arm* sa : s_arms) {
                            const auto d = paired(scores[sa->name][method][metric], scores["ce"][method][metric]);
                            series.x.push_back(sa->weight_scale);
                            series.y.push_back(d ? d->mean : NAN);
                            series.lower.push_back(d ? d->lo : NAN);
                            series.upper.push_back(d ? d->hi : NAN);
                        }
                        per_method.push_back(std::move(series));
                    }
                    panels.push_back(sib::io::render_chart(per_method, {
                        .title = metric + ": S-IB(s) - CE", .x_label = "weight scale s",
                        .y_label = "difference (95% CI)", .width = 520, .height = 340, .log_x = true}));
                }
                const std::string metrics_png = bench + "-metrics.png";
                sib::io::write_png(out_dir / metrics_png, sib::io::tile(panels, 3));
                md << "![" << bench << " accuracy](" << rel << "/" << acc_png << ")\n\n"
                   << "![" << bench << " metrics against s](" << rel << "/" << metrics_png << ")\n\n";
            }
            const std::string curves_png = bench + "-curves.png";
            sib::io::write_png(out_dir / curves_png, sib::io::tile(sib::train::training_curves(curves), 3));
            md << "Training curves and diagnostics of the seed-0 runs (per epoch; `grad_ratio_<term>`: the "
               << "term's parameter-gradient norm over the cross entropy's; `mask_iou`: IoU of M > 0.5 with the object):\n\n"
               << "![" << bench << " training curves](" << rel << "/" << curves_png << ")\n\n";
            md << "Contact sheets of the seed-0 models (the first test images; columns: image, mask, the six methods):";
            for (const auto& a : arms) md << " [" << a.title << "](" << rel << "/" << bench << "-" << a.name << ".png)";
            md << "\n\n";
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
