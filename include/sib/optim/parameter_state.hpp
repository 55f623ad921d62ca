// Per-parameter optimizer state, kept in the order the model visits its trainable parameters (as
// PyTorch keys optimizer state by parameter index). Checking the model against the recorded names
// and shapes on every step turns a model/optimizer mismatch into an error instead of a silent
// update of the wrong tensor.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/tensor.hpp>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace optim {

// Up to N state tensors per parameter, of which the first `active` are used (e.g. AdamW keeps
// max_exp_avg_sq only with amsgrad). `who` names the optimizer in error messages.
template <class T, class B, std::size_t N>
class parameter_state {
public:
    using tensor_type = tensor<T, B>;

    parameter_state(const char* who, std::array<const char*, N> state_names, std::size_t active)
        : who_(who), state_names_(state_names), active_(active) {}

    bool created() const { return created_; }
    std::size_t active() const { return active_; }

    // Creates zeroed state for every trainable parameter the first time; afterwards only checks
    // that the model still has the parameters the state was made for.
    template <class M>
        requires has_parameters<M>
    void bind(M& model) {
        if (!created_) {
            create(model);
            return;
        }
        std::size_t k = 0;
        model.for_each_parameter([&](std::string_view name, tensor_type& value, tensor_type* grad) {
            if (!grad) return;
            if (k >= entries_.size())
                fail(who_, ": the model has more trainable parameters than the ", entries_.size(),
                     " its optimizer state was made for (first new: '", name, "')");
            const entry& e = entries_[k];
            // Checked with `if` rather than require: the message's strings are built only on failure,
            // so a step allocates nothing.
            if (name != e.name || value.shape() != e.shape)
                fail(who_, ": parameter #", k, " is '", name, "' ", value.shape().str(),
                     ", but the optimizer state was made for '", e.name, "' ", e.shape.str());
            if (grad->shape() != value.shape())
                fail(who_, ": gradient of '", name, "' has shape ", grad->shape().str(), ", the parameter ",
                     value.shape().str());
            ++k;
        });
        require(k == entries_.size(), who_, ": the model has ", k,
                " trainable parameters, its optimizer state was made for ", entries_.size());
    }

    // f(value, grad, state) for every trainable parameter, in visit order; call bind first.
    template <class M, class F>
    void for_each(M& model, F&& f) {
        std::size_t k = 0;
        model.for_each_parameter([&](std::string_view, tensor_type& value, tensor_type* grad) {
            if (!grad) return;
            f(value, *grad, entries_[k++].tensors);
        });
    }

    // f("optim.<parameter>.<state>", tensor) for every state tensor.
    template <class F>
    void for_each_state(F&& f) {
        for (entry& e : entries_)
            for (std::size_t s = 0; s < active_; ++s) f(state_name(e, s), e.tensors[s]);
    }
    template <class F>
    void for_each_state(F&& f) const {
        for (const entry& e : entries_)
            for (std::size_t s = 0; s < active_; ++s) f(state_name(e, s), static_cast<const tensor_type&>(e.tensors[s]));
    }

private:
    struct entry {
        std::string name;
        sib::shape shape;
        std::array<tensor_type, N> tensors;
    };

    template <class M>
    void create(M& model) {
        entries_.clear();
        model.for_each_parameter([&](std::string_view name, tensor_type& value, tensor_type* grad) {
            if (!grad) return;
            for (const entry& e : entries_)
                require(e.name != name, who_, ": the model names two trainable parameters '", name,
                        "', so their optimizer state could not be told apart in a checkpoint");
            require(grad->shape() == value.shape(), who_, ": gradient of '", name, "' has shape ",
                    grad->shape().str(), ", the parameter ", value.shape().str());
            entry& e = entries_.emplace_back();
            e.name = std::string(name);
            e.shape = value.shape();
            for (std::size_t s = 0; s < active_; ++s) {
                e.tensors[s].resize(value.shape());
                e.tensors[s].zero();
            }
        });
        created_ = true;
    }

    std::string state_name(const entry& e, std::size_t s) const {
        return "optim." + e.name + "." + state_names_[s];
    }

    const char* who_;
    std::array<const char*, N> state_names_;
    std::size_t active_;
    std::vector<entry> entries_;
    bool created_ = false;
};

}  // namespace optim
SIB_END_NAMESPACE
