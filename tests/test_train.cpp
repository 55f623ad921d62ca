// The trainer on small generated data: it learns, checkpoints load back, an interrupted run
// resumed from its last checkpoint ends with exactly the uninterrupted run's weights, and bad
// settings are one clear line.
#include <doctest/doctest.h>
#include <sib/models/spec_model.hpp>
#include <sib/autodiff/step_flops.hpp>
#include <sib/train/choice.hpp>
#include <filesystem>
#include <fstream>
#include <sib/io/json.hpp>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace {

// Two classes told apart by where a bright square sits (left or right half), with exact masks.
sib::data::in_memory_dataset squares(sib::index_t n, std::uint64_t seed) {
    sib::rng r(seed);
    const sib::index_t h = 8, w = 8;
    sib::tensor<float> images({n, 1, h, w}, 0.0f), masks({n, 1, h, w}, 0.0f);
    sib::tensor<std::int64_t> labels({n});
    for (sib::index_t i = 0; i < n; ++i) {
        const auto y = static_cast<std::int64_t>(r.below(2));
        labels[i] = y;
        const sib::index_t top = static_cast<sib::index_t>(r.below(5)), left = (y ? 4 : 0) + static_cast<sib::index_t>(r.below(2));
        for (sib::index_t p = 0; p < h * w; ++p) images[i * h * w + p] = static_cast<float>(0.2 * r.uniform());
        for (sib::index_t a = top; a < top + 3; ++a)
            for (sib::index_t b = left; b < left + 3; ++b) {
                images[i * h * w + a * w + b] = 1.0f;
                masks[i * h * w + a * w + b] = 1.0f;
            }
    }
    return sib::data::in_memory_dataset(std::move(images), std::move(labels), 2, std::move(masks));
}

const char* spec = "Conv2d(1,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(64,2)";

std::vector<float> weights_of(sib::models::spec_model<float>& m) {
    std::vector<float> out;
    m.for_each_parameter([&](std::string_view, sib::tensor<float>& v, sib::tensor<float>*) {
        const auto x = v.to_vector();
        out.insert(out.end(), x.begin(), x.end());
    });
    return out;
}

sib::train::run_choice choice(const std::string& objective) {
    sib::train::run_choice c;
    c.objective = objective;
    c.lr = 1e-2;
    c.mask.window = 3;
    return c;
}

sib::train::train_options options(const std::filesystem::path& ck) {
    sib::train::train_options o;
    o.epochs = 3;
    o.batch_size = 16;
    o.seed = 7;
    o.checkpoint = ck;
    o.checkpoint_every = 3;
    o.progress = sib::train::progress_mode::plain;
    return o;
}

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        path = std::filesystem::temp_directory_path() / ("sib_train_" + std::to_string(::getpid()) + "_" +
                                                         std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

// A loss term of a user's own, half the cross entropy: its name must reach the log.
struct half_ce {
    static constexpr bool needs_explanation = false;
    double value = 0;
    template <class Ctx>
    auto forward(Ctx& c) {
        const auto v = sib::loss::cross_entropy(*c.z, *c.y);
        value = 0.5 * static_cast<double>(v);
        return static_cast<decltype(v)>(value);
    }
    template <class Ctx>
    void backward(Ctx& c, double w) {
        sib::loss::cross_entropy(*c.z, *c.y, &c.zbar, static_cast<typename Ctx::value_type>(0.5 * w));
    }
    void report(sib::loss::term_values& out) const { out.add("half_ce", value); }
};

}  // namespace

// f(trainer&) for the objective named, with the small model and options of these tests.
template <class F>
decltype(auto) with_trainer(sib::models::spec_model<float>& m, const std::string& objective,
                            const sib::train::train_options& o, F&& f) {
    return sib::train::with_trainer(m, choice(objective), o, m.spec(), std::forward<F>(f));
}

TEST_CASE("trainer: learns a toy task with CE, S-IB and RRR") {
    const auto train = squares(256, 1), test = squares(64, 2);
    temp_dir dir;
    for (const char* objective : {"ce", "sib", "rrr"}) {
        CAPTURE(objective);
        sib::models::spec_model<float> m(spec);
        std::ostringstream log;
        auto o = options(dir.path / "ck.safetensors");
        o.progress_stream = &log;
        const auto r = with_trainer(m, objective, o, [&](auto& t) {
            t.initialise();
            return t.run(train, test);
        });
        CHECK(r.test_accuracy >= 0.9);
        CHECK(std::isfinite(r.train_loss));
        CHECK(r.steps == 3 * 16);
        CHECK(log.str().find("epoch 3/3") != std::string::npos);
        // The epoch line names the objective's own terms, not only the total.
        const std::string expected_terms = objective == std::string("ce")    ? ", ce "
                                           : objective == std::string("sib") ? ", ce "
                                                                             : ", rrr ";
        CHECK(log.str().find(expected_terms) != std::string::npos);
        if (objective == std::string("sib")) {
            CHECK(log.str().find(", bg ") != std::string::npos);
            CHECK(log.str().find(", fg ") != std::string::npos);
        }
        // The checkpoint holds the final weights.
        sib::models::spec_model<float> back(spec);
        sib::optim::adamw<float>* none = nullptr;
        const auto meta = sib::train::load_checkpoint(dir.path / "ck.safetensors", back, none);
        CHECK(weights_of(back) == weights_of(m));
        CHECK(meta["epoch"] == 3);
    }
}

TEST_CASE("trainer: the JSON-lines log records every named term of a user's own objective") {
    using namespace sib::loss;
    const auto train = squares(64, 11), test = squares(16, 12);
    temp_dir dir;
    sib::models::spec_model<float> m(spec);
    auto o = options(dir.path / "ck.safetensors");
    o.epochs = 1;
    o.log = dir.path / "log.jsonl";
    o.log_every = 1;
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::optim::adamw_options ao;
    ao.lr = 1e-2;
    sib::train::trainer t(m, sib::train::objective{ce() + 2.0 * half_ce{}}, sib::optim::adamw<float>(ao), o, "mine");
    t.initialise();
    t.run(train, test);
    std::ifstream in(o.log);
    std::string line, last_step, epoch;
    while (std::getline(in, line)) (line.find("\"event\":\"step\"") != std::string::npos ? last_step : epoch) = line;
    const auto step = sib::io::json::parse(last_step), ep = sib::io::json::parse(epoch);
    REQUIRE(step.contains("half_ce"));
    REQUIRE(step.contains("ce"));
    CHECK(step["half_ce"].get<double>() == doctest::Approx(0.5 * step["ce"].get<double>()).epsilon(1e-6));
    CHECK(step["loss"].get<double>() == doctest::Approx(2.0 * step["ce"].get<double>()).epsilon(1e-5));
    CHECK(ep.contains("train_half_ce"));
    CHECK(quiet.str().find("half_ce") != std::string::npos);
}

TEST_CASE("trainer: a run interrupted at any step and resumed ends with identical weights") {
    const auto train = squares(96, 3), test = squares(32, 4);
    temp_dir dir;
    for (const char* objective : {"ce", "sib"}) {
        CAPTURE(objective);
        sib::models::spec_model<float> full(spec);
        {
            auto o = options(dir.path / "full.safetensors");
            std::ostringstream quiet;
            o.progress_stream = &quiet;
            with_trainer(full, objective, o, [&](auto& t) {
                t.initialise();
                t.run(train, test);
            });
        }
        // Stop after step k (a checkpoint exists every 3 steps and after every epoch), resume.
        for (sib::index_t k : {1, 3, 4, 6, 7, 12}) {
            CAPTURE(k);
            const auto ck = dir.path / ("part" + std::to_string(k) + ".safetensors");
            {
                sib::models::spec_model<float> m(spec);
                auto o = options(ck);
                std::ostringstream quiet;
                o.progress_stream = &quiet;
                o.on_step = [k](sib::index_t step) {
                    if (step == k) throw std::runtime_error("interrupted");
                };
                with_trainer(m, objective, o, [&](auto& t) {
                    t.initialise();
                    CHECK_THROWS_WITH(t.run(train, test), "interrupted");
                });
            }
            if (!std::filesystem::exists(ck)) {
                CHECK(k < 3);  // no checkpoint before the first one is due
                continue;
            }
            sib::models::spec_model<float> m(spec);
            auto o = options(ck);
            std::ostringstream quiet;
            o.progress_stream = &quiet;
            with_trainer(m, objective, o, [&](auto& t) {
                t.resume(ck);
                // Mid-epoch checkpoints every 3 steps; an epoch's own (every 6) comes after on_step.
                const sib::index_t last = (k % 3 == 0 && k % 6 != 0) ? k : ((k - 1) / 3) * 3;
                CHECK(t.steps_done() == last);
                t.run(train, test);
            });
            CHECK(weights_of(m) == weights_of(full));
        }
    }
}

TEST_CASE("trainer: resume refuses another spec or other settings; bad settings are one line") {
    const auto train = squares(32, 5), test = squares(16, 6);
    temp_dir dir;
    const auto ck = dir.path / "ck.safetensors";
    {
        sib::models::spec_model<float> m(spec);
        auto o = options(ck);
        o.epochs = 1;
        std::ostringstream quiet;
        o.progress_stream = &quiet;
        with_trainer(m, "ce", o, [&](auto& t) {
            t.initialise();
            t.run(train, test);
        });
    }
    {
        sib::models::spec_model<float> m("Conv2d(1,4,3,padding=1); Tanh; MaxPool2d(2); Flatten; Linear(64,2)");
        with_trainer(m, "ce", options(ck), [&](auto& t) {
            CHECK_THROWS_WITH_AS(t.resume(ck), doctest::Contains("was trained with spec"), sib::error);
        });
    }
    {
        sib::models::spec_model<float> m(spec);
        auto c = choice("ce");
        c.lr = 0.5;
        sib::train::with_trainer(m, c, options(ck), m.spec(), [&](auto& t) {
            CHECK_THROWS_WITH_AS(t.resume(ck), doctest::Contains("setting 'schedule'"), sib::error);
        });
    }
    {
        sib::models::spec_model<float> m(spec);
        with_trainer(m, "sib", options(ck), [&](auto& t) {
            CHECK_THROWS_WITH_AS(t.resume(ck), doctest::Contains("setting 'objective'"), sib::error);
        });
    }
    {
        // A checkpoint a user wrote with metadata of their own is no run to resume: one line.
        sib::models::spec_model<float> m(spec);
        sib::optim::adamw<float> opt;
        const auto mine = dir.path / "mine.safetensors";
        sib::train::save_checkpoint(mine, m, &opt, {{"note", "mine"}});
        with_trainer(m, "ce", options(ck), [&](auto& t) {
            CHECK_THROWS_WITH_AS(t.resume(mine), doctest::Contains("has no 'epoch' in its metadata"), sib::error);
        });
    }
    sib::models::spec_model<float> m(spec);
    auto o = options(ck);
    o.batch_size = 1;
    CHECK_THROWS_WITH_AS(with_trainer(m, "sib", o, [](auto&) {}), doctest::Contains("needs batches of at least 2"),
                         sib::error);
    CHECK_THROWS_WITH_AS(with_trainer(m, "hinge", options(ck), [](auto&) {}),
                         doctest::Contains("unknown objective 'hinge' (known: ce, sib, rrr)"), sib::error);
    sib::models::spec_model<float> wide("Conv2d(1,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(100,2)");
    with_trainer(wide, "ce", options(ck), [&](auto& t) {
        CHECK_THROWS_WITH_AS(t.run(train, test), doctest::Contains("Linear(100,2)"), sib::error);
    });
}

TEST_CASE("trainer: a loss that becomes NaN stops with a clear message and keeps the checkpoint") {
    const auto train = squares(64, 8), test = squares(16, 9);
    temp_dir dir;
    const auto ck = dir.path / "ck.safetensors";
    sib::models::spec_model<float> m(spec);
    auto poison_after = [&m](sib::index_t when) {
        return [&m, when](sib::index_t step) {
            if (step == when)
                m.for_each_parameter([](std::string_view, sib::tensor<float>& v, sib::tensor<float>*) {
                    v.fill(std::numeric_limits<float>::quiet_NaN());
                });
        };
    };
    auto o = options(ck);
    o.epochs = 2;
    o.checkpoint_every = 1;
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::models::spec_model<float> back(spec);
    sib::optim::adamw<float>* none = nullptr;
    SUBCASE("the next loss is NaN") {
        o.on_step = poison_after(2);
        with_trainer(m, "ce", o, [&](auto& t) {
            t.initialise();
            std::string message;
            try {
                t.run(train, test);
            } catch (const sib::error& e) {
                message = e.what();
            }
            CHECK(message.find("the loss became nan") != std::string::npos);
            CHECK(message.find("(ce nan)") != std::string::npos);  // each named term
        });
        CHECK(sib::train::load_checkpoint(ck, back, none)["step"] == 2);
    }
    SUBCASE("weights that are not finite are never checkpointed") {
        o.on_step = poison_after(4);  // the last step of epoch 1: its checkpoint is due next
        with_trainer(m, "ce", o, [&](auto& t) {
            t.initialise();
            CHECK_THROWS_WITH_AS(t.run(train, test), doctest::Contains("weights became non-finite"), sib::error);
        });
        CHECK(sib::train::load_checkpoint(ck, back, none)["step"] == 3);
    }
    for (float v : weights_of(back)) REQUIRE(std::isfinite(v));
}

TEST_CASE("trainer: a NaN or infinity in the images is named (image and index) before the first step") {
    auto train = squares(32, 8);
    const auto test = squares(16, 9);
    temp_dir dir;
    auto o = options(dir.path / "ck.safetensors");
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::models::spec_model<float> m(spec);
    sib::tensor<float> images({32, 1, 8, 8});
    for (sib::index_t i = 0; i < 32; ++i) train.image(i, images.data() + i * 64);
    images[17 * 64 + 3 * 8 + 5] = std::numeric_limits<float>::infinity();
    images[20 * 64] = std::numeric_limits<float>::quiet_NaN();
    sib::tensor<std::int64_t> labels({32});
    for (sib::index_t i = 0; i < 32; ++i) labels[i] = train.label(i);
    const sib::data::in_memory_dataset poisoned(images, labels, 2);
    with_trainer(m, "ce", o, [&](auto& t) {
        t.initialise();
        CHECK_THROWS_WITH_AS(t.run(poisoned, test), "train: training data: image 17 holds inf at [0,3,5]", sib::error);
        CHECK_THROWS_WITH_AS(t.run(test, poisoned), "train: test data: image 17 holds inf at [0,3,5]", sib::error);
        CHECK(t.steps_done() == 0);
    });
    CHECK_FALSE(std::filesystem::exists(o.checkpoint));
}

TEST_CASE("trainer: a second run writing the same checkpoint is refused while the first holds it") {
    const auto train = squares(32, 8), test = squares(16, 9);
    temp_dir dir;
    auto o = options(dir.path / "ck.safetensors");
    o.epochs = 1;
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::models::spec_model<float> first(spec), second(spec);
    std::string message;
    o.on_step = [&](sib::index_t step) {  // while the first run holds the checkpoint, a second starts
        if (step != 1) return;
        auto o2 = o;
        o2.on_step = nullptr;
        with_trainer(second, "ce", o2, [&](auto& t) {
            t.initialise();
            try {
                t.run(train, test);
            } catch (const sib::error& e) {
                message = e.what();
            }
        });
    };
    with_trainer(first, "ce", o, [&](auto& t) {
        t.initialise();
        t.run(train, test);
    });
    CHECK(message == o.checkpoint.string() + " is being written by another run (process " + std::to_string(::getpid()) +
                         "); give another output path");
    // Released when the run ends: the lock file is gone and a new run may write the checkpoint.
    CHECK_FALSE(std::filesystem::exists(dir.path / "ck.safetensors.lock"));
    o.on_step = nullptr;
    with_trainer(second, "ce", o, [&](auto& t) {
        t.initialise();
        CHECK_NOTHROW(t.run(train, test));
    });
}

TEST_CASE("trainer: a checkpoint write past the file-size limit keeps the previous checkpoint, no temporary file") {
    const auto train = squares(32, 8), test = squares(16, 9);
    temp_dir dir;
    auto o = options(dir.path / "ck.safetensors");
    o.epochs = 2;
    o.checkpoint_every = 0;
    std::ostringstream quiet;
    o.progress_stream = &quiet;
    sib::models::spec_model<float> m(spec);
    ::rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    o.on_step = [&](sib::index_t step) {  // epoch 1's checkpoint exists: limit files to 1 KiB from now
        if (step != 3) return;
        ::rlimit small = saved;
        small.rlim_cur = 1024;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    };
    std::string message;
    with_trainer(m, "ce", o, [&](auto& t) {
        t.initialise();
        try {
            t.run(train, test);
        } catch (const sib::error& e) {
            message = e.what();
        }
    });
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
    CHECK(message == "train: " + o.checkpoint.string() +
                         ": write failed (the file would pass the file-size limit of 1024 bytes, ulimit -f); stopped, "
                         "the previous checkpoint is kept");
    sib::models::spec_model<float> back(spec);
    sib::optim::adamw<float>* none = nullptr;
    CHECK(sib::train::load_checkpoint(o.checkpoint, back, none)["epoch"] == 1);
    for (const auto& e : std::filesystem::directory_iterator(dir.path))
        CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("objective_step: the soft mask is computed only for objectives whose terms read it") {
    // Counts the calls and delegates to the density mask.
    struct spy_mask {
        sib::masks::density_mask<float> inner{sib::masks::density_mask_options{.window = 3}};
        int calls = 0;
        void forward(const sib::tensor<float>& r, sib::tensor<float>& m) {
            ++calls;
            inner.forward(r, m);
        }
        void vjp(const sib::tensor<float>& mbar, sib::tensor<float>& rbar) {
            ++calls;
            inner.vjp(mbar, rbar);
        }
    };
    const auto data = squares(8, 13);
    sib::data::loader_options lo;
    lo.batch_size = 8;
    lo.shuffle = false;
    sib::data::batch_loader<float> loader(data, lo);
    loader.set_epoch(0);
    sib::data::batch<float> batch;
    REQUIRE(loader.next(batch));
    sib::models::spec_model<float> m(spec);
    sib::rng r(3);
    sib::optim::pytorch_default(m, r);
    sib::autodiff::step_workspace<float> ws;
    spy_mask spy;
    auto rrr = sib::train::make_rrr_objective<float>(10);
    sib::autodiff::objective_step(m, ws, batch.images, batch.labels, rrr.expression, spy, rrr.decoder, &batch.masks);
    CHECK(spy.calls == 0);  // RRR reads the data's masks and R, never the soft mask
    auto s = sib::loss::sib_objective<float>();
    sib::autodiff::objective_step(m, ws, batch.images, batch.labels, s, spy);
    CHECK(spy.calls == 2);  // S-IB: forward and vjp once each
}

TEST_CASE("count_step_flops: the small reference CNN at batch 64, counted by hand") {
    // F0 = 2*64*16*784*9 (conv1), F1 = 2*64*32*196*144 (conv2), F2 = 2*64*1568*10 (linear).
    const double f0 = 14450688, f1 = 115605504, f2 = 2007040;
    sib::models::spec_model<float> m("Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Conv2d(16,32,3,padding=1); ReLU; "
                             "MaxPool2d(2); Flatten; Linear(1568,10)");
    const auto c = sib::autodiff::count_step_flops(m, {64, 1, 28, 28});
    CHECK(c.forward == f0 + f1 + f2);
    CHECK(c.sib_step == 5 * f0 + 6 * f1 + 6 * f2);  // 777928704
    CHECK(c.ce_step == 2 * f0 + 3 * f1 + 3 * f2);   // 381739008
    // Stride 2 without padding: 9x9 -> 4x4.
    sib::models::spec_model<double> s("Conv2d(3,5,3,stride=2); Flatten; Linear(80,2)");
    const auto d = sib::autodiff::count_step_flops(s, {2, 3, 9, 9});
    CHECK(d.forward == 2.0 * 2 * 5 * 16 * 27 + 2.0 * 2 * 80 * 2);
}

TEST_CASE("diagnostics: the terms' gradients add up to the objective's, each term's alone") {
    using T = double;
    const auto data = squares(8, 21);
    sib::models::spec_model<T> m(spec);
    sib::rng r(3);
    sib::optim::pytorch_default(m, r);
    auto objective = sib::train::make_sib_objective<T>();
    sib::data::loader_options lo;
    lo.batch_size = 8;
    lo.shuffle = false;
    sib::data::batch_loader<T> loader(data, lo);
    loader.set_epoch(0);
    sib::data::batch_loader<T>::batch_type b;
    loader.load_positions(0, 8, b);
    const auto gradients = [&](std::string_view only) {
        sib::train::detail::zero_gradients(m);
        sib::autodiff::step_workspace<T> ws;
        ws.context.only_term = only;
        sib::autodiff::objective_step(m, ws, b.images, b.labels, objective.expression, objective.mask, objective.decoder);
        std::vector<T> g;
        m.for_each_parameter([&](std::string_view, sib::tensor<T>&, sib::tensor<T>* grad) {
            if (grad)
                for (T v : grad->to_vector()) g.push_back(v);
        });
        return g;
    };
    const auto all = gradients({}), ce = gradients("ce"), bg = gradients("bg"), fg = gradients("fg");
    double worst = 0, scale = 0, ce_differs = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
        worst = std::max(worst, std::abs(all[i] - (ce[i] + bg[i] + fg[i])));
        scale = std::max(scale, std::abs(all[i]));
        ce_differs = std::max(ce_differs, std::abs(all[i] - ce[i]));
    }
    CHECK(worst <= 1e-12 * scale);
    CHECK(ce_differs > 1e-9 * scale);  // the S-IB terms do pull
    CHECK(gradients("nonexistent") == std::vector<T>(all.size(), 0.0));

    // diagnose() reports the same norms, leaves no gradient behind and the mode as it was.
    const auto d = sib::train::diagnose(m, objective, b.images, b.labels, &b.masks);
    const auto norm = [](const std::vector<T>& g) {
        double s = 0;
        for (T v : g) s += v * v;
        return std::sqrt(s);
    };
    // diagnose() measures in evaluation mode: the same here, as this spec has no BatchNorm or Dropout.
    CHECK(d.grad_norm["ce"] == doctest::Approx(norm(ce)).epsilon(1e-12));
    CHECK(d.grad_norm["bg"] == doctest::Approx(norm(bg)).epsilon(1e-12));
    CHECK(d.grad_norm["fg"] == doctest::Approx(norm(fg)).epsilon(1e-12));
    CHECK(std::isfinite(d.values["fg"]));
    CHECK(d.mask_iou >= 0.0);
    CHECK(d.mask_iou <= 1.0);
    CHECK(sib::train::detail::gradient_norm(m) == 0.0);
}

TEST_CASE("diagnostics: mask IoU per image, images with nothing on either side left out") {
    // Image 0: {0,1} against {1,2}: 1/3. Image 1: nothing against nothing (left out). Image 2: exact.
    const sib::tensor<double> m({3, 1, 1, 3}, std::vector<double>{0.9, 0.6, 0.1, 0.2, 0.0, 0.5, 1.0, 0.0, 0.0});
    const sib::tensor<double> t({3, 1, 1, 3}, std::vector<double>{0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0});
    CHECK(sib::train::mean_mask_iou(m, t) == doctest::Approx((1.0 / 3.0 + 1.0) / 2.0).epsilon(1e-15));
    CHECK(std::isnan(sib::train::mean_mask_iou(sib::tensor<double>({1, 1, 1, 2}, 0.0), sib::tensor<double>({1, 1, 1, 2}, 0.0))));
    CHECK_THROWS_WITH_AS(sib::train::mean_mask_iou(m, sib::tensor<double>({3, 1, 1, 2}, 0.0)),
                         "mask IoU: masks [3,1,1,3] and ground truth [3,1,1,2] differ in size", sib::error);
}

TEST_CASE("trainer: diagnostics in the log leave training bit for bit as without them") {
    const auto train = squares(64, 31), test = squares(16, 32);
    temp_dir dir;
    std::vector<std::vector<float>> weights;
    for (sib::index_t diagnose : {0, 8}) {
        sib::models::spec_model<float> m(spec);
        auto o = options(dir.path / ("ck" + std::to_string(diagnose) + ".safetensors"));
        o.epochs = 2;
        o.log = dir.path / ("log" + std::to_string(diagnose) + ".jsonl");
        std::ostringstream quiet;
        o.progress_stream = &quiet;
        with_trainer(m, "sib", o, [&](auto& t) {
            t.initialise();
            CHECK_THROWS_WITH_AS(t.enable_diagnostics(-1), "train: diagnostics need 0 or more test images, got -1",
                                 sib::error);
            t.enable_diagnostics(diagnose);
            return t.run(train, test);
        });
        weights.push_back(weights_of(m));
        const auto records = sib::train::read_jsonl(o.log);
        REQUIRE(records.size() == 2);
        for (const auto& r : records) {
            CHECK(r.contains("grad_norm_ce") == (diagnose > 0));
            if (diagnose == 0) continue;
            for (const char* key : {"grad_norm_bg", "grad_norm_fg", "grad_ratio_bg", "grad_ratio_fg", "probe_ce",
                                    "probe_fg", "probe_bg", "mask_iou"}) {
                CAPTURE(key);
                REQUIRE(r.contains(key));
                CHECK(std::isfinite(r.at(key).get<double>()));
            }
            CHECK(r.at("grad_ratio_bg").get<double>() ==
                  doctest::Approx(r.at("grad_norm_bg").get<double>() / r.at("grad_norm_ce").get<double>()));
            CHECK(!r.contains("grad_ratio_ce"));
        }
    }
    CHECK(weights[0] == weights[1]);
}
