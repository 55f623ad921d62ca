// Heatmap pictures: clipping at the 99th percentile (numbers from numpy.percentile), per-image
// scaling, the alpha blend of known pixels, PNG round trips, contact-sheet layout and cells, and
// the bitmap font's glyphs.
#include <doctest/doctest.h>
#include <sib/io/bitmap_font.hpp>
#include <sib/io/chart.hpp>
#include <sib/io/heatmap.hpp>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
namespace io = sib::io;
using sib::shape;
using sib::tensor;

namespace {

struct temp_folder {
    fs::path path;
    temp_folder() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("sib_test_heatmap_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_folder() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// 150 values of both signs, |v| spread unevenly, so the percentile interpolates.
std::vector<float> wavy(int n = 150) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(std::sin(1.3 * i) * (i % 7 + 1));
    return v;
}

std::string allowed_characters() {
    std::string s = "_-+()[],:=/%";
    for (char c = 'A'; c <= 'Z'; ++c) s += c;
    for (char c = 'a'; c <= 'z'; ++c) s += c;
    for (char c = '0'; c <= '9'; ++c) s += c;
    return s;
}

}  // namespace

TEST_CASE("heatmap: clip value is numpy's 99th percentile of |A|") {
    const auto v = wavy();
    // numpy.percentile(abs(v), 99) and (90), v as above in float32, computed in float64.
    CHECK(io::heatmap_clip(v) == doctest::Approx(6.950006499290466).epsilon(1e-12));
    CHECK(io::heatmap_clip(v, 90) == doctest::Approx(5.319762897491455).epsilon(1e-12));

    std::vector<float> a(v.size());
    io::heatmap_intensity(std::span<const float>(v), std::span<float>(a));
    // numpy: minimum(abs(v), p) / p at indices 0, 1, 5, 17, 100.
    CHECK(a[0] == 0.0f);
    CHECK(a[1] == doctest::Approx(0.27728268).epsilon(1e-6));
    CHECK(a[5] == doctest::Approx(0.18571493).epsilon(1e-6));
    CHECK(a[17] == doctest::Approx(0.0625246).epsilon(1e-6));
    CHECK(a[100] == doctest::Approx(0.4014842).epsilon(1e-6));
    // The two values above the clip are clipped to 1; the largest value at or below it is < 1.
    int ones = 0;
    for (float x : a) ones += x == 1.0f;
    CHECK(ones == 2);
    for (float x : a) CHECK((x >= 0.0f && x <= 1.0f));
}

TEST_CASE("heatmap: one outlier does not wash out the map") {
    std::vector<float> v(200, 1.0f);
    v[7] = -1000.0f;
    CHECK(io::heatmap_clip(v) == 1.0);
    std::vector<float> a(v.size());
    io::heatmap_intensity(std::span<const float>(v), std::span<float>(a));
    for (float x : a) CHECK(x == 1.0f);
}

TEST_CASE("heatmap: sparse maps fall back to the maximum, empty maps stay zero") {
    std::vector<float> v(1000, 0.0f);
    v[3] = 2.0f;
    v[500] = -4.0f;
    CHECK(io::heatmap_clip(v) == 4.0);  // the 99th percentile is 0
    std::vector<float> a(v.size());
    io::heatmap_intensity(std::span<const float>(v), std::span<float>(a));
    CHECK(a[3] == 0.5f);
    CHECK(a[500] == 1.0f);
    CHECK(a[0] == 0.0f);

    std::vector<float> zero(64, 0.0f), z(64, -1.0f);
    io::heatmap_intensity(std::span<const float>(zero), std::span<float>(z));
    for (float x : z) CHECK(x == 0.0f);
}

TEST_CASE("heatmap: NaN stays NaN (drawn black), infinities are clipped and do not set the scale") {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> v{1, 2, 3, 4, inf, nan, -inf, 4};
    CHECK(io::heatmap_clip(v, 100) == 4.0);
    std::vector<float> a(v.size());
    io::heatmap_intensity(std::span<const float>(v), std::span<float>(a));
    CHECK(a[4] == 1.0f);
    CHECK(a[6] == 1.0f);
    CHECK(std::isnan(a[5]));
    const auto black = io::colormap_rgb(io::colormap::jet, static_cast<double>(a[5]));
    CHECK(black[0] == 0.0);
    CHECK(black[2] == 0.0);
}

TEST_CASE("heatmap: scaling is per image and ignores the map's overall scale and sign") {
    const auto v = wavy(48);  // 6 x 8
    std::vector<float> two(96);
    for (std::size_t i = 0; i < 48; ++i) {
        two[i] = v[i];
        two[48 + i] = -1000.0f * v[i];
    }
    const tensor<float> maps(shape{2, 6, 8}, two);
    const tensor<float> a = io::heatmap_intensity(maps);
    REQUIRE(a.shape() == maps.shape());
    const tensor<float> alone = io::heatmap_intensity(tensor<float>(shape{6, 8}, v));
    for (std::size_t i = 0; i < 48; ++i) {
        CHECK(a[static_cast<sib::index_t>(i)] == alone[static_cast<sib::index_t>(i)]);
        CHECK(a[static_cast<sib::index_t>(48 + i)] == doctest::Approx(alone[static_cast<sib::index_t>(i)]).epsilon(1e-6));
    }
    // Doubles are read as floats.
    const tensor<double> d(shape{6, 8}, std::vector<double>(v.begin(), v.end()));
    CHECK(io::heatmap_intensity(d).to_vector() == alone.to_vector());
}

TEST_CASE("heatmap: overlay blends the colormap over the image with alpha") {
    // A [10,20] map clipped at 2: pixel 0 is 0, pixel 1 is 100 (above the clip), pixel 3 is -1
    // (intensity 0.5) and all others 2.
    std::vector<float> m(200, 0.0f);
    for (std::size_t i = 1; i < m.size(); ++i) m[i] = 2.0f;
    m[1] = 100.0f;
    m[3] = -1.0f;
    // A gray 10 x 20 image whose first four pixels are known.
    std::vector<float> pixels(200, 0.5f);
    pixels[0] = 0.2f;
    pixels[1] = 0.4f;
    pixels[2] = 0.6f;
    pixels[3] = 0.8f;
    const tensor<float> img(shape{1, 10, 20}, pixels);
    const tensor<float> map(shape{10, 20}, m);
    REQUIRE(io::heatmap_clip(m) == 2.0);
    const tensor<float> o = io::overlay(img, map, io::colormap::jet, 0.5);
    REQUIRE(o.shape() == shape{3, 10, 20});
    const auto at = [&](int ch, int p) { return static_cast<double>(o[ch * 200 + p]); };
    // jet(0) = (0, 0, 0.5), jet(1) = (0.5, 0, 0): matplotlib's ends.
    CHECK(at(0, 0) == doctest::Approx(0.5 * 0.2).epsilon(1e-6));
    CHECK(at(1, 0) == doctest::Approx(0.5 * 0.2).epsilon(1e-6));
    CHECK(at(2, 0) == doctest::Approx(0.5 * 0.2 + 0.25).epsilon(1e-6));
    CHECK(at(0, 1) == doctest::Approx(0.5 * 0.4 + 0.25).epsilon(1e-6));
    CHECK(at(1, 1) == doctest::Approx(0.5 * 0.4).epsilon(1e-6));
    CHECK(at(2, 1) == doctest::Approx(0.5 * 0.4).epsilon(1e-6));
    CHECK(at(0, 2) == doctest::Approx(0.5 * 0.6 + 0.25).epsilon(1e-6));
    const auto half = io::colormap_rgb(io::colormap::jet, 0.5);
    for (int ch = 0; ch < 3; ++ch) CHECK(at(ch, 3) == doctest::Approx(0.5 * 0.8 + 0.5 * half[static_cast<std::size_t>(ch)]).epsilon(1e-6));

    // alpha 0 shows the image, alpha 1 the colormap alone (viridis here); an RGB image keeps its
    // channels.
    const tensor<float> rgb_img(shape{3, 10, 20}, std::vector<float>(600, 0.3f));
    const tensor<float> o0 = io::overlay(rgb_img, map, io::colormap::viridis, 0.0);
    for (float x : o0) CHECK(x == doctest::Approx(0.3));
    const tensor<float> o1 = io::overlay(rgb_img, map, io::colormap::viridis, 1.0);
    const auto v3 = io::colormap_rgb(io::colormap::viridis, 0.5);
    for (int ch = 0; ch < 3; ++ch) CHECK(static_cast<double>(o1[ch * 200 + 3]) == doctest::Approx(v3[static_cast<std::size_t>(ch)]).epsilon(1e-6));
}

TEST_CASE("heatmap: images outside [0,1] are min-max scaled for display; gray is replicated") {
    const tensor<float> std_image(shape{1, 1, 3}, {-2.0f, 0.0f, 2.0f});
    const tensor<float> d = io::display_rgb(std_image);
    REQUIRE(d.shape() == shape{3, 1, 3});
    for (int ch = 0; ch < 3; ++ch) {
        CHECK(d[ch * 3 + 0] == 0.0f);
        CHECK(d[ch * 3 + 1] == 0.5f);
        CHECK(d[ch * 3 + 2] == 1.0f);
    }
    const tensor<float> in_range(shape{3, 1, 1}, {0.1f, 0.7f, 1.0f});
    CHECK(io::display_rgb(in_range).to_vector() == in_range.to_vector());
}

TEST_CASE("heatmap: write_overlay writes the overlay's bytes, upscaled by blocks") {
    temp_folder t;
    const auto v = wavy(35);
    std::vector<float> px(35);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>(i) / 34.0f;
    const tensor<float> img(shape{1, 5, 7}, px), map(shape{5, 7}, v);
    const auto path = t.path / "o.png";
    io::write_overlay(path, img, map, io::colormap::jet, 0.5, 3);
    const tensor<float> back = io::read_image(path);
    REQUIRE(back.shape() == shape{3, 15, 21});
    const tensor<float> o = io::overlay(img, map);
    for (int ch = 0; ch < 3; ++ch)
        for (int y = 0; y < 15; ++y)
            for (int x = 0; x < 21; ++x) {
                const double want = std::lround(static_cast<double>(o[(ch * 5 + y / 3) * 7 + x / 3]) * 255.0) / 255.0;
                CHECK(static_cast<double>(back[(ch * 15 + y) * 21 + x]) == doctest::Approx(want).epsilon(1e-7));
            }
}

TEST_CASE("heatmap: refusals name the problem") {
    const tensor<float> img(shape{1, 4, 4}, 0.5f), map(shape{4, 5}, 1.0f);
    CHECK_THROWS_WITH_AS(io::overlay(img, map), "heatmap: map [4,5] does not fit image [1,4,4] (want [4,4])",
                         sib::error);
    CHECK_THROWS_WITH_AS(io::overlay(img, tensor<float>(shape{4, 4}, 1.0f), io::colormap::jet, 1.5),
                         "heatmap: alpha must lie in [0, 1], got 1.5", sib::error);
    CHECK_THROWS_WITH_AS(io::display_rgb(tensor<float>(shape{2, 4, 4}, 0.0f)),
                         "heatmap: image must be [C,H,W] with C of 1 (gray) or 3 (RGB), got [2,4,4]", sib::error);
}

TEST_CASE("heatmap: wrap_label breaks after '_' or '-' where it can") {
    CHECK(io::wrap_label("saliency", 18) == std::vector<std::string>{"saliency"});
    CHECK(io::wrap_label("integrated_gradients", 18) == std::vector<std::string>{"integrated_", "gradients"});
    CHECK(io::wrap_label("fmnist-clutter", 8) == std::vector<std::string>{"fmnist-", "clutter"});
    CHECK(io::wrap_label("abcdefghij", 4) == std::vector<std::string>{"abcd", "efgh", "ij"});
    CHECK(io::wrap_label("", 4) == std::vector<std::string>{""});
}

TEST_CASE("heatmap: contact sheet layout and cells") {
    const auto v = wavy(28 * 28);
    std::vector<float> px(28 * 28);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>(i % 28) / 27.0f;
    const tensor<float> img(shape{1, 28, 28}, px), map(shape{28, 28}, v);
    tensor<float> mask(shape{1, 28, 28}, 0.0f);
    for (int i = 0; i < 100; ++i) mask[300 + i] = 1.0f;
    const std::vector<std::string> methods{"saliency", "integrated_gradients"};
    std::vector<io::contact_sheet_row> rows(3);
    for (auto& r : rows) {
        r.image = img;
        r.maps = {map, map};
    }
    rows[0].mask = mask;
    rows[2].mask = mask;

    // 28 px cells scaled by 4 to 112; columns input, mask, 2 methods; gap 4; header of 2 lines of
    // 10 px (integrated_gradients does not fit 18 characters).
    const io::rgb8_image s = io::render_contact_sheet(rows, methods);
    CHECK(s.width == 4 + 4 * (112 + 4));
    CHECK(s.height == 4 + 20 + 4 + 3 * (112 + 4));
    REQUIRE(s.pixels.size() == static_cast<std::size_t>(s.width * s.height * 3));

    const int top = 4 + 20 + 4;
    const auto byte = [](double x) { return static_cast<int>(std::lround(x * 255.0)); };
    // Input cell of row 1: pixel (x, y) of the sheet shows image pixel (x / 4, y / 4) in gray.
    const int row1 = top + 116;
    for (int x : {0, 5, 111}) {
        const std::uint8_t* p = s.at(4 + x, row1 + 9);
        CHECK(int(p[0]) == byte(static_cast<double>(px[static_cast<std::size_t>(2 * 28 + x / 4)])));
        CHECK(int(p[0]) == int(p[1]));
    }
    // Mask column: row 0 shows its mask, row 1 (none) is light gray.
    CHECK(int(s.at(4 + 116 + (300 % 28) * 4, top + (300 / 28) * 4)[0]) == 255);
    CHECK(int(s.at(4 + 116, top)[0]) == 0);
    CHECK(int(s.at(4 + 116 + 50, row1 + 50)[0]) == 220);
    // Method columns show the overlay.
    const tensor<float> o = io::overlay(img, map);
    for (int col : {2, 3})
        for (int ch = 0; ch < 3; ++ch) {
            const std::uint8_t* p = s.at(4 + col * 116 + 4 * 13 + 2, top + 2 * 116 + 4 * 20 + 3);
            CHECK(int(p[ch]) == byte(static_cast<double>(o[(ch * 28 + 20) * 28 + 13])));
        }
    // Gaps stay white; the header has black text.
    CHECK(int(s.at(4 + 112 + 1, top + 5)[0]) == 255);
    int dark = 0;
    for (int y = 0; y < top; ++y)
        for (int x = 0; x < s.width; ++x) dark += s.at(x, y)[0] == 0;
    CHECK(dark > 100);

    // Without masks there is no mask column; an explicit scale and gap are honoured.
    for (auto& r : rows) r.mask = tensor<float>{};
    io::contact_sheet_options opt;
    opt.scale = 2;
    opt.gap = 1;
    const io::rgb8_image small = io::render_contact_sheet(rows, {"a", "b"}, opt);
    // 56 px cells: 9 characters fit, labels are one line.
    CHECK(small.width == 1 + 3 * (56 + 1));
    CHECK(small.height == 1 + 10 + 1 + 3 * (56 + 1));

    // A sheet on disk is a PNG of that size.
    temp_folder t;
    io::write_contact_sheet(t.path / "sheet.png", rows, {"a", "b"}, opt);
    CHECK(io::read_image(t.path / "sheet.png").shape() == shape{3, static_cast<sib::index_t>(small.height),
                                                                static_cast<sib::index_t>(small.width)});

    // Large cells get larger labels: 224 x 320 images (scale 1), font scale 2 (320 / 160).
    std::vector<io::contact_sheet_row> big(1);
    big[0].image = tensor<float>(shape{3, 224, 320}, 0.5f);
    big[0].maps = {tensor<float>(shape{224, 320}, 1.0f)};
    const io::rgb8_image b = io::render_contact_sheet(big, {"gradcam"});
    CHECK(b.width == 4 + 2 * (320 + 4));
    CHECK(b.height == 4 + 10 * 2 + 4 + 224 + 4);  // one line of 20 px

    CHECK_THROWS_WITH_AS(io::render_contact_sheet(rows, {"a"}), "contact sheet: row 0 has 2 maps for 1 methods",
                         sib::error);
    rows[1].image = tensor<float>(shape{1, 28, 27}, 0.0f);
    CHECK_THROWS_WITH_AS(io::render_contact_sheet(rows, {"a", "b"}),
                         "contact sheet: row 1 image [1,28,27] differs from row 0 image [1,28,28] in size", sib::error);
}

TEST_CASE("bitmap font: every allowed character has its own non-empty glyph") {
    const std::string chars = allowed_characters();
    std::set<io::glyph_rows> seen;
    for (char c : chars) {
        CAPTURE(c);
        CHECK(io::has_glyph(c));
        const auto g = io::glyph(c);
        int on = 0;
        for (auto row : g) on += std::popcount(static_cast<unsigned>(row));
        CHECK(on >= 5);
        for (auto row : g) CHECK(row < 32);  // 5 columns only
        seen.insert(g);
        // Only descenders, '_' and ',' reach below the baseline.
        const bool descends = std::string("gjpqy_,").find(c) != std::string::npos;
        CHECK((g[7] != 0) == descends);
    }
    CHECK(seen.size() == chars.size());  // no two characters look alike
    CHECK(!io::has_glyph('~'));
    CHECK(io::glyph('~') == io::glyph('?'));
}

TEST_CASE("bitmap font: draw_text draws every glyph inside its box") {
    for (char c : allowed_characters()) {
        for (int scale : {1, 3}) {
            CAPTURE(c);
            CAPTURE(scale);
            const int w = 20, h = 30, x0 = 2, y0 = 3;
            std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * 3), 9);
            const std::uint8_t red[3] = {255, 0, 0};
            io::draw_text(px.data(), w, h, 3, x0, y0, std::string(1, c), red, scale);
            int painted = 0, outside = 0;
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x) {
                    const std::uint8_t* p = px.data() + (y * w + x) * 3;
                    if (p[0] == 255) {
                        ++painted;
                        CHECK(p[1] == 0);
                        const bool inside = x >= x0 && x < x0 + io::text_width(std::string(1, c), scale) &&
                                            y >= y0 && y < y0 + io::text_height(scale);
                        outside += !inside;
                    } else {
                        CHECK(p[0] == 9);
                    }
                }
            int bits = 0;
            for (auto row : io::glyph(c)) bits += std::popcount(static_cast<unsigned>(row));
            CHECK(painted == bits * scale * scale);
            CHECK(outside == 0);
        }
    }
    // Text running off the picture is clipped, not written out of bounds.
    std::vector<std::uint8_t> tiny(4 * 4, 0);
    const std::uint8_t white[1] = {255};
    io::draw_text(tiny.data(), 4, 4, 1, -3, -2, "WWW", white, 2);
    CHECK(io::text_width("abc", 2) == (3 * 6 - 1) * 2);
}

// ---- charts (io/chart.hpp) ---------------------------------------------------------------------

TEST_CASE("chart: nice ticks are 1, 2 or 5 times a power of ten and cover the range") {
    const auto near = [](const std::vector<double>& got, const std::vector<double>& want) {
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    };
    near(io::nice_ticks(0, 1), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
    near(io::nice_ticks(0.83, 0.86), {0.83, 0.84, 0.85, 0.86});
    near(io::nice_ticks(0.831, 0.859), {0.83, 0.84, 0.85, 0.86});
    near(io::nice_ticks(-7, 1234), {-500, 0, 500, 1000, 1500});
    near(io::nice_ticks(3, 3), {2.6, 2.8, 3.0, 3.2, 3.4});  // one value: a range around it
    near(io::nice_ticks(0, 0), {-1, -0.5, 0, 0.5, 1});
    CHECK(io::nice_ticks(0, 1)[0] == 0.0);
    CHECK_THROWS_WITH_AS(io::nice_ticks(2, 1), "nice_ticks: bad range [2, 1]", sib::error);
    CHECK(io::tick_label(0.25, 0.05) == "0.25");
    CHECK(io::tick_label(100, 50) == "100");
    CHECK(io::tick_label(0.84, 0.01) == "0.84");
    CHECK(io::tick_label(2e-6, 1e-6) == "2e-06");
    CHECK(io::tick_label(-1500, 500) == "-1500");
}

TEST_CASE("chart: series are drawn where their values are, each in its colour, NaN left out") {
    const auto count = [](const io::canvas& c, io::rgb8 col, int x0, int x1) {
        int n = 0;
        for (int y = 0; y < c.height(); ++y)
            for (int x = x0; x < x1; ++x) n += c.at(x, y) == col;
        return n;
    };
    // Rows of pixels of colour `col` in columns [x0, x1): their mean.
    const auto mean_row = [](const io::canvas& c, io::rgb8 col, int x0, int x1) {
        double sum = 0;
        int n = 0;
        for (int y = 0; y < c.height(); ++y)
            for (int x = x0; x < x1; ++x)
                if (c.at(x, y) == col) sum += y, ++n;
        return n ? sum / n : NAN;
    };
    // Unnamed series: no legend in the way.
    std::vector<io::chart_series> s{{"", {0, 1, 2, 3}, {0, 1, 2, 3}}, {"", {0, 1, 2, 3}, {3, 2, 1, 0}}};
    const auto c = io::render_chart(s, {.title = "t", .x_label = "x", .y_label = "y", .width = 400, .height = 300});
    CHECK(c.width() == 400);
    CHECK(c.height() == 300);
    const io::rgb8 up = io::series_color(0), down = io::series_color(1);
    CHECK(up != down);
    // Rising series: lower on the picture (larger row) on the left than on the right; falling: the opposite.
    CHECK(mean_row(c, up, 60, 150) > mean_row(c, up, 250, 380) + 50);
    CHECK(mean_row(c, down, 60, 150) < mean_row(c, down, 250, 380) - 50);
    CHECK(count(c, {255, 255, 255}, 0, 400) > 400 * 300 / 2);  // mostly background

    // Points with NaN y are left out: a series of NaN only shows its legend swatch.
    std::vector<io::chart_series> nan{{"gone", {0, 1}, {NAN, NAN}}, {"kept", {0, 1}, {1, 2}}};
    const auto cn = io::render_chart(nan, {.width = 400, .height = 300});
    const int swatch = count(io::render_chart(std::vector<io::chart_series>{{"gone", {0}, {NAN}}}, {.width = 400, .height = 300}),
                             io::series_color(0), 0, 400);
    CHECK(count(cn, io::series_color(0), 0, 400) == swatch);
    CHECK(count(cn, io::series_color(1), 0, 400) > swatch);

    // Interval bars reach beyond the points: more pixels of the colour than without them.
    std::vector<io::chart_series> bars{{"", {1, 2}, {0.5, 0.6}, {0.1, 0.2}, {0.9, 1.0}}};
    std::vector<io::chart_series> plain{{"", {1, 2}, {0.5, 0.6}}};
    CHECK(count(io::render_chart(bars), up, 0, 480) > count(io::render_chart(plain), up, 0, 480) + 20);
    // A log axis places 1, 10, 100 and 1000 evenly.
    std::vector<io::chart_series> logx{{"", {1, 10, 100, 1000}, {0, 0, 0, 0}}};
    const auto cl = io::render_chart(logx, {.log_x = true, .lines = false});
    std::vector<int> columns;
    for (int x = 0; x < cl.width(); ++x)
        for (int y = 0; y < cl.height(); ++y)
            if (cl.at(x, y) == up) {
                if (columns.empty() || x > columns.back() + 8) columns.push_back(x);
                break;
            }
    REQUIRE(columns.size() == 4);
    CHECK(std::abs((columns[1] - columns[0]) - (columns[3] - columns[2])) <= 1);
    CHECK(std::abs((columns[2] - columns[1]) - (columns[3] - columns[2])) <= 1);
}

TEST_CASE("chart: bad series are one-line errors; tiles; PNG round trip") {
    std::vector<io::chart_series> s{{"a", {1, 2}, {1}}};
    CHECK_THROWS_WITH_AS(io::render_chart(s, {.title = "acc"}), "chart 'acc': series 'a' has 2 x and 1 y values", sib::error);
    s = {{"a", {0, 1}, {1, 2}}};
    CHECK_THROWS_WITH_AS(io::render_chart(s, {.log_x = true}), "chart: a log axis needs x > 0, series 'a' has 0",
                         sib::error);
    s = {{"a", {1, 2}, {1, 2}, {0}, {3}}};
    CHECK_THROWS_WITH_AS(io::render_chart(s), "chart: series 'a' needs one lower and one upper value per point, or none",
                         sib::error);
    s = {{"a", {1, 2}, {1, 2}}};
    CHECK_THROWS_WITH_AS(io::render_chart(s, {.width = 50, .height = 50}), "chart: 50x50 is too small for a chart",
                         sib::error);
    CHECK(io::render_chart(std::vector<io::chart_series>{}).width() == 480);  // empty axes

    const std::vector<io::canvas> panels{io::canvas(10, 20, {1, 2, 3}), io::canvas(30, 5, {4, 5, 6}), io::canvas(7, 7)};
    const auto t = io::tile(panels, 2);
    CHECK(t.width() == 60);
    CHECK(t.height() == 40);
    CHECK(t.at(0, 0) == io::rgb8{1, 2, 3});
    CHECK(t.at(30, 0) == io::rgb8{4, 5, 6});
    CHECK(t.at(30, 10) == io::rgb8{255, 255, 255});
    CHECK(t.at(6, 26) == io::rgb8{255, 255, 255});

    temp_folder dir;
    const auto c = io::render_chart(s, {.title = "a (b) [c], d: e=1/2 +3%"});
    io::write_png(dir.path / "c.png", c);
    const auto back = io::read_image_8bit(dir.path / "c.png");
    CHECK(back.width == c.width());
    CHECK(back.height == c.height());
    CHECK(std::equal(back.pixels.begin(), back.pixels.end(), c.data()));
}
