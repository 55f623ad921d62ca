// Deletion and insertion (RISE, Petsiuk et al. 2018; docs/metrics.md "Localisation metrics"): the
// target-class probability while pixels are removed from the image (set to 0), or inserted into a
// blurred copy, in order of decreasing a = |A|. A faithful map makes deletion fall fast (low AUC)
// and insertion rise fast (high AUC).
//
// Choices, all documented because published numbers depend on them:
// - Step k of `steps` (default 50) perturbs the first round(k N / steps) pixels of the order
//   (halves round up), N = H*W, so the curve has steps+1 points at fractions k/steps, k = 0..steps,
//   and step 0 is the untouched image (deletion) or the blurred copy (insertion).
// - A pixel is removed or inserted in all channels at once.
// - Order: decreasing a; ties to the lower flat (row-major) index, so the curve is deterministic.
// - AUC: trapezoid rule over the fraction axis [0,1].
// - Blur: RISE's parameters, kernel 11 and sigma 5, as torchvision.transforms.functional.
//   gaussian_blur(img, 11, 5): a normalised separable Gaussian sampled at integer offsets, borders
//   mirrored without repeating the edge pixel (reflect, numpy's 'reflect' / OpenCV's
//   BORDER_REFLECT_101), continued periodically on images smaller than the kernel.
// - A map with sum a = 0 or a non-finite value gives NaN for both (the model is not called).
//
// The model enters as a callable probability(batch, labels) with batch a tensor<float> [N,C,H,W]
// and labels a tensor<std::int64_t> [N], returning N target probabilities (any sized, indexable
// range of numbers, e.g. std::vector<float>). The steps+1 images of one input go in one call.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace metrics {

struct faithfulness_options {
    int steps = 50;
    int blur_kernel = 11;  // odd
    double blur_sigma = 5.0;
};

struct faithfulness_scores {
    double deletion;   // AUC of the deletion curve (lower is better)
    double insertion;  // AUC of the insertion curve (higher is better)
};

// Pixels perturbed after step k of `steps` on an image of n pixels: round(k n / steps).
inline index_t pixels_at_step(index_t k, index_t steps, index_t n) {
    return (2 * k * n + steps) / (2 * steps);
}

// Area under a curve sampled at equally spaced points of [0,1] (trapezoid rule).
inline double trapezoid_auc(std::span<const double> curve) {
    require(curve.size() >= 2, "trapezoid_auc: needs at least 2 points, got ", curve.size());
    double s = 0;
    for (std::size_t k = 0; k + 1 < curve.size(); ++k) s += curve[k] + curve[k + 1];
    return s / (2.0 * static_cast<double>(curve.size() - 1));
}

namespace detail {

// reflect-101 index into [0, n), periodic beyond one reflection.
inline index_t reflect_index(index_t i, index_t n) {
    if (n == 1) return 0;
    const index_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

inline void check_blur(int kernel, double sigma) {
    require(kernel >= 1 && kernel % 2 == 1, "gaussian_blur: kernel size must be odd and positive, got ",
            kernel);
    require(sigma > 0 && std::isfinite(sigma), "gaussian_blur: sigma must be positive, got ", sigma);
}

inline std::vector<double> gaussian_kernel(int kernel, double sigma) {
    std::vector<double> w(static_cast<std::size_t>(kernel));
    const double half = 0.5 * (kernel - 1);
    double sum = 0;
    for (int i = 0; i < kernel; ++i) {
        const double x = (i - half) / sigma;
        w[static_cast<std::size_t>(i)] = std::exp(-0.5 * x * x);
        sum += w[static_cast<std::size_t>(i)];
    }
    for (double& v : w) v /= sum;
    return w;
}

// Blurs `planes` planes of h x w from src into dst (rows, then columns; tmp holds planes*h*w).
inline void blur_planes(const float* src, float* dst, float* tmp, index_t planes, index_t h, index_t w,
                        const double* k, int kernel) {
    const index_t r = kernel / 2;
    cpu::parallel_for(
        planes,
        [=](index_t p) {
            const float* s = src + p * h * w;
            float* t = tmp + p * h * w;
            float* d = dst + p * h * w;
            for (index_t y = 0; y < h; ++y)
                for (index_t x = 0; x < w; ++x) {
                    double acc = 0;
                    for (index_t j = -r; j <= r; ++j) acc += k[j + r] * s[y * w + reflect_index(x + j, w)];
                    t[y * w + x] = static_cast<float>(acc);
                }
            for (index_t y = 0; y < h; ++y)
                for (index_t x = 0; x < w; ++x) {
                    double acc = 0;
                    for (index_t j = -r; j <= r; ++j) acc += k[j + r] * t[reflect_index(y + j, h) * w + x];
                    d[y * w + x] = static_cast<float>(acc);
                }
        },
        h * w * kernel * 2);
}

// Pixel indices by decreasing |map|, ties to the lower index; false when the map has no order
// (sum |map| = 0 or a non-finite value).
inline bool relevance_order(const float* map, index_t n, std::vector<float>& a,
                            std::vector<index_t>& order) {
    a.resize(static_cast<std::size_t>(n));
    order.resize(static_cast<std::size_t>(n));
    double total = 0;
    for (index_t i = 0; i < n; ++i) {
        a[static_cast<std::size_t>(i)] = std::fabs(map[i]);
        if (!std::isfinite(a[static_cast<std::size_t>(i)])) return false;
        total += a[static_cast<std::size_t>(i)];
    }
    if (!(total > 0)) return false;
    std::iota(order.begin(), order.end(), index_t{0});
    const float* pa = a.data();
    std::stable_sort(order.begin(), order.end(), [pa](index_t i, index_t j) { return pa[i] > pa[j]; });
    return true;
}

enum class perturbation { deletion, insertion };

// Scratch reused across the images of a batch.
struct faithfulness_workspace {
    tensor<float, cpu> batch;
    tensor<std::int64_t, cpu> labels;
    std::vector<float> a;
    std::vector<index_t> order;
};

// The steps+1 perturbed copies of image [C,H,W] (start = the image for deletion, its blurred copy
// for insertion), then the model's probabilities into curve.
template <class P>
void perturbation_curve(P& probability, perturbation kind, const float* image, const float* blurred,
                        index_t c, index_t h, index_t w, std::int64_t label,
                        const std::vector<index_t>& order, int steps, faithfulness_workspace& ws,
                        std::vector<double>& curve, const char* who) {
    const index_t n = h * w, chw = c * n, m = steps + 1;
    ws.batch.resize({m, c, h, w});
    ws.labels.resize({m});
    ws.labels.fill(label);
    float* pb = ws.batch.data();
    const float* start = kind == perturbation::deletion ? image : blurred;
    const index_t* po = order.data();
    const bool del = kind == perturbation::deletion;
    cpu::parallel_for(
        m,
        [=](index_t k) {
            float* out = pb + k * chw;
            std::copy(start, start + chw, out);
            const index_t upto = pixels_at_step(k, steps, n);
            for (index_t j = 0; j < upto; ++j) {
                const index_t px = po[j];
                for (index_t ch = 0; ch < c; ++ch) out[ch * n + px] = del ? 0.0f : image[ch * n + px];
            }
        },
        chw);
    const auto p = probability(static_cast<const tensor<float, cpu>&>(ws.batch),
                               static_cast<const tensor<std::int64_t, cpu>&>(ws.labels));
    require(static_cast<index_t>(std::size(p)) == m, who, ": probability returned ", std::size(p),
            " values for a batch of ", m);
    curve.resize(static_cast<std::size_t>(m));
    for (index_t k = 0; k < m; ++k) curve[static_cast<std::size_t>(k)] = static_cast<double>(p[k]);
}

inline void check_options(const faithfulness_options& opt, const char* who) {
    require(opt.steps >= 1, who, ": steps must be at least 1, got ", opt.steps);
    check_blur(opt.blur_kernel, opt.blur_sigma);
}

}  // namespace detail

// Gaussian blur of every [H,W] plane of x (rank >= 2, e.g. [N,C,H,W]) into out (resized).
inline void gaussian_blur(const tensor<float, cpu>& x, tensor<float, cpu>& out, int kernel = 11,
                          double sigma = 5.0) {
    detail::check_blur(kernel, sigma);
    require(x.rank() >= 2, "gaussian_blur: expects [...,H,W], got ", x.shape().str());
    const index_t h = x.dim(x.rank() - 2), w = x.dim(x.rank() - 1);
    const index_t planes = h * w == 0 ? 0 : x.size() / (h * w);
    out.resize(x.shape());
    std::vector<float> tmp(static_cast<std::size_t>(x.size()));
    const auto k = detail::gaussian_kernel(kernel, sigma);
    detail::blur_planes(x.data(), out.data(), tmp.data(), planes, h, w, k.data(), kernel);
}

namespace detail {
template <class P>
std::vector<double> single_curve(P& probability, perturbation kind, const tensor<float, cpu>& image,
                                 std::int64_t label, const tensor<float, cpu>& map,
                                 const faithfulness_options& opt, const char* who) {
    check_options(opt, who);
    require(image.rank() == 3, who, ": image must be [C,H,W], got ", image.shape().str());
    const index_t c = image.dim(0), h = image.dim(1), w = image.dim(2);
    require(map.size() == h * w && map.rank() >= 2 && map.dim(map.rank() - 1) == w &&
                map.dim(map.rank() - 2) == h,
            who, ": map ", map.shape().str(), " does not match image ", image.shape().str());
    require(h * w > 0, who, ": image ", image.shape().str(), " has no pixels");
    faithfulness_workspace ws;
    std::vector<double> curve;
    if (!relevance_order(map.data(), h * w, ws.a, ws.order)) return curve;
    tensor<float, cpu> blurred;
    if (kind == perturbation::insertion) gaussian_blur(image, blurred, opt.blur_kernel, opt.blur_sigma);
    perturbation_curve(probability, kind, image.data(), blurred.data(), c, h, w, label, ws.order,
                       opt.steps, ws, curve, who);
    return curve;
}
}  // namespace detail

// The deletion or insertion curve (steps+1 probabilities) of one image [C,H,W] with its label and
// map [H,W]; empty when the map has no order (sum |map| = 0 or non-finite).
template <class P>
std::vector<double> deletion_curve(P&& probability, const tensor<float, cpu>& image, std::int64_t label,
                                   const tensor<float, cpu>& map, const faithfulness_options& opt = {}) {
    return detail::single_curve(probability, detail::perturbation::deletion, image, label, map, opt,
                                "deletion");
}
template <class P>
std::vector<double> insertion_curve(P&& probability, const tensor<float, cpu>& image,
                                    std::int64_t label, const tensor<float, cpu>& map,
                                    const faithfulness_options& opt = {}) {
    return detail::single_curve(probability, detail::perturbation::insertion, image, label, map, opt,
                                "insertion");
}

// Deletion and insertion AUC of every image: images [B,C,H,W], labels [B], maps [B,H,W] or
// [B,1,H,W]. NaN for an image whose map has no order.
template <class P>
std::vector<faithfulness_scores> faithfulness_batch(P&& probability, const tensor<float, cpu>& images,
                                                    const tensor<std::int64_t, cpu>& labels,
                                                    const tensor<float, cpu>& maps,
                                                    const faithfulness_options& opt = {}) {
    const char* who = "faithfulness";
    detail::check_options(opt, who);
    require(images.rank() == 4, who, ": images must be [B,C,H,W], got ", images.shape().str());
    const index_t b = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
    require(labels.rank() == 1 && labels.dim(0) == b, who, ": labels ", labels.shape().str(),
            " do not match images ", images.shape().str());
    const bool map_ok = (maps.rank() == 3 && maps.shape() == sib::shape{b, h, w}) ||
                        (maps.rank() == 4 && maps.shape() == sib::shape{b, 1, h, w});
    require(map_ok, who, ": maps ", maps.shape().str(), " do not match images ", images.shape().str(),
            " (want [", b, ",", h, ",", w, "] or [", b, ",1,", h, ",", w, "])");
    require(h * w > 0, who, ": images ", images.shape().str(), " have no pixels");

    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<faithfulness_scores> out(static_cast<std::size_t>(b), faithfulness_scores{nan, nan});
    tensor<float, cpu> blurred;
    gaussian_blur(images, blurred, opt.blur_kernel, opt.blur_sigma);
    detail::faithfulness_workspace ws;
    std::vector<double> curve;
    const index_t n = h * w, chw = c * n;
    for (index_t i = 0; i < b; ++i) {
        if (!detail::relevance_order(maps.data() + i * n, n, ws.a, ws.order)) continue;
        const std::int64_t label = labels.data()[i];
        auto& s = out[static_cast<std::size_t>(i)];
        detail::perturbation_curve(probability, detail::perturbation::deletion,
                                   images.data() + i * chw, blurred.data() + i * chw, c, h, w, label,
                                   ws.order, opt.steps, ws, curve, who);
        s.deletion = trapezoid_auc(curve);
        detail::perturbation_curve(probability, detail::perturbation::insertion,
                                   images.data() + i * chw, blurred.data() + i * chw, c, h, w, label,
                                   ws.order, opt.steps, ws, curve, who);
        s.insertion = trapezoid_auc(curve);
    }
    return out;
}

}  // namespace metrics
SIB_END_NAMESPACE
