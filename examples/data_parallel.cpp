// Data parallelism in a training loop of your own: the lines that differ from a one-process loop are
// marked "dist". Run it as one process, or as several:
//   data_parallel                                  one process
//   mpirun -np 2 data_parallel                     two, each computing half of every batch
// Every process starts from rank 0's weights, takes its shard of each global batch (the same global
// order as one process would), and the gradients are averaged by one all-reduce per step.
#include <sib/autodiff/step.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/data/loader.hpp>
#include <sib/dist/data_parallel.hpp>
#include <sib/dist/mpi.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <algorithm>
#include <iostream>
#include <thread>

int main() try {
    sib::dist::mpi world;                                                              // dist
    sib::set_num_threads(std::max(1u, std::thread::hardware_concurrency() / world.local_size()));  // dist
    sib::models::spec_model<float> model("Conv2d(3,8,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(2048,6)");
    sib::rng r(0);
    sib::optim::pytorch_default(model, r);
    sib::dist::broadcast_parameters(model, world);                                    // dist

    const auto data = sib::data::make_benchmark("shapes", 0, 1024, 256);
    const sib::index_t batch = 64, shard = batch / world.size();                      // dist
    sib::data::batch_loader<float> loader(data.train, {.batch_size = batch, .drop_last = true});
    sib::data::batch_loader<float>::batch_type part;
    sib::masks::density_mask<float> mask(sib::masks::density_mask_options{});
    auto objective = sib::loss::sib_objective<float>();
    sib::autodiff::step_workspace<float> ws;
    sib::optim::adamw<float> optimizer;
    sib::dist::gradient_accumulator<float, sib::cpu> gradients;                       // dist

    for (sib::index_t epoch = 0; epoch < 2; ++epoch) {
        loader.set_epoch(epoch);
        double loss = 0;
        for (sib::index_t k = 0; k < loader.num_batches(); ++k) {
            loader.load_part(k, world.rank() * shard, shard, part);                   // dist
            optimizer.zero_grad(model);
            loss += static_cast<double>(
                sib::autodiff::objective_step(model, ws, part.images, part.labels, objective, mask).total);
            gradients.add(model);                                                     // dist
            gradients.reduce(model, world, world.size());                             // dist
            optimizer.step(model);
        }
        world.all_reduce_sum(&loss, 1);                                               // dist
        if (world.rank() == 0)
            std::cout << "epoch " << epoch + 1 << ": mean loss "
                      << loss / static_cast<double>(loader.num_batches() * world.size()) << " over "
                      << world.size() << " process(es), " << gradients.bytes() << " bytes all-reduced per step\n";
    }
} catch (const std::exception& e) {
    std::cerr << "data_parallel: " << e.what() << "\n";
    return 1;
}
