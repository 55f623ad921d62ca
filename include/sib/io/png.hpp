// PNG out (stb_image_write) and PNG/JPEG/BMP/TGA in (stb_image), as tensors [C,H,W] in [0,1].
//
// stb's implementation must exist exactly once in a program. By default it comes from the
// system's stb library (Debian: libstb-dev, pkg-config name `stb`), which the sib CMake target
// links. Where no such library exists, define SIB_STB_IMPLEMENTATION in exactly one .cpp file
// before including this header; it then compiles stb's implementation into that file.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <sib/io/atomic_write.hpp>
#include <sib/io/file_read.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cctype>
#include <cstring>
#include <concepts>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(SIB_STB_IMPLEMENTATION)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#else
#include <stb_image.h>
#include <stb_image_write.h>
#endif

SIB_BEGIN_NAMESPACE
namespace io {

// Writes width x height pixels, rows top to bottom, `channels` interleaved bytes per pixel
// (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). Atomic, as every sib writer.
inline void write_png(const std::filesystem::path& path, const std::uint8_t* pixels, int width,
                      int height, int channels) {
    const std::string where = path.string();
    require(channels >= 1 && channels <= 4, where, ": PNG channels must be 1 to 4, got ", channels);
    require(width > 0 && height > 0, where, ": PNG size must be positive, got ", width, "x", height);
    require(pixels != nullptr, where, ": no pixels");
    std::vector<unsigned char> png;
    const auto append = [](void* context, void* data, int size) {
        auto* out = static_cast<std::vector<unsigned char>*>(context);
        const auto* p = static_cast<const unsigned char*>(data);
        out->insert(out->end(), p, p + size);
    };
    const int ok = stbi_write_png_to_func(append, &png, width, height, channels, pixels,
                                          width * channels);
    require(ok != 0 && !png.empty(), where, ": PNG encoding failed");
    write_file_atomically(path, png.data(), png.size());
}

// An image tensor [C,H,W] (C of 1 to 4) with values in [0,1]: clipped, then rounded to 8 bits.
// Whether a file name has an extension stb_image reads (case-insensitive): what image and photo
// folders list.
inline bool is_image_path(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm"})
        if (ext == e) return true;
    return false;
}

// An RGB picture with data(), width() and height() (io::canvas, a rendered chart) as PNG.
template <class Picture>
    requires requires(const Picture& p) {
        { p.data() } -> std::convertible_to<const std::uint8_t*>;
        { p.width() } -> std::convertible_to<int>;
        { p.height() } -> std::convertible_to<int>;
    }
void write_png(const std::filesystem::path& path, const Picture& picture) {
    write_png(path, picture.data(), picture.width(), picture.height(), 3);
}

template <class T, class B>
void write_image(const std::filesystem::path& path, const tensor<T, B>& chw) {
    require(chw.rank() == 3, path.string(), ": image must be [C,H,W], got ", chw.shape().str());
    const index_t c = chw.dim(0), h = chw.dim(1), w = chw.dim(2);
    require(c >= 1 && c <= 4, path.string(), ": PNG channels must be 1 to 4, got ", c);
    const std::vector<T> v = chw.to_vector();
    std::vector<std::uint8_t> hwc(static_cast<std::size_t>(c * h * w));
    for (index_t ch = 0; ch < c; ++ch)
        for (index_t p = 0; p < h * w; ++p) {
            const double x = std::clamp(static_cast<double>(v[static_cast<std::size_t>(ch * h * w + p)]), 0.0, 1.0);
            hwc[static_cast<std::size_t>(p * c + ch)] = static_cast<std::uint8_t>(std::lround(x * 255.0));
        }
    write_png(path, hwc.data(), static_cast<int>(w), static_cast<int>(h), static_cast<int>(c));
}

// The largest image read_image decodes by default: 2^26 pixels (8192 x 8192), 1 GiB as float RGBA
// (PIL's default limit, Image.MAX_IMAGE_PIXELS, is of the same size). The readers take a smaller or
// larger limit as their last argument.
inline constexpr std::uint64_t max_image_pixels = std::uint64_t{1} << 26;

namespace detail {

// The fewest bytes a file can hold a w x h image in (header included), with the format's name; 0
// where chunks are checked instead (PNG) or where no useful bound exists (GIF, whose canvas
// may be far larger than its frames; HDR and PIC). stb reads past the end of a short BMP, PNM, TGA,
// PSD or JPEG as zeros, so 90 bytes declaring 14 million pixels would decode (slowly) into a gigabyte
// of blank image (fuzz findings). JPEG codes a DC value for every 8x8 block of its full-resolution
// component, at least one bit each: fewer bytes is a truncated file (PIL refuses those too).
struct raw_size { std::uint64_t bytes = 0; const char* format = ""; };
inline raw_size smallest_raw_size(const stbi_uc* b, std::size_t n, std::uint64_t w, std::uint64_t h) {
    const auto byte = [&](std::size_t at) { return at < n ? std::uint64_t{b[at]} : 0; };
    const auto le16 = [&](std::size_t at) { return byte(at) | byte(at + 1) << 8; };
    const auto le32 = [&](std::size_t at) { return le16(at) | le16(at + 2) << 16; };
    const auto starts = [&](std::string_view magic) {
        return n >= magic.size() && std::memcmp(b, magic.data(), magic.size()) == 0;
    };
    const std::uint64_t pixels = w * h;
    if (starts("BM")) {  // stb decodes uncompressed BMPs only: rows padded to 4 bytes after the data offset
        const std::uint64_t bits = le32(14) == 12 ? le16(24) : le16(28);
        return {le32(10) + (w * bits + 31) / 32 * 4 * h, "BMP"};
    }
    if (starts("P5") || starts("P6")) {  // the header ends after the maximum value and one space
        std::size_t at = 2;
        for (int field = 0; field < 3; ++field) {
            while (at < n && (std::isspace(b[at]) || b[at] == '#')) {
                if (b[at] == '#') {
                    while (at < n && b[at] != '\n' && b[at] != '\r') ++at;
                } else {
                    ++at;
                }
            }
            while (at < n && std::isdigit(b[at])) ++at;
        }
        return {at + 1 + (b[1] == '6' ? 3 : 1) * pixels, b[1] == '6' ? "PPM" : "PGM"};
    }
    if (starts("8BPS")) return {26 + pixels / 128 * 2, "PSD"};  // PackBits: at most 128 bytes per 2
    if (starts("\xff\xd8")) {  // the segments up to the first scan's header, then the scan's bits
        std::size_t at = 2, scan = 0;
        while (scan == 0 && at + 4 <= n && b[at] == 0xff) {
            const unsigned marker = b[at + 1];
            const std::size_t length = static_cast<std::size_t>(byte(at + 2) << 8 | byte(at + 3));
            if (marker == 0xff) {
                ++at;  // a fill byte
            } else if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
                at += 2;  // markers without a length
            } else {
                if (marker == 0xda) scan = at + 2 + length;
                at += 2 + length;
            }
        }
        return {scan + (w + 7) / 8 * ((h + 7) / 8) / 8, "JPEG"};
    }
    if (starts("\x89PNG") || starts("GIF8") || starts("#?") || starts("\x53\x80\xf6\x34"))
        return {};
    // TGA (no magic): 18 bytes, an id, a colour map, then pixels: types 1-3 store every pixel, 9-11
    // run-length packets of at most 128 pixels.
    const std::uint64_t type = byte(2), bytes_per_pixel = (byte(16) + 7) / 8;
    const std::uint64_t header = 18 + byte(0) + (byte(1) ? le16(5) * ((byte(7) + 7) / 8) : 0);
    if (type >= 1 && type <= 3) return {header + pixels * bytes_per_pixel, "TGA"};
    if (type >= 9 && type <= 11) return {header + (pixels + 127) / 128 * (1 + bytes_per_pixel), "TGA"};
    return {};
}

// The first PNG chunk (after the signature, up to IEND) whose declared length runs past the end of
// the file, as "IDAT at byte 33 declares 973078547 bytes"; empty when every chunk fits. stb grows its
// buffer to a chunk's declared length before it reads the chunk, so 76 bytes declaring a 1 GB IDAT
// allocate 1 GB (2 GB after a first IDAT) before the data is found missing (a fuzz finding).
inline std::string png_chunk_past_end(const stbi_uc* b, std::size_t n) {
    std::size_t at = 8;
    while (at + 8 <= n) {
        const std::uint64_t length = std::uint64_t{b[at]} << 24 | std::uint64_t{b[at + 1]} << 16 |
                                     std::uint64_t{b[at + 2]} << 8 | std::uint64_t{b[at + 3]};
        const std::string type(reinterpret_cast<const char*>(b + at + 4), 4);
        if (at + 12 + length > n) {
            std::string printable;
            for (char c : type) printable += std::isalpha(static_cast<unsigned char>(c)) ? c : '?';
            return printable + " at byte " + std::to_string(at) + " declares " + std::to_string(length) + " bytes";
        }
        if (type == "IEND") break;
        at += 12 + static_cast<std::size_t>(length);
    }
    return {};
}

}  // namespace detail

namespace detail {

// What read_image and read_image_8bit check before stb decodes a file's bytes: a header stb can
// read, the canvas it declares against `max_pixels` (a few bytes of GIF or PNM can declare
// gigabytes, which stb would allocate), 16-bit samples outside PNG, PNG chunks longer than the file,
// and files shorter than their declared pixels need.
// Returns whether the file holds 16-bit samples.
inline bool check_before_decode(const std::string& where, const stbi_uc* bytes, std::size_t size,
                                std::uint64_t max_pixels) {
    require(size <= static_cast<std::size_t>(std::numeric_limits<int>::max()), where, ": file too large for stb_image");
    const int n = static_cast<int>(size);
    int w = 0, h = 0, stored = 0;
    // A header stb cannot read is refused here, not handed to the loader: stb's loaders check less
    // than its header readers (a PIC whose packets stbi_info rejects still gets its declared canvas
    // of up to 2 GB allocated and filled before the packets are read; a fuzz finding).
    if (!stbi_info_from_memory(bytes, n, &w, &h, &stored))
        fail(where, ": cannot decode image (", stbi_failure_reason(), ")");
    require(static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h) <= max_pixels, where,
            ": the image declares ", w, "x", h, " pixels, more than the limit of ", max_pixels);
    // 16-bit samples from PNG only. Debian's stb reads past the buffer it allocated for a 16-bit PNM
    // (a fuzz finding, tests/data/io/pnm16_short.pgm): such files are refused before stb decodes them.
    const bool png = n >= 8 && std::memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0;
    const bool wide = stbi_is_16_bit_from_memory(bytes, n) != 0;
    require(!wide || png, where, ": 16-bit images are read from PNG files only");
    if (png) {
        const std::string chunk = png_chunk_past_end(bytes, size);
        require(chunk.empty(), where, ": the PNG chunk ", chunk, ", but the file holds ", size);
    }
    if (w > 0 && h > 0) {
        const auto raw = smallest_raw_size(bytes, size, static_cast<std::uint64_t>(w), static_cast<std::uint64_t>(h));
        require(size >= raw.bytes, where, ": the ", raw.format, " header declares ", w, "x", h,
                " pixels, which need at least ", raw.bytes, " bytes, but the file holds ", size);
    }
    return wide;
}

}  // namespace detail

// Any format stb_image reads (PNG, JPEG, BMP, TGA, GIF's first frame, PSD, PNM) as [C,H,W] floats:
// 8-bit values / 255, 16-bit PNG values / 65535. `channels` 0 keeps the stored count; 1 to 4
// converts as stb does (gray <-> RGB by luminance, alpha added as opaque or dropped). An image of
// more than `max_pixels` pixels is refused before it is decoded.
template <class T = float, class B = cpu>
tensor<T, B> read_image(const std::filesystem::path& path, int channels = 0,
                        std::uint64_t max_pixels = max_image_pixels) {
    const std::string where = path.string();
    require(channels >= 0 && channels <= 4, where, ": channels must be 0 (as stored) or 1 to 4, got ",
            channels);
    const std::vector<std::byte> file = detail::read_file_bytes(path);
    const auto* bytes = reinterpret_cast<const stbi_uc*>(file.data());
    const bool wide = detail::check_before_decode(where, bytes, file.size(), max_pixels);
    const int n = static_cast<int>(file.size());
    int w = 0, h = 0, stored = 0;
    std::unique_ptr<void, void (*)(void*)> pixels(
        wide ? static_cast<void*>(stbi_load_16_from_memory(bytes, n, &w, &h, &stored, channels))
             : static_cast<void*>(stbi_load_from_memory(bytes, n, &w, &h, &stored, channels)),
        [](void* p) { stbi_image_free(p); });
    if (!pixels) fail(where, ": cannot decode image (", stbi_failure_reason(), ")");
    const int c = channels ? channels : stored;
    const std::size_t plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
    std::vector<T> chw(plane * static_cast<std::size_t>(c));
    const double full = wide ? 65535.0 : 255.0;
    for (std::size_t p = 0; p < plane; ++p)
        for (int ch = 0; ch < c; ++ch) {
            const std::size_t src = p * static_cast<std::size_t>(c) + static_cast<std::size_t>(ch);
            const double v = wide ? static_cast<const std::uint16_t*>(pixels.get())[src]
                                  : static_cast<const std::uint8_t*>(pixels.get())[src];
            chw[static_cast<std::size_t>(ch) * plane + p] = static_cast<T>(v / full);
        }
    return tensor<T, B>(sib::shape{c, h, w}, chw);
}

// 8-bit pixels as stb decodes them, interleaved (row by row, `channels` bytes per pixel): what PIL
// holds after Image.open(...).convert("RGB") for channels 3, and what the photo folder resamples.
// 16-bit PNG samples are cut to their high byte (stb's conversion).
struct image_8bit {
    std::vector<std::uint8_t> pixels;
    int width = 0, height = 0, channels = 0;
};

inline image_8bit read_image_8bit(const std::filesystem::path& path, int channels = 0,
                                  std::uint64_t max_pixels = max_image_pixels) {
    const std::string where = path.string();
    require(channels >= 0 && channels <= 4, where, ": channels must be 0 (as stored) or 1 to 4, got ",
            channels);
    const std::vector<std::byte> file = detail::read_file_bytes(path);
    const auto* bytes = reinterpret_cast<const stbi_uc*>(file.data());
    detail::check_before_decode(where, bytes, file.size(), max_pixels);
    int w = 0, h = 0, stored = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
        stbi_load_from_memory(bytes, static_cast<int>(file.size()), &w, &h, &stored, channels),
        [](void* p) { stbi_image_free(p); });
    if (!pixels) fail(where, ": cannot decode image (", stbi_failure_reason(), ")");
    image_8bit out;
    out.width = w;
    out.height = h;
    out.channels = channels ? channels : stored;
    out.pixels.assign(pixels.get(), pixels.get() + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) *
                                                       static_cast<std::size_t>(out.channels));
    return out;
}

}  // namespace io
SIB_END_NAMESPACE
