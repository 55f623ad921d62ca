// The run-time model the command line builds from a spec string: layers/spec.hpp's grammar, or a
// named model of models/registry.hpp such as "resnet18(num_classes=10)", expanded to its spec.
//
//   nn::spec_sequence<T, B>  a run-time chain of nodes: a layer (or a block), its module name and
//                            text (layers/spec_sequence.hpp)
//   spec_model<T, B>         the whole model: the top-level chain, the spec as given (a checkpoint's
//                            identity) and, for a named model, torchvision's initialisation
#pragma once
#include <sib/layers/spec_sequence.hpp>
#include <sib/models/init.hpp>
#include <sib/models/registry.hpp>
#include <sib/optim/init.hpp>
#include <optional>
#include <set>
#include <string>

SIB_BEGIN_NAMESPACE
namespace models {

template <class T, class B = cpu>
class spec_model : public nn::spec_sequence<T, B> {
public:
    explicit spec_model(std::string_view spec) : spec_model(expand_spec(spec), spec) {}

    // The spec as given ("resnet18(num_classes=10)" for a named model): what a checkpoint stores as
    // its identity, so that the same string rebuilds the model.
    const std::string& spec() const { return spec_; }
    // The spec the model was built from: `spec()`, or a named model's expansion.
    const std::string& expanded_spec() const { return expanded_; }

    // A fresh model's parameters: torchvision's initialisation for a named model (as the
    // compile-time sib::models types draw it, in the same order), else each layer's PyTorch default.
    // optim::pytorch_default (and so the trainer) calls it.
    void reset_parameters(rng& r) {
        if (init_)
            torchvision_init(*this, r, *init_);
        else
            this->for_each_layer([&](auto& l, int) { optim::pytorch_default(l, r); });
    }

private:
    spec_model(models::expanded_spec e, std::string_view spec)
        : nn::spec_sequence<T, B>(e.items), spec_(spec), expanded_(std::move(e.text)), init_(e.init) {
        // Two parameters under one name could not be saved or loaded: refused here, in one line.
        std::set<std::string> seen;
        this->for_each_parameter([&](std::string_view name, tensor<T, B>&, tensor<T, B>*) {
            require(seen.insert(std::string(name)).second, "spec: two parameters named '", name,
                    "' (give the modules distinct names)");
        });
    }

    std::string spec_;
    std::string expanded_;
    std::optional<init_scheme> init_;
};

}  // namespace models
SIB_END_NAMESPACE
