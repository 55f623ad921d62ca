// torchvision's image transforms on 8-bit pixels, computed as torchvision computes them on PIL
// images, so that a model trained here sees the pixels it would see in PyTorch:
//
//   - resize_bilinear: PIL's Image.resize(size, BILINEAR), which is what torchvision's Resize and
//     RandomResizedCrop call. PIL resamples with a separable triangle filter whose support grows with
//     the downscale factor (antialiasing): output pixel x of an axis scaled by s = in/out is centred at
//     (x + 0.5) s, and weighs input pixel j by max(0, 1 - |j + 0.5 - centre| / max(s, 1)), the weights
//     normalised to sum to one. PIL rounds the weights to 22-bit fixed point, resizes rows first, rounds
//     that pass to 8 bits, then resizes columns; this file does the same integer arithmetic, so its
//     output equals PIL's byte for byte (tests/test_photo_folder.cpp checks it against PIL where
//     python3-pil is installed).
//   - resize_nearest: PIL's Image.resize(size, NEAREST) (for masks): source index int(x0 + s/2 + x s),
//     accumulated as PIL accumulates it.
//   - shorter_side_size, center_crop_origin, random_resized_crop: the sizes and boxes of torchvision's
//     Resize(int), CenterCrop and RandomResizedCrop.get_params (10 draws of area and log aspect ratio,
//     then the central-crop fallback), with Python's rounding (half to even).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/rng.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// A crop box in pixels: rows top .. top + height - 1, columns left .. left + width - 1.
struct crop_box {
    int top = 0, left = 0, height = 0, width = 0;
    friend bool operator==(const crop_box&, const crop_box&) = default;
};

namespace detail {

// Python's round(): to nearest, ties to even (the default floating-point rounding mode).
inline double round_half_even(double v) { return std::nearbyint(v); }

// One axis of PIL's antialiased bilinear resize (Resample.c, precompute_coeffs and
// normalize_coeffs_8bpc): for each output index its first input index, its tap count and `taps`
// weights in 22-bit fixed point.
struct resample_axis {
    static constexpr int precision_bits = 32 - 8 - 2;
    int taps = 0;
    std::vector<int> first, count;
    std::vector<std::int32_t> weights;  // out_size x taps

    resample_axis(int in_size, int out_size) {
        // PIL computes the box in float, the rest in double. The explicit temporaries below keep the
        // operations (and so the roundings) PIL's, whatever the compiler contracts.
        const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
        const double filterscale = scale < 1.0 ? 1.0 : scale;
        const double support = 1.0 * filterscale;
        taps = static_cast<int>(std::ceil(support)) * 2 + 1;
        first.resize(static_cast<std::size_t>(out_size));
        count.resize(static_cast<std::size_t>(out_size));
        weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(taps), 0);
        std::vector<double> k(static_cast<std::size_t>(taps));
        const double ss = 1.0 / filterscale;
        for (int xx = 0; xx < out_size; ++xx) {
            const volatile double offset = (xx + 0.5) * scale;
            const double center = 0.0 + offset;
            int xmin = static_cast<int>(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = static_cast<int>(center + support + 0.5);
            if (xmax > in_size) xmax = in_size;
            xmax -= xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; ++x) {
                const volatile double d = x + xmin - center + 0.5;
                volatile double t = d * ss;
                if (t < 0.0) t = -t;
                const double w = t < 1.0 ? 1.0 - t : 0.0;
                k[static_cast<std::size_t>(x)] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; ++x) {
                double w = k[static_cast<std::size_t>(x)];
                if (ww != 0.0) w /= ww;
                const volatile double scaled = w * static_cast<double>(1 << precision_bits);
                weights[static_cast<std::size_t>(xx) * static_cast<std::size_t>(taps) + static_cast<std::size_t>(x)] =
                    static_cast<std::int32_t>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
            }
            first[static_cast<std::size_t>(xx)] = xmin;
            count[static_cast<std::size_t>(xx)] = xmax;
        }
    }

    // PIL's clip8: the fixed-point sum (started at one half) to 0..255.
    static std::uint8_t clip8(std::int32_t sum) {
        return static_cast<std::uint8_t>(std::clamp(sum >> precision_bits, 0, 255));
    }
};

}  // namespace detail

namespace detail {
// The crop box lies inside the image and the output window inside the output (both resizers).
inline void check_resize(int width, int height, crop_box box, int out_w, int out_h, int ox, int oy, int ow, int oh) {
    require(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 && box.top + box.height <= height &&
                box.left + box.width <= width,
            "resize: crop box ", box.left, ",", box.top, " ", box.width, "x", box.height, " is not inside the ",
            width, "x", height, " image");
    require(out_w > 0 && out_h > 0 && ox >= 0 && oy >= 0 && ow > 0 && oh > 0 && ox + ow <= out_w &&
                oy + oh <= out_h,
            "resize: window ", ox, ",", oy, " ", ow, "x", oh, " is not inside the ", out_w, "x", out_h, " output");
}
}  // namespace detail

// PIL's img.crop(box).resize((out_w, out_h), BILINEAR), restricted to the output window of rows
// oy .. oy + oh - 1 and columns ox .. ox + ow - 1 (the window of a following CenterCrop: the pixels
// in it equal those of the whole resize, cut). `src` holds `width` x `height` pixels of `channels`
// interleaved bytes; `out` receives oh x ow pixels, interleaved likewise. `scratch` is reused.
inline void resize_bilinear(const std::uint8_t* src, int width, int height, int channels, crop_box box,
                            int out_w, int out_h, int ox, int oy, int ow, int oh, std::uint8_t* out,
                            std::vector<std::uint8_t>& scratch) {
    detail::check_resize(width, height, box, out_w, out_h, ox, oy, ow, oh);
    const std::size_t c = static_cast<std::size_t>(channels), stride = static_cast<std::size_t>(width) * c;
    const std::uint8_t* origin = src + static_cast<std::size_t>(box.top) * stride + static_cast<std::size_t>(box.left) * c;
    // PIL skips a pass whose size does not change (the crop is already cut out).
    const bool horizontal = out_w != box.width, vertical = out_h != box.height;
    const detail::resample_axis ax(box.width, horizontal ? out_w : 1);
    const detail::resample_axis ay(box.height, vertical ? out_h : 1);
    // The input rows the output window needs, relative to the crop.
    int row0 = oy, row1 = oy + oh;
    if (vertical) {
        row0 = ay.first[static_cast<std::size_t>(oy)];
        row1 = 0;
        for (int y = oy; y < oy + oh; ++y)
            row1 = std::max(row1, ay.first[static_cast<std::size_t>(y)] + ay.count[static_cast<std::size_t>(y)]);
    }
    // Pass 1: rows row0 .. row1 - 1, output columns ox .. ox + ow - 1, rounded to 8 bits as PIL does.
    const std::uint8_t* rows;  // (row1 - row0) x ow pixels
    std::size_t rows_stride;
    if (horizontal) {
        scratch.resize(static_cast<std::size_t>(row1 - row0) * static_cast<std::size_t>(ow) * c);
        for (int y = row0; y < row1; ++y) {
            const std::uint8_t* in = origin + static_cast<std::size_t>(y) * stride;
            std::uint8_t* to = scratch.data() + static_cast<std::size_t>(y - row0) * static_cast<std::size_t>(ow) * c;
            for (int x = ox; x < ox + ow; ++x) {
                const std::int32_t* k = ax.weights.data() + static_cast<std::size_t>(x) * static_cast<std::size_t>(ax.taps);
                const std::uint8_t* p = in + static_cast<std::size_t>(ax.first[static_cast<std::size_t>(x)]) * c;
                const int n = ax.count[static_cast<std::size_t>(x)];
                for (std::size_t ch = 0; ch < c; ++ch) {
                    std::int32_t sum = std::int32_t{1} << (detail::resample_axis::precision_bits - 1);
                    for (int t = 0; t < n; ++t) sum += static_cast<std::int32_t>(p[static_cast<std::size_t>(t) * c + ch]) * k[t];
                    to[static_cast<std::size_t>(x - ox) * c + ch] = detail::resample_axis::clip8(sum);
                }
            }
        }
        rows = scratch.data();
        rows_stride = static_cast<std::size_t>(ow) * c;
    } else {
        rows = origin + static_cast<std::size_t>(row0) * stride + static_cast<std::size_t>(ox) * c;
        rows_stride = stride;
    }
    // Pass 2: columns.
    for (int y = oy; y < oy + oh; ++y) {
        std::uint8_t* to = out + static_cast<std::size_t>(y - oy) * static_cast<std::size_t>(ow) * c;
        if (!vertical) {
            const std::uint8_t* from = rows + static_cast<std::size_t>(y - row0) * rows_stride;
            std::copy(from, from + static_cast<std::size_t>(ow) * c, to);
            continue;
        }
        const std::int32_t* k = ay.weights.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(ay.taps);
        const int first = ay.first[static_cast<std::size_t>(y)] - row0, n = ay.count[static_cast<std::size_t>(y)];
        for (std::size_t xc = 0; xc < static_cast<std::size_t>(ow) * c; ++xc) {
            std::int32_t sum = std::int32_t{1} << (detail::resample_axis::precision_bits - 1);
            for (int t = 0; t < n; ++t)
                sum += static_cast<std::int32_t>(rows[static_cast<std::size_t>(first + t) * rows_stride + xc]) * k[t];
            to[xc] = detail::resample_axis::clip8(sum);
        }
    }
}

namespace detail {
// PIL's nearest-neighbour source indices of one axis (ImagingScaleAffine): x0 + s/2, then + s per
// output pixel, accumulated in double and truncated.
inline std::vector<int> nearest_indices(int in_size, int out_size) {
    std::vector<int> idx(static_cast<std::size_t>(out_size));
    const double step = static_cast<double>(in_size) / out_size;
    double at = step * 0.5;
    for (int x = 0; x < out_size; ++x) {
        idx[static_cast<std::size_t>(x)] = std::min(static_cast<int>(at), in_size - 1);
        at += step;
    }
    return idx;
}
}  // namespace detail

// PIL's img.crop(box).resize((out_w, out_h), NEAREST) of a one-byte-per-pixel plane, restricted
// to the output window as resize_bilinear is.
inline void resize_nearest(const std::uint8_t* src, int width, int height, crop_box box, int out_w, int out_h,
                           int ox, int oy, int ow, int oh, std::uint8_t* out) {
    detail::check_resize(width, height, box, out_w, out_h, ox, oy, ow, oh);
    const auto xs = detail::nearest_indices(box.width, out_w), ys = detail::nearest_indices(box.height, out_h);
    for (int y = 0; y < oh; ++y) {
        const std::uint8_t* row =
            src + static_cast<std::size_t>(box.top + ys[static_cast<std::size_t>(oy + y)]) * static_cast<std::size_t>(width) +
            static_cast<std::size_t>(box.left);
        for (int x = 0; x < ow; ++x)
            out[static_cast<std::size_t>(y) * static_cast<std::size_t>(ow) + static_cast<std::size_t>(x)] =
                row[xs[static_cast<std::size_t>(ox + x)]];
    }
}

// torchvision's Resize(size) for an int size: the shorter side becomes `size`, the longer one
// int(size * long / short) (truncated), as _compute_resized_output_size. Returns {height, width}.
struct size2 {
    int height = 0, width = 0;
    friend bool operator==(const size2&, const size2&) = default;
};
inline size2 shorter_side_size(int height, int width, int size) {
    require(height > 0 && width > 0 && size > 0, "resize: sizes must be positive, got ", height, "x", width,
            " to ", size);
    if (width <= height)
        return {static_cast<int>(static_cast<double>(size) * height / width), size};
    return {size, static_cast<int>(static_cast<double>(size) * width / height)};
}

// torchvision's CenterCrop offsets: int(round((image - crop) / 2.0)), Python's round. The crop must
// fit (after Resize(256) a CenterCrop(224) always does).
inline crop_box center_crop(int height, int width, int crop_h, int crop_w) {
    require(crop_h <= height && crop_w <= width, "center crop: ", crop_h, "x", crop_w, " does not fit in ",
            height, "x", width);
    return {static_cast<int>(detail::round_half_even((height - crop_h) / 2.0)),
            static_cast<int>(detail::round_half_even((width - crop_w) / 2.0)), crop_h, crop_w};
}

// torchvision's RandomResizedCrop.get_params(img, scale, ratio): up to 10 draws of an area share in
// [scale_min, scale_max] and a log aspect ratio (width / height) in [log ratio_min, log ratio_max];
// the first box that fits is placed uniformly; when none fits, the central crop of the whole image
// clamped to the ratio range. Draws from `r` (torch's generator is not reproduced: the distribution
// is, the stream is sib's).
struct resized_crop_options {
    double scale_min = 0.08, scale_max = 1.0;
    double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
};
inline crop_box random_resized_crop(rng& r, int height, int width, const resized_crop_options& o = {}) {
    const double area = static_cast<double>(height) * width;
    const double log_lo = std::log(o.ratio_min), log_hi = std::log(o.ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target_area = area * r.uniform(o.scale_min, o.scale_max);
        const double aspect = std::exp(r.uniform(log_lo, log_hi));
        const int w = static_cast<int>(detail::round_half_even(std::sqrt(target_area * aspect)));
        const int h = static_cast<int>(detail::round_half_even(std::sqrt(target_area / aspect)));
        if (0 < w && w <= width && 0 < h && h <= height) {
            const int top = static_cast<int>(r.below(static_cast<std::uint64_t>(height - h + 1)));
            const int left = static_cast<int>(r.below(static_cast<std::uint64_t>(width - w + 1)));
            return {top, left, h, w};
        }
    }
    const double in_ratio = static_cast<double>(width) / height;
    int w = width, h = height;
    if (in_ratio < std::min(o.ratio_min, o.ratio_max)) {
        h = static_cast<int>(detail::round_half_even(w / std::min(o.ratio_min, o.ratio_max)));
    } else if (in_ratio > std::max(o.ratio_min, o.ratio_max)) {
        w = static_cast<int>(detail::round_half_even(h * std::max(o.ratio_min, o.ratio_max)));
    }
    return {(height - h) / 2, (width - w) / 2, h, w};
}

}  // namespace data
SIB_END_NAMESPACE
