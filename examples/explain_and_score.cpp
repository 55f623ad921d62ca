// Explaining a trained model and scoring the maps against ground-truth masks: what `sib explain`
// and `sib eval` do, as library calls.
//   sib train --model "$SPEC" --benchmark fmnist --out model.safetensors
//   explain_and_score "$SPEC" model.safetensors [fmnist] [out]
// with e.g. SPEC="Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(3136,10)".
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/explain/explain.hpp>
#include <sib/io/heatmap.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <filesystem>
#include <iostream>

int main(int argc, char** argv) try {
    if (argc < 3) {
        std::cerr << "usage: explain_and_score SPEC WEIGHTS [BENCHMARK] [OUT]\n";
        return 2;
    }
    sib::set_num_threads(2);
    sib::models::spec_model<float> model(argv[1]);
    sib::io::load_weights(model, argv[2]);
    const auto data = sib::data::make_benchmark(argc > 3 ? argv[3] : "fmnist", 0, 1, 200);  // 200 test images
    const std::filesystem::path out = argc > 4 ? argv[4] : "explain_out";
    std::filesystem::create_directories(out);

    const std::vector<std::string> methods{"saliency", "integrated_gradients", "gradcam"};
    const auto& images = data.test.images();  // [N,C,H,W]
    const auto& masks = data.test.masks();    // [N,1,H,W]
    const sib::index_t c = images.dim(1), h = images.dim(2), w = images.dim(3);
    std::vector<sib::io::contact_sheet_row> rows(8);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        rows[i].image = sib::tensor<float>({c, h, w});
        data.test.image(static_cast<sib::index_t>(i), rows[i].image.data());
        rows[i].mask = sib::tensor<float>({h, w});
        data.test.mask(static_cast<sib::index_t>(i), rows[i].mask.data());
    }
    sib::metrics::report report;
    for (const auto& m : methods) {
        const sib::tensor<float> maps = sib::explain::explain(model, images, data.test.labels(), m);  // [N,H,W]
        const auto scores = sib::metrics::localisation_batch(maps, masks);  // one per image
        for (const auto& [metric, field] : sib::metrics::localisation_metrics)
            report.add(m, metric, sib::metrics::column(scores, field));  // mean, 95% bootstrap interval
        for (std::size_t i = 0; i < rows.size(); ++i) {
            sib::tensor<float> map({h, w});
            std::copy_n(maps.data() + static_cast<sib::index_t>(i) * h * w, h * w, map.data());
            rows[i].maps.push_back(map);
            sib::io::write_overlay(out / (m + "_" + std::to_string(i) + ".png"), rows[i].image, map);
        }
    }
    sib::io::write_contact_sheet(out / "sheet.png", rows, methods);
    std::cout << report.to_markdown() << report.to_json().dump() << "\n";
} catch (const std::exception& e) {
    std::cerr << "explain_and_score: " << e.what() << "\n";
    return 1;
}
