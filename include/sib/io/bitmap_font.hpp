// A tiny built-in bitmap font (5x7 glyphs plus one descender row) for labels on pictures such as
// contact sheets and charts: no font file to find, the same pixels on every machine. It covers ASCII
// letters, digits and ' _-.?+()[],:=/%'; any other character is drawn as '?'.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace io {

inline constexpr int glyph_width = 5;
inline constexpr int glyph_height = 8;  // 7 rows above the baseline, 1 for descenders (g j p q y _)
inline constexpr int glyph_advance = glyph_width + 1;

// Bit 4 of a row is the leftmost column; row 0 is the top.
using glyph_rows = std::array<std::uint8_t, glyph_height>;

namespace detail {

struct glyph_source {
    char c;
    const char* rows;  // 8 rows of 5 characters ('#' on), separated by one space
};

// Drawn by hand; kept as pictures so a wrong pixel is visible in review.
inline constexpr glyph_source glyph_sources[] = {
    {'0', ".###. #...# #..## #.#.# ##..# #...# .###. ....."},
    {'1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'2', ".###. #...# ....# ...#. ..#.. .#... ##### ....."},
    {'3', "##### ...#. ..#.. ...#. ....# #...# .###. ....."},
    {'4', "...#. ..##. .#.#. #..#. ##### ...#. ...#. ....."},
    {'5', "##### #.... ####. ....# ....# #...# .###. ....."},
    {'6', "..##. .#... #.... ####. #...# #...# .###. ....."},
    {'7', "##### ....# ...#. ..#.. .#... .#... .#... ....."},
    {'8', ".###. #...# #...# .###. #...# #...# .###. ....."},
    {'9', ".###. #...# #...# .#### ....# ...#. .##.. ....."},
    {'A', ".###. #...# #...# ##### #...# #...# #...# ....."},
    {'B', "####. #...# #...# ####. #...# #...# ####. ....."},
    {'C', ".###. #...# #.... #.... #.... #...# .###. ....."},
    {'D', "###.. #..#. #...# #...# #...# #..#. ###.. ....."},
    {'E', "##### #.... #.... ####. #.... #.... ##### ....."},
    {'F', "##### #.... #.... ####. #.... #.... #.... ....."},
    {'G', ".###. #...# #.... #.### #...# #...# .#### ....."},
    {'H', "#...# #...# #...# ##### #...# #...# #...# ....."},
    {'I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'J', "..### ...#. ...#. ...#. ...#. #..#. .##.. ....."},
    {'K', "#...# #..#. #.#.. ##... #.#.. #..#. #...# ....."},
    {'L', "#.... #.... #.... #.... #.... #.... ##### ....."},
    {'M', "#...# ##.## #.#.# #.#.# #...# #...# #...# ....."},
    {'N', "#...# #...# ##..# #.#.# #..## #...# #...# ....."},
    {'O', ".###. #...# #...# #...# #...# #...# .###. ....."},
    {'P', "####. #...# #...# ####. #.... #.... #.... ....."},
    {'Q', ".###. #...# #...# #...# #.#.# #..#. .##.# ....."},
    {'R', "####. #...# #...# ####. #.#.. #..#. #...# ....."},
    {'S', ".#### #.... #.... .###. ....# ....# ####. ....."},
    {'T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ....."},
    {'U', "#...# #...# #...# #...# #...# #...# .###. ....."},
    {'V', "#...# #...# #...# #...# #...# .#.#. ..#.. ....."},
    {'W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#. ....."},
    {'X', "#...# #...# .#.#. ..#.. .#.#. #...# #...# ....."},
    {'Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.. ....."},
    {'Z', "##### ....# ...#. ..#.. .#... #.... ##### ....."},
    {'a', "..... ..... .###. ....# .#### #...# .#### ....."},
    {'b', "#.... #.... #.##. ##..# #...# #...# ####. ....."},
    {'c', "..... ..... .###. #.... #.... #...# .###. ....."},
    {'d', "....# ....# .##.# #..## #...# #...# .#### ....."},
    {'e', "..... ..... .###. #...# ##### #.... .###. ....."},
    {'f', "..##. .#..# .#... ###.. .#... .#... .#... ....."},
    {'g', "..... ..... .#### #...# #...# .#### ....# .###."},
    {'h', "#.... #.... #.##. ##..# #...# #...# #...# ....."},
    {'i', "..#.. ..... .##.. ..#.. ..#.. ..#.. .###. ....."},
    {'j', "...#. ..... ..##. ...#. ...#. ...#. #..#. .##.."},
    {'k', "#.... #.... #..#. #.#.. ##... #.#.. #..#. ....."},
    {'l', ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###. ....."},
    {'m', "..... ..... ##.#. #.#.# #.#.# #...# #...# ....."},
    {'n', "..... ..... #.##. ##..# #...# #...# #...# ....."},
    {'o', "..... ..... .###. #...# #...# #...# .###. ....."},
    {'p', "..... ..... ####. #...# #...# ####. #.... #...."},
    {'q', "..... ..... .#### #...# #...# .#### ....# ....#"},
    {'r', "..... ..... #.##. ##..# #.... #.... #.... ....."},
    {'s', "..... ..... .#### #.... .###. ....# ####. ....."},
    {'t', ".#... .#... ###.. .#... .#... .#..# ..##. ....."},
    {'u', "..... ..... #...# #...# #...# #..## .##.# ....."},
    {'v', "..... ..... #...# #...# #...# .#.#. ..#.. ....."},
    {'w', "..... ..... #...# #...# #.#.# #.#.# .#.#. ....."},
    {'x', "..... ..... #...# .#.#. ..#.. .#.#. #...# ....."},
    {'y', "..... ..... #...# #...# #...# .#### ....# .###."},
    {'z', "..... ..... ##### ...#. ..#.. .#... ##### ....."},
    {'_', "..... ..... ..... ..... ..... ..... ..... #####"},
    {'-', "..... ..... ..... ##### ..... ..... ..... ....."},
    {'.', "..... ..... ..... ..... ..... .##.. .##.. ....."},
    {'?', ".###. #...# ....# ...#. ..#.. ..... ..#.. ....."},
    {' ', "..... ..... ..... ..... ..... ..... ..... ....."},
    {'+', "..... ..#.. ..#.. ##### ..#.. ..#.. ..... ....."},
    {'(', "...#. ..#.. .#... .#... .#... ..#.. ...#. ....."},
    {')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#... ....."},
    {'[', ".###. .#... .#... .#... .#... .#... .###. ....."},
    {']', ".###. ...#. ...#. ...#. ...#. ...#. .###. ....."},
    {',', "..... ..... ..... ..... .##.. .##.. ..#.. .#..."},
    {':', "..... .##.. .##.. ..... .##.. .##.. ..... ....."},
    {'=', "..... ..... ##### ..... ##### ..... ..... ....."},
    {'/', "....# ....# ...#. ..#.. .#... #.... #.... ....."},
    {'%', "##... ##..# ...#. ..#.. .#... #..## ...## ....."},
};

constexpr glyph_rows parse_glyph(const char* rows) {
    glyph_rows g{};
    for (int r = 0; r < glyph_height; ++r)
        for (int c = 0; c < glyph_width; ++c)
            if (rows[r * (glyph_width + 1) + c] == '#') g[r] |= static_cast<std::uint8_t>(1u << (glyph_width - 1 - c));
    return g;
}

constexpr int glyph_slot(char c) {
    for (std::size_t i = 0; i < std::size(glyph_sources); ++i)
        if (glyph_sources[i].c == c) return static_cast<int>(i);
    return -1;
}

// Every picture is 8 rows of 5 '#' or '.', one space apart: a typo fails the build, not a label.
constexpr bool well_formed(const char* rows) {
    for (int i = 0; i < glyph_height * (glyph_width + 1) - 1; ++i) {
        const char ch = rows[i];
        const bool separator = i % (glyph_width + 1) == glyph_width;
        if (separator ? ch != ' ' : (ch != '#' && ch != '.')) return false;
    }
    return rows[glyph_height * (glyph_width + 1) - 1] == '\0';
}
constexpr bool font_well_formed() {
    for (const auto& g : glyph_sources)
        if (!well_formed(g.rows)) return false;
    return true;
}
static_assert(font_well_formed(), "bitmap_font: a glyph picture is malformed");

}  // namespace detail

// Whether `c` has a glyph of its own (others draw as '?').
constexpr bool has_glyph(char c) { return detail::glyph_slot(c) >= 0; }

constexpr glyph_rows glyph(char c) {
    const int slot = detail::glyph_slot(c);
    return detail::parse_glyph(detail::glyph_sources[slot >= 0 ? slot : detail::glyph_slot('?')].rows);
}

// Width in pixels of `text` drawn at an integer `scale` (no spacing after the last glyph).
constexpr int text_width(std::string_view text, int scale = 1) {
    return text.empty() ? 0 : (static_cast<int>(text.size()) * glyph_advance - 1) * scale;
}
constexpr int text_height(int scale = 1) { return glyph_height * scale; }

// Draws `text` with its top-left corner at (x, y) into interleaved 8-bit pixels of `channels`
// bytes each (row-major, `width` x `height`), every glyph pixel a scale x scale block of `color`
// (its first `channels` bytes). Pixels outside the picture are skipped.
inline void draw_text(std::uint8_t* pixels, int width, int height, int channels, int x, int y,
                      std::string_view text, const std::uint8_t* color, int scale = 1) {
    require(scale >= 1, "draw_text: scale must be at least 1, got ", scale);
    require(channels >= 1 && channels <= 4, "draw_text: channels must be 1 to 4, got ", channels);
    for (std::size_t k = 0; k < text.size(); ++k) {
        const glyph_rows g = glyph(text[k]);
        const int left = x + static_cast<int>(k) * glyph_advance * scale;
        for (int r = 0; r < glyph_height; ++r)
            for (int c = 0; c < glyph_width; ++c) {
                if (((g[r] >> (glyph_width - 1 - c)) & 1u) == 0) continue;
                for (int dy = 0; dy < scale; ++dy)
                    for (int dx = 0; dx < scale; ++dx) {
                        const int px = left + c * scale + dx, py = y + r * scale + dy;
                        if (px < 0 || py < 0 || px >= width || py >= height) continue;
                        std::uint8_t* p = pixels + (static_cast<std::size_t>(py) * width + px) * channels;
                        for (int ch = 0; ch < channels; ++ch) p[ch] = color[ch];
                    }
            }
    }
}

}  // namespace io
SIB_END_NAMESPACE
