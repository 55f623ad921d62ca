// Training a model with an objective and an optimizer: batches from a seeded loader, a per-epoch
// learning-rate schedule, test accuracy per epoch, progress with every named term of the objective,
// a JSON-lines log and atomic checkpoints from which resume() continues bit for bit (the loader's
// order, dropout masks and the optimizer are functions of the seed and the step, all saved).
// trainer<Model, Objective, Optimizer>: the three are types, chosen once by the caller (the command
// line picks them by name); nothing is chosen by string per step.
#pragma once
#include <sib/autodiff/step.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/loader.hpp>
#include <sib/decoders/argmax.hpp>
#include <sib/dist/communicator.hpp>
#include <sib/dist/data_parallel.hpp>
#include <sib/io/file_lock.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/optim/schedule.hpp>
#include <sib/optim/sgd.hpp>
#include <sib/train/checkpoint.hpp>
#include <sib/train/diagnostics.hpp>
#include <sib/train/jsonl_log.hpp>
#include <sib/train/objective.hpp>
#include <sib/train/progress.hpp>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <variant>

SIB_BEGIN_NAMESPACE
namespace train {

struct train_options {
    index_t epochs = 1;
    index_t batch_size = 64;
    // Per-epoch learning rate; default: the optimizer's own rate, constant.
    std::optional<optim::lr_schedule> schedule;
    std::string init = "pytorch";  // pytorch | kaiming (initialise())
    std::uint64_t seed = 0;
    bool horizontal_flip = false;
    index_t crop_padding = 0;
    std::filesystem::path checkpoint;  // written after every epoch (and every checkpoint_every steps)
    index_t checkpoint_every = 0;
    std::filesystem::path log;  // JSON lines, one per epoch (and per logged step)
    index_t log_every = 0;      // steps between step records in the log; 0: epochs only
    // Data parallelism (docs/distributed.md): every step's global batch of batch_size images is cut
    // into comm.size() x accumulate micro-batches; process r computes micro-batches r*accumulate ..
    // r*accumulate + accumulate - 1, and the gradient is the mean over all of them. Only process 0
    // shows progress and writes the checkpoint and the log.
    index_t accumulate = 1;
    dist::comm_ref comm;
    progress_mode progress = progress_mode::automatic;
    std::ostream* progress_stream = &std::cerr;
    // Called after every optimizer step with the number of steps done (after any checkpoint of that
    // step was written); throwing from it stops training, e.g. for early stopping.
    std::function<void(index_t)> on_step;
};

// How a schedule and the optimizers sib ships are written in a checkpoint's settings. The rate is
// the schedule's: the optimizer's own changes every epoch, so it is not part of its identity.
inline io::json schedule_settings(const optim::lr_schedule& s) {
    return std::visit(
        [](const auto& x) -> io::json {
            using S = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<S, optim::constant_schedule>)
                return {{"schedule", "constant"}, {"lr", x.base_lr}};
            else if constexpr (std::is_same_v<S, optim::step_schedule>)
                return {{"schedule", "step"}, {"lr", x.base_lr}, {"step_size", x.step_size}, {"gamma", x.gamma}};
            else
                return {{"schedule", "cosine"}, {"lr", x.base_lr}, {"t_max", x.t_max}, {"eta_min", x.eta_min}};
        },
        s);
}
inline io::json optimizer_settings(const optim::adamw_options& o) {
    return {{"optimizer", "adamw"}, {"betas", {o.beta1, o.beta2}}, {"eps", o.eps},
            {"weight_decay", o.weight_decay}, {"amsgrad", o.amsgrad}};
}
inline io::json optimizer_settings(const optim::sgd_options& o) {
    return {{"optimizer", "sgd"}, {"momentum", o.momentum}, {"dampening", o.dampening},
            {"weight_decay", o.weight_decay}, {"nesterov", o.nesterov}};
}

struct train_result {
    double test_accuracy = NAN;
    double train_loss = NAN;
    double seconds = 0;
    double images_per_second = 0;
    index_t epochs = 0;
    index_t steps = 0;
    // Seconds this process spent in the step's collectives (the gradient all-reduce and the loss's),
    // waiting for the others included; 0 for one process without accumulation.
    double communication_seconds = 0;
};

// Share of test images whose arg-max logit is the label, with the model in eval mode. With several
// processes each scores a contiguous shard and the counts are summed.
template <model M, data::dataset D>
double evaluate_accuracy(M& m, const D& test, index_t batch_size = 256, dist::comm_ref comm = {}) {
    using T = typename M::value_type;
    using B = typename M::backend;
    if (test.size() == 0) return NAN;
    m.set_training(false);
    data::batch_loader<T, B> loader(test, data::in_order(batch_size));
    loader.set_epoch(0);
    typename data::batch_loader<T, B>::batch_type batch;
    autodiff::sweep_workspace<T, B> ws;
    const index_t n = test.size(), first = n * comm.rank() / comm.size(), last = n * (comm.rank() + 1) / comm.size();
    std::int64_t correct = 0;
    for (index_t at = first; at < last; at += batch_size) {
        loader.load_positions(at, std::min(batch_size, last - at), batch);
        const auto predicted = decoders::argmax_rows(autodiff::forward_sweep(m, ws, batch.images));
        const auto y = batch.labels.to_vector();
        for (index_t i = 0; i < batch.size(); ++i) correct += predicted[static_cast<std::size_t>(i)] == y[i];
    }
    comm.all_reduce_sum(&correct, 1);
    m.set_training(true);
    return static_cast<double>(correct) / static_cast<double>(n);
}

namespace detail {
// A number for a message: "nan" whatever its sign bit (printf's "-nan" depends on how it arose).
inline std::string spell(double v) {
    if (std::isnan(v)) return "nan";
    std::ostringstream os;
    os << v;
    return os.str();
}

// "process 1" or "processes 1, 3" after `prefix` ("...process"), for messages about ranks.
inline std::string concat_ranks(const std::string& prefix, const std::vector<int>& ranks) {
    std::string out = prefix + (ranks.size() > 1 ? "es " : " ");
    for (std::size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
    return out;
}

inline std::string spell(const loss::term_values& terms) {
    std::string out;
    for (const auto& [name, value] : terms) out += (out.empty() ? "" : ", ") + std::string(name) + " " + spell(value);
    return out;
}

// Dropout masks as a function of (seed, step, layer), so a resumed run draws the same ones.
// Micro-batch `micro` of a step (0 without data parallelism) draws its own masks, the same on
// whichever process computes it. Layers inside blocks (branch_sum, a spec's Residual) are reached
// too: top-level layer `i`, then `path` (0 at the top level) hashing the indices inside it.
template <class L>
void reseed_layer(L& layer, std::uint64_t seed, index_t step, index_t micro, int i, std::uint64_t path) {
    if constexpr (requires { layer.reseed(std::uint64_t{}); }) {
        rng r(seed ^ (0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(step + 1)) ^
              (static_cast<std::uint64_t>(i) << 48) ^ (0xd1b54a32d192ed03ULL * static_cast<std::uint64_t>(micro)) ^
              (0xbf58476d1ce4e5b9ULL * path));
        layer.reseed(r.next_u64());
    } else if constexpr (requires { layer.for_each_layer([](auto&, int) {}); }) {
        layer.for_each_layer([&](auto& inner, int j) {
            reseed_layer(inner, seed, step, micro, i, path * 0x100000001b3ULL + static_cast<std::uint64_t>(j) + 1);
        });
    }
}
template <class M>
void reseed_dropout(M& m, std::uint64_t seed, index_t step, index_t micro = 0) {
    m.for_each_layer([&](auto& layer, int i) { reseed_layer(layer, seed, step, micro, i, 0); });
}
}  // namespace detail

template <model M, class Objective, class Optimizer>
class trainer {
public:
    using T = typename M::value_type;
    using B = typename M::backend;
    using expression_type = typename Objective::expression_type;
    static constexpr index_t min_batch = loss::min_batch_v<expression_type>;
    static constexpr bool needs_annotation = loss::needs_annotation_v<expression_type>;

    // `identity` (e.g. the model spec) is stored in checkpoints and must match on resume.
    trainer(M& model, Objective objective, Optimizer optimizer, train_options opt, std::string identity)
        : model_(model), objective_(std::move(objective)), optimizer_(std::move(optimizer)), opt_(std::move(opt)),
          identity_(std::move(identity)) {
        require(opt_.epochs >= 1, "train: epochs must be at least 1, got ", opt_.epochs);
        require(opt_.accumulate >= 1, "train: accumulate must be at least 1, got ", opt_.accumulate);
        const index_t parts = opt_.comm.size() * opt_.accumulate;
        require_on_every_process(opt_.batch_size % parts == 0, "train: the batch of ", opt_.batch_size, " does not split into ",
                opt_.comm.size(), " process", opt_.comm.size() > 1 ? "es" : "", " x ", opt_.accumulate,
                " micro-batch", opt_.accumulate > 1 ? "es" : "", " (accumulate) of equal size");
        require(opt_.batch_size / parts >= min_batch, "train: this objective needs batches of at least ", min_batch,
                " (a dependence between samples), got ", opt_.batch_size / parts,
                parts > 1 ? " per micro-batch" : "");
        require(opt_.init == "pytorch" || opt_.init == "kaiming", "train: unknown init '", opt_.init,
                "' (expected pytorch or kaiming)");
        if (!opt_.schedule) opt_.schedule = optim::constant_schedule{optimizer_.lr()};
        require(optim::lr_at(*opt_.schedule, 0) > 0, "train: learning rate must be positive, got ",
                optim::lr_at(*opt_.schedule, 0));
    }

    // Everything that must match for a resumed run to continue the same run.
    io::json settings() const {
        io::json s = {{"batch_size", opt_.batch_size}, {"init", opt_.init}, {"seed", opt_.seed},
                            {"horizontal_flip", opt_.horizontal_flip}, {"crop_padding", opt_.crop_padding},
                            {"objective", objective_.settings}, {"schedule", schedule_settings(*opt_.schedule)},
                            {"world_size", opt_.comm.size()}, {"accumulate", opt_.accumulate}};
        if constexpr (requires { optimizer_settings(optimizer_.options()); })
            s["optimizer"] = optimizer_settings(optimizer_.options());
        return s;
    }

    // Fresh start: initialises the weights from the seed.
    void initialise() {
        rng r(opt_.seed);
        if (opt_.init == "kaiming")
            optim::kaiming_normal(model_, r);
        else
            optim::pytorch_default(model_, r);
        dist::broadcast_parameters(model_, opt_.comm);
    }

    // Continues from a checkpoint written by this trainer with the same identity and settings.
    void resume(const std::filesystem::path& path) {
        require(std::filesystem::exists(path), "--resume: ", path.string(), " not found");
        io::json meta = load_checkpoint(path, model_, &optimizer_);
        for (const char* key : {"epoch", "batch_in_epoch", "step"})
            require(meta.contains(key), "--resume: ", path.string(), " has no '", key,
                    "' in its metadata (not a checkpoint of sib train)");
        require(meta.value("identity", std::string()) == identity_, "--resume: ", path.string(),
                " was trained with spec '", meta.value("identity", std::string()), "', not '", identity_, "'");
        const auto want = settings();
        auto& got = meta["settings"];
        // Checkpoints from before data parallelism: one process, no accumulation.
        for (const char* key : {"world_size", "accumulate"})
            if (got.is_object() && !got.contains(key)) got[key] = 1;
        require_on_every_process(!got.is_object() || got["world_size"] == want["world_size"], "--resume: ", path.string(), " was written by a run of ", got["world_size"].dump(),
                 " process(es), this run has ", opt_.comm.size(), "; resume with the same number");
        for (const auto& [key, value] : want.items())
            require_on_every_process(got.contains(key) && got[key] == value, "--resume: setting '", key, "' is ",
                    got.contains(key) ? got[key].dump() : "missing", " in ", path.string(), " but ", value.dump(), " now");
        epoch_ = meta.at("epoch").get<index_t>();
        batch_in_epoch_ = meta.at("batch_in_epoch").get<index_t>();
        step_ = meta.at("step").get<index_t>();
        // JSON has no NaN: a value not yet measured was stored as null.
        auto number = [&](const char* key, double fallback) {
            return meta.contains(key) && meta[key].is_number() ? meta[key].get<double>() : fallback;
        };
        seconds_before_ = number("seconds", 0.0);
        last_loss_ = number("train_loss", NAN);
        last_accuracy_ = number("test_accuracy", NAN);
    }

    template <data::dataset D1, data::dataset D2>
    train_result run(const D1& train, const D2& test) {
        check_fit(train, test);
        const bool lead = opt_.comm.rank() == 0;  // the process that reports and writes
        // Two runs writing one checkpoint would interleave their epochs: the second is refused.
        io::file_lock claim;
        together([&] {
            if (lead && !opt_.checkpoint.empty()) claim = io::file_lock(opt_.checkpoint);
        });
        // Everything else a process prints goes nowhere: one progress line and one log per run.
        std::ostringstream elsewhere;
        std::ostream& out = lead ? *opt_.progress_stream : elsewhere;
        data::loader_options lo;
        lo.batch_size = opt_.batch_size;
        // A short last batch may have no defined value (S-IB), and would not split into micro-batches.
        lo.drop_last = min_batch > 1 || opt_.comm.size() * opt_.accumulate > 1;
        lo.seed = opt_.seed;
        lo.crop_padding = opt_.crop_padding;
        lo.horizontal_flip = opt_.horizontal_flip;
        data::batch_loader<T, B> loader(train, lo);
        require(loader.num_batches() > 0, "train: ", train.size(), " training images do not fill one batch of ",
                opt_.batch_size);
        std::optional<jsonl_log> log;
        std::optional<batch_type> probe;
        if (diagnostics_) probe = diagnostics_probe(test);
        together([&] {
            if (lead && !opt_.log.empty()) log.emplace(opt_.log, /*append=*/epoch_ > 0 || batch_in_epoch_ > 0);
        });
        const auto t0 = std::chrono::steady_clock::now();
        index_t images = 0;
        typename data::batch_loader<T, B>::batch_type batch;
        train_result res;
        model_.set_training(true);

        for (; epoch_ < opt_.epochs; ++epoch_, batch_in_epoch_ = 0) {
            optim::apply_schedule(*opt_.schedule, optimizer_, epoch_);
            loader.set_epoch(epoch_);
            progress_options po;
            po.label = "epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(opt_.epochs);
            po.unit = "batch";
            po.mode = opt_.progress;
            progress bar(loader.num_batches() - batch_in_epoch_, po, out);
            epoch_sums sums;
            for (; batch_in_epoch_ < loader.num_batches(); ++batch_in_epoch_) {
                const auto v = step(loader, batch);
                if (!std::isfinite(static_cast<double>(v.total)))  // the same value on every process
                    require_on_every_process(false, "train: the loss became ", detail::spell(v.total), " at epoch ",
                         epoch_ + 1, " step ", step_ + 1, " (", detail::spell(v.terms), "); stopped, the last good checkpoint is kept",
                         opt_.checkpoint.empty() ? "" : " at " + opt_.checkpoint.string(),
                         " (try a smaller learning rate or term weights)");
                ++step_;
                images += opt_.comm.size() * opt_.accumulate > 1 ? opt_.batch_size : batch.size();
                sums.add(static_cast<double>(v.total), v.terms);
                // The terms, not the total: 1000 exp(bg) is about 1000 whatever bg does.
                for (const auto& [name, value] : v.terms) bar.set(name, value);
                bar.advance();
                if (log && opt_.log_every > 0 && step_ % opt_.log_every == 0) {
                    io::json record = {{"event", "step"}, {"epoch", epoch_ + 1}, {"step", step_},
                                             {"loss", v.total}};
                    for (const auto& [name, value] : v.terms) record[std::string(name)] = value;
                    log->write(record);
                }
                if (opt_.checkpoint_every > 0 && step_ % opt_.checkpoint_every == 0 &&
                    batch_in_epoch_ + 1 < loader.num_batches()) {
                    ++batch_in_epoch_;  // the position to continue from
                    save(elapsed(t0));
                    --batch_in_epoch_;
                }
                if (opt_.on_step) opt_.on_step(step_);
            }
            bar.finish();
            if (sums.count > 0) last_loss_ = sums.mean(sums.total);
            last_accuracy_ = evaluate_accuracy(model_, test, 256, opt_.comm);
            if (log) {
                io::json record = {{"event", "epoch"}, {"epoch", epoch_ + 1}, {"step", step_},
                                         {"train_loss", last_loss_}, {"test_accuracy", last_accuracy_},
                                         {"seconds", elapsed(t0)}};
                for (const auto& [name, sum] : sums.terms) record["train_" + std::string(name)] = sums.mean(sum);
                if (diagnostics_ && probe) diagnostics_(*this, *probe, test.has_masks(), record);
                log->write(record);
            }
            out << "epoch " << epoch_ + 1 << "/" << opt_.epochs << ": train loss " << last_loss_;
            for (const auto& [name, sum] : sums.terms) out << ", " << name << " " << sums.mean(sum);
            out << ", test accuracy " << last_accuracy_ << std::endl;
            // Checkpoint the position after this epoch.
            ++epoch_;
            batch_in_epoch_ = 0;
            save(elapsed(t0));
            --epoch_;
        }
        const double run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        res.test_accuracy = last_accuracy_;
        res.train_loss = last_loss_;
        res.seconds = seconds_before_ + run_seconds;
        res.images_per_second = run_seconds > 0 ? static_cast<double>(images) / run_seconds : 0;
        res.epochs = opt_.epochs;
        res.steps = step_;
        res.communication_seconds = communication_seconds_;
        return res;
    }

    index_t steps_done() const { return step_; }
    Objective& objective() { return objective_; }
    Optimizer& optimizer() { return optimizer_; }

    // After every epoch, diagnostics (train/diagnostics.hpp) of the model as the epoch left it, on
    // the first `count` test images, in the epoch's log record: grad_norm_<term>, grad_ratio_<term>
    // (to the cross entropy's), probe_<term> and mask_iou (where the test data has masks); 0: none.
    // Training is unchanged. Only a program that calls this compiles the diagnostics.
    void enable_diagnostics(index_t count) {
        require(count >= 0, "train: diagnostics need 0 or more test images, got ", count);
        diagnose_count_ = count;
        if (count == 0) {
            diagnostics_ = nullptr;
            return;
        }
        diagnostics_ = &trainer::add_diagnostics;  // instantiated here, so only where diagnostics are asked for
    }

SIB_KERNELS:
    using batch_type = typename data::batch_loader<T, B>::batch_type;

    // The first diagnose_count_ test images, which the diagnostics measure every epoch; none when
    // there are too few for one batch.
    template <data::dataset D>
    std::optional<batch_type> diagnostics_probe(const D& test) const {
        const index_t n = std::min(diagnose_count_, test.size());
        if (n < std::max<index_t>(min_batch, 1)) return std::nullopt;
        data::batch_loader<T, B> loader(test, data::in_order(n));
        batch_type probe;
        loader.load_positions(0, n, probe);
        return probe;
    }

    static void add_diagnostics(trainer& t, const batch_type& probe, bool masks, io::json& record) {
        const auto d = diagnose(t.model_, t.objective_, probe.images, probe.labels, masks ? &probe.masks : nullptr);
        const double ce = d.grad_norm["ce"];
        for (const auto& [name, norm] : d.grad_norm) {
            record["grad_norm_" + std::string(name)] = norm;
            if (name != "ce" && ce > 0) record["grad_ratio_" + std::string(name)] = norm / ce;
        }
        for (const auto& [name, value] : d.values) record["probe_" + std::string(name)] = value;
        if (!std::isnan(d.mask_iou)) record["mask_iou"] = d.mask_iou;
    }

    // Sums of the total and of each named term over an epoch's steps (the terms are the same every step).
    struct epoch_sums {
        double total = 0;
        loss::term_values terms;
        index_t count = 0;
        void add(double t, const loss::term_values& v) {
            total += t;
            if (count++ == 0) {
                terms = v;
                return;
            }
            auto* sum = terms.begin();
            for (const auto& [name, value] : v) (sum++)->value += value;
        }
        double mean(double sum) const { return sum / static_cast<double>(count); }
    };

    template <data::dataset D1, data::dataset D2>
    void check_fit(const D1& train, const D2& test) {
        // Every process must read the same data: rank 0's digest against each one's, first, so that the
        // checks below come out the same everywhere.
        if (opt_.comm.size() > 1) {
            const std::int64_t mine = dist::dataset_digest(train);
            std::int64_t lead = mine;
            opt_.comm.broadcast(&lead, 1, 0);
            const std::vector<int> differ = dist::failed_ranks(opt_.comm, mine == lead);
            require_on_every_process(differ.empty(), detail::concat_ranks("train: the training data of process", differ),
                                     " differ from process 0's (another folder or file?); every process must "
                                     "read the same data");
        }
        const sib::shape s = train.image_shape();
        require_on_every_process(test.size() == 0 || test.image_shape() == s, "train: test images ", test.image_shape().str(),
                " differ from training images ", s.str());
        const sib::shape out = model_.output_shape({opt_.batch_size, s[0], s[1], s[2]});
        require_on_every_process(out.rank() == 2, "train: the model must end in logits [N,K], gives ", out.str());
        require_on_every_process(train.num_classes() <= out[1], "train: the data has ", train.num_classes(),
                " classes but the model outputs ", out[1]);
        require_on_every_process(!needs_annotation || train.has_masks(),
                "train: this objective needs foreground masks, and the training data has none");
        // A NaN pixel would surface steps later as a NaN loss; name it before the first step.
        data::require_finite_images(train, "train: training data");
        data::require_finite_images(test, "train: test data");
    }

    // One optimizer step on global batch batch_in_epoch_: this process's micro-batches, the gradient
    // averaged over every micro-batch of every process, the loss and its terms averaged likewise.
    autodiff::step_values<T> step(data::batch_loader<T, B>& loader, typename data::batch_loader<T, B>::batch_type& batch) {
        const index_t K = opt_.accumulate, parts = opt_.comm.size() * K, micro = opt_.batch_size / parts;
        const auto micro_step = [&](index_t j) {
            detail::reseed_dropout(model_, opt_.seed, step_, j);
            if (parts == 1)
                loader.load(batch_in_epoch_, batch);  // the whole batch, a short last one included
            else
                loader.load_part(batch_in_epoch_, j * micro, micro, batch);
            return autodiff::objective_step(model_, ws_, batch.images, batch.labels, objective_.expression,
                                            objective_.mask, objective_.decoder,
                                            needs_annotation ? &batch.masks : nullptr);
        };
        optimizer_.zero_grad(model_);
        if (parts == 1) {  // one process, no accumulation: the gradient as the sweep leaves it
            const auto v = micro_step(0);
            if (std::isfinite(static_cast<double>(v.total))) optimizer_.step(model_);
            return v;
        }
        dist::broadcast_buffers(model_, opt_.comm);
        autodiff::step_values<T> mean{};
        std::vector<double> sums;  // the total, then each named term, summed over micro-batches
        for (index_t k = 0; k < K; ++k) {
            const auto v = micro_step(opt_.comm.rank() * K + k);
            accumulator_.add(model_);
            if (k == 0) {
                mean.terms = v.terms;
                sums.assign(1 + v.terms.size(), 0.0);
            }
            sums[0] += static_cast<double>(v.total);
            std::size_t at = 1;
            for (const auto& [name, value] : v.terms) sums[at++] += value;
        }
        const auto t0 = std::chrono::steady_clock::now();
        accumulator_.reduce(model_, opt_.comm, parts);
        opt_.comm.all_reduce_sum(sums.data(), static_cast<index_t>(sums.size()));
        communication_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        mean.total = static_cast<T>(sums[0] / static_cast<double>(parts));
        std::size_t at = 1;
        for (auto& term : mean.terms) term.value = sums[at++] / static_cast<double>(parts);
        if (std::isfinite(sums[0])) optimizer_.step(model_);
        return mean;
    }

    // Runs `f` on every process and agrees on its outcome: an error on any process stops all of them
    // (each with a line saying which), so that none waits in a collective for one that stopped.
    template <class F>
    void together(F&& f) {
        std::string message;
        try {
            f();
        } catch (const error& e) {
            if (opt_.comm.size() == 1) throw;
            message = e.what();
        }
        if (opt_.comm.size() == 1) return;
        const std::vector<int> failed = dist::failed_ranks(opt_.comm, message.empty());
        if (failed.empty()) return;
        if (!message.empty())
            throw dist::collective_error(
                opt_.comm.rank() == 0 ? message : "process " + std::to_string(opt_.comm.rank()) + ": " + message, true);
        throw dist::collective_error(detail::concat_ranks("train: stopped because process", failed) + " failed", false);
    }

    // A check whose outcome is the same on every process (settings all of them share): with several
    // processes a collective_error that process 0 prints, else a plain error.
    template <class... Args>
    void require_on_every_process(bool ok, const Args&... args) {
        if (ok) return;
        if (opt_.comm.size() == 1) fail(args...);
        throw dist::collective_error(sib::detail::concat(args...), opt_.comm.rank() == 0);
    }

    double elapsed(std::chrono::steady_clock::time_point t0) const {
        return seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    // A checkpoint is only ever written from finite weights, so the last one on disk stays good.
    void save(double seconds) {
        if (opt_.checkpoint.empty()) return;
        bool finite = true;
        model_.for_each_parameter([&](std::string_view, tensor<T, B>& v, tensor<T, B>*) {
            const T* p = v.data();
            finite = finite && std::isfinite(B::reduce_sum(v.size(), [=] SIB_HD(index_t i) { return p[i] * T(0); }));
        });
        require_on_every_process(finite, "train: the weights became non-finite at epoch ", epoch_, " step ", step_,
                "; stopped, the last good checkpoint is kept at ", opt_.checkpoint.string());
        io::json meta = {{"identity", identity_}, {"settings", settings()},
                               {"epoch", epoch_}, {"batch_in_epoch", batch_in_epoch_}, {"step", step_},
                               {"epochs", opt_.epochs}, {"seconds", seconds},
                               {"train_loss", last_loss_}, {"test_accuracy", last_accuracy_}};
        together([&] {
            if (opt_.comm.rank() != 0) return;
            try {
                save_checkpoint(opt_.checkpoint, model_, &optimizer_, meta);
            } catch (const error& e) {  // a full disk, the file-size limit: the atomic write left no trace
                fail("train: ", e.what(), "; stopped, ",
                     std::filesystem::exists(opt_.checkpoint) ? "the previous checkpoint is kept"
                                                              : "no checkpoint was written");
            }
        });
    }

private:
    M& model_;
    Objective objective_;
    Optimizer optimizer_;
    train_options opt_;
    std::string identity_;
    autodiff::step_workspace<T, B> ws_;
    dist::gradient_accumulator<T, B> accumulator_;
    index_t epoch_ = 0, batch_in_epoch_ = 0, step_ = 0, diagnose_count_ = 0;
    void (*diagnostics_)(trainer&, const batch_type&, bool, io::json&) = nullptr;  // enable_diagnostics
    double seconds_before_ = 0, last_loss_ = NAN, last_accuracy_ = NAN, communication_seconds_ = 0;
};

}  // namespace train
SIB_END_NAMESPACE
