// sib explain: attribution maps of a trained model for given images or a benchmark's test split,
// as raw .npy maps, PNG overlays and one contact sheet.
#include "explain_common.hpp"
#include <sib/io/heatmap.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <chrono>
#include <filesystem>

namespace sib_cli {

namespace {

// Images (as float, for the pictures), labels (empty without), masks (empty without).
struct explain_inputs {
    sib::tensor<float> images;
    sib::tensor<std::int64_t> labels;
    sib::tensor<float> masks;
};

explain_inputs read_inputs(const args& a, std::uint64_t seed, bool target_is_label) {
    const std::string input = a.str("--input"), bench = a.str("--benchmark"), photos = a.str("--data");
    sib::require(!input.empty() + !bench.empty() + !photos.empty() == 1,
                 "give exactly one of --input X.npy, --benchmark NAME or --data DIR");
    check_photo_flags(a);
    explain_inputs in;
    if (input.empty()) {
        sib::require(!a.set("--labels") && !a.set("--masks"), "--labels and --masks go with --input; a benchmark "
                     "or a photo folder brings its own");
        const long long count = a.integer("--count");
        sib::require(count >= 1, "--count must be at least 1, got ", count);
        const auto test = photos.empty() ? benchmark_test_split(bench, seed, count) : photo_test_split(a, count);
        in.images = test.images();
        in.labels = test.labels();
        if (test.has_masks()) in.masks = test.masks();
        return in;
    }
    sib::require(!a.set("--count"), "--count goes with --benchmark or --data; --input explains every image in the file");
    in.images = sib::io::load_npy<float>(input);
    sib::require(in.images.rank() == 4, input, ": expected images [B,C,H,W], got ", in.images.shape().str());
    const sib::index_t n = in.images.dim(0);
    if (a.set("--labels")) {
        const auto y = sib::io::load_labels(a.str("--labels"));
        sib::require(static_cast<sib::index_t>(y.size()) == n, a.str("--labels"), ": ", y.size(), " labels for ",
                     n, " images");
        in.labels = sib::tensor<std::int64_t>({n}, y);
    } else {
        sib::require(!target_is_label, "--input without --labels needs --target pred (there are no labels to "
                     "explain)");
    }
    if (a.set("--masks")) {
        in.masks = sib::io::load_npy<float>(a.str("--masks"));
        const sib::shape want3{n, in.images.dim(2), in.images.dim(3)};
        const sib::shape want4{n, 1, in.images.dim(2), in.images.dim(3)};
        sib::require(in.masks.shape() == want3 || in.masks.shape() == want4, a.str("--masks"), ": masks ",
                     in.masks.shape().str(), " do not match images ", in.images.shape().str(), " (want ",
                     want4.str(), ")");
        in.masks.reshape(want4);
    }
    return in;
}

}  // namespace

int cmd_explain(int argc, char** argv) {
    args a("explain", "Explains a model's decisions: writes <method>.npy (raw maps [B,H,W], float32),\n"
                      "<method>/<i>.png overlays and sheet.png (a contact sheet of up to 16 images) to --out.\n"
                      "Benchmarks and photo folders (--data) use their test split.\n\n" +
                          sib::explain::methods_help() + "\n\n" + sib::data::benchmarks_help());
    a.required("--model", "SPEC", model_flag_help())
        .required("--weights", "W", ".safetensors file or folder of param.<name>.npy")
        .flag("--input", "X.npy", "images [B,C,H,W] (or --benchmark)", "")
        .flag("--labels", "Y.npy", "labels [B] for --input", "")
        .flag("--masks", "S.npy", "ground-truth masks [B,1,H,W] for --input (shown on the sheet)", "")
        .flag("--benchmark", "NAME", benchmark_flag_help(), "")
        .flag("--count", "N", "benchmark or photo folder: the first N test images", "16")
        .required("--method", "M[,M...]", "methods (see above), or all, or every")
        .flag("--seed", "S", "seed of the benchmark and of smoothgrad, vargrad, rise", "0")
        .option("--keep-channels", "gradient family: write [B,C,H,W] maps to the .npy (pictures stay spatial)")
        .flag("--colormap", "jet|viridis", "overlay colormap", "jet")
        .flag("--scale", "K", "pixel upscaling of the pictures (0: cells of at least 112 px)", "0")
        .required("--out", "DIR", "output folder (created if missing)");
    add_photo_flags(a);
    add_explain_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, std::cout)) return 0;
    apply_threads(a);

    const std::uint64_t seed = seed_from(a);
    const auto methods = parse_methods(a.str("--method"), "--method");
    auto opt = explain_options_from(a, seed);
    const bool keep_channels = a.set("--keep-channels");
    const auto cmap = sib::io::colormap_from_name(a.choice("--colormap", {"jet", "viridis"}));
    const long long scale_flag = a.integer("--scale");
    sib::require(scale_flag >= 0 && scale_flag <= 64, "--scale must lie in 0..64, got ", scale_flag);
    const sib::index_t batch = batch_from(a);
    const std::filesystem::path out = a.str("--out");
    const explain_inputs in = read_inputs(a, seed, opt.target == sib::explain::target_mode::label);
    const sib::index_t n = in.images.dim(0), h = in.images.dim(2), w = in.images.dim(3);
    const int scale = scale_flag > 0 ? static_cast<int>(scale_flag) : sib::io::auto_scale(h, w);

    return with_dtype(a, [&]<class T>() {
        sib::models::spec_model<T> model(a.str("--model"));
        resolve_layer(a, model, opt);
        auto checked = opt;
        checked.keep_channels = keep_channels;
        check_before_explaining(model, in.images.shape(), in.labels.empty() ? nullptr : &in.labels, methods, checked);
        sib::io::load_weights(model, a.str("--weights"));
        const sib::tensor<T> x = sib::tensor_cast<T>(in.images);
        std::filesystem::create_directories(out);

        sib::io::json seconds = sib::io::json::object();
        std::vector<sib::tensor<float>> maps;
        sib::train::progress_options po;
        po.label = "explain";
        po.unit = "img";
        sib::train::progress bar(static_cast<sib::index_t>(methods.size()) * n * (keep_channels ? 2 : 1), po);
        for (const auto& m : methods) {
            const auto start = std::chrono::steady_clock::now();
            maps.push_back(sib::explain::explain_in_batches(model, x, in.labels, m, opt, batch, advancing(bar)));
            if (keep_channels) {
                auto with_channels = opt;
                with_channels.keep_channels = true;
                sib::io::save_npy(out / (m + ".npy"), sib::explain::explain_in_batches(model, x, in.labels, m,
                                                                                       with_channels, batch,
                                                                                       advancing(bar)));
            } else {
                sib::io::save_npy(out / (m + ".npy"), maps.back());
            }
            seconds[m] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::filesystem::create_directories(out / m);
            for (sib::index_t i = 0; i < n; ++i)
                sib::io::write_overlay(out / m / (std::to_string(i) + ".png"), item_of(in.images, i),
                                       item_of(maps.back(), i), cmap, 0.5, scale);
        }
        bar.finish();

        std::vector<sib::io::contact_sheet_row> rows;
        for (sib::index_t i = 0; i < std::min<sib::index_t>(n, 16); ++i) {
            sib::io::contact_sheet_row r;
            r.image = item_of(in.images, i);
            if (!in.masks.empty()) r.mask = item_of(in.masks, i);
            for (const auto& m : maps) r.maps.push_back(item_of(m, i));
            rows.push_back(std::move(r));
        }
        sib::io::contact_sheet_options so;
        so.cmap = cmap;
        so.scale = scale;
        sib::io::write_contact_sheet(out / "sheet.png", rows, methods, so);

        const sib::io::json j = {{"methods", methods}, {"count", n}, {"out", out.string()},
                                          {"seconds", seconds},
                                          {"target", opt.target == sib::explain::target_mode::label ? "label" : "pred"},
                                          {"sheet", (out / "sheet.png").string()}};
        std::cout << j.dump() << std::endl;
        return 0;
    });
}

}  // namespace sib_cli
