// One exception type for every user-facing failure: its message is one line that names the problem.
#pragma once
#include <sib/core/config.hpp>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <stdexcept>
#include <string>

SIB_BEGIN_NAMESPACE

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An allocation memory could not hold (the message names what and how many bytes).
class out_of_memory : public error {
public:
    using error::error;
};

namespace detail {
// A message is built on the failure path only, from pieces: text, characters, integers and
// floating-point numbers are written as `std::ostream << v` would, without a stream; anything else
// is streamed into a string first (printable). A failing require() fills an array of pieces on its
// cold path and calls one out-of-line function that joins and throws: no ostringstream per
// message, and no function per distinct argument list for the compiler to build.
struct message_piece {
    enum class kind : unsigned char { text, character, signed_integer, unsigned_integer, floating };
    kind k = kind::text;
    char c = 0;
    std::string_view text;
    long long i = 0;
    unsigned long long u = 0;
    double d = 0;

    template <class T>
    message_piece(const T& v) {
        if constexpr (std::is_convertible_v<const T&, std::string_view>) {
            text = std::string_view(v);
        } else if constexpr (std::is_same_v<T, char> || std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char>) {
            k = kind::character;
            c = static_cast<char>(v);
        } else if constexpr (std::is_same_v<T, bool>) {
            text = v ? "1" : "0";
        } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
            k = kind::signed_integer;
            i = v;
        } else if constexpr (std::is_integral_v<T>) {
            k = kind::unsigned_integer;
            u = v;
        } else {
            static_assert(std::is_floating_point_v<T>, "message_piece: pass the value through printable()");
            k = kind::floating;
            d = static_cast<double>(v);
        }
    }
};

template <class T>
inline constexpr bool is_piece_v = std::is_convertible_v<const T&, std::string_view> || std::is_arithmetic_v<T>;

// The value itself where a message_piece takes it; otherwise what `std::ostream << v` writes.
template <class T>
decltype(auto) printable(const T& v) {
    if constexpr (is_piece_v<T>) {
        return (v);
    } else {
        std::ostringstream os;
        os << v;
        return os.str();
    }
}

[[gnu::noinline, gnu::cold]] inline std::string join(std::initializer_list<message_piece> pieces) {
    std::string s;
    char buf[64];
    for (const auto& p : pieces) {
        switch (p.k) {
            case message_piece::kind::text: s.append(p.text); break;
            case message_piece::kind::character: s += p.c; break;
            case message_piece::kind::signed_integer: s.append(buf, std::to_chars(buf, buf + sizeof buf, p.i).ptr); break;
            case message_piece::kind::unsigned_integer: s.append(buf, std::to_chars(buf, buf + sizeof buf, p.u).ptr); break;
            case message_piece::kind::floating: {
                const int n = std::snprintf(buf, sizeof buf, "%g", p.d);  // the stream's default
                s.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
                break;
            }
        }
    }
    return s;
}

template <class... Args>
std::string concat(const Args&... args) {
    return join({message_piece(printable(args))...});
}

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_error(std::initializer_list<message_piece> pieces) {
    throw error(join(pieces));
}
}  // namespace detail

template <class... Args>
[[noreturn]] inline void fail(const Args&... args) {
    detail::throw_error({detail::message_piece(detail::printable(args))...});
}

template <class... Args>
void require(bool ok, const Args&... args) {
    if (!ok) [[unlikely]] fail(args...);
}

SIB_END_NAMESPACE
