// The run-time model the command line builds from a spec string. It holds the same layer types as
// the compile-time Sequential, in a closed std::variant, so one implementation serves both.
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
#include <sib/layers/sequential.hpp>
#include <sib/layers/sigmoid.hpp>
#include <sib/layers/softplus.hpp>
#include <sib/layers/spec.hpp>
#include <sib/layers/tanh.hpp>
#include <string>
#include <variant>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
using any_layer = std::variant<nn::conv2d<T, B>, nn::linear<T, B>, nn::relu<T, B>, nn::leaky_relu<T, B>,
                               nn::tanh<T, B>, nn::sigmoid<T, B>, nn::gelu<T, B>, nn::softplus<T, B>,
                               nn::max_pool2d<T, B>, nn::avg_pool2d<T, B>,
                               nn::adaptive_avg_pool2d<T, B>, nn::flatten<T, B>,
                               nn::batch_norm2d<T, B>, nn::dropout<T, B>>;

// The layer a spec item names, with PyTorch's argument order and defaults.
template <class T, class B = cpu>
any_layer<T, B> make_layer(const layer_spec& s) {
    using namespace nn;
    const auto& n = s.name;
    auto window = [&](std::size_t kernel_at, bool stride_defaults_to_kernel) {
        const auto k = s.pair(kernel_at, "kernel_size");
        const auto st = s.pair(kernel_at + 1, "stride",
                               stride_defaults_to_kernel ? std::optional<long long>{} : 1LL);
        const auto p = s.pair(kernel_at + 2, "padding", 0);
        window2d w{k.first, k.second, st.first, st.second, p.first, p.second};
        if (stride_defaults_to_kernel && !s.find(kernel_at + 1, "stride").has_value()) {
            w.stride_h = k.first;
            w.stride_w = k.second;
        }
        return w;
    };
    auto stride_or_kernel = [&](std::size_t kernel_at) {
        auto v = s.find(kernel_at + 1, "stride");
        if (!v || *v == "None") {
            const auto k = s.pair(kernel_at, "kernel_size");
            return window2d{k.first, k.second, k.first, k.second, 0, 0};
        }
        return window(kernel_at, false);
    };
    if (n == "Conv2d") {
        s.only(6, {"in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"});
        return conv2d<T, B>(s.integer(0, "in_channels"), s.integer(1, "out_channels"), window(2, false),
                            s.boolean(5, "bias", true));
    }
    if (n == "Linear") {
        s.only(3, {"in_features", "out_features", "bias"});
        return linear<T, B>(s.integer(0, "in_features"), s.integer(1, "out_features"), s.boolean(2, "bias", true));
    }
    if (n == "ReLU") {
        s.only(1, {"inplace"});
        return relu<T, B>{};
    }
    if (n == "LeakyReLU") {
        s.only(2, {"negative_slope", "inplace"});
        return leaky_relu<T, B>(s.real(0, "negative_slope", 0.01));
    }
    if (n == "Tanh") {
        s.only(0, {});
        return nn::tanh<T, B>{};
    }
    if (n == "Sigmoid") {
        s.only(0, {});
        return sigmoid<T, B>{};
    }
    if (n == "GELU") {
        s.only(1, {"approximate"});
        if (auto a = s.find(0, "approximate"))
            require(*a == "'none'" || *a == "\"none\"" || *a == "none", "spec: '", s.text,
                    "': only approximate='none' is supported");
        return gelu<T, B>{};
    }
    if (n == "Softplus") {
        s.only(2, {"beta", "threshold"});
        return softplus<T, B>(s.real(0, "beta", 1.0), s.real(1, "threshold", 20.0));
    }
    if (n == "MaxPool2d") {
        s.only(3, {"kernel_size", "stride", "padding"});
        auto w = stride_or_kernel(0);
        const auto p = s.pair(2, "padding", 0);
        w.pad_h = p.first;
        w.pad_w = p.second;
        return max_pool2d<T, B>(w);
    }
    if (n == "AvgPool2d") {
        s.only(4, {"kernel_size", "stride", "padding", "count_include_pad"});
        auto w = stride_or_kernel(0);
        const auto p = s.pair(2, "padding", 0);
        w.pad_h = p.first;
        w.pad_w = p.second;
        return avg_pool2d<T, B>(w, s.boolean(3, "count_include_pad", true));
    }
    if (n == "AdaptiveAvgPool2d") {
        s.only(1, {"output_size"});
        const auto o = s.pair(0, "output_size");
        return adaptive_avg_pool2d<T, B>(o.first, o.second);
    }
    if (n == "Flatten") {
        s.only(0, {});
        return flatten<T, B>{};
    }
    if (n == "BatchNorm2d") {
        s.only(4, {"num_features", "eps", "momentum", "affine"});
        return batch_norm2d<T, B>(s.integer(0, "num_features"), s.real(1, "eps", 1e-5),
                                  s.real(2, "momentum", 0.1), s.boolean(3, "affine", true));
    }
    if (n == "Dropout") {
        s.only(2, {"p", "inplace"});
        return dropout<T, B>(s.real(0, "p", 0.5));
    }
    fail("spec: unknown layer '", n, "' (known: Conv2d, Linear, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, "
         "Softplus, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, BatchNorm2d, Dropout)");
}

template <class T, class B = cpu>
class spec_model {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit spec_model(std::string_view spec) : spec_(spec) {
        for (const auto& item : parse_model_spec(spec)) {
            layers_.push_back(make_layer<T, B>(item));
            texts_.push_back(item.text);
        }
    }

    const std::string& spec() const { return spec_; }
    int num_layers() const { return static_cast<int>(layers_.size()); }
    const std::string& layer_text(int i) const { return texts_[static_cast<std::size_t>(i)]; }
    any_layer<T, B>& layer(int i) { return layers_[static_cast<std::size_t>(i)]; }

    template <class F>
    void for_each_layer(F&& f) {
        for (int i = 0; i < num_layers(); ++i)
            std::visit([&](auto& l) { f(l, i); }, layers_[static_cast<std::size_t>(i)]);
    }
    template <class F>
    void for_each_layer_reverse(F&& f) {
        for (int i = num_layers() - 1; i >= 0; --i)
            std::visit([&](auto& l) { f(l, i); }, layers_[static_cast<std::size_t>(i)]);
    }
    template <class F>
    void for_each_parameter(F&& f) {
        for_each_layer([&](auto& l, int i) { l.for_each_parameter(nn::detail::prefixed_visitor<F>{f, i}); });
    }

    // Names the layer whose input does not fit, so a spec that mismatches the data is one line.
    sib::shape output_shape(sib::shape s) const {
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            try {
                s = std::visit([&](const auto& l) { return l.output_shape(s); }, layers_[i]);
            } catch (const error& e) {
                fail("layer ", i, " (", texts_[i], "): ", e.what());
            }
        }
        return s;
    }

    void set_training(bool on) {
        for_each_layer([&](auto& l, int) { nn::detail::set_layer_training(l, on); });
    }

private:
    std::string spec_;
    std::vector<any_layer<T, B>> layers_;
    std::vector<std::string> texts_;
};

}  // namespace nn
SIB_END_NAMESPACE
