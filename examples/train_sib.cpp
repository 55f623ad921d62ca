// Training with a compile-time model and a hand-composed objective: what `sib train` does, with the
// model and the loss spelled out in C++ (the S-IB paper's terms, but the unbiased HSIC estimator).
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sequential.hpp>
#include <sib/loss/objective.hpp>
#include <sib/mi/hsic_unbiased.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/data/loader.hpp>
#include <sib/autodiff/step.hpp>
#include <sib/train/trainer.hpp>
#include <iostream>

int main() {
    using namespace sib::nn;
    using namespace sib::loss;
    using F = float;
    sib::set_num_threads(2);

    sequential model(conv2d<F>(1, 16, 3, 1, 1), relu<F>{}, max_pool2d<F>(2), conv2d<F>(16, 32, 3, 1, 1), relu<F>{},
                     max_pool2d<F>(2), flatten<F>{}, linear<F>(32 * 7 * 7, 10));
    sib::rng r(0);
    sib::optim::pytorch_default(model, r);

    // CE + 1000 exp(bg) + 0.01 exp(-fg), with fg measured by the unbiased HSIC of Song et al.
    auto objective = ce() + 1000.0 * exp(background<F>()) + 0.01 * exp(-foreground<F, sib::cpu, sib::mi::hsic_unbiased>());
    sib::masks::density_mask<F> mask(sib::masks::density_mask_options{});
    sib::optim::adamw<F> opt;
    sib::autodiff::step_workspace<F> ws;

    const auto data = sib::data::make_benchmark("fmnist", 0, 3200, 1000);
    sib::data::loader_options lo;
    lo.batch_size = 64;
    lo.drop_last = true;
    sib::data::batch_loader<F> loader(data.train, lo);
    loader.set_epoch(0);
    sib::data::batch<F> batch;
    while (loader.next(batch)) {  // one epoch
        opt.zero_grad(model);
        const auto v = sib::autodiff::objective_step(model, ws, batch.images, batch.labels, objective, mask);
        opt.step(model);
        std::cout << "loss " << v.total << "  ce " << v.ce << "  fg " << v.fg << "  bg " << v.bg << "\n";
    }
    std::cout << "test accuracy " << sib::train::evaluate_accuracy(model, data.test) << "\n";
}
