// sib train: trains a spec model with CE or S-IB on a benchmark or a dataset folder.
#include "common.hpp"
#include <sib/data/open.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/train/choice.hpp>
#if defined(SIB_CLI_MPI)
#include <sib/dist/mpi.hpp>
#endif
#include <sib/core/split.hpp>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sib_cli {

namespace {
int train(int argc, char** argv, sib::dist::comm_ref comm);
}

// Under mpirun (and where sib was built with MPI), every process runs this with MPI's
// communicator; otherwise it is a single process, with no MPI at all.
int cmd_train(int argc, char** argv) {
#if defined(SIB_CLI_MPI)
    if (sib::dist::mpi::launched()) {
        std::unique_ptr<sib::dist::mpi> world;
        try {
            world = std::make_unique<sib::dist::mpi>();
        } catch (const sib::error& e) {
            std::cerr << "sib train: error: " << e.what() << "\n";
            return 1;
        }
        try {
            return train(argc, argv, *world);
        } catch (const sib::dist::collective_error& e) {  // every process stops: no one waits
            if (e.print_here()) std::cerr << "sib train: error: " << e.what() << "\n";
            return 1;
        } catch (const std::exception& e) {  // this process alone: take the others down with it
            std::cerr << "sib train: error: " << (world->rank() ? "process " + std::to_string(world->rank()) + ": " : "")
                      << e.what() << "\n";
            world->abort(1);
        }
    }
#endif
    return train(argc, argv, {});
}

namespace {
int train(int argc, char** argv, sib::dist::comm_ref comm) {
    args a("train", "Trains a model (spec) with cross entropy or the S-IB objective; shows progress,\n"
                    "writes an atomic .safetensors checkpoint after every epoch and prints JSON last.\n\n" +
                    sib::data::benchmarks_help());
    a.required("--model", "SPEC", model_flag_help())
        .flag("--benchmark", "NAME", benchmark_flag_help() + " (or --data)", "")
        .flag("--data", "DIR", "dataset folder: .npy, IDX, CIFAR binary or image folders", "")
        .flag("--image-size", "S", "photo folders: --data DIR/train (and DIR/test) decoded on the fly, any image size, "
              "torchvision's RandomResizedCrop+flip (train), Resize+CenterCrop (test) to S x S (0: image folders of "
              "one size, loaded into memory)", "0")
        .flag("--mean", "a,b,c", "photo folders: Normalize's mean (one value or three)", "0.485,0.456,0.406")
        .flag("--std", "a,b,c", "photo folders: Normalize's std (one value or three)", "0.229,0.224,0.225")
        .option("--skip-bad-images", "photo folders: leave out unreadable images (counted in the JSON) instead of failing")
        .flag("--objective", "ce|sib|rrr", "training objective (rrr: right for the right reasons, needs masks)", "sib")
        .flag("--lambda-rrr", "L", "weight of the rrr term", "1000")
        .flag("--epochs", "N", "epochs", "1")
        .flag("--batch", "B", "batch size (the global batch, over every process under mpirun)", "64")
        .flag("--accumulate", "K", "micro-batches per step whose gradients are averaged (as K processes)", "1")
        .flag("--optimizer", "adamw|sgd", "optimizer (PyTorch semantics)", "adamw")
        .flag("--lr", "LR", "learning rate", "0.001")
        .flag("--weight-decay", "WD", "weight decay (default: AdamW 0.01, SGD 0)", "")
        .flag("--momentum", "M", "SGD momentum", "0.9")
        .option("--nesterov", "SGD with Nesterov momentum")
        .flag("--schedule", "constant|step|cosine", "learning-rate schedule per epoch", "constant")
        .flag("--step-size", "N", "step schedule: epochs between decays", "1")
        .flag("--gamma", "G", "step schedule: decay factor", "0.1")
        .flag("--init", "pytorch|kaiming", "weight initialisation", "pytorch")
        .flag("--seed", "S", "seed of weights, shuffling, benchmark generation", "0")
        .flag("--train-limit", "N", "use the first N training images (0: all)", "0")
        .flag("--test-limit", "N", "use the first N test images (0: all)", "0")
        .option("--flip", "random horizontal flips")
        .flag("--crop-padding", "P", "random crops after zero padding by P (0: off)", "0")
        .flag("--out", "FILE", "checkpoint .safetensors", "model.safetensors")
        .flag("--resume", "FILE", "continue the run saved in FILE (same spec and settings)", "")
        .flag("--checkpoint-every", "N", "also checkpoint every N steps (0: epochs only)", "0")
        .flag("--log", "FILE", "JSON-lines log (one line per epoch, and per --log-every steps)", "")
        .flag("--log-every", "N", "steps between step records in the log", "0")
        .flag("--diagnose", "N", "after every epoch, log each term's gradient norm and ratio to CE, its value\n"
                                 "and the mask's IoU with the masks, on the first N test images (0: off)", "0")
        .flag("--dtype", "float32|float64", "arithmetic precision", "float32");
    add_backend_flag(a);
    add_sib_flags(a);
    add_threads_flag(a);
    if (!a.parse(argc, argv, comm.rank() == 0 ? std::cout : null_stream())) return 0;
    apply_threads(a, comm.local_size());

    const std::string bench = a.str("--benchmark"), data_dir = a.str("--data");
    sib::require(bench.empty() != data_dir.empty(), "give exactly one of --benchmark NAME or --data DIR");
    sib::train::run_choice c;
    c.objective = a.choice("--objective", sib::train::objective_names);
    c.lambda_rrr = a.real("--lambda-rrr");
    c.sib = sib_settings_from(a);
    c.mask = mask_options(a);
    c.optimizer = a.choice("--optimizer", sib::train::optimizer_names);
    c.lr = a.real("--lr");
    if (!a.str("--weight-decay").empty()) c.weight_decay = a.real("--weight-decay");
    c.momentum = a.real("--momentum");
    c.nesterov = a.set("--nesterov");
    sib::train::train_options o;
    o.epochs = a.integer("--epochs");
    o.batch_size = a.integer("--batch");
    o.accumulate = a.integer("--accumulate");
    o.comm = comm;
    const std::string schedule = a.choice("--schedule", {"constant", "step", "cosine"});
    if (schedule == "step") o.schedule = sib::optim::step_schedule{c.lr, a.integer("--step-size"), a.real("--gamma")};
    if (schedule == "cosine") o.schedule = sib::optim::cosine_schedule{c.lr, o.epochs, 0.0};
    o.init = a.choice("--init", {"pytorch", "kaiming"});
    const long long seed = a.integer("--seed");
    sib::require(seed >= 0, "--seed must be non-negative, got ", seed);
    o.seed = static_cast<std::uint64_t>(seed);
    o.horizontal_flip = a.set("--flip");
    o.crop_padding = a.integer("--crop-padding");
    o.checkpoint = a.str("--out");
    o.checkpoint_every = a.integer("--checkpoint-every");
    o.log = a.str("--log");
    o.log_every = a.integer("--log-every");
    const sib::index_t diagnose = a.integer("--diagnose");
    sib::require(diagnose >= 0, "--diagnose: must be 0 or more, got ", diagnose);
    const long long train_limit = a.integer("--train-limit"), test_limit = a.integer("--test-limit");
    sib::require(train_limit >= 0 && test_limit >= 0, "--train-limit and --test-limit must be non-negative");

    const long long image_size = a.integer("--image-size");
    sib::require(image_size >= 0, "--image-size must be positive (or 0: no photo folders), got ", image_size);
    for (const char* flag : {"--mean", "--std", "--skip-bad-images"})
        sib::require(image_size > 0 || !a.set(flag), flag, " applies to photo folders: give --image-size S");
    std::optional<sib::data::photo_split> photos;
    if (image_size > 0) {
        sib::require(!data_dir.empty(), "--image-size needs --data DIR (photo folders DIR/train, DIR/test)");
        sib::require(train_limit == 0 && test_limit == 0, "--train-limit and --test-limit do not apply to photo folders");
        sib::require(o.crop_padding == 0 && !o.horizontal_flip,
                     "--crop-padding and --flip do not apply to photo folders (RandomResizedCrop and its flip do that)");
        sib::data::photo_folder_options po;
        po.image_size = static_cast<int>(std::min<long long>(image_size, 1 << 16));
        po.mean = numbers(a, "--mean");
        po.std_dev = numbers(a, "--std");
        po.skip_bad_images = a.set("--skip-bad-images");
        photos.emplace(sib::data::open_photo_folders(data_dir, po));
    }

    sib::data::split_pair data;
    if (photos) {
    } else if (!bench.empty()) {
        auto b = sib::data::make_benchmark(bench, o.seed, train_limit, test_limit);
        data = {std::move(b.train), std::move(b.test)};
    } else {
        data = sib::data::open_dataset_folder(data_dir);
        if (train_limit > 0) data.train = sib::data::take_first(data.train, train_limit);
        if (test_limit > 0) data.test = sib::data::take_first(data.test, test_limit);
    }
    const std::string resume = a.str("--resume");

    return with_backend_and_dtype(a, [&]<class T, class B>() {
        sib::models::spec_model<T, B> model(a.str("--model"));
        if (photos) {  // a model whose pooling outruns the image fails on the first layer too small
            const sib::shape s = photos->train.image_shape();
            try {
                (void)model.output_shape({1, s[0], s[1], s[2]});
            } catch (const sib::error& e) {
                sib::fail("--image-size ", image_size, " is too small for this model: ", e.what());
            }
        }
        // The objective and the optimizer are types: chosen here, once, by name.
        return sib::train::with_trainer(model, c, o, model.spec(), [&](auto& t) {
            if (resume.empty())
                t.initialise();
            else
                t.resume(resume);
            t.enable_diagnostics(diagnose);
            // Photo folders are decoded as batches need them; the rest is in memory.
            const auto r = !photos         ? t.run(data.train, data.test)
                           : photos->test ? t.run(photos->train, *photos->test)
                                          : t.run(photos->train, data.test);
            const sib::index_t train_images = photos ? photos->train.size() : data.train.size();
            const sib::index_t test_images = photos && photos->test ? photos->test->size() : data.test.size();
            sib::io::json out = {{"test_accuracy", r.test_accuracy}, {"train_loss", r.train_loss}, {"seconds", r.seconds},
                        {"images_per_second", r.images_per_second}, {"epochs", r.epochs}, {"steps", r.steps},
                        {"checkpoint", o.checkpoint.string()}, {"objective", c.objective},
                        {"train_images", train_images}, {"test_images", test_images},
                        {"processes", comm.size()}, {"accumulate", o.accumulate},
                        {"communication_seconds", r.communication_seconds}};
            if (photos) out["bad_images"] = photos->bad_image_count();
            if (comm.rank() == 0) print_json(out);
            return 0;
        });
    });
}
}  // namespace

}  // namespace sib_cli
