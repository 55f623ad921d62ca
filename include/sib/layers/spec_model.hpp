// The run-time model the command line builds from a spec string. It holds the layer kinds of the
// registry (layers/registry.hpp) in a closed std::variant, the same types as the compile-time
// sequential, so one implementation serves both.
#pragma once
#include <sib/layers/registry.hpp>
#include <sib/layers/sequential.hpp>
#include <string>
#include <variant>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class spec_model {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit spec_model(std::string_view spec) : spec_(spec) {
        for (const auto& item : parse_model_spec(spec)) {
            try {  // a layer too large for memory is named: "layer 2 (Linear(...)): tensor [...]: cannot allocate N bytes"
                layers_.push_back(make_layer<T, B>(item));
            } catch (const out_of_memory& e) {
                throw out_of_memory(sib::detail::concat("layer ", layers_.size(), " (", item.text, "): ", e.what()));
            }
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
