// The C++ side of the torchvision_interop test (tests/interop/run_torchvision.sh):
//
//   sib_torchvision_interop DIR
//
// 1. loads DIR/torchvision.safetensors (torchvision's resnet18(num_classes=10) state dict, written
//    by torchvision_interop.py) into sib::models::resnet18<float> with the strict loader and writes
//    its evaluation-mode logits on DIR/x.npy to DIR/sib_logits.npy;
// 2. changes the state as training would: one training-mode forward on x (running statistics,
//    num_batches_tracked), one AdamW step with a gradient of 0.01 * each parameter; writes a sib
//    checkpoint with the optimizer's state (optim.*) to DIR/sib_checkpoint.safetensors and the new
//    evaluation-mode logits to DIR/sib_logits_after.npy, for torchvision to load and reproduce.
#include <sib/autodiff/sweeps.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/weights.hpp>
#include <sib/models.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/train/checkpoint.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        sib::models::resnet18<float> m({.num_classes = 10});
        sib::io::load_state_dict(m, dir / "torchvision.safetensors");
        const auto x = sib::io::load_npy<float>(dir / "x.npy");

        sib::autodiff::sweep_workspace<float> ws;
        m.set_training(false);
        sib::io::save_npy(dir / "sib_logits.npy", sib::autodiff::forward_sweep(m, ws, x));

        m.set_training(true);
        sib::autodiff::forward_sweep(m, ws, x);
        m.set_training(false);
        m.for_each_parameter([](std::string_view, sib::tensor<float>& v, sib::tensor<float>* g) {
            if (!g) return;
            for (sib::index_t i = 0; i < v.size(); ++i) (*g)[i] = 0.01f * v[i];
        });
        sib::optim::adamw<float> opt({.lr = 1e-3});
        opt.step(m);
        sib::train::save_checkpoint(dir / "sib_checkpoint.safetensors", m, &opt, {{"step", 1u}});
        sib::io::save_npy(dir / "sib_logits_after.npy", sib::autodiff::forward_sweep(m, ws, x));
        std::printf("sib: loaded torchvision's resnet18 strictly, wrote logits and a checkpoint\n");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sib_torchvision_interop: %s\n", e.what());
        return 1;
    }
}
