// One golden S-IB case (the layout of tests/data/golden, see its README.md): load the model, the
// batch and the mask settings a folder describes, run one objective step, and hold every array and
// scalar to the reference. Shared by tests/test_golden.cpp and tests/test_golden_extra.cpp.
#pragma once
#include <doctest/doctest.h>
#include <sib/io/npy.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/autodiff/step.hpp>
#include <sib/io/json.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sibtest {

inline sib::io::json read_golden_meta(const std::filesystem::path& dir) {
    std::ifstream in(dir / "meta.json");
    REQUIRE_MESSAGE(in.good(), "missing ", (dir / "meta.json").string());
    return sib::io::json::parse(in);
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

// What one objective step on a golden case produced, on the host in double.
struct golden_outputs {
    std::vector<double> logits, R, M;
    std::vector<std::pair<std::string, std::vector<double>>> grads;  // in parameter order
    double ce = 0, fg = 0, bg = 0, total = 0;
};

// The references are computed in PyTorch's training mode, so BatchNorm2d uses batch statistics.
// Its running statistics are visited like parameters but have no gradient: they are loaded (their
// values before the forward) and not compared. B is the backend the step runs on.
template <class T, class B = sib::cpu>
golden_outputs run_golden_case(const std::filesystem::path& dir) {
    const auto meta = read_golden_meta(dir);
    sib::models::spec_model<T, B> model(meta["spec"].get<std::string>());
    model.set_training(true);
    model.for_each_parameter([&](std::string_view name, sib::tensor<T, B>& v, sib::tensor<T, B>*) {
        v = sib::io::load_npy<T, B>(dir / ("param." + std::string(name) + ".npy"));
    });
    const auto x = sib::io::load_npy<T, B>(dir / "x.npy");
    const auto y = sib::io::load_npy<std::int64_t, B>(dir / "y.npy");
    const auto& mk = meta["mask"];
    sib::masks::density_mask_options mo;
    mo.window = mk["window"].get<sib::index_t>();
    mo.temperature = mk["temperature"].get<double>();
    mo.slope = mk["slope"].get<double>();
    mo.q_low = mk["q_low"].get<double>();
    mo.q_high = mk["q_high"].get<double>();
    mo.q_intensity = mk["q_intensity"].get<double>();
    mo.q_density = mk["q_density"].get<double>();
    sib::masks::density_mask<T, B> mask(mo);
    sib::loss::sib_settings settings{meta["lambda_bg"].get<double>(), meta["lambda_fg"].get<double>(),
                               sib::loss::parse_shaping(meta["shaping"].get<std::string>())};
    auto objective = sib::loss::sib_objective<T, B>(settings);
    sib::autodiff::step_workspace<T, B> ws;
    const auto v = sib::autodiff::objective_step(model, ws, x, y, objective, mask);

    auto to_double = [](const sib::tensor<T, B>& t) {
        const auto h = t.to_vector();
        return std::vector<double>(h.begin(), h.end());
    };
    golden_outputs out;
    out.logits = to_double(ws.sweeps.logits());
    out.R = to_double(ws.sweeps.explanation());
    out.M = to_double(ws.mask);
    model.for_each_parameter([&](std::string_view name, sib::tensor<T, B>&, sib::tensor<T, B>* g) {
        if (g) out.grads.emplace_back(std::string(name), to_double(*g));
    });
    out.ce = static_cast<double>(v.terms["ce"]);
    out.fg = static_cast<double>(v.terms["fg"]);
    out.bg = static_cast<double>(v.terms["bg"]);
    out.total = static_cast<double>(v.total);
    return out;
}

template <class T, class B = sib::cpu>
void check_golden_case(const std::filesystem::path& dir, double tol) {
    namespace fs = std::filesystem;
    const auto meta = read_golden_meta(dir);
    CAPTURE(dir.filename().string());
    const golden_outputs got = run_golden_case<T, B>(dir);

    auto compare = [&](const std::vector<double>& values, const fs::path& file) {
        const auto want = sib::io::load_npy<double>(file);
        const double err = golden_relative_error(values, want.to_vector(), std::is_same_v<T, double>);
        CHECK_MESSAGE(err <= tol, file.filename().string(), ": relative error ", err, " > ", tol);
    };
    compare(got.logits, dir / "logits.npy");
    compare(got.R, dir / "R.npy");
    compare(got.M, dir / "M.npy");
    std::vector<std::string> with_gradient;
    for (const auto& [name, g] : got.grads) {
        with_gradient.push_back(name);
        compare(g, dir / ("grad." + name + ".npy"));
    }
    // Every gradient the reference has is compared, none skipped.
    CHECK(with_gradient == meta["params"].get<std::vector<std::string>>());
    for (const char* key : {"ce", "fg", "bg", "total"}) {
        const double want = meta[key].get<double>();
        const double value = key == std::string("ce")   ? got.ce
                             : key == std::string("fg") ? got.fg
                             : key == std::string("bg") ? got.bg
                                                        : got.total;
        CHECK_MESSAGE(std::abs(value - want) <= tol * std::abs(want), key, ": got ", value, " want ", want);
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
