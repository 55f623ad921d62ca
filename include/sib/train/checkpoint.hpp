// Checkpoints are .safetensors files: the model's state dict under PyTorch's names (so
// `model.load_state_dict({k: v for k, v in load_file(p).items() if not k.startswith("optim.")})`
// loads them in PyTorch), the optimizer state under "optim.<param>.<state>", and the run's
// settings and position as metadata. Written atomically: a kill at any moment leaves the previous
// checkpoint or the new one, never a torn file.
#pragma once
#include <sib/core/finite.hpp>
#include <sib/io/safetensors.hpp>
#include <sib/io/json.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

SIB_BEGIN_NAMESPACE
namespace train {

inline constexpr const char* checkpoint_format = "sib-checkpoint/1";

namespace detail {
// f(name, index_t&) for integer buffers such as BatchNorm's num_batches_tracked, named as the
// parameters: by the model where it names them (sequential: named children, blocks' inner layers),
// else with the "<index>." prefix of each top-level layer.
template <class M, class F>
void for_each_counter(M& m, F&& f) {
    if constexpr (requires { m.for_each_counter([](std::string_view, index_t&) {}); }) {
        m.for_each_counter([&](std::string_view name, index_t& v) { f(std::string(name), v); });
    } else {
        m.for_each_layer([&](auto& layer, int i) {
            if constexpr (requires { layer.for_each_counter([](std::string_view, index_t&) {}); })
                layer.for_each_counter([&](std::string_view name, index_t& v) {
                    f(std::to_string(i) + "." + std::string(name), v);
                });
        });
    }
}
// The metadata's documented keys (docs/formats.md), where present, have their documented types, so
// that a reader of them (trainer::resume) never meets a JSON type error or an out-of-range number.
inline void check_metadata(const io::json& meta, const std::string& where) {
    require(meta.is_object(), where, ": checkpoint metadata is not a JSON object");
    const auto has = [&](const char* key, auto&& ok, const char* what) {
        const io::json* v = meta.find(key);
        require(!v || ok(*v), where, ": checkpoint metadata '", key, "' must be ", what, v ? ", got " + v->dump() : "");
    };
    const auto count = [](const io::json& v) {
        return v.is_number_unsigned() && v.get<std::uint64_t>() <= std::uint64_t{1} << 62;
    };
    for (const char* key : {"epoch", "batch_in_epoch", "step", "epochs", "optimizer_steps"})
        has(key, count, "a non-negative integer");
    for (const char* key : {"seconds", "train_loss", "test_accuracy"})
        has(key, [](const io::json& v) { return v.is_number() || v.is_null(); }, "a number or null");
    has("identity", [](const io::json& v) { return v.is_string(); }, "a string");
    has("settings", [](const io::json& v) { return v.is_object(); }, "an object");
}
}  // namespace detail

// Saves model (and optimizer state, when given) with `meta` stored as JSON metadata.
template <class M, class Opt>
void save_checkpoint(const std::filesystem::path& path, M& model, Opt* optimizer, const io::json& meta) {
    using T = typename M::value_type;
    using B = typename M::backend;
    io::safetensors_file::named_arrays arrays;
    model.for_each_parameter([&](std::string_view name, tensor<T, B>& v, tensor<T, B>*) {
        arrays.emplace_back(std::string(name), io::raw_array::from_tensor(v));
    });
    detail::for_each_counter(model, [&](const std::string& name, index_t& v) {
        tensor<std::int64_t> t(sib::shape{}, std::vector<std::int64_t>{v});
        arrays.emplace_back(name, io::raw_array::from_tensor(t));
    });
    io::json m = meta;
    if (optimizer) {
        optimizer->for_each_state([&](const std::string& name, const tensor<T, B>& v) {
            arrays.emplace_back(name, io::raw_array::from_tensor(v));
        });
        m["optimizer_steps"] = optimizer->step_count();
    }
    io::safetensors_file::save(path, arrays, {{"format", checkpoint_format}, {"sib", m.dump()}});
}

// Restores what save_checkpoint wrote into `model` (and `optimizer`, when given); returns meta.
template <class M, class Opt>
io::json load_checkpoint(const std::filesystem::path& path, M& model, Opt* optimizer) {
    using T = typename M::value_type;
    using B = typename M::backend;
    const auto f = io::safetensors_file::load(path);
    const auto& md = f.metadata();
    auto it = md.find("sib");
    require(it != md.end() && md.count("format") && md.at("format") == checkpoint_format, path.string(),
            ": not a sib checkpoint (no '", checkpoint_format, "' metadata)");
    io::json meta;
    try {
        meta = io::json::parse(it->second);
    } catch (const std::exception&) {
        fail(path.string(), ": checkpoint metadata is not valid JSON");
    }
    detail::check_metadata(meta, path.string());
    model.for_each_parameter([&](std::string_view name, tensor<T, B>& v, tensor<T, B>*) {
        const std::string n(name);
        require(f.contains(n), path.string(), ": checkpoint has no tensor '", n, "'");
        auto src = f.template get<T, B>(n);
        require(src.shape() == v.shape(), path.string(), ": parameter ", n, " has shape ", v.shape().str(),
                " in the model but ", src.shape().str(), " in the checkpoint");
        require_finite(src, path.string() + ": parameter " + n);
        B::copy(src.size(), src.data(), v.data());
    });
    detail::for_each_counter(model, [&](const std::string& name, index_t& v) {
        if (!f.contains(name)) return;
        const auto c = f.template get<std::int64_t>(name);
        require(c.size() == 1, path.string(), ": counter ", name, " must be one integer, found shape ", c.shape().str());
        v = c.to_vector()[0];
    });
    const std::int64_t steps = meta.value("optimizer_steps", std::int64_t{0});
    if (optimizer && steps > 0) {  // before the first step an optimizer has no state
        optimizer->init_state(model);
        optimizer->for_each_state([&](const std::string& name, tensor<T, B>& v) {
            require(f.contains(name), path.string(), ": checkpoint has no optimizer state '", name, "'");
            auto src = f.template get<T, B>(name);
            require(src.shape() == v.shape(), path.string(), ": optimizer state ", name, " has shape ",
                    src.shape().str(), ", expected ", v.shape().str());
            B::copy(src.size(), src.data(), v.data());
        });
        optimizer->set_step_count(steps);
    }
    return meta;
}

}  // namespace train
SIB_END_NAMESPACE
