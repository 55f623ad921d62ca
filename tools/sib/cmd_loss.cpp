// sib loss: the S-IB objective and its parameter gradient for one batch (docs/cli.md).
#include "common.hpp"
#include <sib/core/finite.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/autodiff/step.hpp>
#include <filesystem>

namespace sib_cli {

int cmd_loss(int argc, char** argv) {
    args a("loss", "Computes the S-IB objective of one batch and writes logits.npy, R.npy, M.npy and\n"
                   "grad.<name>.npy to --out; prints {ce, fg, bg, total} as JSON.");
    a.required("--model", "SPEC", model_flag_help())
        .required("--weights", "W", ".safetensors file or folder of param.<name>.npy")
        .required("--input", "X.npy", "input batch [B,C,H,W]")
        .required("--labels", "Y.npy", "labels [B] (integers)")
        .required("--out", "DIR", "output folder (created if missing)")
        .flag("--dtype", "float64|float32", "arithmetic precision", "float64")
        .option("--eval-mode", "BatchNorm on its running statistics and Dropout off (default: training mode, as\n"
                               "`sib train` computes the loss: batch statistics, running statistics updated)");
    add_backend_flag(a);
    add_sib_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, std::cout)) return 0;
    apply_threads(a);
    const auto mo = mask_options(a);
    const auto settings = sib_settings_from(a);
    const std::filesystem::path out = a.str("--out");

    return with_backend_and_dtype(a, [&]<class T, class B>() {
        sib::models::spec_model<T, B> model(a.str("--model"));
        const auto x = sib::io::load_npy<T, B>(a.str("--input"));
        sib::require(x.rank() == 4, a.str("--input"), ": expected [B,C,H,W], got ", x.shape().str());
        sib::require_finite(x, a.str("--input"));
        const auto labels = sib::io::load_labels(a.str("--labels"));
        sib::require(static_cast<sib::index_t>(labels.size()) == x.dim(0), a.str("--labels"), ": ",
                     labels.size(), " labels for ", x.dim(0), " images");
        const sib::shape logits = model.output_shape(x.shape());
        sib::require(logits.rank() == 2, "--model: must end in logits [B,K], gives ", logits.str());
        sib::tensor<std::int64_t, B> y({x.dim(0)}, labels);
        sib::loss::check_labels(y, logits[1]);
        sib::io::load_weights(model, a.str("--weights"));
        model.set_training(!a.set("--eval-mode"));
        sib::masks::density_mask<T, B> mask(mo);
        auto objective = sib::loss::sib_objective<T, B>(settings);
        sib::autodiff::step_workspace<T, B> ws;
        model.for_each_parameter([](std::string_view, sib::tensor<T, B>&, sib::tensor<T, B>* g) {
            if (g) g->zero();
        });
        const auto v = sib::autodiff::objective_step(model, ws, x, y, objective, mask);

        std::filesystem::create_directories(out);
        sib::io::save_npy(out / "logits.npy", ws.sweeps.logits());
        sib::io::save_npy(out / "R.npy", ws.sweeps.explanation());
        sib::io::save_npy(out / "M.npy", ws.mask);
        model.for_each_parameter([&](std::string_view name, sib::tensor<T, B>&, sib::tensor<T, B>* g) {
            if (g) sib::io::save_npy(out / ("grad." + std::string(name) + ".npy"), *g);
        });
        sib::io::json values;
        for (const auto& [name, value] : v.terms) values[std::string(name)] = value;
        values["total"] = v.total;
        print_json(values);
        return 0;
    });
}

}  // namespace sib_cli
