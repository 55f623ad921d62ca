// sib::io::json: the JSON sib reads and writes (safetensors headers, checkpoint metadata, logs, the
// command line's reports), as one small non-template value type. Why not nlohmann-json: it cost
// 4.5 s of compiler time in every program that trains (its templates are instantiated anew in each
// translation unit), a third of a first program's build; this subset compiles in a fraction of that
// and is fuzzed with the readers that use it (docs/formats.md).
//
// The interface reads like nlohmann's for what sib needs:
//   json j = {{"epoch", 3}, {"loss", 0.5}, {"name", "a"}};   // an object (pairs with string keys)
//   json a = json::array({1, 2, 3});                          // an array
//   j["step"] = 10; j.dump(); json::parse(text); j.at("epoch").get<int>();
// Objects keep their keys in insertion order, and a key appears once: parse() refuses duplicates
// (a safetensors header naming one tensor twice is an error, not "the last one wins"). parse() is
// strict RFC 8259 (UTF-8 checked, nesting at most max_depth), and dump() always writes valid JSON:
// bytes that are not UTF-8 become U+FFFD, and non-finite numbers null.
#pragma once
#include <sib/core/error.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

class json;

// What json::parse throws: one line with the byte offset of the problem.
class json_error : public error {
public:
    using error::error;
};

class json {
public:
    enum class kind : std::uint8_t { null, boolean, integer, unsigned_integer, floating, string, array, object };
    using array_type = std::vector<json>;
    using object_type = std::vector<std::pair<std::string, json>>;
    static constexpr int max_depth = 256;

    json() = default;
    json(std::nullptr_t) {}
    json(bool b) : kind_(kind::boolean), b_(b) {}
    template <class I>
        requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
    json(I v) {
        if constexpr (std::is_signed_v<I>) {
            if (v < 0) {
                kind_ = kind::integer;
                i_ = static_cast<std::int64_t>(v);
                return;
            }
        }
        kind_ = kind::unsigned_integer;
        u_ = static_cast<std::uint64_t>(v);
    }
    json(double v) : kind_(kind::floating), d_(v) {}
    json(float v) : json(static_cast<double>(v)) {}
    json(const char* s) : kind_(kind::string), s_(s) {}
    json(std::string s) : kind_(kind::string), s_(std::move(s)) {}
    json(std::string_view s) : kind_(kind::string), s_(s) {}
    // A sequence (std::vector, std::array, ...) as an array; a std::map<std::string, V> as an object.
    template <class Range>
        requires(!std::is_convertible_v<Range, std::string_view> &&
                 requires(const Range& r) { std::begin(r); std::end(r); })
    json(const Range& r) {
        if constexpr (requires { r.begin()->first; r.begin()->second; }) {
            kind_ = kind::object;
            for (const auto& [k, v] : r) o_.emplace_back(std::string(k), json(v));
        } else {
            kind_ = kind::array;
            for (const auto& v : r) a_.emplace_back(v);
        }
    }
    // As nlohmann: a list whose every element is a two-element array starting with a string is an
    // object ({{"a", 1}, {"b", 2}}); any other list is an array.
    json(std::initializer_list<json> list) {
        bool pairs = true;
        for (const auto& e : list) pairs = pairs && e.kind_ == kind::array && e.a_.size() == 2 && e.a_[0].is_string();
        if (pairs) {
            kind_ = kind::object;
            for (const auto& e : list) (*this)[e.a_[0].s_] = e.a_[1];
        } else {
            kind_ = kind::array;
            a_.assign(list.begin(), list.end());
        }
    }

    static json array(std::initializer_list<json> list = {}) {
        json j;
        j.kind_ = kind::array;
        j.a_.assign(list.begin(), list.end());
        return j;
    }
    static json object() {
        json j;
        j.kind_ = kind::object;
        return j;
    }

    kind type() const { return kind_; }
    const char* type_name() const;
    bool is_null() const { return kind_ == kind::null; }
    bool is_boolean() const { return kind_ == kind::boolean; }
    bool is_number() const { return is_number_integer() || kind_ == kind::floating; }
    bool is_number_integer() const { return kind_ == kind::integer || kind_ == kind::unsigned_integer; }
    // A non-negative integer (as nlohmann, every integer >= 0 that parse() reads).
    bool is_number_unsigned() const { return kind_ == kind::unsigned_integer; }
    bool is_number_float() const { return kind_ == kind::floating; }
    bool is_string() const { return kind_ == kind::string; }
    bool is_array() const { return kind_ == kind::array; }
    bool is_object() const { return kind_ == kind::object; }

    // Elements of an array or members of an object; 0 for anything else.
    std::size_t size() const { return kind_ == kind::array ? a_.size() : kind_ == kind::object ? o_.size() : 0; }
    bool empty() const { return size() == 0; }

    // ---- objects
    const object_type& items() const {
        expect(kind::object, "items()");
        return o_;
    }
    // The member's value, or nullptr.
    const json* find(std::string_view key) const;
    bool contains(std::string_view key) const { return find(key) != nullptr; }
    const json& at(std::string_view key) const;
    const json& operator[](std::string_view key) const { return at(key); }
    // The member, created as null where absent; a null value becomes an empty object first.
    json& operator[](std::string_view key);
    json& operator[](const char* key) { return (*this)[std::string_view(key)]; }
    const json& operator[](const char* key) const { return at(key); }
    // The member's value converted to T, or `otherwise` where the key is absent.
    template <class T>
    T value(std::string_view key, const T& otherwise) const {
        const json* v = find(key);
        return v ? v->get<T>() : otherwise;
    }
    // Sets every member of `other` (an object) in this one.
    void update(const json& other);

    // ---- arrays
    const array_type& elements() const {
        expect(kind::array, "elements()");
        return a_;
    }
    const json& at(std::size_t i) const;
    const json& operator[](std::size_t i) const { return at(i); }
    json& operator[](std::size_t i);
    json& operator[](int i) { return (*this)[static_cast<std::size_t>(i)]; }
    const json& operator[](int i) const { return at(static_cast<std::size_t>(i)); }
    void push_back(json v);

    // ---- values
    // bool, an arithmetic type (integers only from integers, or from floating values that are whole
    // and in range), std::string, or a std::vector of these from an array.
    template <class T>
    T get() const {
        if constexpr (std::is_same_v<T, bool>) {
            expect(kind::boolean, "get<bool>()");
            return b_;
        } else if constexpr (std::is_same_v<T, std::string>) {
            expect(kind::string, "get<std::string>()");
            return s_;
        } else if constexpr (requires(T v) { v.push_back(std::declval<typename T::value_type>()); }) {
            expect(kind::array, "get<std::vector>()");  // a sequence of what get<value_type> reads
            T out;
            for (const auto& e : a_) out.push_back(e.get<typename T::value_type>());
            return out;
        } else if constexpr (std::is_floating_point_v<T>) {
            return static_cast<T>(number("a floating-point number"));
        } else {
            static_assert(std::is_integral_v<T>, "json::get<T>: T is bool, an arithmetic type or std::string");
            T out{};
            if (!integer_as(out)) throw json_error(sib::detail::concat("JSON: ", dump(), " is not an integer in the range of the requested type"));
            return out;
        }
    }
    const std::string& get_ref_string() const {
        expect(kind::string, "string");
        return s_;
    }

    // Numbers compare by value (2 == 2.0), objects without regard to key order.
    friend SIB_INLINE bool operator==(const json& a, const json& b);

    // Compact (`indent` < 0: {"a":1,"b":[1,2]}) or one member per line, `indent` spaces a level.
    std::string dump(int indent = -1) const;

    // Whether `s` is UTF-8 (what a JSON string may hold; dump() replaces what is not).
    static bool is_utf8(std::string_view s);

    static json parse(std::string_view text);
    static json parse(std::istream& in);

private:
    kind kind_ = kind::null;
    bool b_ = false;
    std::int64_t i_ = 0;
    std::uint64_t u_ = 0;
    double d_ = 0;
    std::string s_;
    array_type a_;
    object_type o_;

    static const char* article(kind k) { return k == kind::array || k == kind::object ? "an " : "a "; }
    void expect(kind k, const std::string& what) const;
    double number(const char* what) const;
    template <class T>
    bool integer_as(T& out) const {
        if (kind_ == kind::integer) {
            if constexpr (std::is_unsigned_v<T>) return false;
            else {
                if (i_ < static_cast<std::int64_t>(std::numeric_limits<T>::min())) return false;
                out = static_cast<T>(i_);
                return true;
            }
        }
        if (kind_ == kind::unsigned_integer) {
            if (u_ > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
            out = static_cast<T>(u_);
            return true;
        }
        if (kind_ == kind::floating && std::isfinite(d_) && std::trunc(d_) == d_ &&
            d_ >= static_cast<double>(std::numeric_limits<T>::min()) &&
            d_ < 2.0 * static_cast<double>(std::numeric_limits<T>::max() / 2 + 1)) {
            out = static_cast<T>(d_);
            return true;
        }
        return false;
    }

    // ---- writing
    static void newline(std::string& out, int indent, int level);
    template <class N>
    static void write_number(std::string& out, N v) {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    }
    static void write_double(std::string& out, double v);
    // Length of the UTF-8 sequence at s[i], or 0 where the bytes there are not one.
    static std::size_t utf8_length(std::string_view s, std::size_t i);
    static void write_string(std::string& out, std::string_view s);
    void write(std::string& out, int indent, int level) const;

    // ---- reading: recursive descent over RFC 8259, nesting bounded by max_depth
    struct parser;  // the RFC 8259 reader of parse()
};

}  // namespace io
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/io/json_inl.hpp>
#endif
