// Pieces `sib explain` and `sib eval` share: the explanation flags, a benchmark's test split, the
// up-front checks (so that bad input fails before any work, in one line), and explaining a set of
// images in batches with progress. The methods and the benchmarks are the library's registries
// (sib/explain/methods.hpp, sib/data/benchmarks.hpp): lists, help and errors derive from them.
#pragma once
#include "common.hpp"
#include <sib/data/benchmarks.hpp>
#include <sib/data/open.hpp>
#include <sib/explain/batched.hpp>
#include <sib/explain/explain.hpp>
#include <sib/explain/gradcam.hpp>
#include <sib/explain/methods.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/train/progress.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace sib_cli {

// "all" (the six core methods), "every" (all 14) or a comma-separated list of known methods (no
// repeats); errors name the flag.
inline std::vector<std::string> parse_methods(const std::string& text, const std::string& flag) {
    return sib::explain::select_methods(text, flag);
}

inline void add_explain_flags(args& a) {
    a.flag("--target", "label|pred", "class explained: the label or the model's prediction", "label")
        .flag("--layer", "N|PATH", "CAM methods: the target layer, a module path as torchvision names it (layer4,\n"
                                   "layer4.0, features.28; a spec's `name:` items) or an index; -1: the last\n"
                                   "output that is a map of more than one pixel (a ResNet's layer4)", "-1")
        .flag("--steps", "K", "integrated_gradients: steps m", "32")
        .flag("--samples", "K", "smoothgrad, vargrad: noise draws", "25")
        .flag("--batch", "N", "images per explanation call (seeded methods depend on it)", "64")
        .flag("--dtype", "float32|float64", "arithmetic precision", "float32");
}

// --layer as an index ("7", "-1") rather than a module path ("layer4", "features.28").
inline bool layer_is_index(const std::string& v) {
    const std::size_t start = !v.empty() && v[0] == '-' ? 1 : 0;
    return v.size() > start && v.find_first_not_of("0123456789", start) == std::string::npos;
}

// A --layer module path, resolved on the model (explain::find_module: the last layer of that module,
// "layer4" the output of its last block); an index was read by explain_options_from.
template <class M>
void resolve_layer(const args& a, M& model, sib::explain::explain_options& o) {
    const std::string v = a.str("--layer");
    if (layer_is_index(v)) return;
    try {
        o.layer = sib::explain::find_module(model, v);
    } catch (const sib::error& e) {
        sib::fail("--layer: ", e.what());
    }
}

inline sib::explain::explain_options explain_options_from(const args& a, std::uint64_t seed) {
    sib::explain::explain_options o;
    o.target = a.choice("--target", {"label", "pred"}) == "label" ? sib::explain::target_mode::label
                                                                    : sib::explain::target_mode::prediction;
    if (layer_is_index(a.str("--layer"))) {  // a module path is resolved on the model (resolve_layer)
        const long long layer = a.integer("--layer");
        sib::require(layer >= -1, "--layer must be a layer index (or -1 for the default), got ", layer);
        o.layer = static_cast<int>(layer);
    }
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
    sib::require(sib::data::find_benchmark(name) != nullptr, "--benchmark: unknown '", name, "' (known: ",
                 sib::data::benchmark_list(), ")");
    return sib::data::make_benchmark_split(name, seed, false, count);
}

// Photo folders as a source of images to explain: the flags, as sib train spells them.
inline void add_photo_flags(args& a) {
    a.flag("--data", "DIR", "photo folders: the first --count images of DIR/test (masks from DIR/masks/test), "
           "decoded with sib train's evaluation transform (Resize + CenterCrop to --image-size, Normalize)", "")
        .flag("--image-size", "S", "photo folders: the side of the square images (--data)", "224")
        .flag("--mean", "a,b,c", "photo folders: Normalize's mean (one value or three)", "0.485,0.456,0.406")
        .flag("--std", "a,b,c", "photo folders: Normalize's std (one value or three)", "0.229,0.224,0.225");
}

// The photo folders' own flags are refused without --data (they would be ignored).
inline void check_photo_flags(const args& a) {
    for (const char* flag : {"--image-size", "--mean", "--std"})
        sib::require(a.set("--data") || !a.set(flag), flag, " applies to photo folders: give --data DIR");
}

// The first `count` images (0: all) of DIR/test (--data), decoded as sib train evaluates them, into
// memory.
inline sib::data::in_memory_dataset photo_test_split(const args& a, sib::index_t count) {
    const long long size = a.integer("--image-size");
    sib::require(size > 0 && size <= (1 << 16), "--image-size must be 1 to 65536, got ", size);
    sib::data::photo_folder_options po;
    po.image_size = static_cast<int>(size);
    po.mean = numbers(a, "--mean");
    po.std_dev = numbers(a, "--std");
    const auto folder = sib::data::open_photo_test_folder(a.str("--data"), po);
    return sib::data::to_in_memory(folder, folder.class_names(), count);
}

// Item i of a [N, ...] tensor, without the leading axis.
template <class T, class B>
sib::tensor<T, B> item_of(const sib::tensor<T, B>& t, sib::index_t i) {
    auto out = sib::explain::rows_of(t, i, 1);
    const sib::shape& s = t.shape();
    out.reshape(sib::shape(s.begin() + 1, s.end()));
    return out;
}

// Everything that would otherwise fail in the middle of the work: the model fits the images and
// ends in logits, the labels name its classes, keep_channels only for the gradient family, and
// every CAM method has a 4-D target layer (sib::explain::check_methods).
template <class M>
void check_before_explaining(M& model, const sib::shape& images, const sib::tensor<std::int64_t>* labels,
                             const std::vector<std::string>& methods, const sib::explain::explain_options& o) {
    const sib::shape z = model.output_shape(images);
    sib::require(z.rank() == 2, "--model: must end in logits [B,K], gives ", z.str(), " for images ", images.str());
    if (labels) sib::loss::check_labels(*labels, z[1]);
    if (o.keep_channels)
        for (const auto& m : methods)
            sib::require(sib::explain::is_gradient_family(m), "--keep-channels applies to the gradient family only (",
                         sib::explain::method_list(sib::explain::method_family::gradient), "), not ", m);
    sib::explain::check_methods(model, images, methods, o);
}

// A progress callback of the library's batched work that advances `bar`.
inline sib::explain::progress_callback advancing(sib::train::progress& bar) {
    return [&bar](sib::index_t images) { bar.advance(images); };
}

}  // namespace sib_cli
