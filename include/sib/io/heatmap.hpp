// Pictures of explanation maps (docs/explanations.md, "Explanations"): a raw map A over its image, and a
// contact sheet of several images and methods with labelled columns. The same pictures as
// `sib explain` writes, for C++ users.
//
// How a map becomes colour, per image:
// - a = |A| clipped at its 99th percentile p (over the finite values, linear between order
//   statistics as numpy.percentile), then a / p, so the picture lies in [0,1] and one outlier
//   pixel does not wash the rest out. Zero stays zero (as Captum's visualize_image_attr scales by
//   a threshold, not by min-max), so "no relevance" is always the bottom of the colormap.
// - When p is 0 (at most 1% of the pixels are non-zero) the largest |A| is used instead, so a
//   sparse map still shows its few pixels; an all-zero map is all zero.
// - NaN stays NaN and the colormap draws it black, so a broken map is visible; +-inf is clipped.
// - Overlay: (1 - alpha) * image + alpha * colormap(a), alpha 0.5 by default, in RGB.
//
// The image is shown in gray (C = 1, replicated to RGB) or RGB (C = 3). Values already in [0,1]
// are shown as they are; an image with any value outside [0,1] (e.g. standardised inputs) is
// min-max scaled to [0,1] first, so it stays recognisable.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <sib/io/bitmap_font.hpp>
#include <sib/io/colormap.hpp>
#include <sib/io/png.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

// The clip value of one map: the `percentile` (0..100) of |A| over its finite values, or the
// largest finite |A| when that percentile is 0; 0 when no value is finite and non-zero.
inline double heatmap_clip(std::span<const float> map, double percentile = 99.0) {
    require(percentile > 0 && percentile <= 100, "heatmap: percentile must lie in (0, 100], got ", percentile);
    std::vector<double> a;
    a.reserve(map.size());
    for (float v : map)
        if (std::isfinite(v)) a.push_back(std::fabs(static_cast<double>(v)));
    if (a.empty()) return 0;
    std::sort(a.begin(), a.end());
    const double h = percentile / 100.0 * static_cast<double>(a.size() - 1);
    const std::size_t k = std::min(static_cast<std::size_t>(h), a.size() - 1);
    const double p = k + 1 < a.size() ? a[k] + (h - static_cast<double>(k)) * (a[k + 1] - a[k]) : a[k];
    return p > 0 ? p : a.back();
}

// min(|A|, clip) / clip of one map into out (same length): the value the colormap is given.
inline void heatmap_intensity(std::span<const float> map, std::span<float> out, double percentile = 99.0) {
    require(out.size() == map.size(), "heatmap: ", out.size(), " outputs for a map of ", map.size());
    const double clip = heatmap_clip(map, percentile);
    for (std::size_t i = 0; i < map.size(); ++i) {
        const double a = std::fabs(static_cast<double>(map[i]));
        out[i] = std::isnan(a) ? std::numeric_limits<float>::quiet_NaN()
                               : (clip > 0 ? static_cast<float>(std::min(a, clip) / clip) : 0.0f);
    }
}

// The intensity of a map [H,W], or of every map of [B,H,W] separately.
template <class T, class B>
tensor<float> heatmap_intensity(const tensor<T, B>& maps, double percentile = 99.0) {
    require(maps.rank() == 2 || maps.rank() == 3, "heatmap: maps must be [H,W] or [B,H,W], got ", maps.shape().str());
    const auto v = maps.to_vector();
    const std::vector<float> f(v.begin(), v.end());
    const index_t plane = maps.dim(maps.rank() - 2) * maps.dim(maps.rank() - 1);
    const index_t count = maps.rank() == 3 ? maps.dim(0) : 1;
    std::vector<float> out(f.size());
    for (index_t b = 0; b < count; ++b) {
        const auto at = static_cast<std::size_t>(b * plane), len = static_cast<std::size_t>(plane);
        heatmap_intensity(std::span<const float>(f.data() + at, len), std::span<float>(out.data() + at, len),
                          percentile);
    }
    return tensor<float>(maps.shape(), out);
}

// The image [C,H,W] (C of 1 or 3) as RGB [3,H,W] in [0,1], as the pictures show it.
template <class T, class B>
tensor<float> display_rgb(const tensor<T, B>& image) {
    require(image.rank() == 3 && (image.dim(0) == 1 || image.dim(0) == 3),
            "heatmap: image must be [C,H,W] with C of 1 (gray) or 3 (RGB), got ", image.shape().str());
    const auto v = image.to_vector();
    const index_t c = image.dim(0), plane = image.dim(1) * image.dim(2);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const T x : v)
        if (std::isfinite(static_cast<double>(x))) {
            lo = std::min(lo, static_cast<double>(x));
            hi = std::max(hi, static_cast<double>(x));
        }
    const bool rescale = lo < 0 || hi > 1;
    const double span = hi > lo ? hi - lo : 1.0;
    std::vector<float> out(static_cast<std::size_t>(3 * plane));
    for (index_t ch = 0; ch < 3; ++ch)
        for (index_t p = 0; p < plane; ++p) {
            double x = static_cast<double>(v[static_cast<std::size_t>((c == 1 ? 0 : ch) * plane + p)]);
            if (rescale) x = (x - lo) / span;
            out[static_cast<std::size_t>(ch * plane + p)] = static_cast<float>(std::isnan(x) ? 0.0 : std::clamp(x, 0.0, 1.0));
        }
    return tensor<float>(sib::shape{3, image.dim(1), image.dim(2)}, out);
}

namespace detail {
// A map [H,W] or [1,H,W] that matches an image [C,H,W].
template <class T, class B>
void check_map_fits(const tensor<T, B>& map, const sib::shape& image, const char* what) {
    const bool ok = (map.rank() == 2 && map.dim(0) == image[1] && map.dim(1) == image[2]) ||
                    (map.rank() == 3 && map.dim(0) == 1 && map.dim(1) == image[1] && map.dim(2) == image[2]);
    require(ok, "heatmap: ", what, " ", map.shape().str(), " does not fit image ", image.str(), " (want [",
            image[1], ",", image[2], "])");
}
}  // namespace detail

// (1 - alpha) * image + alpha * colormap(intensity of map), as RGB [3,H,W] in [0,1]; image [C,H,W],
// map [H,W] (or [1,H,W]).
template <class TI, class BI, class TM, class BM>
tensor<float> overlay(const tensor<TI, BI>& image, const tensor<TM, BM>& map, colormap cmap = colormap::jet,
                      double alpha = 0.5) {
    require(alpha >= 0 && alpha <= 1, "heatmap: alpha must lie in [0, 1], got ", alpha);
    tensor<float> out = display_rgb(image);
    detail::check_map_fits(map, image.shape(), "map");
    const index_t plane = image.dim(1) * image.dim(2);
    const auto m = map.to_vector();
    const std::vector<float> f(m.begin(), m.end());
    std::vector<float> a(f.size());
    heatmap_intensity(std::span<const float>(f), std::span<float>(a));
    float* po = out.data();
    for (index_t p = 0; p < plane; ++p) {
        const rgb colour = colormap_rgb(cmap, static_cast<double>(a[static_cast<std::size_t>(p)]));
        for (index_t ch = 0; ch < 3; ++ch) {
            float& x = po[ch * plane + p];
            x = static_cast<float>((1 - alpha) * static_cast<double>(x) + alpha * colour[static_cast<std::size_t>(ch)]);
        }
    }
    return out;
}

// Every pixel of [C,H,W] as a factor x factor block.
inline tensor<float> upscale_nearest(const tensor<float>& chw, int factor) {
    require(chw.rank() == 3, "upscale_nearest: expects [C,H,W], got ", chw.shape().str());
    require(factor >= 1, "upscale_nearest: factor must be at least 1, got ", factor);
    const index_t c = chw.dim(0), h = chw.dim(1), w = chw.dim(2), f = factor;
    tensor<float> out(sib::shape{c, h * f, w * f});
    const float* pi = chw.data();
    float* po = out.data();
    for (index_t ch = 0; ch < c; ++ch)
        for (index_t y = 0; y < h * f; ++y)
            for (index_t x = 0; x < w * f; ++x)
                po[(ch * h * f + y) * w * f + x] = pi[(ch * h + y / f) * w + x / f];
    return out;
}

// The smallest integer factor that makes an h x w picture at least min_cell pixels on its short side.
inline int auto_scale(index_t h, index_t w, index_t min_cell = 112) {
    const index_t side = std::min(h, w);
    if (side <= 0 || side >= min_cell) return 1;
    return static_cast<int>((min_cell + side - 1) / side);
}

// The overlay of map on image as a PNG, every pixel a scale x scale block.
template <class TI, class BI, class TM, class BM>
void write_overlay(const std::filesystem::path& path, const tensor<TI, BI>& image, const tensor<TM, BM>& map,
                   colormap cmap = colormap::jet, double alpha = 0.5, int scale = 1) {
    const tensor<float> o = overlay(image, map, cmap, alpha);
    write_image(path, scale == 1 ? o : upscale_nearest(o, scale));
}

// One row of a contact sheet.
struct contact_sheet_row {
    tensor<float> image;              // [C,H,W], C of 1 or 3
    tensor<float> mask;               // ground truth [H,W] or [1,H,W]; empty when there is none
    std::vector<tensor<float>> maps;  // one raw map [H,W] per method, in column order
};

struct contact_sheet_options {
    colormap cmap = colormap::jet;
    double alpha = 0.5;
    int scale = 0;        // integer upscaling of every cell; 0: the smallest making cells >= min_cell
    int min_cell = 112;   // pixels, so that 28 x 28 images are visible
    int gap = 4;          // white pixels between cells and around the sheet
};

// An 8-bit RGB picture, rows top to bottom, pixels interleaved.
struct rgb8_image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;
    const std::uint8_t* at(int x, int y) const {
        return pixels.data() + (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3;
    }
};

// `label` in lines of at most max_chars, broken after a '_' or '-' where one fits, else hard.
inline std::vector<std::string> wrap_label(std::string_view label, int max_chars) {
    require(max_chars >= 1, "wrap_label: max_chars must be at least 1, got ", max_chars);
    std::vector<std::string> lines;
    const auto limit = static_cast<std::size_t>(max_chars);
    while (label.size() > limit) {
        std::size_t cut = limit;
        for (std::size_t i = limit; i > 0; --i)
            if (label[i - 1] == '_' || label[i - 1] == '-') {
                cut = i;
                break;
            }
        lines.emplace_back(label.substr(0, cut));
        label.remove_prefix(cut);
    }
    if (!label.empty() || lines.empty()) lines.emplace_back(label);
    return lines;
}

namespace detail {

inline std::uint8_t to_byte(float v) {
    return static_cast<std::uint8_t>(std::lround(std::clamp(static_cast<double>(v), 0.0, 1.0) * 255.0));
}

// Copies RGB [3,h,w] in [0,1] into the sheet at (x0, y0), each pixel a scale x scale block.
inline void blit(rgb8_image& sheet, const tensor<float>& rgb_chw, int x0, int y0, int scale) {
    const index_t h = rgb_chw.dim(1), w = rgb_chw.dim(2), plane = h * w;
    const float* p = rgb_chw.data();
    for (index_t y = 0; y < h * scale; ++y)
        for (index_t x = 0; x < w * scale; ++x) {
            std::uint8_t* d = sheet.pixels.data() +
                              ((static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(sheet.width)) +
                               static_cast<std::size_t>(x0 + x)) * 3;
            const index_t src = (y / scale) * w + x / scale;
            for (index_t ch = 0; ch < 3; ++ch) d[ch] = to_byte(p[ch * plane + src]);
        }
}

inline void fill_rect(rgb8_image& sheet, int x0, int y0, int w, int h, std::uint8_t value) {
    for (int y = y0; y < y0 + h; ++y)
        std::fill_n(sheet.pixels.data() + (static_cast<std::size_t>(y) * static_cast<std::size_t>(sheet.width) +
                                           static_cast<std::size_t>(x0)) * 3,
                    static_cast<std::size_t>(w) * 3, value);
}

}  // namespace detail

// Rows of images; columns: the input, the ground-truth mask (when any row has one; a row without
// is drawn light gray there), then one overlay per method, under a header row naming each column.
// Every row's image has the same H and W.
inline rgb8_image render_contact_sheet(const std::vector<contact_sheet_row>& rows,
                                       const std::vector<std::string>& methods,
                                       const contact_sheet_options& opt = {}) {
    require(!rows.empty(), "contact sheet: no rows");
    require(opt.gap >= 0, "contact sheet: gap must be non-negative, got ", opt.gap);
    require(opt.scale >= 0, "contact sheet: scale must be non-negative (0: automatic), got ", opt.scale);
    const sib::shape first = rows.front().image.shape();
    require(first.rank() == 3, "contact sheet: row 0 image must be [C,H,W], got ", first.str());
    const index_t h = first[1], w = first[2];
    bool any_mask = false;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto& row = rows[r];
        require(row.image.rank() == 3 && row.image.dim(1) == h && row.image.dim(2) == w, "contact sheet: row ", r,
                " image ", row.image.shape().str(), " differs from row 0 image ", first.str(), " in size");
        require(row.maps.size() == methods.size(), "contact sheet: row ", r, " has ", row.maps.size(),
                " maps for ", methods.size(), " methods");
        if (!row.mask.empty()) {
            detail::check_map_fits(row.mask, row.image.shape(), "mask");
            any_mask = true;
        }
    }
    const int scale = opt.scale > 0 ? opt.scale : auto_scale(h, w, opt.min_cell);
    const index_t cell_w = w * scale, cell_h = h * scale;
    std::vector<std::string> labels{"input"};
    if (any_mask) labels.emplace_back("mask");
    labels.insert(labels.end(), methods.begin(), methods.end());
    const index_t cols = static_cast<index_t>(labels.size()), nrows = static_cast<index_t>(rows.size());

    // Labels grow with the cells, so they stay readable on large images.
    const int font = std::max<int>(1, static_cast<int>(cell_w / 160));
    const int max_chars = std::max<int>(1, static_cast<int>((cell_w + font) / (glyph_advance * font)));
    std::vector<std::vector<std::string>> wrapped;
    std::size_t header_lines = 1;
    for (const auto& l : labels) {
        wrapped.push_back(wrap_label(l, max_chars));
        header_lines = std::max(header_lines, wrapped.back().size());
    }
    const index_t line_h = (glyph_height + 2) * font, gap = opt.gap;
    const index_t header_h = static_cast<index_t>(header_lines) * line_h;
    const index_t width = gap + cols * (cell_w + gap);
    const index_t height = gap + header_h + gap + nrows * (cell_h + gap);
    require(width <= (1 << 15) && height <= (1 << 15), "contact sheet: ", width, "x", height,
            " pixels is too large (at most 32768 a side); use fewer rows, methods or a smaller scale");

    rgb8_image sheet;
    sheet.width = static_cast<int>(width);
    sheet.height = static_cast<int>(height);
    sheet.pixels.assign(static_cast<std::size_t>(width * height * 3), 255);
    const std::uint8_t black[3] = {0, 0, 0};
    for (index_t c = 0; c < cols; ++c) {
        const auto& lines = wrapped[static_cast<std::size_t>(c)];
        for (std::size_t k = 0; k < lines.size(); ++k) {
            const index_t x = gap + c * (cell_w + gap) + (cell_w - text_width(lines[k], font)) / 2;
            const index_t y = gap + static_cast<index_t>(k) * line_h;
            draw_text(sheet.pixels.data(), sheet.width, sheet.height, 3, static_cast<int>(x), static_cast<int>(y),
                      lines[k], black, font);
        }
    }
    for (index_t r = 0; r < nrows; ++r) {
        const auto& row = rows[static_cast<std::size_t>(r)];
        const int y = static_cast<int>(gap + header_h + gap + r * (cell_h + gap));
        auto x_of = [&](index_t c) { return static_cast<int>(gap + c * (cell_w + gap)); };
        index_t c = 0;
        detail::blit(sheet, display_rgb(row.image), x_of(c++), y, scale);
        if (any_mask) {
            if (row.mask.empty()) {
                detail::fill_rect(sheet, x_of(c++), y, static_cast<int>(cell_w), static_cast<int>(cell_h), 220);
            } else {
                tensor<float> m = row.mask;
                m.reshape(sib::shape{1, h, w});
                detail::blit(sheet, display_rgb(m), x_of(c++), y, scale);
            }
        }
        for (const auto& map : row.maps) detail::blit(sheet, overlay(row.image, map, opt.cmap, opt.alpha), x_of(c++), y, scale);
    }
    return sheet;
}

inline void write_contact_sheet(const std::filesystem::path& path, const std::vector<contact_sheet_row>& rows,
                                const std::vector<std::string>& methods, const contact_sheet_options& opt = {}) {
    const rgb8_image sheet = render_contact_sheet(rows, methods, opt);
    write_png(path, sheet.pixels.data(), sheet.width, sheet.height, 3);
}

}  // namespace io
SIB_END_NAMESPACE
