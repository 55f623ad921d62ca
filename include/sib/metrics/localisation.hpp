// Localisation metrics of one explanation map against a binary foreground mask (docs/metrics.md,
// "Localisation metrics"): how much of |A| sits on the object, and how sparse |A| is.
//
// Conventions shared by every metric here:
// - a = |A|; a pixel is foreground when its mask value is > 0.5 (masks are 0/1, also as 0/255).
// - NaN, never 0, when the value is undefined, so that callers count the image apart: when sum a
//   is 0, when A holds a NaN or an infinity, or when the mask is empty. With a full mask, auroc
//   (no negatives) is NaN; ebpg, pointing_game and rank_acc are then 1 by their definitions.
// - gini does not look at the mask: it is defined whenever sum a > 0 and A is finite.
// - Sums are taken in double; the results do not depend on the thread count.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace metrics {

struct localisation_scores {
    double ebpg;           // sum_S a / sum a
    double bg_energy;      // 1 - ebpg
    double pointing_game;  // 1 if a maximal pixel of a lies in S, else 0
    double rank_acc;       // share of the |S| largest a that lie in S
    double auroc;          // area under the ROC curve of a as a score for S
    double gini;           // Gini index of a (Hurley & Rickard)
};

// Name and field of every localisation metric, in report order, for generic loops
// (e.g. one bootstrap summary per metric).
inline constexpr std::array<std::pair<const char*, double localisation_scores::*>, 6>
    localisation_metrics{{{"ebpg", &localisation_scores::ebpg},
                          {"bg_energy", &localisation_scores::bg_energy},
                          {"pointing_game", &localisation_scores::pointing_game},
                          {"rank_acc", &localisation_scores::rank_acc},
                          {"auroc", &localisation_scores::auroc},
                          {"gini", &localisation_scores::gini}}};

// One metric's values over a batch of scores, in image order.
inline std::vector<double> column(const std::vector<localisation_scores>& scores,
                                  double localisation_scores::*field) {
    std::vector<double> out;
    out.reserve(scores.size());
    for (const auto& s : scores) out.push_back(s.*field);
    return out;
}

namespace detail {

inline bool is_foreground(float m) { return m > 0.5f; }

// All six metrics from one ascending sort of a. The order is by (a ascending, index descending),
// so read backwards it is (a descending, index ascending): the tie rule of rank_acc. a and order
// are scratch of n elements each.
inline localisation_scores localisation_one(const float* map, const float* mask, index_t n,
                                            float* a, index_t* order) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    localisation_scores r{nan, nan, nan, nan, nan, nan};
    double total = 0, inside = 0;
    index_t fg = 0;
    for (index_t i = 0; i < n; ++i) {
        const float v = std::fabs(map[i]);
        if (!std::isfinite(v)) return r;
        a[i] = v;
        total += v;
        if (is_foreground(mask[i])) {
            inside += v;
            ++fg;
        }
    }
    if (!(total > 0)) return r;

    std::iota(order, order + n, index_t{0});
    std::sort(order, order + n,
              [a](index_t i, index_t j) { return a[i] < a[j] || (a[i] == a[j] && i > j); });

    // Hurley & Rickard: G = 1 - 2 sum_k (a_(k) / ||a||_1) (N - k + 1/2) / N, k = 1..N ascending.
    double weighted = 0;
    for (index_t k = 1; k <= n; ++k)
        weighted += static_cast<double>(a[order[k - 1]]) * (static_cast<double>(n - k) + 0.5);
    r.gini = 1.0 - 2.0 * weighted / (total * static_cast<double>(n));

    if (fg == 0) return r;
    r.ebpg = inside / total;
    r.bg_energy = 1.0 - r.ebpg;

    // Ties at the maximum: any maximal pixel in S is a hit.
    r.pointing_game = 0;
    const float top = a[order[n - 1]];
    for (index_t k = n - 1; k >= 0 && a[order[k]] == top; --k)
        if (is_foreground(mask[order[k]])) {
            r.pointing_game = 1;
            break;
        }

    index_t hits = 0;
    for (index_t k = n - fg; k < n; ++k) hits += is_foreground(mask[order[k]]) ? 1 : 0;
    r.rank_acc = static_cast<double>(hits) / static_cast<double>(fg);

    // Mann-Whitney U with half credit for ties, counted exactly as 2U in integers over groups of
    // equal a: each positive beats the negatives below its group and ties with those inside it.
    const index_t bg = n - fg;
    if (bg == 0) return r;
    std::int64_t two_u = 0, neg_below = 0;
    for (index_t k = 0; k < n;) {
        index_t e = k, pos = 0, neg = 0;
        while (e < n && a[order[e]] == a[order[k]]) {
            if (is_foreground(mask[order[e]]))
                ++pos;
            else
                ++neg;
            ++e;
        }
        two_u += pos * (2 * neg_below + neg);
        neg_below += neg;
        k = e;
    }
    r.auroc = static_cast<double>(two_u) / (2.0 * static_cast<double>(fg) * static_cast<double>(bg));
    return r;
}

// Checks the sizes (naming the caller) and computes every metric with scratch of its own.
inline localisation_scores checked_scores(std::span<const float> map, std::span<const float> mask,
                                          const char* who) {
    require(!map.empty(), who, ": the map is empty");
    require(map.size() == mask.size(), who, ": map has ", map.size(), " pixels, mask ", mask.size());
    std::vector<float> a(map.size());
    std::vector<index_t> order(map.size());
    return localisation_one(map.data(), mask.data(), static_cast<index_t>(map.size()), a.data(),
                            order.data());
}

}  // namespace detail

// All six metrics of one map A and mask S, both [H,W] flattened (any layout, the same for both).
inline localisation_scores localisation(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "localisation");
}

// Energy-based pointing game.
inline double ebpg(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "ebpg").ebpg;
}
inline double bg_energy(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "bg_energy").bg_energy;
}
// Ties: a hit when any pixel attaining the maximum lies in S.
inline double pointing_game(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "pointing_game").pointing_game;
}
// The |S| largest a are taken in order of decreasing a, ties at the cut to the lower flat index
// (row-major), so the value is deterministic.
inline double rank_acc(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "rank_acc").rank_acc;
}
// P(a_fg > a_bg) + P(a_fg = a_bg) / 2 over all foreground-background pairs (Mann-Whitney U / n1 n0,
// as sklearn.metrics.roc_auc_score).
inline double auroc(std::span<const float> map, std::span<const float> mask) {
    return detail::checked_scores(map, mask, "auroc").auroc;
}
// 0 for a constant map, 1 - 1/N for a one-hot map.
inline double gini(std::span<const float> map) {
    const std::vector<float> no_mask(map.size(), 0.0f);
    return detail::checked_scores(map, no_mask, "gini").gini;
}

// The metrics of every image: maps [B,H,W] or [B,1,H,W], masks [B,H,W] or [B,1,H,W].
inline std::vector<localisation_scores> localisation_batch(const tensor<float, cpu>& maps,
                                                           const tensor<float, cpu>& masks) {
    const auto spatial = [](const sib::shape& s) {
        if (s.rank() == 3) return sib::shape{s[0], s[1], s[2]};
        if (s.rank() == 4 && s[1] == 1) return sib::shape{s[0], s[2], s[3]};
        return sib::shape{};
    };
    const sib::shape ms = spatial(maps.shape()), ks = spatial(masks.shape());
    require(ms.rank() == 3, "localisation: maps must be [B,H,W] or [B,1,H,W], got ",
            maps.shape().str());
    require(ks.rank() == 3, "localisation: masks must be [B,H,W] or [B,1,H,W], got ",
            masks.shape().str());
    require(ms == ks, "localisation: maps ", maps.shape().str(), " and masks ", masks.shape().str(),
            " differ in batch or spatial size");
    const index_t b = ms[0], n = ms[1] * ms[2];
    require(n > 0, "localisation: maps ", maps.shape().str(), " have no pixels");
    std::vector<localisation_scores> out(static_cast<std::size_t>(b));
    std::vector<float> a(static_cast<std::size_t>(b * n));
    std::vector<index_t> order(static_cast<std::size_t>(b * n));
    localisation_scores* po = out.data();
    float* pa = a.data();
    index_t* pord = order.data();
    const float* pm = maps.data();
    const float* pk = masks.data();
    cpu::parallel_for(
        b,
        [=](index_t i) {
            po[i] = detail::localisation_one(pm + i * n, pk + i * n, n, pa + i * n, pord + i * n);
        },
        n * 16);
    return out;
}

}  // namespace metrics
SIB_END_NAMESPACE
