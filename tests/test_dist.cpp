// Data parallelism without MPI: the single-process communicator and comm_ref, the gradient
// accumulator (K micro-batches on one process form the same sum as K processes), shards, digests,
// and the trainer's --accumulate. `mpirun -np 2 sib train` is tested end to end by tests/cli/test_mpi.sh.
#include <doctest/doctest.h>
#include <sib/autodiff/step.hpp>
#include <sib/dist/communicator.hpp>
#include <sib/dist/data_parallel.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/loss/objective.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/init.hpp>
#include <sib/train/choice.hpp>
#include <filesystem>
#include <sstream>
#include <unistd.h>

namespace {

const char* spec = "Conv2d(1,3,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(48,3)";

sib::data::in_memory_dataset noise(sib::index_t n, std::uint64_t seed) {
    sib::rng r(seed);
    sib::tensor<float> images({n, 1, 8, 8});
    sib::tensor<std::int64_t> labels({n});
    for (sib::index_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(r.uniform());
    for (sib::index_t i = 0; i < n; ++i) labels[i] = static_cast<std::int64_t>(i % 3);
    return sib::data::in_memory_dataset(std::move(images), std::move(labels), 3);
}

std::vector<double> gradients_of(sib::models::spec_model<double>& m) {
    std::vector<double> out;
    m.for_each_parameter([&](std::string_view, sib::tensor<double>&, sib::tensor<double>* g) {
        if (g) out.insert(out.end(), g->begin(), g->end());
    });
    return out;
}

// The S-IB step of images [first, first + n) into the model's (zeroed) gradients.
void micro_step(sib::models::spec_model<double>& m, const sib::tensor<double>& x, const sib::tensor<std::int64_t>& y,
                sib::index_t first, sib::index_t n) {
    sib::tensor<double> xs({n, 1, 8, 8});
    sib::tensor<std::int64_t> ys({n});
    for (sib::index_t i = 0; i < n * 64; ++i) xs[i] = x[first * 64 + i];
    for (sib::index_t i = 0; i < n; ++i) ys[i] = y[first + i];
    sib::masks::density_mask<double> mask(sib::masks::density_mask_options{.window = 3});
    auto objective = sib::loss::sib_objective<double>(sib::loss::sib_settings{});
    sib::autodiff::step_workspace<double> ws;
    sib::optim::zero_grad(m);
    (void)sib::autodiff::objective_step(m, ws, xs, ys, objective, mask);
}

// A stand-in for a second process: its all-reduce adds what the other process would contribute.
struct partner {
    std::vector<double> theirs;
    int rank() const { return 0; }
    int size() const { return 2; }
    int local_size() const { return 2; }
    void all_reduce_sum(double* p, sib::index_t n) {
        REQUIRE(static_cast<std::size_t>(n) == theirs.size());
        for (sib::index_t i = 0; i < n; ++i) p[i] += theirs[static_cast<std::size_t>(i)];
    }
    void all_reduce_sum(float*, sib::index_t) { FAIL("float all-reduce"); }
    void all_reduce_sum(std::int64_t*, sib::index_t) {}
    template <class T>
    void broadcast(T*, sib::index_t, int) {}
    void barrier() {}
    [[noreturn]] void abort(int code) { std::exit(code); }
};

}  // namespace

TEST_CASE("dist: a single process's collectives are the identity, through comm_ref too") {
    sib::dist::single_process one;
    sib::dist::comm_ref ref = one, fresh;
    for (const auto* c : {&ref, &fresh}) {
        CHECK(c->rank() == 0);
        CHECK(c->size() == 1);
        CHECK(c->local_size() == 1);
    }
    double v[2] = {1.5, -2};
    ref.all_reduce_sum(v, 2);
    ref.broadcast(v, 2, 0);
    CHECK(v[0] == 1.5);
    CHECK(v[1] == -2);
    CHECK(sib::dist::failed_ranks(ref, true).empty());
    CHECK(sib::dist::failed_ranks(ref, false) == std::vector<int>{0});
    CHECK(sib::dist::shard(64, 4, 3) == std::pair<sib::index_t, sib::index_t>{48, 64});
}

TEST_CASE("dist: two micro-batches accumulated on one process sum as two processes would, bit for bit") {
    const auto d = noise(8, 3);
    sib::tensor<double> x({8, 1, 8, 8});
    for (sib::index_t i = 0; i < x.size(); ++i) x[i] = d.images()[i];
    sib::tensor<std::int64_t> y({8});
    for (sib::index_t i = 0; i < 8; ++i) y[i] = d.label(i);
    sib::models::spec_model<double> m(spec);
    sib::rng r(1);
    sib::optim::pytorch_default(m, r);

    micro_step(m, x, y, 0, 4);
    const auto g0 = gradients_of(m);
    micro_step(m, x, y, 4, 4);
    const auto g1 = gradients_of(m);
    std::vector<double> want(g0.size());
    for (std::size_t i = 0; i < g0.size(); ++i) want[i] = (g0[i] + g1[i]) * 0.5;

    // One process, two micro-batches (--accumulate 2).
    sib::dist::gradient_accumulator<double, sib::cpu> acc;
    micro_step(m, x, y, 0, 4);
    acc.add(m);
    micro_step(m, x, y, 4, 4);
    acc.add(m);
    acc.reduce(m, {}, 2);
    CHECK(gradients_of(m) == want);
    CHECK(acc.bytes() == static_cast<sib::index_t>(g0.size() * sizeof(double)));

    // Process 0 of two, whose partner computed the second micro-batch.
    partner p{g1};
    micro_step(m, x, y, 0, 4);
    acc.add(m);
    acc.reduce(m, p, 2);
    CHECK(gradients_of(m) == want);

    // One micro-batch on one process: the gradient exactly as the sweep left it.
    micro_step(m, x, y, 0, 4);
    acc.add(m);
    acc.reduce(m, {}, 1);
    CHECK(gradients_of(m) == g0);
}

TEST_CASE("dist: the dataset digest tells data sets apart") {
    CHECK(sib::dist::dataset_digest(noise(6, 1)) == sib::dist::dataset_digest(noise(6, 1)));
    CHECK(sib::dist::dataset_digest(noise(6, 1)) != sib::dist::dataset_digest(noise(6, 2)));
    CHECK(sib::dist::dataset_digest(noise(6, 1)) != sib::dist::dataset_digest(noise(5, 1)));
}

TEST_CASE("trainer: --accumulate splits each batch; a batch that does not split is one line; resume checks it") {
    const auto train = noise(32, 4), test = noise(8, 5);
    const auto dir = std::filesystem::temp_directory_path() / ("sib_dist_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    sib::train::run_choice c;
    c.objective = "sib";
    c.mask.window = 3;
    sib::train::train_options o;
    o.batch_size = 16;
    o.epochs = 1;
    o.checkpoint = dir / "ck.safetensors";
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::models::spec_model<float> m(spec);
    o.accumulate = 3;
    CHECK_THROWS_WITH_AS(sib::train::with_trainer(m, c, o, m.spec(), [](auto&) { return 0; }),
                         "train: the batch of 16 does not split into 1 process x 3 micro-batches (accumulate) of equal size",
                         sib::error);
    o.accumulate = 8;  // 2 images per micro-batch: S-IB needs at least 2
    o.batch_size = 8;
    CHECK_THROWS_WITH_AS(sib::train::with_trainer(m, c, o, m.spec(), [](auto&) { return 0; }),
                         "train: this objective needs batches of at least 2 (a dependence between samples), got 1 "
                         "per micro-batch",
                         sib::error);
    o.batch_size = 16;
    o.accumulate = 2;
    sib::train::with_trainer(m, c, o, m.spec(), [&](auto& t) {
        t.initialise();
        const auto r = t.run(train, test);
        CHECK(r.steps == 2);
        CHECK(std::isfinite(r.train_loss));
    });
    o.accumulate = 1;
    sib::train::with_trainer(m, c, o, m.spec(), [&](auto& t) {
        CHECK_THROWS_WITH_AS(t.resume(o.checkpoint), doctest::Contains("setting 'accumulate' is 2 in"), sib::error);
    });
    std::filesystem::remove_all(dir);
}
