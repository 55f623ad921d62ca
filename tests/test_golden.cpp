// The golden fixtures of ../shared/golden: an independent implementation (PyTorch autograd with
// create_graph=True) in float64. Our float64 path must match every array to 1e-8 relative, the
// float32 path to 2e-3.
#include "support/gradcheck.hpp"
#include <sib/io/npy.hpp>
#include <sib/layers/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/mask/density_mask.hpp>
#include <sib/train/step.hpp>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

nlohmann::json read_meta(const fs::path& dir) {
    std::ifstream in(dir / "meta.json");
    REQUIRE_MESSAGE(in.good(), "missing ", (dir / "meta.json").string());
    return nlohmann::json::parse(in);
}

// float64: max |a-b| / max(|b|, 1e-6 max|b|), element by element (entries that are exactly 0 in
// the reference must not divide by zero). float32: the array's relative error max|a-b| / max|b|,
// since single-precision sums carry an absolute error proportional to the largest terms.
double relative_error(const std::vector<double>& got, const std::vector<double>& want,
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

template <class T>
void check_case(const fs::path& dir, double tol) {
    const auto meta = read_meta(dir);
    CAPTURE(dir.filename().string());
    sib::spec_model<T> model(meta["spec"].get<std::string>());
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
        const double err = relative_error(std::vector<double>(got.begin(), got.end()), want.to_vector(),
                                          std::is_same_v<T, double>);
        CHECK_MESSAGE(err <= tol, file.filename().string(), ": relative error ", err, " > ", tol);
    };
    compare(ws.sweeps.logits().to_vector(), dir / "logits.npy");
    compare(ws.sweeps.explanation().to_vector(), dir / "R.npy");
    compare(ws.mask.to_vector(), dir / "M.npy");
    model.for_each_parameter([&](std::string_view name, sib::tensor<T>&, sib::tensor<T>* g) {
        compare(g->to_vector(), dir / ("grad." + std::string(name) + ".npy"));
    });
    for (const char* key : {"ce", "fg", "bg", "total"}) {
        const double want = meta[key].get<double>();
        const double got = key == std::string("ce")   ? v.ce
                           : key == std::string("fg") ? v.fg
                           : key == std::string("bg") ? v.bg
                                                      : v.total;
        CHECK_MESSAGE(std::abs(got - want) <= tol * std::abs(want), key, ": got ", got, " want ", want);
    }
}

std::vector<fs::path> golden_cases() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(SIB_GOLDEN_DIR))
        if (e.is_directory()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("golden: every case in float64 to 1e-8") {
    const auto cases = golden_cases();
    REQUIRE(cases.size() >= 4);
    for (const auto& dir : cases) check_case<double>(dir, 1e-8);
}

TEST_CASE("golden: every case in float32 to 2e-3") {
    for (const auto& dir : golden_cases()) check_case<float>(dir, 2e-3);
}
