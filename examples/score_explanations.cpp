// Scoring a model's explanations against a benchmark's ground-truth masks: the report `sib eval
// --model SPEC --weights W --benchmark NAME` prints (a Markdown table, then JSON), as a few library
// calls. Trains nothing: without weights the model keeps a seeded PyTorch-default initialisation,
// which gives the scores of an untrained model (a baseline for a trained one).
//   score_explanations [BENCHMARK [METHODS [WEIGHTS|- [SPEC]]]]
// BENCHMARK: shapes (default) or a Fashion-MNIST benchmark; METHODS: all (default), every or a
// comma-separated list; SPEC: by default a small CNN sized to the benchmark's images.
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/explain/methods.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/metrics/score_explanations.hpp>
#include <sib/optim/init.hpp>
#include <iostream>
#include <string>

int main(int argc, char** argv) try {
    const std::string bench = argc > 1 ? argv[1] : "shapes";
    const std::string methods = argc > 2 ? argv[2] : "all";
    const std::string weights = argc > 3 ? argv[3] : "-";
    sib::set_num_threads(2);

    // The first 200 test images, generated from seed 0 as `sib train --benchmark` generates them.
    const auto test = sib::data::make_benchmark_split(bench, 0, /*train=*/false, 200);
    const sib::shape chw = test.image_shape();
    const std::string spec =
        argc > 4 ? argv[4]
                 : "Conv2d(" + std::to_string(chw[0]) + ",16,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(" +
                       std::to_string(16 * (chw[1] / 2) * (chw[2] / 2)) + "," + std::to_string(test.num_classes()) + ")";
    sib::models::spec_model<float> model(spec);
    if (weights == "-") {
        sib::rng r(0);
        sib::optim::pytorch_default(model, r);
    } else {
        sib::io::load_weights(model, weights);
    }

    sib::metrics::score_options o;  // the six localisation metrics; metric_names(true) adds deletion, insertion
    const auto report = sib::metrics::score_explanations(model, test, sib::explain::select_methods(methods), o);
    std::cout << report.to_markdown() << report.to_json().dump() << "\n";
} catch (const std::exception& e) {
    std::cerr << "score_explanations: " << e.what() << "\n";
    return 1;
}
