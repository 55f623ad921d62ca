// Training with a compile-time model and a hand-composed objective: what `sib train` does, with the
// model and the loss spelled out in C++ (the S-IB paper's terms, but the unbiased HSIC estimator).
// The progress line and the log show each term by name: ce, bg and fg.
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sequential.hpp>
#include <sib/mi/hsic_unbiased.hpp>
#include <sib/train/trainer.hpp>
#include <iostream>

int main() {
    using namespace sib::nn;
    using namespace sib::loss;
    using F = float;
    sib::set_num_threads(2);

    sequential model(conv2d<F>(1, 16, 3, 1, 1), relu<F>{}, max_pool2d<F>(2), conv2d<F>(16, 32, 3, 1, 1), relu<F>{},
                     max_pool2d<F>(2), flatten<F>{}, linear<F>(32 * 7 * 7, 10));

    // CE + 1000 exp(bg) + 0.01 exp(-fg), with fg measured by the unbiased HSIC of Song et al., on
    // the density mask of R (default window), R being the gradient of the softmax energy.
    sib::train::objective objective{
        ce() + 1000.0 * exp(background<F>()) + 0.01 * exp(-foreground<F, sib::cpu, sib::mi::hsic_unbiased>()),
        sib::masks::density_mask<F>(sib::masks::density_mask_options{}), sib::decoders::softmax_energy{}, {{"objective", "sib-unbiased"}}};

    sib::train::train_options options;
    options.epochs = 1;
    options.batch_size = 64;
    options.checkpoint = "train_sib.safetensors";
    sib::train::trainer trainer(model, std::move(objective), sib::optim::adamw<F>(), options, "small-cnn");
    trainer.initialise();

    const auto data = sib::data::make_benchmark("fmnist", 0, 3200, 1000);
    const auto result = trainer.run(data.train, data.test);
    std::cout << "test accuracy " << result.test_accuracy << ", " << result.images_per_second
              << " images/s; checkpoint train_sib.safetensors\n";
}
