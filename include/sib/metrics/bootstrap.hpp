// The mean of a per-image metric with a percentile bootstrap interval over images (Efron), and the
// paired version for the difference of two methods or models scored on the same images.
//
// NaN values (images where the metric is undefined) are left out and counted in nan_count.
// Resample r draws its n indices from sib::rng seeded by (seed, r) alone, so the interval is the
// same for a seed on every machine and for every thread count. The interval ends are the
// (1-confidence)/2 and (1+confidence)/2 quantiles of the resampled means, interpolated linearly
// between order statistics (numpy.percentile's default method).
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/rng.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace metrics {

struct bootstrap_options {
    int resamples = 2000;
    double confidence = 0.95;
    std::uint64_t seed = 0;
};

struct bootstrap_interval {
    double mean;        // mean over the images with a defined value
    double lo;          // lower end of the interval
    double hi;          // upper end of the interval
    index_t count;      // images with a defined value
    index_t nan_count;  // images left out because the value is NaN
};

namespace detail {

// Quantile q in [0,1] of the ascending values s[0..n), linear between order statistics.
inline double percentile_sorted(const double* s, index_t n, double q) {
    const double h = q * static_cast<double>(n - 1);
    const index_t k = std::min(static_cast<index_t>(std::floor(h)), n - 1);
    if (k + 1 >= n) return s[n - 1];
    return s[k] + (h - static_cast<double>(k)) * (s[k + 1] - s[k]);
}

// Decorrelates the per-resample seeds (a splitmix64 finaliser), so that nearby (seed, r) pairs
// give unrelated streams.
inline std::uint64_t resample_seed(std::uint64_t seed, std::uint64_t r) {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (r + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// `values` holds the defined values only.
inline bootstrap_interval bootstrap_defined(const std::vector<double>& values, index_t nan_count,
                                            const bootstrap_options& opt, const char* who,
                                            const char* what) {
    const index_t n = static_cast<index_t>(values.size());
    require(n >= 2, who, ": needs at least 2 images with a defined value", what, ", got ", n);
    require(opt.resamples >= 1, who, ": resamples must be at least 1, got ", opt.resamples);
    require(opt.confidence > 0 && opt.confidence < 1, who, ": confidence must lie in (0, 1), got ",
            opt.confidence);
    double sum = 0;
    for (double v : values) sum += v;

    const index_t reps = opt.resamples;
    std::vector<double> means(static_cast<std::size_t>(reps));
    const double* pv = values.data();
    double* pm = means.data();
    const std::uint64_t seed = opt.seed;
    cpu::parallel_for(
        reps,
        [=](index_t r) {
            rng g(resample_seed(seed, static_cast<std::uint64_t>(r)));
            double s = 0;
            for (index_t i = 0; i < n; ++i) s += pv[g.below(static_cast<std::uint64_t>(n))];
            pm[r] = s / static_cast<double>(n);
        },
        n);
    std::sort(means.begin(), means.end());
    const double tail = (1 - opt.confidence) / 2;
    return {sum / static_cast<double>(n), percentile_sorted(pm, reps, tail),
            percentile_sorted(pm, reps, 1 - tail), n, nan_count};
}

}  // namespace detail

// Mean of the defined values and its percentile bootstrap interval; throws sib::error when fewer
// than 2 values are defined.
inline bootstrap_interval bootstrap(std::span<const double> values, const bootstrap_options& opt = {}) {
    std::vector<double> defined;
    defined.reserve(values.size());
    index_t nans = 0;
    for (double v : values) {
        if (std::isnan(v))
            ++nans;
        else
            defined.push_back(v);
    }
    return detail::bootstrap_defined(defined, nans, opt, "bootstrap", "");
}

// Mean of a_i - b_i over the images where both are defined, with its bootstrap interval: the same
// resampled images enter both sides, so the per-image correlation of a and b narrows the interval
// (as a paired test). An image where either value is NaN counts in nan_count.
inline bootstrap_interval paired_bootstrap(std::span<const double> a, std::span<const double> b,
                                           const bootstrap_options& opt = {}) {
    require(a.size() == b.size(), "paired bootstrap: ", a.size(), " values against ", b.size(),
            "; both sides must score the same images");
    std::vector<double> diff;
    diff.reserve(a.size());
    index_t nans = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i]))
            ++nans;
        else
            diff.push_back(a[i] - b[i]);
    }
    return detail::bootstrap_defined(diff, nans, opt, "paired bootstrap", " on both sides");
}

}  // namespace metrics
SIB_END_NAMESPACE
