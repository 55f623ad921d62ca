// The element types sib stores in files (.npy, .safetensors) and the conversions from them to a
// tensor's element type. Floating data never silently becomes integer, and narrowing between
// integer types is checked, because labels and indices read from a file must not wrap.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace io {

// Both file formats are little-endian; reading them with memcpy is only right on such a host.
static_assert(std::endian::native == std::endian::little,
              "sib::io supports little-endian hosts only");

enum class dtype : std::uint8_t { float32, float64, int64, int32, uint8 };

constexpr std::size_t dtype_size(dtype d) {
    switch (d) {
        case dtype::float32: return 4;
        case dtype::float64: return 8;
        case dtype::int64: return 8;
        case dtype::int32: return 4;
        case dtype::uint8: return 1;
    }
    return 0;
}

// NumPy's names.
constexpr std::string_view dtype_name(dtype d) {
    switch (d) {
        case dtype::float32: return "float32";
        case dtype::float64: return "float64";
        case dtype::int64: return "int64";
        case dtype::int32: return "int32";
        case dtype::uint8: return "uint8";
    }
    return "?";
}

constexpr bool is_floating(dtype d) { return d == dtype::float32 || d == dtype::float64; }

template <class T>
inline constexpr bool is_storable_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t> ||
    std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::uint8_t>;

template <class T>
constexpr dtype dtype_of() {
    static_assert(is_storable_v<T>,
                  "sib::io: element type must be float, double, int64_t, int32_t or uint8_t");
    if constexpr (std::is_same_v<T, float>) return dtype::float32;
    else if constexpr (std::is_same_v<T, double>) return dtype::float64;
    else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::int64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::int32;
    else return dtype::uint8;
}

namespace detail {
template <class S, class T>
void convert_from(const std::byte* src, std::size_t n, T* dst, std::string_view context) {
    for (std::size_t i = 0; i < n; ++i) {
        S v;
        // memcpy: offsets inside a file need not be aligned for S.
        std::memcpy(&v, src + i * sizeof(S), sizeof(S));
        if constexpr (std::is_integral_v<S> && std::is_integral_v<T>) {
            if (!std::in_range<T>(v))
                fail(context, ": value ", static_cast<std::int64_t>(v), " does not fit in ",
                     dtype_name(dtype_of<T>()));
        }
        dst[i] = static_cast<T>(v);
    }
}
}  // namespace detail

// Converts n elements stored as `from` (little-endian, packed) into dst. `context` (usually the
// file name) starts the message of any error.
template <class T>
void convert_elements(dtype from, const std::byte* src, std::size_t n, T* dst,
                      std::string_view context) {
    if constexpr (std::is_integral_v<T>)
        require(!is_floating(from), context, ": cannot read ", dtype_name(from), " data as ",
                dtype_name(dtype_of<T>()));
    if (from == dtype_of<T>()) {
        if (n) std::memcpy(dst, src, n * sizeof(T));
        return;
    }
    switch (from) {
        case dtype::float32: return detail::convert_from<float>(src, n, dst, context);
        case dtype::float64: return detail::convert_from<double>(src, n, dst, context);
        case dtype::int64: return detail::convert_from<std::int64_t>(src, n, dst, context);
        case dtype::int32: return detail::convert_from<std::int32_t>(src, n, dst, context);
        case dtype::uint8: return detail::convert_from<std::uint8_t>(src, n, dst, context);
    }
}

}  // namespace io
SIB_END_NAMESPACE
