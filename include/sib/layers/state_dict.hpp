// The keys of a model's state dict in PyTorch's order: the parameters and floating-point buffers
// as for_each_parameter visits them, each integer buffer (BatchNorm's num_batches_tracked, from
// sib::visit_counters) right after the other entries of its module, where module.state_dict() puts
// it. What a strict loader (io::load_state_dict) checks a file's names against, and what a test
// compares with torchvision's.
#pragma once
#include <sib/core/counters.hpp>
#include <sib/layers/sequential.hpp>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class M>
std::vector<std::string> state_dict_keys(M& m) {
    std::vector<std::string> keys;
    m.for_each_parameter([&](std::string_view name, auto&, auto*) { keys.emplace_back(name); });
    const auto module_of = [](std::string_view key) {
        const auto dot = key.rfind('.');
        return dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot);
    };
    sib::visit_counters(m, [&](std::string_view name, index_t&) {
        const std::string_view module = module_of(name);
        auto at = keys.end();
        for (auto it = keys.begin(); it != keys.end(); ++it)
            if (module_of(*it) == module) at = it + 1;
        keys.insert(at, std::string(name));
    });
    return keys;
}

}  // namespace nn
SIB_END_NAMESPACE
