// One golden S-IB case (the layout of ../shared/golden, see its README.md): load the model, the
// batch and the mask settings a folder describes, run one objective step, and hold every array and
// scalar to the reference. Shared by tests/test_golden.cpp and tests/test_golden_extra.cpp.
#pragma once
#include <doctest/doctest.h>
#include <sib/io/npy.hpp>
#include <sib/layers/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/mask/density_mask.hpp>
#include <sib/train/step.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

namespace sibtest {

inline nlohmann::json read_golden_meta(const std::filesystem::path& dir) {
    std::ifstream in(dir / "meta.json");
    REQUIRE_MESSAGE(in.good(), "missing ", (dir / "meta.json").string());
    return nlohmann::json::parse(in);
}

// float64: max |a-b| / max(|b|, 1e-6 max|b|), element by element (entries that are exactly 0 in
// the reference must not divide by zero). float32: the array's relative error max|a-b| / max|b|,
// since single-precision sums carry an absolute error proportional to the largest terms.
inline double golden_relative_error(const std::vector<double>& got, const std::vector<double>& want,
                                    bool elementwise) {
    REQUIRE(got.size() == want.size());
    double scale = 0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double denom = elementwise ? std::max(std::abs(want[i]), 1e-6 * scale) : scale;
        worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(denom, 1e-300));
    }
    return worst;
}

// The references are computed in PyTorch's training mode, so BatchNorm2d uses batch statistics.
// Its running statistics are visited like parameters but have no gradient: they are loaded (their
// values before the forward) and not compared.
template <class T>
void check_golden_case(const std::filesystem::path& dir, double tol) {
    namespace fs = std::filesystem;
    const auto meta = read_golden_meta(dir);
    CAPTURE(dir.filename().string());
    sib::spec_model<T> model(meta["spec"].get<std::string>());
    model.set_training(true);
    model.for_each_parameter([&](std::string_view name, sib::tensor<T>& v, sib::tensor<T>*) {
        v = sib::io::load_npy<T>(dir / ("param." + std::string(name) + ".npy"));
    });
    const auto x = sib::io::load_npy<T>(dir / "x.npy");
    const auto y = sib::io::load_npy<std::int64_t>(dir / "y.npy");
    const auto& mk = meta["mask"];
    sib::density_mask_options mo;
    mo.window = mk["window"].get<sib::index_t>();
    mo.temperature = mk["temperature"].get<double>();
    mo.slope = mk["slope"].get<double>();
    mo.q_low = mk["q_low"].get<double>();
    mo.q_high = mk["q_high"].get<double>();
    mo.q_intensity = mk["q_intensity"].get<double>();
    mo.q_density = mk["q_density"].get<double>();
    sib::density_mask<T> mask(mo);
    sib::sib_settings settings{meta["lambda_bg"].get<double>(), meta["lambda_fg"].get<double>(),
                               sib::loss::parse_shaping(meta["shaping"].get<std::string>())};
    auto objective = sib::sib_objective<T>(settings);
    sib::step_workspace<T> ws;
    const auto v = sib::objective_step(model, ws, x, y, objective, mask);

    auto compare = [&](const std::vector<T>& got, const fs::path& file) {
        const auto want = sib::io::load_npy<double>(file);
        const double err = golden_relative_error(std::vector<double>(got.begin(), got.end()),
                                                 want.to_vector(), std::is_same_v<T, double>);
        CHECK_MESSAGE(err <= tol, file.filename().string(), ": relative error ", err, " > ", tol);
    };
    compare(ws.sweeps.logits().to_vector(), dir / "logits.npy");
    compare(ws.sweeps.explanation().to_vector(), dir / "R.npy");
    compare(ws.mask.to_vector(), dir / "M.npy");
    std::vector<std::string> with_gradient;
    model.for_each_parameter([&](std::string_view name, sib::tensor<T>&, sib::tensor<T>* g) {
        if (!g) return;
        with_gradient.emplace_back(name);
        compare(g->to_vector(), dir / ("grad." + std::string(name) + ".npy"));
    });
    // Every gradient the reference has is compared, none skipped.
    CHECK(with_gradient == meta["params"].get<std::vector<std::string>>());
    for (const char* key : {"ce", "fg", "bg", "total"}) {
        const double want = meta[key].get<double>();
        const double got = key == std::string("ce")   ? v.ce
                           : key == std::string("fg") ? v.fg
                           : key == std::string("bg") ? v.bg
                                                      : v.total;
        CHECK_MESSAGE(std::abs(got - want) <= tol * std::abs(want), key, ": got ", got, " want ", want);
    }
}

// The case folders under root, in name order.
inline std::vector<std::filesystem::path> golden_case_dirs(const std::filesystem::path& root) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(root))
        if (e.is_directory()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace sibtest
