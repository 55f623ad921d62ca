#include "fixtures/metrics_fixtures.hpp"
#include "support/gradcheck.hpp"
#include <sib/autodiff/sweeps.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/explain/batched.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/metrics/bootstrap.hpp>
#include <sib/metrics/faithfulness.hpp>
#include <sib/metrics/localisation.hpp>
#include <sib/metrics/report.hpp>
#include <sib/metrics/score_explanations.hpp>
#include <sib/optim/init.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sm = sib::metrics;
using sibtest::expect_close;

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }
sib::shape to_shape(const std::vector<long long>& d) { return sib::shape(d.begin(), d.end()); }
sib::tensor<float> float_tensor(const std::vector<long long>& shape, const std::vector<double>& v) {
    return sib::tensor<float>(to_shape(shape), to_float(v));
}

std::vector<double> as_vector(const sm::localisation_scores& s) {
    return {s.ebpg, s.bg_energy, s.pointing_game, s.rank_acc, s.auroc, s.gini};
}

// Equal, with NaN equal to NaN (the NaN rules are part of the contract).
void check_same(const std::vector<double>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i])) {
            CHECK_MESSAGE(std::isnan(got[i]), what, "[", i, "]: got ", got[i], " want NaN");
        } else {
            CHECK_MESSAGE(std::abs(got[i] - want[i]) <= tol, what, "[", i, "]: got ", got[i], " want ",
                          want[i]);
        }
    }
}

// P(a_fg > a_bg) + P(a_fg = a_bg)/2 over all pairs, by brute force.
double pairwise_auroc(const std::vector<float>& map, const std::vector<float>& mask) {
    double wins = 0, pairs = 0;
    for (std::size_t i = 0; i < map.size(); ++i)
        for (std::size_t j = 0; j < map.size(); ++j)
            if (mask[i] > 0.5f && !(mask[j] > 0.5f)) {
                const float ai = std::fabs(map[i]), aj = std::fabs(map[j]);
                wins += ai > aj ? 1.0 : ai == aj ? 0.5 : 0.0;
                pairs += 1;
            }
    return wins / pairs;
}

}  // namespace

// ---- localisation --------------------------------------------------------------------------------

TEST_CASE("localisation: hand-made maps") {
    // 4x4 mask: the 2x2 block in the middle (4 of 16 pixels).
    std::vector<float> mask(16, 0.0f);
    for (int i : {5, 6, 9, 10}) mask[i] = 1.0f;

    SUBCASE("a map entirely inside the mask") {
        std::vector<float> map(16, 0.0f);
        map[5] = 0.5f;
        map[10] = -2.0f;  // the sign does not matter: a = |A|
        const auto s = sm::localisation(map, mask);
        CHECK(s.ebpg == 1.0);
        CHECK(s.bg_energy == 0.0);
        CHECK(s.pointing_game == 1.0);
        CHECK(sm::ebpg(map, mask) == 1.0);
    }
    SUBCASE("a constant map: ebpg is the mask's area share, auroc 1/2") {
        const std::vector<float> map(16, 0.3f);
        const auto s = sm::localisation(map, mask);
        CHECK(s.ebpg == doctest::Approx(4.0 / 16).epsilon(1e-12));
        CHECK(s.auroc == 0.5);
        CHECK(s.gini == doctest::Approx(0.0).epsilon(1e-12));
        CHECK(s.pointing_game == 1.0);  // every pixel is maximal, and some lie in S
        // The 4 largest under the index tie rule are pixels 0..3, none in S.
        CHECK(s.rank_acc == 0.0);
    }
    SUBCASE("the map equal to the mask, and its reverse") {
        const auto s = sm::localisation(mask, mask);
        CHECK(s.auroc == 1.0);
        CHECK(s.rank_acc == 1.0);
        CHECK(s.pointing_game == 1.0);
        CHECK(s.ebpg == 1.0);
        std::vector<float> reversed(16);
        for (int i = 0; i < 16; ++i) reversed[i] = 1.0f - mask[i];
        const auto r = sm::localisation(reversed, mask);
        CHECK(r.auroc == 0.0);
        CHECK(r.rank_acc == 0.0);
        CHECK(r.pointing_game == 0.0);
        CHECK(r.ebpg == 0.0);
        CHECK(r.bg_energy == 1.0);
    }
    SUBCASE("gini: one-hot 1 - 1/N, constant 0, and the single-metric entry points agree") {
        std::vector<float> one_hot(16, 0.0f);
        one_hot[7] = -3.0f;
        // 1 - 2 * 1 * (N - N + 1/2) / N = 1 - 1/N.
        CHECK(sm::gini(one_hot) == doctest::Approx(1.0 - 1.0 / 16).epsilon(1e-15));
        CHECK(sm::gini(std::vector<float>(16, 2.0f)) == doctest::Approx(0.0).scale(1.0).epsilon(1e-15));
        // Two equal spikes among 4 pixels: 1 - 2 * (1/2 * 1.5/4 + 1/2 * 0.5/4) = 1/2.
        CHECK(sm::gini(std::vector<float>{0, 1, 0, 1}) == doctest::Approx(0.5).epsilon(1e-15));
        const std::vector<float> map{0.1f, 0.9f, 0.4f, 0.4f, 0.2f, 0.7f, 0.0f, 0.3f,
                                     0.8f, 0.5f, 0.6f, 0.1f, 0.2f, 0.3f, 0.4f, 0.9f};
        const auto s = sm::localisation(map, mask);
        CHECK(sm::ebpg(map, mask) == s.ebpg);
        CHECK(sm::bg_energy(map, mask) == s.bg_energy);
        CHECK(sm::pointing_game(map, mask) == s.pointing_game);
        CHECK(sm::rank_acc(map, mask) == s.rank_acc);
        CHECK(sm::auroc(map, mask) == s.auroc);
        CHECK(sm::gini(map) == s.gini);
    }
}

TEST_CASE("localisation: documented tie rules") {
    // Pointing game: two maximal pixels, one in S: a hit, whichever comes first.
    CHECK(sm::pointing_game(std::vector<float>{2, 1, 2}, std::vector<float>{0, 0, 1}) == 1.0);
    CHECK(sm::pointing_game(std::vector<float>{2, 1, 2}, std::vector<float>{1, 0, 0}) == 1.0);
    CHECK(sm::pointing_game(std::vector<float>{2, 1, 2}, std::vector<float>{0, 1, 0}) == 0.0);
    // rank_acc: |S| = 2, four tied pixels; the cut keeps the lower indices 0 and 1.
    CHECK(sm::rank_acc(std::vector<float>{1, 1, 1, 1}, std::vector<float>{0, 1, 0, 1}) == 0.5);
    CHECK(sm::rank_acc(std::vector<float>{1, 1, 1, 1}, std::vector<float>{1, 1, 0, 0}) == 1.0);
    CHECK(sm::rank_acc(std::vector<float>{1, 1, 1, 1}, std::vector<float>{0, 0, 1, 1}) == 0.0);
    // Ties above the cut do not matter: 3 > the tied 1s.
    CHECK(sm::rank_acc(std::vector<float>{1, 3, 1, 1}, std::vector<float>{0, 1, 0, 1}) == 0.5);
    CHECK(sm::rank_acc(std::vector<float>{1, 3, 1, 1}, std::vector<float>{1, 1, 0, 0}) == 1.0);
}

TEST_CASE("localisation: auroc equals the brute-force pairwise count with ties") {
    sib::rng r(11);
    for (auto [h, w] : {std::pair{1, 2}, {3, 3}, {5, 7}, {17, 13}}) {
        for (int rep = 0; rep < 4; ++rep) {
            const std::size_t n = static_cast<std::size_t>(h * w);
            std::vector<float> map(n), mask(n);
            for (std::size_t i = 0; i < n; ++i) {
                map[i] = static_cast<float>(std::round(r.normal() * 2) / 2);  // many ties, signs
                mask[i] = r.uniform() < 0.4 ? 1.0f : 0.0f;
            }
            mask[0] = 1.0f;
            mask[n - 1] = 0.0f;
            map[n / 2] = 1.0f;  // never all zero
            CHECK_MESSAGE(sm::auroc(map, mask) == doctest::Approx(pairwise_auroc(map, mask)).epsilon(1e-14),
                          h, "x", w, " rep ", rep);
        }
    }
}

TEST_CASE("localisation: NaN, never 0, where a metric is undefined") {
    const std::vector<float> mask{0, 1, 1, 0, 0, 1};
    const std::vector<float> map{0.1f, 0.5f, 0.2f, 0.0f, 0.3f, 0.9f};
    SUBCASE("sum a = 0") {
        for (double v : as_vector(sm::localisation(std::vector<float>(6, 0.0f), mask))) CHECK(std::isnan(v));
    }
    SUBCASE("non-finite map values") {
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
            auto m = map;
            m[2] = bad;
            for (double v : as_vector(sm::localisation(m, mask))) CHECK(std::isnan(v));
        }
    }
    SUBCASE("empty mask: every metric NaN but gini, which does not read the mask") {
        const auto s = sm::localisation(map, std::vector<float>(6, 0.0f));
        check_same(as_vector(s), {qnan, qnan, qnan, qnan, qnan, sm::gini(map)}, 0.0, "empty mask");
        CHECK_FALSE(std::isnan(s.gini));
    }
    SUBCASE("full mask: auroc NaN (no negatives), the others 1 by definition") {
        const auto s = sm::localisation(map, std::vector<float>(6, 1.0f));
        check_same(as_vector(s), {1, 0, 1, 1, qnan, sm::gini(map)}, 0.0, "full mask");
    }
}

TEST_CASE("localisation: batch against SciPy/numpy references, [B,H,W] and [B,1,H,W]") {
    using namespace metrics_fixtures;
    const auto maps = float_tensor(loc_maps_shape, loc_maps);
    const auto masks = float_tensor(loc_masks_shape, loc_masks);
    const sib::index_t b = maps.dim(0);
    auto scores = sm::localisation_batch(maps, masks);
    REQUIRE(static_cast<sib::index_t>(scores.size()) == b);
    std::vector<double> got;
    for (const auto& s : scores)
        for (double v : as_vector(s)) got.push_back(v);
    check_same(got, loc_expected, 1e-12, "batch");

    // The other layouts give the same numbers.
    auto maps4 = maps;
    maps4.reshape({b, 1, maps.dim(1), maps.dim(2)});
    auto masks3 = masks;
    masks3.reshape({b, masks.dim(2), masks.dim(3)});
    const auto again = sm::localisation_batch(maps4, masks3);
    for (std::size_t i = 0; i < scores.size(); ++i) check_same(as_vector(again[i]), as_vector(scores[i]), 0.0, "layout");

    // column() and the metric table read the same fields.
    REQUIRE(sm::localisation_metrics.size() == 6);
    for (std::size_t m = 0; m < 6; ++m) {
        const auto col = sm::column(scores, sm::localisation_metrics[m].second);
        for (std::size_t i = 0; i < col.size(); ++i) {
            const double want = loc_expected[i * 6 + m];
            CHECK(((std::isnan(want) && std::isnan(col[i])) || std::abs(col[i] - want) <= 1e-12));
        }
    }
    CHECK(std::string(sm::localisation_metrics[4].first) == "auroc");

    // A large batch takes the parallel path; each image's scores match the single-image call.
    sib::rng r(5);
    sib::tensor<float> big_maps({40, 32, 32}), big_masks({40, 1, 32, 32});
    for (auto& v : big_maps) v = static_cast<float>(r.normal());
    for (auto& v : big_masks) v = r.uniform() < 0.3 ? 1.0f : 0.0f;
    const auto big = sm::localisation_batch(big_maps, big_masks);
    for (sib::index_t i = 0; i < 40; ++i) {
        const std::span<const float> one(big_maps.data() + i * 1024, 1024);
        const std::span<const float> mk(big_masks.data() + i * 1024, 1024);
        check_same(as_vector(big[static_cast<std::size_t>(i)]), as_vector(sm::localisation(one, mk)), 0.0, "big");
    }
}

TEST_CASE("localisation: shape errors name the shapes") {
    sib::tensor<float> maps({2, 4, 5}, 1.0f), masks({2, 1, 4, 4}, 1.0f), multi({2, 3, 4, 5}, 1.0f);
    CHECK_THROWS_WITH_AS(sm::localisation_batch(maps, masks),
                         "localisation: maps [2,4,5] and masks [2,1,4,4] differ in batch or spatial size",
                         sib::error);
    CHECK_THROWS_WITH_AS(sm::localisation_batch(multi, maps),
                         "localisation: maps must be [B,H,W] or [B,1,H,W], got [2,3,4,5]", sib::error);
    CHECK_THROWS_WITH_AS(sm::auroc(std::vector<float>(4, 1.0f), std::vector<float>(3, 1.0f)),
                         "auroc: map has 4 pixels, mask 3", sib::error);
    CHECK_THROWS_WITH_AS(sm::gini(std::vector<float>{}), "gini: the map is empty", sib::error);
}

// ---- blur ----------------------------------------------------------------------------------------

TEST_CASE("gaussian_blur: matches torchvision's definition written in PyTorch") {
    using namespace metrics_fixtures;
    const auto images = float_tensor(fa_images_shape, fa_images);
    sib::tensor<float> out;
    sm::gaussian_blur(images, out);  // defaults: kernel 11, sigma 5
    REQUIRE(out.shape() == images.shape());
    const auto got = out.to_vector();
    expect_close({got.begin(), got.end()}, fa_default_blurred, 1e-6, 1e-7, "blur 11/5");
    sm::gaussian_blur(images, out, 5, 1.5);
    const auto got_small = out.to_vector();
    expect_close({got_small.begin(), got_small.end()}, fa_small_blurred, 1e-6, 1e-7, "blur 5/1.5");
}

TEST_CASE("gaussian_blur: images smaller than the kernel keep mirroring") {
    // A constant image stays constant whatever its size.
    sib::tensor<float> c({1, 1, 2, 3}, 0.75f), out;
    sm::gaussian_blur(c, out);
    for (float v : out) CHECK(v == doctest::Approx(0.75).epsilon(1e-6));
    // Height 1: the vertical pass is the identity. Width 2: reflect-101 repeats p, q, p, q, ... so
    // each output is p * (weight on even offsets) + q * (weight on odd offsets).
    sib::tensor<float> row({1, 2}, std::vector<float>{1.0f, 3.0f});
    sm::gaussian_blur(row, out);
    double even = 0, odd = 0, total = 0;
    for (int j = -5; j <= 5; ++j) {
        const double wj = std::exp(-0.5 * (j / 5.0) * (j / 5.0));
        (j % 2 == 0 ? even : odd) += wj;
        total += wj;
    }
    CHECK(out[0] == doctest::Approx((1.0 * even + 3.0 * odd) / total).epsilon(1e-6));
    CHECK(out[1] == doctest::Approx((3.0 * even + 1.0 * odd) / total).epsilon(1e-6));
    CHECK_THROWS_WITH_AS(sm::gaussian_blur(row, out, 4, 1.0),
                         "gaussian_blur: kernel size must be odd and positive, got 4", sib::error);
    CHECK_THROWS_WITH_AS(sm::gaussian_blur(row, out, 5, 0.0), "gaussian_blur: sigma must be positive, got 0",
                         sib::error);
}

// ---- deletion / insertion ------------------------------------------------------------------------

TEST_CASE("faithfulness: steps and the trapezoid rule") {
    for (sib::index_t k = 0; k <= 50; ++k) CHECK(sm::pixels_at_step(k, 50, 100) == 2 * k);
    // 35 pixels: round(0.7 k), halves up.
    CHECK(sm::pixels_at_step(1, 50, 35) == 1);
    CHECK(sm::pixels_at_step(5, 50, 35) == 4);
    CHECK(sm::pixels_at_step(15, 50, 35) == 11);
    CHECK(sm::pixels_at_step(50, 50, 35) == 35);
    for (sib::index_t k = 1; k <= 50; ++k) CHECK(sm::pixels_at_step(k, 50, 35) >= sm::pixels_at_step(k - 1, 50, 35));
    std::vector<double> line(51);
    for (int k = 0; k <= 50; ++k) line[k] = 1.0 - k / 50.0;
    CHECK(sm::trapezoid_auc(line) == doctest::Approx(0.5).epsilon(1e-15));
}

TEST_CASE("faithfulness: a toy model in closed form") {
    // 10x10 image, 1 on the left five columns (50 pixels) and 0 elsewhere. The toy "model" gives
    // the share of pixels still equal to 1: deletion zeroes them, and the blurred copy has no pixel
    // equal to 1 (every 11x11 window reaches the zeros), so insertion restores them one by one.
    sib::tensor<float> images({1, 1, 10, 10}, 0.0f);
    for (int y = 0; y < 10; ++y)
        for (int x = 0; x < 5; ++x) images[y * 10 + x] = 1.0f;
    const sib::tensor<std::int64_t> labels({1}, std::vector<std::int64_t>{3});
    int calls = 0;
    auto share_of_ones = [&](const sib::tensor<float>& batch, const sib::tensor<std::int64_t>& lab) {
        ++calls;
        REQUIRE(batch.shape() == sib::shape{51, 1, 10, 10});
        REQUIRE(lab.shape() == sib::shape{51});
        std::vector<float> p(51);
        for (sib::index_t k = 0; k < 51; ++k) {
            CHECK(lab[k] == 3);
            int ones = 0;
            for (sib::index_t i = 0; i < 100; ++i) ones += batch[k * 100 + i] == 1.0f ? 1 : 0;
            p[static_cast<std::size_t>(k)] = ones / 100.0f;
        }
        return p;
    };
    // Step k perturbs 2k pixels. Relevant first: deletion falls 0.5 -> 0 by k = 25 (AUC 1/8),
    // insertion rises 0 -> 0.5 by k = 25 and stays (AUC 3/8). Relevant last: the mirror image.
    sib::tensor<float> good = images, bad({1, 10, 10});
    for (sib::index_t i = 0; i < 100; ++i) bad[i] = 2.0f - images[i];
    const auto s_good = sm::faithfulness_batch(share_of_ones, images, labels, good);
    const auto s_bad = sm::faithfulness_batch(share_of_ones, images, labels, bad);
    CHECK(calls == 4);  // one call of 51 images per curve
    CHECK(s_good[0].deletion == doctest::Approx(0.125).epsilon(1e-6));
    CHECK(s_good[0].insertion == doctest::Approx(0.375).epsilon(1e-6));
    CHECK(s_bad[0].deletion == doctest::Approx(0.375).epsilon(1e-6));
    CHECK(s_bad[0].insertion == doctest::Approx(0.125).epsilon(1e-6));

    // The single-image curves, point by point.
    sib::tensor<float> image = images;
    image.reshape({1, 10, 10});
    sib::tensor<float> map = good;
    map.reshape({10, 10});
    const auto del = sm::deletion_curve(share_of_ones, image, 3, map);
    const auto ins = sm::insertion_curve(share_of_ones, image, 3, map);
    REQUIRE(del.size() == 51);
    REQUIRE(ins.size() == 51);
    for (int k = 0; k <= 50; ++k) {
        CHECK(del[k] == doctest::Approx(std::max(0, 50 - 2 * k) / 100.0).epsilon(1e-6));
        CHECK(ins[k] == doctest::Approx(std::min(50, 2 * k) / 100.0).epsilon(1e-6));
    }
}

TEST_CASE("faithfulness: a linear-softmax classifier against PyTorch") {
    using namespace metrics_fixtures;
    const auto images = float_tensor(fa_images_shape, fa_images);
    const auto maps = float_tensor(fa_maps_shape, fa_maps);
    const sib::tensor<std::int64_t> labels({2}, std::vector<std::int64_t>{static_cast<std::int64_t>(fa_labels[0]),
                                                                         static_cast<std::int64_t>(fa_labels[1])});
    const sib::index_t k = static_cast<sib::index_t>(fa_bias.size()), d = 3 * 8 * 7;
    auto softmax_model = [&](const sib::tensor<float>& batch, const sib::tensor<std::int64_t>& lab) {
        std::vector<double> p(static_cast<std::size_t>(batch.dim(0)));
        for (sib::index_t b = 0; b < batch.dim(0); ++b) {
            std::vector<double> z(static_cast<std::size_t>(k));
            double zmax = -1e300;
            for (sib::index_t c = 0; c < k; ++c) {
                double s = fa_bias[c];
                for (sib::index_t i = 0; i < d; ++i) s += fa_weight[c * d + i] * batch[b * d + i];
                z[c] = s;
                zmax = std::max(zmax, s);
            }
            double den = 0;
            for (double v : z) den += std::exp(v - zmax);
            p[b] = std::exp(z[lab[b]] - zmax) / den;
        }
        return p;
    };
    struct option_case {
        sm::faithfulness_options opt;
        const std::vector<double>& del;
        const std::vector<double>& ins;
        const std::vector<double>& aucs;
    };
    for (const auto& c : {option_case{{}, fa_default_deletion_curves, fa_default_insertion_curves, fa_default_aucs},
                          option_case{{7, 5, 1.5}, fa_small_deletion_curves, fa_small_insertion_curves, fa_small_aucs}}) {
        const auto s = sm::faithfulness_batch(softmax_model, images, labels, maps, c.opt);
        expect_close({s[0].deletion, s[0].insertion, s[1].deletion, s[1].insertion}, c.aucs, 1e-5, 1e-7, "aucs");
        const std::size_t m = static_cast<std::size_t>(c.opt.steps + 1);
        for (sib::index_t i = 0; i < 2; ++i) {
            sib::tensor<float> image({3, 8, 7}), map({8, 7});
            std::copy(images.data() + i * d, images.data() + (i + 1) * d, image.data());
            std::copy(maps.data() + i * 56, maps.data() + (i + 1) * 56, map.data());
            const auto del = sm::deletion_curve(softmax_model, image, labels[i], map, c.opt);
            const auto ins = sm::insertion_curve(softmax_model, image, labels[i], map, c.opt);
            const auto at = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(i) * m);
            expect_close(del, {c.del.begin() + at, c.del.begin() + at + static_cast<std::ptrdiff_t>(m)}, 1e-5, 1e-7,
                         "deletion curve");
            expect_close(ins, {c.ins.begin() + at, c.ins.begin() + at + static_cast<std::ptrdiff_t>(m)}, 1e-5, 1e-7,
                         "insertion curve");
        }
    }
}

TEST_CASE("faithfulness: NaN maps skip the model; bad input is named") {
    sib::tensor<float> images({2, 1, 4, 4}, 0.5f), maps({2, 1, 4, 4}, 0.0f);
    maps[20] = 1.0f;  // image 1 has an order, image 0 does not
    const sib::tensor<std::int64_t> labels({2}, std::vector<std::int64_t>{0, 1});
    int calls = 0;
    auto constant = [&](const sib::tensor<float>& batch, const sib::tensor<std::int64_t>&) {
        ++calls;
        return std::vector<float>(static_cast<std::size_t>(batch.dim(0)), 0.25f);
    };
    const auto s = sm::faithfulness_batch(constant, images, labels, maps);
    CHECK(calls == 2);
    CHECK(std::isnan(s[0].deletion));
    CHECK(std::isnan(s[0].insertion));
    CHECK(s[1].deletion == doctest::Approx(0.25));
    CHECK(s[1].insertion == doctest::Approx(0.25));

    auto short_answer = [](const sib::tensor<float>&, const sib::tensor<std::int64_t>&) { return std::vector<float>(3); };
    CHECK_THROWS_WITH_AS(sm::faithfulness_batch(short_answer, images, labels, maps),
                         "faithfulness: probability returned 3 values for a batch of 51", sib::error);
    sib::tensor<float> wrong({2, 5, 4});
    CHECK_THROWS_WITH_AS(sm::faithfulness_batch(constant, images, labels, wrong),
                         "faithfulness: maps [2,5,4] do not match images [2,1,4,4] (want [2,4,4] or [2,1,4,4])",
                         sib::error);
    sm::faithfulness_options zero_steps;
    zero_steps.steps = 0;
    CHECK_THROWS_WITH_AS(sm::faithfulness_batch(constant, images, labels, maps, zero_steps),
                         "faithfulness: steps must be at least 1, got 0", sib::error);
}

// ---- bootstrap -----------------------------------------------------------------------------------

namespace {
std::vector<double> normal_sample(std::size_t n, std::uint64_t seed, double mean = 0.6, double sd = 0.2) {
    sib::rng r(seed);
    std::vector<double> v(n);
    for (auto& x : v) x = r.normal(mean, sd);
    return v;
}
}  // namespace

TEST_CASE("bootstrap: the interval contains the mean and narrows with more data") {
    const auto small = normal_sample(20, 1), large = normal_sample(2000, 2);
    const auto a = sm::bootstrap(small), b = sm::bootstrap(large);
    double sum = 0;
    for (double v : small) sum += v;
    CHECK(a.mean == doctest::Approx(sum / 20).epsilon(1e-15));
    CHECK(a.count == 20);
    CHECK(a.nan_count == 0);
    CHECK(a.lo < a.mean);
    CHECK(a.mean < a.hi);
    CHECK(b.lo < b.mean);
    CHECK(b.mean < b.hi);
    // Width scales as 1/sqrt(n): 100 times more data, about 10 times narrower.
    const double ratio = (a.hi - a.lo) / (b.hi - b.lo);
    CHECK(ratio > 7);
    CHECK(ratio < 14);
    // For n = 2000 the percentile interval is close to mean +- 1.96 s / sqrt(n).
    double ss = 0;
    for (double v : large) ss += (v - b.mean) * (v - b.mean);
    const double half = 1.96 * std::sqrt(ss / 1999 / 2000);
    CHECK((b.hi - b.lo) / 2 == doctest::Approx(half).epsilon(0.1));
}

TEST_CASE("bootstrap: exact cases") {
    // Two images {0, 1}: resampled means are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4, so the
    // 2.5% and 97.5% quantiles of 2000 resamples are 0 and 1.
    const auto s = sm::bootstrap(std::vector<double>{0.0, 1.0});
    CHECK(s.mean == 0.5);
    CHECK(s.lo == 0.0);
    CHECK(s.hi == 1.0);
    // Constant data: a zero-width interval at the value.
    const auto c = sm::bootstrap(std::vector<double>(7, 0.375));
    CHECK(c.mean == 0.375);
    CHECK(c.lo == 0.375);
    CHECK(c.hi == 0.375);
    // The quantile rule is numpy.percentile's linear one: [1,2,3,4] at 25% is 1.75.
    const double sorted[] = {1, 2, 3, 4};
    CHECK(sm::detail::percentile_sorted(sorted, 4, 0.25) == 1.75);
    CHECK(sm::detail::percentile_sorted(sorted, 4, 0.0) == 1.0);
    CHECK(sm::detail::percentile_sorted(sorted, 4, 1.0) == 4.0);
    CHECK(sm::detail::percentile_sorted(sorted, 4, 0.975) == doctest::Approx(3.925).epsilon(1e-15));
}

TEST_CASE("bootstrap: deterministic for a seed, on any thread count") {
    const auto v = normal_sample(300, 9);
    sm::bootstrap_options opt;
    opt.seed = 42;
    const int threads = sib::num_threads();
    sib::set_num_threads(1);
    const auto one = sm::bootstrap(v, opt);
    sib::set_num_threads(2);
    const auto two = sm::bootstrap(v, opt);
    sib::set_num_threads(threads);
    const auto again = sm::bootstrap(v, opt);
    CHECK(one.lo == two.lo);
    CHECK(one.hi == two.hi);
    CHECK(one.lo == again.lo);
    CHECK(one.hi == again.hi);
    opt.seed = 43;
    const auto other = sm::bootstrap(v, opt);
    CHECK(other.mean == one.mean);
    CHECK((other.lo != one.lo || other.hi != one.hi));
}

TEST_CASE("bootstrap: NaN images are left out and counted; too few is an error") {
    const auto s = sm::bootstrap(std::vector<double>{0.2, qnan, 0.4, qnan, qnan, 0.9});
    CHECK(s.count == 3);
    CHECK(s.nan_count == 3);
    CHECK(s.mean == doctest::Approx(0.5).epsilon(1e-15));
    CHECK(s.lo >= 0.2);
    CHECK(s.hi <= 0.9);
    CHECK_THROWS_WITH_AS(sm::bootstrap(std::vector<double>{qnan, 0.3, qnan}),
                         "bootstrap: needs at least 2 images with a defined value, got 1", sib::error);
    CHECK_THROWS_WITH_AS(sm::bootstrap(std::vector<double>{}),
                         "bootstrap: needs at least 2 images with a defined value, got 0", sib::error);
    CHECK_THROWS_WITH_AS(sm::paired_bootstrap(std::vector<double>{0.1, qnan}, std::vector<double>{qnan, 0.2}),
                         "paired bootstrap: needs at least 2 images with a defined value on both sides, got 0",
                         sib::error);
    CHECK_THROWS_WITH_AS(sm::paired_bootstrap(std::vector<double>(3, 0.1), std::vector<double>(4, 0.1)),
                         "paired bootstrap: 3 values against 4; both sides must score the same images", sib::error);
    sm::bootstrap_options bad;
    bad.resamples = 0;
    CHECK_THROWS_WITH_AS(sm::bootstrap(std::vector<double>{1, 2}, bad),
                         "bootstrap: resamples must be at least 1, got 0", sib::error);
}

TEST_CASE("paired bootstrap: identical inputs give exactly 0; pairing narrows the interval") {
    const auto a = normal_sample(100, 3);
    const auto z = sm::paired_bootstrap(a, a);
    CHECK(z.mean == 0.0);
    CHECK(z.lo == 0.0);
    CHECK(z.hi == 0.0);
    CHECK(z.count == 100);

    // A constant shift (exact in binary) is recovered exactly.
    std::vector<double> b(50), shifted(50);
    for (int i = 0; i < 50; ++i) {
        b[i] = (i % 8) / 8.0;
        shifted[i] = b[i] + 0.25;
    }
    const auto d = sm::paired_bootstrap(shifted, b);
    CHECK(d.mean == 0.25);
    CHECK(d.lo == 0.25);
    CHECK(d.hi == 0.25);

    // Two methods scored on the same images differ by a little noise: the paired interval is much
    // narrower than either method's own interval, and the NaN rule counts images missing on either side.
    auto x = normal_sample(200, 4), noise = normal_sample(200, 5, 0.0, 0.01);
    std::vector<double> y(200);
    for (int i = 0; i < 200; ++i) y[i] = x[i] + 0.02 + noise[i];
    x[7] = qnan;
    y[9] = qnan;
    const auto p = sm::paired_bootstrap(y, x);
    const auto own = sm::bootstrap(x);
    CHECK(p.count == 198);
    CHECK(p.nan_count == 2);
    CHECK(p.lo > 0.0);  // the difference is resolved
    CHECK((p.hi - p.lo) * 5 < own.hi - own.lo);
}

// ---- report --------------------------------------------------------------------------------------

TEST_CASE("report: JSON and Markdown") {
    sm::report rep;
    rep.add("saliency", "ebpg", sm::metric_summary{0.5, 0.25, 0.75, 10, 0});
    rep.add("saliency", "auroc", sm::metric_summary{0.8125, 0.8, 0.825, 8, 2});
    rep.add("gradcam", "ebpg", sm::metric_summary{0.625, 0.5, 0.75, 10, 0});
    rep.add("gradcam", "gini", std::vector<double>{qnan, 0.3, qnan});  // one defined value
    CHECK_THROWS_WITH_AS(rep.add("gradcam", "ebpg", sm::metric_summary{}), "report: (gradcam, ebpg) added twice",
                         sib::error);
    REQUIRE(rep.find("gradcam", "gini") != nullptr);
    CHECK(rep.find("gradcam", "gini")->mean == 0.3);
    CHECK(rep.find("saliency", "gini") == nullptr);

    const auto j = rep.to_json();
    CHECK(j.dump() ==
          "{\"saliency\":{\"ebpg\":{\"mean\":0.5,\"lo\":0.25,\"hi\":0.75,\"count\":10,\"nan_count\":0},"
          "\"auroc\":{\"mean\":0.8125,\"lo\":0.8,\"hi\":0.825,\"count\":8,\"nan_count\":2}},"
          "\"gradcam\":{\"ebpg\":{\"mean\":0.625,\"lo\":0.5,\"hi\":0.75,\"count\":10,\"nan_count\":0},"
          "\"gini\":{\"mean\":0.3,\"lo\":null,\"hi\":null,\"count\":1,\"nan_count\":2}}}");

    CHECK(rep.to_markdown() ==
          "| method | ebpg | auroc | gini |\n"
          "| --- | --- | --- | --- |\n"
          "| saliency | 0.500 [0.250, 0.750] | 0.812 [0.800, 0.825] (2 NaN) | - |\n"
          "| gradcam | 0.625 [0.500, 0.750] | - | 0.300 (2 NaN) |\n");
}

TEST_CASE("report: summarize is bootstrap where defined and never throws") {
    const auto v = normal_sample(40, 8);
    const auto a = sm::summarize(v), b = sm::bootstrap(v);
    CHECK(a.mean == b.mean);
    CHECK(a.lo == b.lo);
    CHECK(a.hi == b.hi);
    const auto none = sm::summarize(std::vector<double>{qnan, qnan});
    CHECK(std::isnan(none.mean));
    CHECK(none.count == 0);
    CHECK(none.nan_count == 2);
    sm::report rep;
    rep.add("a|b", "auroc", none);
    CHECK(rep.to_markdown() == "| method | auroc |\n| --- | --- |\n| a\\|b | n/a (2 NaN) |\n");
}

// ---- score_explanations ---------------------------------------------------------------------------

TEST_CASE("score_explanations: explain, score and summarise in one call, as sib eval does") {
    const auto test = sib::data::make_shapes(3, false, 6);  // 6 images [3,32,32] with masks, 6 classes
    sib::models::spec_model<float> m("Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(1024,6)");
    sib::rng r(1);
    sib::optim::pytorch_default(m, r);
    sm::score_options o;
    o.metrics = {"ebpg", "deletion", "gini", "insertion"};
    o.batch = 4;
    o.bootstrap.resamples = 50;
    o.faithfulness.steps = 8;
    sib::index_t progressed = 0;
    o.progress = [&](sib::index_t k) { progressed += k; };
    const std::vector<std::string> methods{"saliency", "gradcam"};
    const sm::score_report rep = sm::score_explanations(m, test, methods, o);
    CHECK(progressed == 2 * 2 * 6);  // explained and scored for faithfulness
    CHECK(rep.images == 6);
    CHECK(rep.table.methods() == methods);
    CHECK(rep.table.metrics() == std::vector<std::string>{"ebpg", "gini", "deletion", "insertion"});
    REQUIRE(rep.seconds.size() == 2);
    CHECK(rep.seconds[1].first == "gradcam");

    // The same by hand: predictions by arg-max logit, maps in batches of 4, metrics per image.
    sib::autodiff::sweep_workspace<float> ws;
    const auto z = sib::autodiff::forward_sweep(m, ws, test.images()).to_vector();
    int correct = 0;
    for (sib::index_t i = 0; i < 6; ++i) {
        const float* row = z.data() + i * 6;
        const auto best = std::max_element(row, row + 6) - row;
        CHECK(rep.predictions[static_cast<std::size_t>(i)] == best);
        correct += best == test.label(i);
    }
    CHECK(rep.accuracy == correct / 6.0);
    auto probability = [&](const sib::tensor<float>& x, const sib::tensor<std::int64_t>& y) {
        const auto zz = sib::autodiff::forward_sweep(m, ws, x).to_vector();
        std::vector<double> p;
        for (sib::index_t i = 0; i < x.dim(0); ++i) {
            const float* row = zz.data() + i * 6;
            double sum = 0;
            for (int k = 0; k < 6; ++k) sum += std::exp(static_cast<double>(row[k]) - *std::max_element(row, row + 6));
            p.push_back(std::exp(static_cast<double>(row[y[i]]) - *std::max_element(row, row + 6)) / sum);
        }
        return p;
    };
    for (const auto& method : methods) {
        CAPTURE(method);
        const auto maps = sib::explain::explain_in_batches(m, test.images(), test.labels(), method, {}, 4);
        const auto loc = sm::localisation_batch(maps, test.masks());
        const auto faith = sm::faithfulness_batch(probability, test.images(), test.labels(), maps, o.faithfulness);
        std::vector<double> del, ins;
        for (const auto& f : faith) {
            del.push_back(f.deletion);
            ins.push_back(f.insertion);
        }
        const std::pair<const char*, sm::metric_summary> want[] = {
            {"ebpg", sm::summarize(sm::column(loc, &sm::localisation_scores::ebpg), o.bootstrap)},
            {"gini", sm::summarize(sm::column(loc, &sm::localisation_scores::gini), o.bootstrap)},
            {"deletion", sm::summarize(del, o.bootstrap)},
            {"insertion", sm::summarize(ins, o.bootstrap)}};
        for (const auto& [metric, s] : want) {
            CAPTURE(metric);
            const sm::metric_summary* got = rep.table.find(method, metric);
            REQUIRE(got != nullptr);
            CHECK(got->mean == doctest::Approx(s.mean).epsilon(1e-12));
            CHECK(got->lo == doctest::Approx(s.lo).epsilon(1e-12));
            CHECK(got->hi == doctest::Approx(s.hi).epsilon(1e-12));
            CHECK(got->count == s.count);
        }
    }
    const auto j = rep.to_json();
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"images", "accuracy", "target", "methods", "seconds"});
    CHECK(j["target"] == "label");
    CHECK(j["methods"] == rep.table.to_json());
    CHECK(rep.to_markdown() == rep.table.to_markdown());

    // The defaults: the six localisation metrics, no faithfulness; the prediction as target.
    sm::score_options d;
    d.explain.target = sib::explain::target_mode::prediction;
    d.bootstrap.resamples = 20;
    const auto pred = sm::score_explanations(m, test, std::vector<std::string>{"saliency"}, d);
    CHECK(pred.table.metrics() == sm::metric_names(false));
    CHECK(pred.to_json()["target"] == "pred");
}

TEST_CASE("score_explanations: bad input is refused before any work, in one line") {
    const auto test = sib::data::make_shapes(3, false, 4);
    sib::models::spec_model<float> m("Conv2d(3,2,3,padding=1); ReLU; Flatten; Linear(2048,6)");
    const std::vector<std::string> saliency{"saliency"};
    auto error_of = [&](const std::vector<std::string>& methods, sm::score_options o) -> std::string {
        try {
            sm::score_explanations(m, test, methods, o);
        } catch (const sib::error& e) {
            return e.what();
        }
        return "";
    };
    sm::score_options o;
    o.metrics = {"ebpg", "iou"};
    CHECK(error_of(saliency, o) == "score_explanations: unknown metric 'iou' (known: ebpg, bg_energy, pointing_game, "
                                   "rank_acc, auroc, gini, deletion, insertion)");
    o.metrics = {"gini", "gini"};
    CHECK(error_of(saliency, o) == "score_explanations: metric gini given twice");
    CHECK(error_of({"saliency", "saliency"}, {}) == "score_explanations: method saliency given twice");
    CHECK(error_of({"lime"}, {}) == "explain: unknown method 'lime' (known: " + sib::explain::method_list() + ")");
    sm::score_options flat;
    flat.explain.layer = 2;
    CHECK(error_of({"gradcam"}, flat) == "gradcam: layer 2 (Flatten) output is [4,2048], not 4-D");
    sm::score_options k;
    k.explain.keep_channels = true;
    CHECK(error_of(saliency, k) ==
          "score_explanations: keep_channels gives maps per channel; scores need spatial maps");
    const auto one = sib::data::make_shapes(3, false, 1);
    CHECK_THROWS_WITH_AS(sm::score_explanations(m, one, saliency),
                         "score_explanations: a bootstrap interval needs at least 2 images, got 1", sib::error);
    const sib::data::in_memory_dataset bare(test.images(), test.labels(), 6);
    CHECK_THROWS_WITH_AS(sm::score_explanations(m, bare, saliency),
                         "score_explanations: the dataset has no masks to score against", sib::error);
    const sib::tensor<std::int64_t> wrong({4}, std::vector<std::int64_t>{0, 1, 6, 2});
    CHECK_THROWS_WITH_AS(sm::score_explanations(m, test.images(), wrong, test.masks(), saliency),
                         "label 6 at index 2 is out of range for 6 classes", sib::error);
}
