// The layers a spec can name: one entry per layer kind, in one place. Each entry gives the PyTorch
// class name, its Python signature (argument order, names and defaults, as torch.nn documents them)
// and how the bound arguments build sib's layer. Everything that knows layers by name derives from
// this list: the spec parser (nn::make_layer), the run-time model's std::variant (nn::any_layer),
// the "known layers" of error messages and the command line's help (nn::layer_help).
// Adding a layer: write it (a class with the five rules), then add its entry here (docs/adding-a-layer.md).
#pragma once
#include <sib/layers/adaptive_avg_pool2d.hpp>
#include <sib/layers/avg_pool2d.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/dropout.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/gelu.hpp>
#include <sib/layers/leaky_relu.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sigmoid.hpp>
#include <sib/layers/softplus.hpp>
#include <sib/layers/spec.hpp>
#include <sib/layers/tanh.hpp>
#include <string>
#include <string_view>
#include <variant>

SIB_BEGIN_NAMESPACE
namespace nn {

namespace registry {

// Pooling windows: PyTorch's stride defaults to the kernel size (stride=None).
inline window2d pool_window(const layer_arguments& a) {
    const auto k = a.pair("kernel_size");
    const auto st = a.find("stride") ? a.pair("stride") : k;
    const auto p = a.pair("padding");
    return {k.first, k.second, st.first, st.second, p.first, p.second};
}

// A layer PyTorch constructs without arguments.
template <template <class, class> class L>
struct no_arguments {
    static constexpr std::string_view signature = "";
    template <class T, class B>
    using type = L<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments&) {
        return {};
    }
};

struct conv2d_entry {
    static constexpr std::string_view name = "Conv2d";
    static constexpr std::string_view signature =
        "in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, "
        "padding_mode='zeros'";
    template <class T, class B>
    using type = conv2d<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.only_default("dilation", "1");
        a.only_default("groups", "1");
        const auto mode = a.required("padding_mode");
        require(mode == "'zeros'" || mode == "\"zeros\"", "spec: '", a.spec().text,
                "': only padding_mode='zeros' is supported");
        const auto k = a.pair("kernel_size"), st = a.pair("stride"), p = a.pair("padding");
        return {a.integer("in_channels"), a.integer("out_channels"),
                window2d{k.first, k.second, st.first, st.second, p.first, p.second}, a.boolean("bias")};
    }
};

struct linear_entry {
    static constexpr std::string_view name = "Linear";
    static constexpr std::string_view signature = "in_features, out_features, bias=True";
    template <class T, class B>
    using type = linear<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        return {a.integer("in_features"), a.integer("out_features"), a.boolean("bias")};
    }
};

struct relu_entry {
    static constexpr std::string_view name = "ReLU";
    static constexpr std::string_view signature = "inplace=False";  // in place or not, the same values
    template <class T, class B>
    using type = relu<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.boolean("inplace");
        return {};
    }
};

struct leaky_relu_entry {
    static constexpr std::string_view name = "LeakyReLU";
    static constexpr std::string_view signature = "negative_slope=0.01, inplace=False";
    template <class T, class B>
    using type = leaky_relu<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.boolean("inplace");
        return type<T, B>(a.real("negative_slope"));
    }
};

struct tanh_entry : no_arguments<nn::tanh> {
    static constexpr std::string_view name = "Tanh";
};

struct sigmoid_entry : no_arguments<sigmoid> {
    static constexpr std::string_view name = "Sigmoid";
};

struct gelu_entry {
    static constexpr std::string_view name = "GELU";
    static constexpr std::string_view signature = "approximate='none'";
    template <class T, class B>
    using type = gelu<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        const auto v = a.required("approximate");
        require(v == "'none'" || v == "\"none\"" || v == "none", "spec: '", a.spec().text,
                "': only approximate='none' is supported");
        return {};
    }
};

struct softplus_entry {
    static constexpr std::string_view name = "Softplus";
    static constexpr std::string_view signature = "beta=1.0, threshold=20.0";
    template <class T, class B>
    using type = softplus<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        return type<T, B>(a.real("beta"), a.real("threshold"));
    }
};

struct max_pool2d_entry {
    static constexpr std::string_view name = "MaxPool2d";
    static constexpr std::string_view signature =
        "kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False";
    template <class T, class B>
    using type = max_pool2d<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.only_default("dilation", "1");
        a.only_default("return_indices", "False");
        a.only_default("ceil_mode", "False");
        return type<T, B>(pool_window(a));
    }
};

struct avg_pool2d_entry {
    static constexpr std::string_view name = "AvgPool2d";
    static constexpr std::string_view signature =
        "kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None";
    template <class T, class B>
    using type = avg_pool2d<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.only_default("ceil_mode", "False");
        a.only_default("divisor_override", "None");
        return type<T, B>(pool_window(a), a.boolean("count_include_pad"));
    }
};

struct adaptive_avg_pool2d_entry {
    static constexpr std::string_view name = "AdaptiveAvgPool2d";
    static constexpr std::string_view signature = "output_size";
    template <class T, class B>
    using type = adaptive_avg_pool2d<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        const auto o = a.pair("output_size");
        return type<T, B>(o.first, o.second);
    }
};

struct flatten_entry {
    static constexpr std::string_view name = "Flatten";
    static constexpr std::string_view signature = "start_dim=1, end_dim=-1";
    template <class T, class B>
    using type = flatten<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.only_default("start_dim", "1");
        a.only_default("end_dim", "-1");
        return {};
    }
};

struct batch_norm2d_entry {
    static constexpr std::string_view name = "BatchNorm2d";
    static constexpr std::string_view signature =
        "num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True";
    template <class T, class B>
    using type = batch_norm2d<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.only_default("track_running_stats", "True");
        // momentum=None: a cumulative moving average, as PyTorch.
        const std::optional<double> momentum = a.find("momentum") ? std::optional<double>(a.real("momentum")) : std::nullopt;
        return type<T, B>(a.integer("num_features"), a.real("eps"), momentum, a.boolean("affine"));
    }
};

struct dropout_entry {
    static constexpr std::string_view name = "Dropout";
    static constexpr std::string_view signature = "p=0.5, inplace=False";
    template <class T, class B>
    using type = dropout<T, B>;
    template <class T, class B>
    static type<T, B> make(const layer_arguments& a) {
        a.boolean("inplace");
        return type<T, B>(a.real("p"));
    }
};

template <class... Entries>
struct list {
    template <class T, class B>
    using variant = std::variant<typename Entries::template type<T, B>...>;
    // The layers and some more alternatives (the run-time model's blocks, models/spec_model.hpp).
    template <class T, class B, class... Extra>
    using variant_with = std::variant<typename Entries::template type<T, B>..., Extra...>;

    // The layer a spec item names, as the variant V (variant<T, B> or a variant_with), or a one-line
    // error that lists the known names.
    template <class T, class B, class V = variant<T, B>>
    static V make(const layer_spec& s) {
        std::optional<V> out;
        (void)((s.name == Entries::name
                    ? (out.emplace(std::in_place_type<typename Entries::template type<T, B>>,
                                 Entries::template make<T, B>(layer_arguments(s, Entries::signature))),
                       true)
                    : false) ||
               ...);
        if (!out) fail("spec: unknown layer '", s.name, "' (known: ", names(), ")");
        return std::move(*out);
    }

    static bool contains(std::string_view name) { return ((name == Entries::name) || ...); }

    static std::string names() {
        std::string out;
        ((out += (out.empty() ? "" : ", ") + std::string(Entries::name)), ...);
        return out;
    }

    // One line per layer: Name(signature).
    static std::string help() {
        std::string out;
        ((out += "  " + std::string(Entries::name) + "(" + std::string(Entries::signature) + ")\n"), ...);
        return out;
    }
};

}  // namespace registry

// THE table.
using layer_registry =
    registry::list<registry::conv2d_entry, registry::linear_entry, registry::relu_entry, registry::leaky_relu_entry,
                   registry::tanh_entry, registry::sigmoid_entry, registry::gelu_entry, registry::softplus_entry,
                   registry::max_pool2d_entry, registry::avg_pool2d_entry, registry::adaptive_avg_pool2d_entry,
                   registry::flatten_entry, registry::batch_norm2d_entry, registry::dropout_entry>;

// A layer of any registered kind, as the run-time model holds it.
template <class T, class B = cpu>
using any_layer = layer_registry::variant<T, B>;

template <class T, class B = cpu>
any_layer<T, B> make_layer(const layer_spec& s) {
    return layer_registry::make<T, B>(s);
}

inline std::string known_layers() { return layer_registry::names(); }
inline std::string layer_help() { return layer_registry::help(); }

}  // namespace nn
SIB_END_NAMESPACE
