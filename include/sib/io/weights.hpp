// Model weights in and out, by PyTorch state-dict names: a .safetensors file or a folder of
// param.<name>.npy files (the golden fixtures' layout). Shapes are checked against the model.
// load_weights takes what the model needs and ignores the rest; load_state_dict is PyTorch's
// load_state_dict(strict=True): the file's names are exactly the model's state-dict keys.
#pragma once
#include <sib/core/counters.hpp>
#include <sib/core/finite.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/safetensors.hpp>
#include <filesystem>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Loads `m` from a .safetensors file whose names are exactly the model's state-dict keys
// (nn::state_dict_keys): every parameter, every buffer (BatchNorm's running_mean, running_var) and
// every counter (num_batches_tracked, an integer scalar), as torch.save of module.state_dict()
// writes them and as train::save_checkpoint does; a sib checkpoint's optimizer entries (`optim.*`,
// in a file whose metadata says it is one) are skipped. Floating tensors convert between float32
// and float64 (integers into floats as well); counters must be integers. Each refusal is one line
// naming the key: missing, unexpected, a shape ("<key>: shape [..] in the file, [..] in the
// model"), a dtype that does not convert, a value that is not finite. Nothing is assigned unless
// the whole file fits.
template <class Model>
void load_state_dict(Model& m, const std::filesystem::path& path) {
    using T = typename Model::value_type;
    using B = typename Model::backend;
    const std::string where = path.string();
    require(std::filesystem::exists(path), where, ": not found");
    require(!std::filesystem::is_directory(path), where,
            ": is a folder; load_state_dict reads one .safetensors file (load_weights reads param.<name>.npy folders)");
    const safetensors_file f = safetensors_file::load(path);
    const auto format = f.metadata().find("format");
    const bool checkpoint = format != f.metadata().end() && format->second == "sib-checkpoint/1";

    std::set<std::string> expected;
    const auto check_entry = [&](const std::string& key, const sib::shape& model_shape, bool counter) {
        expected.insert(key);
        require(f.contains(key), where, ": missing '", key, "' (in the model, not in the file)");
        const auto& e = f.info(key);
        const auto d = detail::safetensors_to_dtype(e.dtype);
        if (counter)
            require(d && !is_floating(*d), where, ": ", key, ": dtype ", e.dtype,
                    " in the file cannot convert to the model's int64 counter (I64, I32 or U8)");
        else
            require(d.has_value(), where, ": ", key, ": dtype ", e.dtype, " in the file cannot convert to ",
                    dtype_name(dtype_of<T>()), " (F32, F64, I64, I32 or U8)");
        require(e.shape == model_shape, where, ": ", key, ": shape ", e.shape.str(), " in the file, ",
                model_shape.str(), " in the model");
    };

    // Everything converted and checked first, so a refused file leaves the model as it was.
    std::vector<tensor<T, B>> values;
    m.for_each_parameter([&](std::string_view name, tensor<T, B>& v, tensor<T, B>*) {
        const std::string key(name);
        check_entry(key, v.shape(), false);
        values.push_back(f.template get<T, B>(key));
        require_finite(values.back(), where + ": " + key);
    });
    std::vector<std::int64_t> counts;
    sib::visit_counters(m, [&](std::string_view name, index_t&) {
        const std::string key(name);
        check_entry(key, sib::shape{}, true);
        counts.push_back(f.template get<std::int64_t>(key).to_vector()[0]);
    });
    for (const std::string& name : f.names())
        require(expected.count(name) || (checkpoint && name.starts_with("optim.")), where, ": unexpected '",
                name, "' (in the file, not in the model)");

    std::size_t i = 0;
    m.for_each_parameter([&](std::string_view, tensor<T, B>& v, tensor<T, B>*) {
        B::copy(v.size(), values[i].data(), v.data());
        ++i;
    });
    i = 0;
    sib::visit_counters(m, [&](std::string_view, index_t& v) { v = counts[i++]; });
}

}  // namespace io
SIB_END_NAMESPACE
