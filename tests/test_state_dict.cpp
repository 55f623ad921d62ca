// io::load_state_dict, the strict loader: a model's state dict (parameters, BatchNorm buffers,
// num_batches_tracked) round-trips through a .safetensors file and a sib checkpoint (its optim.*
// entries skipped), float64 files load into float32 models, and each refusal (missing, unexpected,
// shape, dtype, non-finite, a folder) is one exact line that leaves the model as it was.
#include "support/gradcheck.hpp"
#include <sib/autodiff/sweeps.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/layers/state_dict.hpp>
#include <sib/models.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/train/checkpoint.hpp>
#include <unistd.h>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace sibtest;
namespace fs = std::filesystem;
using sib::io::safetensors_file;

namespace {

struct scratch_dir {
    fs::path path = fs::temp_directory_path() / ("sib_state_dict_" + std::to_string(::getpid()));
    scratch_dir() { fs::create_directories(path); }
    ~scratch_dir() { fs::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// The model's state dict as safetensors_file::save takes it (counters as int64 scalars).
template <class M>
safetensors_file::named_arrays state_arrays(M& m) {
    using T = typename M::value_type;
    safetensors_file::named_arrays out;
    m.for_each_parameter([&](std::string_view name, sib::tensor<T>& v, sib::tensor<T>*) {
        out.emplace_back(std::string(name), sib::io::raw_array::from_tensor(v));
    });
    sib::visit_counters(m, [&](std::string_view name, sib::index_t& v) {
        sib::tensor<std::int64_t> t(sib::shape{}, std::vector<std::int64_t>{v});
        out.emplace_back(std::string(name), sib::io::raw_array::from_tensor(t));
    });
    return out;
}

sib::io::raw_array& find(safetensors_file::named_arrays& a, const std::string& name) {
    for (auto& [n, v] : a)
        if (n == name) return v;
    FAIL("no entry ", name);
    throw;
}

void drop(safetensors_file::named_arrays& a, const std::string& name) {
    std::erase_if(a, [&](const auto& e) { return e.first == name; });
}

template <class T>
using small_resnet = sib::models::resnet18_small<T>;

// A resnet18_small (width 4, 3 classes) with torchvision's initialisation, BatchNorm's affine
// parameters moved off 1 and 0, and the running statistics of `batches` training batches.
template <class T>
void prepare(small_resnet<T>& m, std::uint64_t seed, int batches) {
    sib::rng r(seed);
    sib::optim::pytorch_default(m, r);
    m.for_each_parameter([&](std::string_view, sib::tensor<T>& v, sib::tensor<T>*) {
        if (v.rank() == 1)
            for (auto& e : v) e += static_cast<T>(0.2 * r.normal());
    });
    m.set_training(true);
    for (int b = 0; b < batches; ++b) {
        sib::autodiff::sweep_workspace<T> ws;
        sib::tensor<T> x({2, 1, 6, 6});
        for (auto& e : x) e = static_cast<T>(r.normal());
        sib::autodiff::forward_sweep(m, ws, x);
    }
    m.set_training(false);
}

sib::models::resnet_options small_options() { return {.num_classes = 3, .in_channels = 1, .width = 4}; }

// Every parameter, buffer and counter of a and b, as doubles.
template <class A, class B>
void check_same_state(A& a, B& b, double tolerance = 0) {
    auto sa = state_arrays(a), sb = state_arrays(b);
    REQUIRE(sa.size() == sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) {
        CAPTURE(sa[i].first);
        REQUIRE(sa[i].first == sb[i].first);
        REQUIRE(sa[i].second.shape == sb[i].second.shape);
        const auto va = sa[i].second.template to_vector<double>(), vb = sb[i].second.template to_vector<double>();
        for (std::size_t k = 0; k < va.size(); ++k)
            if (std::abs(va[k] - vb[k]) > tolerance * std::max(1.0, std::abs(va[k]))) {
                FAIL_CHECK("entry ", k, ": ", va[k], " against ", vb[k]);
                break;
            }
    }
}

}  // namespace

TEST_CASE("load_state_dict: resnet18_small round-trips parameters, running statistics and num_batches_tracked") {
    scratch_dir dir;
    small_resnet<float> a(small_options()), b(small_options());
    prepare(a, 1, 3);
    prepare(b, 2, 0);
    const std::string path = dir.file("a.safetensors");
    safetensors_file::save(path, state_arrays(a));
    // The file's names are the state dict's keys, counters included.
    const auto keys = sib::nn::state_dict_keys(a);
    CHECK(safetensors_file::load(path).names().size() == keys.size());
    CHECK(std::count(keys.begin(), keys.end(), "layer2.0.downsample.1.num_batches_tracked") == 1);
    sib::io::load_state_dict(b, path);
    check_same_state(a, b);
    sib::index_t tracked = -1;
    b.for_each_counter([&](std::string_view name, sib::index_t& v) {
        if (name == "layer4.1.bn2.num_batches_tracked") tracked = v;
    });
    CHECK(tracked == 3);
    // Equal state, equal logits in evaluation mode.
    sib::tensor<float> x({2, 1, 6, 6});
    sib::rng r(9);
    for (auto& e : x) e = static_cast<float>(r.normal());
    sib::autodiff::sweep_workspace<float> wa, wb;
    const auto za = sib::autodiff::forward_sweep(a, wa, x).to_vector();
    const auto zb = sib::autodiff::forward_sweep(b, wb, x).to_vector();
    CHECK(za == zb);
}

TEST_CASE("load_state_dict: a float64 file loads into a float32 model; a sib checkpoint's optim.* entries are skipped") {
    scratch_dir dir;
    small_resnet<double> d(small_options());
    prepare(d, 3, 2);
    const std::string wide = dir.file("double.safetensors");
    safetensors_file::save(wide, state_arrays(d));
    small_resnet<float> f(small_options());
    sib::io::load_state_dict(f, wide);
    check_same_state(d, f, 1e-7);

    // A checkpoint with optimizer state (optim.<param>.<state>) loads strictly.
    sib::optim::adamw<float> opt;
    opt.init_state(f);
    opt.set_step_count(1);
    const std::string ck = dir.file("checkpoint.safetensors");
    sib::train::save_checkpoint(ck, f, &opt, {{"step", 1u}});
    const auto names = safetensors_file::load(ck).names();
    CHECK(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.starts_with("optim."); }) > 0);
    small_resnet<float> g(small_options());
    sib::io::load_state_dict(g, ck);
    check_same_state(f, g);

    // The same entries in a file that is not a sib checkpoint are unexpected.
    auto arrays = state_arrays(f);
    arrays.emplace_back("optim.fc.bias.exp_avg", sib::io::raw_array::from_tensor(sib::tensor<float>({3})));
    const std::string plain = dir.file("plain.safetensors");
    safetensors_file::save(plain, arrays);
    CHECK_THROWS_WITH_AS(sib::io::load_state_dict(g, plain),
                         (plain + ": unexpected 'optim.fc.bias.exp_avg' (in the file, not in the model)").c_str(),
                         sib::error);
}

TEST_CASE("load_state_dict: a spec model's BatchNorm counters load under their layer index, as checkpoints name them") {
    scratch_dir dir;
    const std::string spec = "Conv2d(1,2,3,padding=1); BatchNorm2d(2); ReLU; Flatten; Linear(32,3)";
    sib::models::spec_model<double> a(spec), b(spec);
    sib::rng r(4);
    sib::optim::pytorch_default(a, r);
    a.set_training(true);
    sib::autodiff::sweep_workspace<double> ws;
    sib::autodiff::forward_sweep(a, ws, random_tensor({2, 1, 4, 4}, r));
    CHECK(sib::nn::state_dict_keys(a) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias",
                                                                   "1.running_mean", "1.running_var",
                                                                   "1.num_batches_tracked", "4.weight", "4.bias"});
    sib::optim::adamw<double>* none = nullptr;
    const std::string ck = dir.file("spec.safetensors");
    sib::train::save_checkpoint(ck, a, none, sib::io::json::object());
    sib::io::load_state_dict(b, ck);
    check_same_state(a, b);
}

TEST_CASE("load_state_dict: each refusal is one line naming the key, and leaves the model as it was") {
    scratch_dir dir;
    small_resnet<float> a(small_options()), b(small_options());
    prepare(a, 1, 1);
    prepare(b, 2, 0);
    small_resnet<float> before(small_options());
    prepare(before, 2, 0);
    const auto refused = [&](const safetensors_file::named_arrays& arrays, const std::string& message) {
        const std::string path = dir.file("bad.safetensors");
        safetensors_file::save(path, arrays);
        CHECK_THROWS_WITH_AS(sib::io::load_state_dict(b, path), (path + ": " + message).c_str(), sib::error);
        check_same_state(b, before);
    };
    {
        auto s = state_arrays(a);
        drop(s, "layer1.0.bn2.running_var");
        refused(s, "missing 'layer1.0.bn2.running_var' (in the model, not in the file)");
    }
    {
        auto s = state_arrays(a);
        drop(s, "layer3.1.bn1.num_batches_tracked");
        refused(s, "missing 'layer3.1.bn1.num_batches_tracked' (in the model, not in the file)");
    }
    {
        auto s = state_arrays(a);
        s.emplace_back("fc.extra", sib::io::raw_array::from_tensor(sib::tensor<float>({3})));
        refused(s, "unexpected 'fc.extra' (in the file, not in the model)");
    }
    {
        auto s = state_arrays(a);
        find(s, "fc.weight") = sib::io::raw_array::from_tensor(sib::tensor<float>({10, 32}));
        refused(s, "fc.weight: shape [10,32] in the file, [3,32] in the model");
    }
    {
        auto s = state_arrays(a);
        find(s, "bn1.num_batches_tracked") = sib::io::raw_array::from_tensor(sib::tensor<std::int64_t>({1}, {1}));
        refused(s, "bn1.num_batches_tracked: shape [1] in the file, [] in the model");
    }
    {
        auto s = state_arrays(a);
        find(s, "bn1.num_batches_tracked") = sib::io::raw_array::from_tensor(sib::tensor<float>(sib::shape{}, {1.0f}));
        refused(s, "bn1.num_batches_tracked: dtype F32 in the file cannot convert to the model's int64 counter (I64, I32 or U8)");
    }
    {
        auto s = state_arrays(a);
        auto& v = find(s, "layer2.0.bn1.running_var");
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(v.bytes.data() + 4, &nan, 4);
        refused(s, "layer2.0.bn1.running_var holds nan at [1]");
    }
    {
        // BF16 (written by hand: sib writes only the dtypes it reads).
        auto s = state_arrays(a);
        drop(s, "conv1.weight");
        const std::string plain = dir.file("bf16_base.safetensors");
        safetensors_file::save(plain, s);
        const auto f = safetensors_file::load(plain);
        sib::io::json header = sib::io::json::object();
        std::string data;
        for (const auto& name : f.names()) {
            const auto& e = f.info(name);
            std::vector<sib::index_t> dims(e.shape.begin(), e.shape.end());
            header[name] = sib::io::json{{"dtype", e.dtype}, {"shape", sib::io::json(dims)},
                                         {"data_offsets", {data.size(), data.size() + (e.end - e.begin)}}};
            const auto r = f.raw(name);
            data.append(reinterpret_cast<const char*>(r.data()), r.size());
        }
        const std::size_t n = 4 * 1 * 3 * 3 * 2;
        header["conv1.weight"] = sib::io::json{{"dtype", "BF16"}, {"shape", {4, 1, 3, 3}},
                                               {"data_offsets", {data.size(), data.size() + n}}};
        data.append(n, '\0');
        const std::string text = header.dump();
        const std::string path = dir.file("bf16.safetensors");
        std::ofstream out(path, std::ios::binary);
        const std::uint64_t len = text.size();
        out.write(reinterpret_cast<const char*>(&len), 8);
        out << text << data;
        out.close();
        CHECK_THROWS_WITH_AS(sib::io::load_state_dict(b, path),
                             (path + ": conv1.weight: dtype BF16 in the file cannot convert to float32 (F32, F64, I64, I32 or U8)").c_str(),
                             sib::error);
        check_same_state(b, before);
    }
    CHECK_THROWS_WITH_AS(sib::io::load_state_dict(b, dir.path), (dir.path.string() +
                         ": is a folder; load_state_dict reads one .safetensors file (load_weights reads param.<name>.npy folders)").c_str(),
                         sib::error);
    CHECK_THROWS_WITH_AS(sib::io::load_state_dict(b, dir.file("none.safetensors")),
                         (dir.file("none.safetensors") + ": not found").c_str(), sib::error);
}
