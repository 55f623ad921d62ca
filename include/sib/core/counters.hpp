// A model's integer buffers (BatchNorm's num_batches_tracked), named as its parameters: what a
// checkpoint stores beside them and what a strict state-dict loader expects in a file.
#pragma once
#include <sib/core/config.hpp>
#include <string>
#include <string_view>
#include <type_traits>

SIB_BEGIN_NAMESPACE

namespace detail {
struct ignore_counter {
    void operator()(std::string_view, index_t&) const {}
};
}  // namespace detail

// f(name, index_t&) for every integer buffer of `m`: through m.for_each_counter where the model
// names them (sequential: named children, blocks' inner layers), else (a model with layers but no
// for_each_counter, such as models::spec_model) through each top-level layer's, prefixed "<index>.",
// as train::save_checkpoint names them. Nothing for a model without any.
template <class M, class F>
void visit_counters(M& m, F&& f) {
    if constexpr (requires { m.for_each_counter(detail::ignore_counter{}); }) {
        m.for_each_counter([&](std::string_view name, index_t& v) { f(name, v); });
    } else if constexpr (requires { m.for_each_layer([](auto&, int) {}); }) {
        m.for_each_layer([&](auto& layer, int i) {
            if constexpr (requires { layer.for_each_counter(detail::ignore_counter{}); })
                layer.for_each_counter([&](std::string_view name, index_t& v) {
                    const std::string full = std::to_string(i) + "." + std::string(name);
                    f(std::string_view(full), v);
                });
        });
    }
}

SIB_END_NAMESPACE
