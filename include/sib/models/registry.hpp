// The models a spec can name: torchvision's ResNets and VGGs (and their small-input variants) by
// their torchvision names, each expanding to a spec in the grammar of layers/spec.hpp whose
// parameters carry torchvision's state-dict names:
//
//   resnet18(num_classes=10)  ->  conv1: Conv2d(3,64,7,2,3,bias=False); bn1: BatchNorm2d(64); relu: ReLU;
//                                 maxpool: MaxPool2d(3,2,1); layer1.0: Residual([conv1: ...; bn2: BatchNorm2d(64)]);
//                                 layer1.0.relu: ReLU; ...; avgpool: AdaptiveAvgPool2d(1); flatten: Flatten;
//                                 fc: Linear(512,10)
//
// The same networks as the compile-time sib::models types (models/resnet.hpp, models/vgg.hpp): the
// same layers in the same order under the same names, so the two hold the same state dict and
// compute the same values (tests/test_spec_models.cpp). The run-time model (models::spec_model) builds
// the expansion; its identity stays the string the user wrote.
//
// One table, `named_models`: parsing (expand_spec), the "known models" of error messages and the
// command line's help (model_help) all derive from it. Adding a model: a function writing its spec
// and an entry.
#pragma once
#include <sib/layers/registry.hpp>
#include <sib/layers/spec.hpp>
#include <sib/models/init.hpp>
#include <sib/models/vgg.hpp>  // the configurations (detail::vgg11_config, vgg16_config)
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace models {

namespace spec_text {

// The options every named model takes, as resnet_options has them, read from the bound arguments.
struct common_options {
    long long num_classes, in_channels, width;
};
inline common_options read_common(const nn::layer_arguments& a) {
    const common_options o{a.integer("num_classes"), a.integer("in_channels"), a.integer("width")};
    const auto positive = [&](const char* name, long long v) {
        require(v > 0, "spec: '", a.spec().text, "': ", name, " must be positive, got ", v);
    };
    positive("num_classes", o.num_classes);
    positive("in_channels", o.in_channels);
    positive("width", o.width);
    // Channels up to 8 * width (x4 in a Bottleneck): far below any overflow of index_t.
    require(o.width <= (1LL << 24), "spec: '", a.spec().text, "': width must be at most 16777216, got ", o.width);
    return o;
}

inline std::string num(long long v) { return std::to_string(v); }

// Items joined by "; ".
struct items {
    std::string text;
    items& add(const std::string& item) {
        text += (text.empty() ? "" : "; ") + item;
        return *this;
    }
};

// torchvision's conv3x3 and conv1x1 (no bias).
inline std::string conv(long long in, long long out, long long k, long long stride) {
    return "Conv2d(" + num(in) + "," + num(out) + "," + num(k) + "," + num(stride) + "," + num(k / 2) + ",bias=False)";
}
inline std::string bn(long long c) { return "BatchNorm2d(" + num(c) + ")"; }

// BasicBlock's and Bottleneck's main branches (stride in the 3x3 convolution, "ResNet V1.5").
inline std::string basic_main(long long in, long long planes, long long stride) {
    return items{}
        .add("conv1: " + conv(in, planes, 3, stride))
        .add("bn1: " + bn(planes))
        .add("relu: ReLU")
        .add("conv2: " + conv(planes, planes, 3, 1))
        .add("bn2: " + bn(planes))
        .text;
}
inline std::string bottleneck_main(long long in, long long planes, long long stride) {
    return items{}
        .add("conv1: " + conv(in, planes, 1, 1))
        .add("bn1: " + bn(planes))
        .add("relu: ReLU")
        .add("conv2: " + conv(planes, planes, 3, stride))
        .add("bn2: " + bn(planes))
        .add("relu: ReLU")
        .add("conv3: " + conv(planes, planes * 4, 1, 1))
        .add("bn3: " + bn(planes * 4))
        .text;
}

// torchvision's ResNet (models/resnet.hpp): stem, four stages of blocks (a Residual item and its
// ReLU), average pool, flatten, fc.
template <int Expansion, int L1, int L2, int L3, int L4, bool Small>
std::string resnet(const nn::layer_arguments& a) {
    const auto o = read_common(a);
    const long long w = o.width, e = Expansion;
    items out;
    if (Small)
        out.add("conv1: " + conv(o.in_channels, w, 3, 1)).add("bn1: " + bn(w)).add("relu: ReLU");
    else
        out.add("conv1: Conv2d(" + num(o.in_channels) + "," + num(w) + ",7,2,3,bias=False)")
            .add("bn1: " + bn(w))
            .add("relu: ReLU")
            .add("maxpool: MaxPool2d(3,2,1)");
    const std::array<int, 4> blocks{L1, L2, L3, L4};
    long long in = w;
    for (int s = 0; s < 4; ++s) {
        const long long planes = w << s, stride = s == 0 ? 1 : 2;
        for (int b = 0; b < blocks[static_cast<std::size_t>(s)]; ++b) {
            const std::string name = "layer" + num(s + 1) + "." + num(b);
            const long long st = b == 0 ? stride : 1;
            const std::string main = e == 1 ? basic_main(in, planes, st) : bottleneck_main(in, planes, st);
            std::string block = name + ": Residual([" + main + "]";
            if (st != 1 || in != planes * e)  // torchvision's downsample condition
                block += ", downsample: [" + conv(in, planes * e, 1, st) + "; " + bn(planes * e) + "]";
            out.add(block + ")").add(name + ".relu: ReLU");
            in = planes * e;
        }
    }
    out.add("avgpool: AdaptiveAvgPool2d(1)").add("flatten: Flatten").add("fc: Linear(" + num(in) + "," + num(o.num_classes) + ")");
    return out.text;
}

// torchvision's VGG with BatchNorm (models/vgg.hpp); channels scale with width/64.
template <const auto& Config, bool Small>
std::string vgg(const nn::layer_arguments& a) {
    const auto o = read_common(a);
    items out;
    int index = 0;
    long long in = o.in_channels;
    for (const int c : Config) {
        const std::string name = "features." + num(index);
        if (c == 0) {
            out.add(name + ": MaxPool2d(2,2)");
            index += 1;
            continue;
        }
        const long long ch = c / 64 * o.width;
        out.add(name + ": Conv2d(" + num(in) + "," + num(ch) + ",3,1,1)")
            .add("features." + num(index + 1) + ": " + bn(ch))
            .add("features." + num(index + 2) + ": ReLU");
        in = ch;
        index += 3;
    }
    if (Small) {
        out.add("avgpool: AdaptiveAvgPool2d(1)").add("flatten: Flatten").add("classifier: Linear(" + num(in) + "," + num(o.num_classes) + ")");
    } else {
        const std::string p = a.required("dropout");
        (void)a.real("dropout");
        out.add("avgpool: AdaptiveAvgPool2d(7)")
            .add("flatten: Flatten")
            .add("classifier.0: Linear(" + num(in * 49) + ",4096)")
            .add("classifier.1: ReLU")
            .add("classifier.2: Dropout(" + p + ")")
            .add("classifier.3: Linear(4096,4096)")
            .add("classifier.4: ReLU")
            .add("classifier.5: Dropout(" + p + ")")
            .add("classifier.6: Linear(4096," + num(o.num_classes) + ")");
    }
    return out.text;
}

inline constexpr std::string_view resnet_signature = "num_classes=1000, in_channels=3, width=64";
inline constexpr std::string_view vgg_signature = "num_classes=1000, in_channels=3, width=64, dropout=0.5";

}  // namespace spec_text

// One named model: its name, its arguments as a Python signature (bound as a layer's are), what it
// is, how its spec is written and how its parameters are initialised.
struct named_model {
    std::string_view name;
    std::string_view signature;
    std::string_view summary;
    std::string (*spec)(const nn::layer_arguments&);
    init_scheme init;
};

// THE table.
inline constexpr named_model named_models[] = {
    {"resnet18", spec_text::resnet_signature, "torchvision's ResNet-18 (BasicBlock 2,2,2,2)",
     spec_text::resnet<1, 2, 2, 2, 2, false>, init_scheme::resnet},
    {"resnet34", spec_text::resnet_signature, "torchvision's ResNet-34 (BasicBlock 3,4,6,3)",
     spec_text::resnet<1, 3, 4, 6, 3, false>, init_scheme::resnet},
    {"resnet50", spec_text::resnet_signature, "torchvision's ResNet-50 (Bottleneck 3,4,6,3)",
     spec_text::resnet<4, 3, 4, 6, 3, false>, init_scheme::resnet},
    {"resnet18_small", spec_text::resnet_signature, "ResNet-18 for 32x32 data (3x3/1 stem, no max-pool)",
     spec_text::resnet<1, 2, 2, 2, 2, true>, init_scheme::resnet},
    {"resnet34_small", spec_text::resnet_signature, "ResNet-34 for 32x32 data",
     spec_text::resnet<1, 3, 4, 6, 3, true>, init_scheme::resnet},
    {"resnet50_small", spec_text::resnet_signature, "ResNet-50 for 32x32 data",
     spec_text::resnet<4, 3, 4, 6, 3, true>, init_scheme::resnet},
    {"vgg11_bn", spec_text::vgg_signature, "torchvision's VGG-11 with BatchNorm",
     spec_text::vgg<detail::vgg11_config, false>, init_scheme::vgg},
    {"vgg16_bn", spec_text::vgg_signature, "torchvision's VGG-16 with BatchNorm",
     spec_text::vgg<detail::vgg16_config, false>, init_scheme::vgg},
    {"vgg11_bn_small", spec_text::resnet_signature, "VGG-11-BN for 32x32 data (global pool, one Linear)",
     spec_text::vgg<detail::vgg11_config, true>, init_scheme::vgg},
    {"vgg16_bn_small", spec_text::resnet_signature, "VGG-16-BN for 32x32 data",
     spec_text::vgg<detail::vgg16_config, true>, init_scheme::vgg},
};

inline const named_model* find_named_model(std::string_view name) {
    for (const auto& m : named_models)
        if (m.name == name) return &m;
    return nullptr;
}

inline std::string known_models() {
    std::string out;
    for (const auto& m : named_models) out += (out.empty() ? "" : ", ") + std::string(m.name);
    return out;
}

// One line per model: name(signature) and what it is.
inline std::string model_help() {
    std::string out;
    for (const auto& m : named_models) {
        std::string left = "  " + std::string(m.name) + "(" + std::string(m.signature) + ")";
        left.resize(std::max<std::size_t>(left.size() + 2, 72), ' ');
        out += left + std::string(m.summary) + "\n";
    }
    return out;
}

// A spec as the run-time model builds it: its items, the text they come from, and for a named
// model its initialisation.
struct expanded_spec {
    std::vector<nn::layer_spec> items;
    std::string text;
    std::optional<init_scheme> init;
};

// Parses `spec`; a named model ("resnet18(num_classes=10)", the whole spec) becomes its expansion.
// A spec of one item that is neither a layer, a Residual nor a model is one line naming both lists.
inline expanded_spec expand_spec(std::string_view spec) {
    expanded_spec out{nn::parse_model_spec(spec), std::string(spec), std::nullopt};
    for (const auto& item : out.items) {
        if (find_named_model(item.name) == nullptr) continue;
        require(out.items.size() == 1 && item.module.empty(), "spec: '", item.text,
                "' is a whole model; write it alone as the spec");
    }
    const auto& first = out.items.front();
    const named_model* m = find_named_model(first.name);
    if (m == nullptr) {
        require(out.items.size() > 1 || first.name == nn::residual_item || nn::layer_registry::contains(first.name),
                "spec: unknown model or layer '", first.name, "' (models: ", known_models(),
                "; layers: ", nn::known_layers(), ")");
        return out;
    }
    const nn::layer_spec call = first;
    out.text = m->spec(nn::layer_arguments(call, m->signature));
    out.items = nn::parse_model_spec(out.text);
    out.init = m->init;
    return out;
}

}  // namespace models
SIB_END_NAMESPACE
