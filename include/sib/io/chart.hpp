// Line and point charts as PNG, drawn with sib's own pixels (bitmap_font.hpp for text): axes with
// "nice" ticks (1, 2 or 5 times a power of ten; powers of ten on a log axis), grid lines, one
// colour per series, optional interval bars per point (a bootstrap interval, say), a legend, a
// title and axis labels. For the study's figures and `sib plot`, on any machine: no plotting
// library to install (PLplot would bring some 35 packages, Qt and wxWidgets among them).
//
//   std::vector<sib::io::chart_series> s{{"CE", {1, 2, 3}, {0.80, 0.83, 0.84}}};
//   sib::io::write_png("accuracy.png", sib::io::render_chart(s, {.title = "test accuracy", .x_label = "epoch"}));
// (write_png of a picture is in io/png.hpp, which needs stb; this header does not.)
//
// Points whose y is NaN are left out (and break the line); a series with lower/upper draws a
// vertical bar from lower[i] to upper[i] at each point.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/io/bitmap_font.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

struct chart_series {
    std::string name{};
    std::vector<double> x{}, y{};
    std::vector<double> lower{}, upper{};  // empty, or one interval per point
};

struct chart_options {
    std::string title{}, x_label{}, y_label{};
    int width = 480, height = 320;
    bool log_x = false;  // x must then be positive
    bool lines = true;   // join a series' points in order of x as given
    bool markers = true;
};

using rgb8 = std::array<std::uint8_t, 3>;

// An RGB picture to draw on; write_png() stores it.
class canvas {
public:
    canvas(int width, int height, rgb8 background = {255, 255, 255}) : w_(width), h_(height) {
        require(width > 0 && height > 0 && width <= 16384 && height <= 16384, "canvas: size ", width, "x", height,
                " is not between 1x1 and 16384x16384");
        pixels_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
        for (std::size_t i = 0; i < pixels_.size(); i += 3) std::copy(background.begin(), background.end(), &pixels_[i]);
    }
    int width() const { return w_; }
    int height() const { return h_; }
    const std::uint8_t* data() const { return pixels_.data(); }
    rgb8 at(int x, int y) const {
        const std::uint8_t* p = &pixels_[(static_cast<std::size_t>(y) * w_ + x) * 3];
        return {p[0], p[1], p[2]};
    }

    void set(int x, int y, rgb8 c) {
        if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
        std::copy(c.begin(), c.end(), &pixels_[(static_cast<std::size_t>(y) * w_ + x) * 3]);
    }
    void fill(int x0, int y0, int x1, int y1, rgb8 c) {  // inclusive corners
        for (int y = std::max(0, y0); y <= std::min(h_ - 1, y1); ++y)
            for (int x = std::max(0, x0); x <= std::min(w_ - 1, x1); ++x) set(x, y, c);
    }
    // A line `thickness` pixels wide: a square brush stepped along the longer axis.
    void line(double x0, double y0, double x1, double y1, rgb8 c, int thickness = 1) {
        const int steps = static_cast<int>(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))) + 1;
        if (steps > 4 * (w_ + h_)) return;  // far off the picture: clipped by the caller
        const int lo = -(thickness - 1) / 2, hi = thickness / 2;
        for (int s = 0; s <= steps; ++s) {
            const double t = static_cast<double>(s) / steps;
            const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
            const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
            fill(x + lo, y + lo, x + hi, y + hi, c);
        }
    }
    void disc(double cx, double cy, double r, rgb8 c) {
        for (int y = static_cast<int>(std::floor(cy - r)); y <= static_cast<int>(std::ceil(cy + r)); ++y)
            for (int x = static_cast<int>(std::floor(cx - r)); x <= static_cast<int>(std::ceil(cx + r)); ++x)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) set(x, y, c);
    }
    void text(int x, int y, std::string_view s, rgb8 c, int scale = 1) {
        draw_text(pixels_.data(), w_, h_, 3, x, y, s, c.data(), scale);
    }
    // Copies `other` with its top-left corner at (x, y).
    void paste(const canvas& other, int x, int y) {
        for (int j = 0; j < other.h_; ++j)
            for (int i = 0; i < other.w_; ++i) set(x + i, y + j, other.at(i, j));
    }

private:
    int w_, h_;
    std::vector<std::uint8_t> pixels_;
};

// The categorical palette of matplotlib ("tab10"), which readers know.
inline rgb8 series_color(std::size_t i) {
    static constexpr rgb8 palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                      {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                      {188, 189, 34},  {23, 190, 207}};
    return palette[i % std::size(palette)];
}

// Tick values covering [lo, hi]: multiples of 1, 2 or 5 times a power of ten, about `target` of
// them; the first is at or below lo and the last at or above hi (the axis then spans them).
inline std::vector<double> nice_ticks(double lo, double hi, int target = 5) {
    require(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "nice_ticks: bad range [", lo, ", ", hi, "]");
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {  // one value: a unit-wide range around it
        const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    const double raw = (hi - lo) / std::max(1, target);
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * p;
    for (double m : {1.0, 2.0, 5.0})
        if (m * p >= raw) {
            step = m * p;
            break;
        }
    std::vector<double> ticks;
    const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
    for (double k = first; k <= last; ++k) ticks.push_back(k * step == 0 ? 0.0 : k * step);
    return ticks;
}

// A tick label with the decimals the step needs ("0.25", "100"), or %g far from 1.
inline std::string tick_label(double v, double step) {
    char buf[32];
    if (v != 0 ? std::abs(v) >= 1e6 || std::abs(v) < 1e-4 : step < 1e-4)
        std::snprintf(buf, sizeof buf, "%.3g", v);
    else {
        const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
        std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 8), v);
    }
    return buf;
}

inline canvas render_chart(std::span<const chart_series> series, const chart_options& o = {}) {
    const std::string what = o.title.empty() ? "chart" : "chart '" + o.title + "'";
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (const auto& s : series) {
        require(s.x.size() == s.y.size(), what, ": series '", s.name, "' has ", s.x.size(), " x and ", s.y.size(), " y values");
        require(s.lower.size() == s.upper.size() && (s.lower.empty() || s.lower.size() == s.y.size()), what,
                ": series '", s.name, "' needs one lower and one upper value per point, or none");
        for (std::size_t i = 0; i < s.x.size(); ++i) {
            require(std::isfinite(s.x[i]), what, ": series '", s.name, "' has x = ", s.x[i]);
            require(!o.log_x || s.x[i] > 0, what, ": a log axis needs x > 0, series '", s.name, "' has ", s.x[i]);
            if (std::isnan(s.y[i])) continue;
            const double x = o.log_x ? std::log10(s.x[i]) : s.x[i];
            xlo = std::min(xlo, x), xhi = std::max(xhi, x);
            for (double v : {s.y[i], s.lower.empty() ? s.y[i] : s.lower[i], s.upper.empty() ? s.y[i] : s.upper[i]})
                if (std::isfinite(v)) ylo = std::min(ylo, v), yhi = std::max(yhi, v);
        }
    }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;  // nothing to draw: empty axes
    if (!(ylo <= yhi)) ylo = 0, yhi = 1;

    canvas c(o.width, o.height);
    const rgb8 ink{0, 0, 0}, grid{225, 225, 225}, grey{90, 90, 90};
    // Ticks and the plot area: room on the left for the longest y label.
    std::vector<double> xt;
    if (o.log_x) {
        for (double k = std::floor(xlo + 1e-9); k <= std::ceil(xhi - 1e-9); ++k) xt.push_back(k);
        if (xt.size() == 1) xt.push_back(xt[0] + 1);
    } else
        xt = nice_ticks(xlo, xhi);
    const auto yt = nice_ticks(ylo, yhi);
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1, xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
    int label_w = 0;
    for (double v : yt) label_w = std::max(label_w, text_width(tick_label(v, ystep)));
    const int left = label_w + 10, right = o.width - 12;
    const int top = o.title.empty() ? 22 : 34, bottom = o.height - (o.x_label.empty() ? 22 : 36);
    require(right - left >= 40 && bottom - top >= 40, what, ": ", o.width, "x", o.height, " is too small for a chart");
    const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
    const auto px = [&](double x) { return left + ((o.log_x ? std::log10(x) : x) - x0) / (x1 - x0) * (right - left); };
    const auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };

    for (double v : yt) {
        const int y = static_cast<int>(std::lround(py(v)));
        c.line(left, y, right, y, grid);
        const std::string s = tick_label(v, ystep);
        c.text(left - 5 - text_width(s), y - 3, s, grey);
    }
    for (double v : xt) {
        const double xv = o.log_x ? std::pow(10.0, v) : v;
        const int x = static_cast<int>(std::lround(left + (v - x0) / (x1 - x0) * (right - left)));
        c.line(x, top, x, bottom, grid);
        const std::string s = o.log_x ? tick_label(xv, std::min(1.0, xv)) : tick_label(v, xstep);
        c.text(x - text_width(s) / 2, bottom + 5, s, grey);
    }
    c.line(left, top, left, bottom, ink);
    c.line(left, bottom, right, bottom, ink);
    if (!o.title.empty()) c.text((o.width - text_width(o.title, 2)) / 2, 6, o.title, ink, 2);
    if (!o.x_label.empty()) c.text((left + right - text_width(o.x_label)) / 2, o.height - 14, o.x_label, ink);
    if (!o.y_label.empty()) c.text(4, top - 14, o.y_label, ink);

    // Series with intervals are set a few pixels apart, so that bars at one x do not cover each other.
    bool bars = false;
    for (const auto& s : series) bars = bars || !s.lower.empty();
    for (std::size_t k = 0; k < series.size(); ++k) {
        const auto& s = series[k];
        const rgb8 col = series_color(k);
        const double dodge = bars ? 4.0 * (static_cast<double>(k) - 0.5 * static_cast<double>(series.size() - 1)) : 0.0;
        for (std::size_t i = 0; i < s.x.size(); ++i) {
            if (std::isnan(s.y[i])) continue;
            const double x = px(s.x[i]) + dodge, y = py(s.y[i]);
            if (o.lines && i + 1 < s.x.size() && !std::isnan(s.y[i + 1]))
                c.line(x, y, px(s.x[i + 1]) + dodge, py(s.y[i + 1]), col, 2);
            if (!s.lower.empty() && std::isfinite(s.lower[i]) && std::isfinite(s.upper[i])) {
                const double a = py(s.lower[i]), b = py(s.upper[i]);
                c.line(x, a, x, b, col);
                c.line(x - 3, a, x + 3, a, col);
                c.line(x - 3, b, x + 3, b, col);
            }
            if (o.markers) c.disc(x, y, 2.5, col);
        }
    }
    // The legend, inside the plot in the corner that hides the fewest drawn pixels (top right on a
    // tie), where any series has a name.
    int legend_w = 0;
    for (const auto& s : series) legend_w = std::max(legend_w, text_width(s.name));
    if (legend_w > 0) {
        const int lh = 12, box_w = legend_w + 30, box_h = lh * static_cast<int>(series.size()) + 5;
        const int corners[4][2] = {{right - box_w - 4, top + 4}, {left + 6, top + 4},
                                   {right - box_w - 4, bottom - box_h - 4}, {left + 6, bottom - box_h - 4}};
        int best = 0, best_cost = -1;
        for (int k = 0; k < 4; ++k) {
            int cost = 0;
            for (int y = corners[k][1] - 4; y <= corners[k][1] + box_h; ++y)
                for (int x = corners[k][0] - 4; x <= corners[k][0] + box_w; ++x) {
                    if (x < 0 || y < 0 || x >= c.width() || y >= c.height()) continue;
                    const rgb8 p = c.at(x, y);
                    cost += p != rgb8{255, 255, 255} && p != grid;
                }
            if (best_cost < 0 || cost < best_cost) best = k, best_cost = cost;
        }
        const int lx = corners[best][0], ly = corners[best][1];
        c.fill(lx - 4, ly - 4, lx + box_w, ly + box_h - 4, {255, 255, 255});
        for (std::size_t k = 0; k < series.size(); ++k) {
            const int y = ly + lh * static_cast<int>(k);
            c.line(lx, y + 3, lx + 14, y + 3, series_color(k), 2);
            c.text(lx + 20, y, series[k].name, ink);
        }
    }
    return c;
}

// Pictures side by side, `columns` to a row, on white; each cell as large as the largest.
inline canvas tile(std::span<const canvas> panels, int columns) {
    require(!panels.empty() && columns >= 1, "tile: needs at least one picture and one column");
    int w = 0, h = 0;
    for (const auto& p : panels) w = std::max(w, p.width()), h = std::max(h, p.height());
    const int n = static_cast<int>(panels.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
    canvas out(w * cols, h * rows);
    for (int i = 0; i < n; ++i) out.paste(panels[static_cast<std::size_t>(i)], (i % cols) * w, (i / cols) * h);
    return out;
}

}  // namespace io
SIB_END_NAMESPACE
