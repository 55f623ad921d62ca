// Training a model on a dataset with the CE or S-IB objective: batches from a seeded loader,
// AdamW or SGD with a per-epoch schedule, test accuracy per epoch, progress, a JSON-lines log and
// atomic checkpoints from which --resume continues bit for bit (the loader's order, dropout masks
// and the optimizer are functions of the seed and the step, all saved).
#pragma once
#include <sib/data/dataset.hpp>
#include <sib/data/loader.hpp>
#include <sib/decoders/sum_log_prob.hpp>
#include <sib/loss/objective.hpp>
#include <sib/loss/right_reasons.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/optim/init.hpp>
#include <sib/optim/schedule.hpp>
#include <sib/optim/sgd.hpp>
#include <sib/train/checkpoint.hpp>
#include <sib/train/jsonl_log.hpp>
#include <sib/train/progress.hpp>
#include <sib/autodiff/step.hpp>
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
    std::string objective = "sib";  // ce | sib | rrr (right for the right reasons; needs masks)
    double lambda_rrr = 1000;       // weight of the RRR term (Ross et al.'s lambda_1)
    index_t epochs = 1;
    index_t batch_size = 64;
    std::string optimizer = "adamw";  // adamw | sgd
    double lr = 1e-3;
    std::optional<double> weight_decay;  // default: AdamW 1e-2, SGD 0 (PyTorch's)
    double momentum = 0.9;               // SGD only
    bool nesterov = false;
    std::string schedule = "constant";  // constant | step | cosine
    index_t step_size = 1;              // step schedule
    double gamma = 0.1;                 // step schedule
    std::string init = "pytorch";       // pytorch | kaiming
    std::uint64_t seed = 0;
    loss::sib_settings sib{};
    masks::density_mask_options mask{};
    bool horizontal_flip = false;
    index_t crop_padding = 0;
    std::filesystem::path checkpoint;  // written after every epoch (and every checkpoint_every steps)
    index_t checkpoint_every = 0;
    std::filesystem::path log;  // JSON lines, one per epoch (and per logged step)
    index_t log_every = 0;      // steps between step records in the log; 0: epochs only
    train::progress_mode progress = train::progress_mode::automatic;
    std::ostream* progress_stream = &std::cerr;
    // Called after every optimizer step with the number of steps done (after any checkpoint of that
    // step was written); throwing from it stops training, e.g. for early stopping.
    std::function<void(index_t)> on_step;

    // Everything that must match for a resumed run to continue the same run.
    nlohmann::json settings_json() const {
        return {{"objective", objective}, {"lambda_rrr", lambda_rrr}, {"batch_size", batch_size}, {"optimizer", optimizer},
                {"lr", lr}, {"weight_decay", weight_decay ? nlohmann::json(*weight_decay) : nlohmann::json()},
                {"momentum", momentum}, {"nesterov", nesterov}, {"schedule", schedule},
                {"step_size", step_size}, {"gamma", gamma}, {"init", init}, {"seed", seed},
                {"lambda_bg", sib.lambda_bg}, {"lambda_fg", sib.lambda_fg},
                {"shaping", sib.shaping == loss::shaping::exp ? "exp" : "linear"},
                {"window", mask.window}, {"temperature", mask.temperature}, {"slope", mask.slope},
                {"horizontal_flip", horizontal_flip}, {"crop_padding", crop_padding}};
    }
};

struct train_result {
    double test_accuracy = NAN;
    double train_loss = NAN;
    double seconds = 0;
    double images_per_second = 0;
    index_t epochs = 0;
    index_t steps = 0;
};

// Share of test images whose arg-max logit is the label, with the model in eval mode.
template <model M, data::dataset D>
double evaluate_accuracy(M& m, const D& test, index_t batch_size = 256) {
    using T = typename M::value_type;
    using B = typename M::backend;
    if (test.size() == 0) return NAN;
    m.set_training(false);
    data::loader_options lo;
    lo.batch_size = batch_size;
    lo.shuffle = false;
    data::batch_loader<T, B> loader(test, lo);
    loader.set_epoch(0);
    typename data::batch_loader<T, B>::batch_type batch;
    autodiff::sweep_workspace<T, B> ws;
    index_t correct = 0;
    while (loader.next(batch)) {
        const auto z = autodiff::forward_sweep(m, ws, batch.images).to_vector();
        const auto y = batch.labels.to_vector();
        const index_t k = static_cast<index_t>(z.size()) / batch.size();
        for (index_t i = 0; i < batch.size(); ++i) {
            index_t best = 0;
            for (index_t j = 1; j < k; ++j)
                if (z[i * k + j] > z[i * k + best]) best = j;
            correct += best == y[i];
        }
    }
    m.set_training(true);
    return static_cast<double>(correct) / static_cast<double>(test.size());
}

namespace detail {
// A number for a message: "nan" whatever its sign bit (printf's "-nan" depends on how it arose).
inline std::string spell(double v) {
    if (std::isnan(v)) return "nan";
    std::ostringstream os;
    os << v;
    return os.str();
}

// Dropout masks as a function of (seed, step, layer), so a resumed run draws the same ones.
template <class M>
void reseed_dropout(M& m, std::uint64_t seed, index_t step) {
    m.for_each_layer([&](auto& layer, int i) {
        if constexpr (requires { layer.reseed(std::uint64_t{}); }) {
            rng r(seed ^ (0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(step + 1)) ^
                  (static_cast<std::uint64_t>(i) << 48));
            layer.reseed(r.next_u64());
        }
    });
}
}  // namespace detail

template <model M>
class trainer {
public:
    using T = typename M::value_type;
    using B = typename M::backend;
    using optimizer_type = std::variant<optim::adamw<T, B>, optim::sgd<T, B>>;

    // `identity` (e.g. the model spec) is stored in checkpoints and must match on resume.
    trainer(M& model, train_options opt, std::string identity)
        : model_(model), opt_(std::move(opt)), identity_(std::move(identity)), optimizer_(make_optimizer()),
          mask_(opt_.mask), sib_(loss::sib_objective<T, B>(opt_.sib)) {
        require(opt_.objective == "ce" || opt_.objective == "sib" || opt_.objective == "rrr",
                "train: unknown objective '", opt_.objective, "' (expected ce, sib or rrr)");
        require(opt_.epochs >= 1, "train: epochs must be at least 1, got ", opt_.epochs);
        require(opt_.batch_size >= 1, "train: batch size must be at least 1, got ", opt_.batch_size);
        require(opt_.objective != "sib" || opt_.batch_size >= 2,
                "train: the S-IB objective needs batches of at least 2 (HSIC), got ", opt_.batch_size);
        require(opt_.lr > 0, "train: learning rate must be positive, got ", opt_.lr);
        schedule_ = make_schedule();
    }

    // Fresh start: initialises the weights from the seed.
    void initialise() {
        rng r(opt_.seed);
        if (opt_.init == "kaiming")
            optim::kaiming_normal(model_, r);
        else if (opt_.init == "pytorch")
            optim::pytorch_default(model_, r);
        else
            fail("train: unknown init '", opt_.init, "' (expected pytorch or kaiming)");
    }

    // Continues from a checkpoint written by this trainer with the same identity and settings.
    void resume(const std::filesystem::path& path) {
        require(std::filesystem::exists(path), "--resume: ", path.string(), " not found");
        nlohmann::json meta = std::visit([&](auto& o) { return load_checkpoint(path, model_, &o); }, optimizer_);
        require(meta.value("identity", std::string()) == identity_, "--resume: ", path.string(),
                " was trained with spec '", meta.value("identity", std::string()), "', not '", identity_, "'");
        const auto want = opt_.settings_json();
        const auto& got = meta["settings"];
        for (auto it = want.begin(); it != want.end(); ++it)
            require(got.contains(it.key()) && got[it.key()] == it.value(), "--resume: setting '", it.key(),
                    "' is ", got.contains(it.key()) ? got[it.key()].dump() : "missing", " in ", path.string(),
                    " but ", it.value().dump(), " now");
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
        data::loader_options lo;
        lo.batch_size = opt_.batch_size;
        lo.drop_last = opt_.objective == "sib";  // a last batch of one sample has no HSIC
        lo.seed = opt_.seed;
        lo.crop_padding = opt_.crop_padding;
        lo.horizontal_flip = opt_.horizontal_flip;
        data::batch_loader<T, B> loader(train, lo);
        require(loader.num_batches() > 0, "train: ", train.size(), " training images do not fill one batch of ",
                opt_.batch_size);
        std::optional<train::jsonl_log> log;
        if (!opt_.log.empty()) log.emplace(opt_.log, /*append=*/epoch_ > 0 || batch_in_epoch_ > 0);
        const auto t0 = std::chrono::steady_clock::now();
        index_t images = 0;
        typename data::batch_loader<T, B>::batch_type batch;
        train_result res;
        model_.set_training(true);

        for (; epoch_ < opt_.epochs; ++epoch_, batch_in_epoch_ = 0) {
            std::visit([&](auto& o) { optim::apply_schedule(schedule_, o, epoch_); }, optimizer_);
            loader.set_epoch(epoch_);
            train::progress_options po;
            po.label = "epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(opt_.epochs);
            po.unit = "batch";
            po.mode = opt_.progress;
            train::progress bar(loader.num_batches() - batch_in_epoch_, po, *opt_.progress_stream);
            double loss_sum = 0;
            index_t loss_count = 0;
            for (; batch_in_epoch_ < loader.num_batches(); ++batch_in_epoch_) {
                loader.load(batch_in_epoch_, batch);
                const auto v = step(batch);
                if (!std::isfinite(static_cast<double>(v.total)))
                    fail("train: the loss became ", detail::spell(v.total), " at epoch ", epoch_ + 1,
                         " step ", step_ + 1, " (ce ", detail::spell(v.ce), ", fg ", detail::spell(v.fg),
                         ", bg ", detail::spell(v.bg), "); stopped, the last good checkpoint is kept",
                         opt_.checkpoint.empty() ? "" : " at " + opt_.checkpoint.string(),
                         " (try a smaller --lr or --lambda-bg)");
                ++step_;
                images += batch.size();
                loss_sum += static_cast<double>(v.total);
                ++loss_count;
                bar.set("loss", static_cast<double>(v.total));
                bar.advance();
                if (log && opt_.log_every > 0 && step_ % opt_.log_every == 0)
                    log->write({{"event", "step"}, {"epoch", epoch_ + 1}, {"step", step_},
                                {"loss", v.total}, {"ce", v.ce}, {"fg", v.fg}, {"bg", v.bg}});
                if (opt_.checkpoint_every > 0 && step_ % opt_.checkpoint_every == 0 &&
                    batch_in_epoch_ + 1 < loader.num_batches()) {
                    ++batch_in_epoch_;  // the position to continue from
                    save(elapsed(t0));
                    --batch_in_epoch_;
                }
                if (opt_.on_step) opt_.on_step(step_);
            }
            bar.finish();
            last_loss_ = loss_count ? loss_sum / static_cast<double>(loss_count) : last_loss_;
            last_accuracy_ = evaluate_accuracy(model_, test);
            if (log)
                log->write({{"event", "epoch"}, {"epoch", epoch_ + 1}, {"step", step_},
                            {"train_loss", last_loss_}, {"test_accuracy", last_accuracy_},
                            {"seconds", elapsed(t0)}});
            *opt_.progress_stream << "epoch " << epoch_ + 1 << "/" << opt_.epochs << ": train loss "
                                  << last_loss_ << ", test accuracy " << last_accuracy_ << std::endl;
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
        return res;
    }

    index_t steps_done() const { return step_; }

SIB_KERNELS:
    optimizer_type make_optimizer() const {
        if (opt_.optimizer == "adamw") {
            optim::adamw_options o;
            o.lr = opt_.lr;
            o.weight_decay = opt_.weight_decay.value_or(1e-2);
            return optim::adamw<T, B>(o);
        }
        if (opt_.optimizer == "sgd") {
            optim::sgd_options o;
            o.lr = opt_.lr;
            o.momentum = opt_.momentum;
            o.nesterov = opt_.nesterov;
            o.weight_decay = opt_.weight_decay.value_or(0.0);
            return optim::sgd<T, B>(o);
        }
        fail("train: unknown optimizer '", opt_.optimizer, "' (expected adamw or sgd)");
    }

    optim::lr_schedule make_schedule() const {
        if (opt_.schedule == "constant") return optim::constant_schedule{opt_.lr};
        if (opt_.schedule == "step") return optim::step_schedule{opt_.lr, opt_.step_size, opt_.gamma};
        if (opt_.schedule == "cosine") return optim::cosine_schedule{opt_.lr, opt_.epochs, 0.0};
        fail("train: unknown schedule '", opt_.schedule, "' (expected constant, step or cosine)");
    }

    template <data::dataset D1, data::dataset D2>
    void check_fit(const D1& train, const D2& test) {
        const sib::shape s = train.image_shape();
        require(test.size() == 0 || test.image_shape() == s, "train: test images ", test.image_shape().str(),
                " differ from training images ", s.str());
        const sib::shape out = model_.output_shape({opt_.batch_size, s[0], s[1], s[2]});
        require(out.rank() == 2, "train: the model must end in logits [N,K], gives ", out.str());
        require(train.num_classes() <= out[1], "train: the data has ", train.num_classes(),
                " classes but the model outputs ", out[1]);
        require(opt_.objective != "rrr" || train.has_masks(),
                "train: the rrr objective needs foreground masks, and the training data has none");
    }

    autodiff::step_values<T> step(const typename data::batch_loader<T, B>::batch_type& batch) {
        detail::reseed_dropout(model_, opt_.seed, step_);
        return std::visit(
            [&](auto& o) {
                o.zero_grad(model_);
                autodiff::step_values<T> v;
                if (opt_.objective == "sib")
                    v = autodiff::objective_step(model_, ws_, batch.images, batch.labels, sib_, mask_);
                else if (opt_.objective == "rrr")
                    v = autodiff::objective_step(model_, ws_, batch.images, batch.labels, rrr_, mask_, decoders::sum_log_prob{},
                                       &batch.masks);
                else
                    v = autodiff::objective_step(model_, ws_, batch.images, batch.labels, ce_, mask_);
                if (std::isfinite(static_cast<double>(v.total))) o.step(model_);
                return v;
            },
            optimizer_);
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
        require(finite, "train: the weights became non-finite at epoch ", epoch_, " step ", step_,
                "; stopped, the last good checkpoint is kept at ", opt_.checkpoint.string());
        nlohmann::json meta = {{"identity", identity_}, {"settings", opt_.settings_json()},
                               {"epoch", epoch_}, {"batch_in_epoch", batch_in_epoch_}, {"step", step_},
                               {"epochs", opt_.epochs}, {"seconds", seconds},
                               {"train_loss", last_loss_}, {"test_accuracy", last_accuracy_}};
        std::visit([&](auto& o) { save_checkpoint(opt_.checkpoint, model_, &o, meta); }, optimizer_);
    }

private:
    M& model_;
    train_options opt_;
    std::string identity_;
    optimizer_type optimizer_;
    optim::lr_schedule schedule_;
    masks::density_mask<T, B> mask_;
    loss::sib_objective_t<T, B> sib_;
    loss::cross_entropy_term ce_;
    decltype(loss::ce() + 1.0 * loss::right_reasons<T, B>()) rrr_ = loss::ce() + opt_.lambda_rrr * loss::right_reasons<T, B>();
    autodiff::step_workspace<T, B> ws_;
    index_t epoch_ = 0, batch_in_epoch_ = 0, step_ = 0;
    double seconds_before_ = 0, last_loss_ = NAN, last_accuracy_ = NAN;
};

}  // namespace train
SIB_END_NAMESPACE
