// Model weights in and out, by PyTorch state-dict names: a .safetensors file or a folder of
// param.<name>.npy files (the golden fixtures' layout). Shapes are checked against the model.
#pragma once
#include <sib/core/finite.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/safetensors.hpp>
#include <filesystem>
#include <map>
#include <string>

SIB_BEGIN_NAMESPACE
namespace io {

namespace detail {
template <class T, class B>
void assign_parameter(const std::string& name, tensor<T, B>& dst, const tensor<T, B>& src,
                      const std::string& where) {
    require(src.shape() == dst.shape(), "weights: parameter ", name, " has shape ", dst.shape().str(),
            " in the model but ", src.shape().str(), " in ", where);
    require_finite(src, "weights: parameter " + name + " in " + where);
    B::copy(src.size(), src.data(), dst.data());
}
}  // namespace detail

// Loads every parameter and buffer of `m`; a missing one is an error, extra entries in a
// safetensors file (such as optimizer state or num_batches_tracked) are ignored.
template <class Model>
void load_weights(Model& m, const std::filesystem::path& path) {
    using T = typename Model::value_type;
    using B = typename Model::backend;
    require(std::filesystem::exists(path), "weights: ", path.string(), " not found");
    if (std::filesystem::is_directory(path)) {
        m.for_each_parameter([&](std::string_view name, tensor<T, B>& value, tensor<T, B>*) {
            const auto file = path / ("param." + std::string(name) + ".npy");
            require(std::filesystem::exists(file), "weights: ", file.string(), " not found (parameter ",
                    std::string(name), ")");
            detail::assign_parameter(std::string(name), value, load_npy<T, B>(file), file.string());
        });
        return;
    }
    const safetensors_file f = safetensors_file::load(path);
    m.for_each_parameter([&](std::string_view name, tensor<T, B>& value, tensor<T, B>*) {
        const std::string n(name);
        require(f.contains(n), "weights: ", path.string(), " has no tensor '", n, "'");
        detail::assign_parameter(n, value, f.template get<T, B>(n), path.string());
    });
}

}  // namespace io
SIB_END_NAMESPACE
