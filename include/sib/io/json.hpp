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
#include <istream>
#include <iterator>
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
    const char* type_name() const {
        switch (kind_) {
            case kind::null: return "null";
            case kind::boolean: return "boolean";
            case kind::string: return "string";
            case kind::array: return "array";
            case kind::object: return "object";
            default: return "number";
        }
    }
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
    const json* find(std::string_view key) const {
        if (kind_ != kind::object) return nullptr;
        for (const auto& [k, v] : o_)
            if (k == key) return &v;
        return nullptr;
    }
    bool contains(std::string_view key) const { return find(key) != nullptr; }
    const json& at(std::string_view key) const {
        expect(kind::object, "at(\"" + std::string(key) + "\")");
        if (const json* v = find(key)) return *v;
        throw json_error(sib::detail::concat("JSON: no key '", key, "' in the object"));
    }
    const json& operator[](std::string_view key) const { return at(key); }
    // The member, created as null where absent; a null value becomes an empty object first.
    json& operator[](std::string_view key) {
        if (kind_ == kind::null) kind_ = kind::object;
        expect(kind::object, "operator[](\"" + std::string(key) + "\")");
        for (auto& [k, v] : o_)
            if (k == key) return v;
        o_.emplace_back(std::string(key), json());
        return o_.back().second;
    }
    json& operator[](const char* key) { return (*this)[std::string_view(key)]; }
    const json& operator[](const char* key) const { return at(key); }
    // The member's value converted to T, or `otherwise` where the key is absent.
    template <class T>
    T value(std::string_view key, const T& otherwise) const {
        const json* v = find(key);
        return v ? v->get<T>() : otherwise;
    }
    // Sets every member of `other` (an object) in this one.
    void update(const json& other) {
        other.expect(kind::object, "update()");
        for (const auto& [k, v] : other.o_) (*this)[k] = v;
    }

    // ---- arrays
    const array_type& elements() const {
        expect(kind::array, "elements()");
        return a_;
    }
    const json& at(std::size_t i) const {
        expect(kind::array, "at(" + std::to_string(i) + ")");
        if (i >= a_.size())
            throw json_error(sib::detail::concat("JSON: index ", i, " past the end of an array of ", a_.size()));
        return a_[i];
    }
    const json& operator[](std::size_t i) const { return at(i); }
    json& operator[](std::size_t i) {
        expect(kind::array, "operator[](" + std::to_string(i) + ")");
        if (i >= a_.size())
            throw json_error(sib::detail::concat("JSON: index ", i, " past the end of an array of ", a_.size()));
        return a_[i];
    }
    json& operator[](int i) { return (*this)[static_cast<std::size_t>(i)]; }
    const json& operator[](int i) const { return at(static_cast<std::size_t>(i)); }
    void push_back(json v) {
        if (kind_ == kind::null) kind_ = kind::array;
        expect(kind::array, "push_back()");
        a_.push_back(std::move(v));
    }

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
    friend bool operator==(const json& a, const json& b) {
        if (a.is_number() && b.is_number()) {
            if (a.is_number_integer() && b.is_number_integer())
                return a.kind_ == b.kind_ ? (a.kind_ == kind::integer ? a.i_ == b.i_ : a.u_ == b.u_) : false;
            return a.number("") == b.number("");
        }
        if (a.kind_ != b.kind_) return false;
        switch (a.kind_) {
            case kind::null: return true;
            case kind::boolean: return a.b_ == b.b_;
            case kind::string: return a.s_ == b.s_;
            case kind::array: return a.a_ == b.a_;
            case kind::object:
                if (a.o_.size() != b.o_.size()) return false;
                for (const auto& [k, v] : a.o_) {
                    const json* w = b.find(k);
                    if (!w || !(v == *w)) return false;
                }
                return true;
            default: return false;
        }
    }

    // Compact (`indent` < 0: {"a":1,"b":[1,2]}) or one member per line, `indent` spaces a level.
    std::string dump(int indent = -1) const {
        std::string out;
        write(out, indent, 0);
        return out;
    }

    // Whether `s` is UTF-8 (what a JSON string may hold; dump() replaces what is not).
    static bool is_utf8(std::string_view s) {
        for (std::size_t i = 0, n = 0; i < s.size(); i += n)
            if ((n = utf8_length(s, i)) == 0) return false;
        return true;
    }

    static json parse(std::string_view text) {
        parser p{text};
        p.skip_space();
        json j = p.value(0);
        p.skip_space();
        if (p.pos != text.size()) p.fail("unexpected '", p.shown(), "' after the JSON value");
        return j;
    }
    static json parse(std::istream& in) {
        return parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
    }

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
    void expect(kind k, const std::string& what) const {
        if (kind_ == k) return;
        json want;
        want.kind_ = k;
        throw json_error(sib::detail::concat("JSON: ", what, " needs ", article(k), want.type_name(), ", got ", article(kind_),
                                        type_name()));
    }
    double number(const char* what) const {
        switch (kind_) {
            case kind::integer: return static_cast<double>(i_);
            case kind::unsigned_integer: return static_cast<double>(u_);
            case kind::floating: return d_;
            default: throw json_error(sib::detail::concat("JSON: expected ", what, ", got ", article(kind_), type_name()));
        }
    }
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
    static void newline(std::string& out, int indent, int level) {
        if (indent < 0) return;
        out += '\n';
        out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
    }
    template <class N>
    static void write_number(std::string& out, N v) {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    }
    static void write_double(std::string& out, double v) {
        if (!std::isfinite(v)) {
            out += "null";
            return;
        }
        const std::size_t start = out.size();
        write_number(out, v);  // the shortest text that reads back to v
        if (out.find_first_of(".eE", start) == std::string::npos) out += ".0";  // stays a float
    }
    // Length of the UTF-8 sequence at s[i], or 0 where the bytes there are not one.
    static std::size_t utf8_length(std::string_view s, std::size_t i) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) return 1;
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
        } else
            return 0;
        if (i + n > s.size()) return 0;
        for (std::size_t k = 1; k < n; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
        }
        return n;
    }
    static void write_string(std::string& out, std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        for (std::size_t i = 0; i < s.size();) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c >= 0x80) {
                const std::size_t n = utf8_length(s, i);
                if (n == 0) {
                    out += "\\ufffd";
                    ++i;
                } else {
                    out.append(s.substr(i, n));
                    i += n;
                }
                continue;
            }
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20) {
                        out += "\\u00";
                        out += hex[c >> 4];
                        out += hex[c & 15];
                    } else
                        out += static_cast<char>(c);
            }
            ++i;
        }
        out += '"';
    }
    void write(std::string& out, int indent, int level) const {
        switch (kind_) {
            case kind::null: out += "null"; return;
            case kind::boolean: out += b_ ? "true" : "false"; return;
            case kind::integer: write_number(out, i_); return;
            case kind::unsigned_integer: write_number(out, u_); return;
            case kind::floating: write_double(out, d_); return;
            case kind::string: write_string(out, s_); return;
            case kind::array:
                out += '[';
                for (std::size_t i = 0; i < a_.size(); ++i) {
                    if (i) out += ',';
                    newline(out, indent, level + 1);
                    a_[i].write(out, indent, level + 1);
                }
                if (!a_.empty()) newline(out, indent, level);
                out += ']';
                return;
            case kind::object:
                out += '{';
                for (std::size_t i = 0; i < o_.size(); ++i) {
                    if (i) out += ',';
                    newline(out, indent, level + 1);
                    write_string(out, o_[i].first);
                    out += indent < 0 ? ":" : ": ";
                    o_[i].second.write(out, indent, level + 1);
                }
                if (!o_.empty()) newline(out, indent, level);
                out += '}';
                return;
        }
    }

    // ---- reading: recursive descent over RFC 8259, nesting bounded by max_depth
    struct parser {
        std::string_view text;
        std::size_t pos = 0;

        template <class... Args>
        [[noreturn]] void fail(const Args&... args) const {
            throw json_error(sib::detail::concat("JSON: at byte ", pos, ": ", args...));
        }
        std::string shown() const {
            if (pos >= text.size()) return "end of input";
            const auto c = static_cast<unsigned char>(text[pos]);
            if (c >= 0x20 && c < 0x7F) return std::string(1, static_cast<char>(c));
            static constexpr char hex[] = "0123456789abcdef";
            return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
        }
        void skip_space() {
            while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
                ++pos;
        }
        bool peek(char c) const { return pos < text.size() && text[pos] == c; }
        void expect_char(char c, const char* what) {
            if (!peek(c)) fail("expected ", what, ", found '", shown(), "'");
            ++pos;
        }
        void literal(std::string_view word) {
            if (text.substr(pos, word.size()) != word) fail("unexpected '", shown(), "'");
            pos += word.size();
        }

        json value(int depth) {
            if (depth >= max_depth) fail("nesting deeper than ", max_depth, " levels");
            if (pos >= text.size()) fail("unexpected end of input");
            switch (text[pos]) {
                case '{': return object(depth);
                case '[': return array(depth);
                case '"': return json(string());
                case 't': literal("true"); return json(true);
                case 'f': literal("false"); return json(false);
                case 'n': literal("null"); return json();
                default:
                    if (text[pos] == '-' || (text[pos] >= '0' && text[pos] <= '9')) return number();
                    fail("unexpected '", shown(), "'");
            }
        }
        json object(int depth) {
            json j = json::object();
            ++pos;
            skip_space();
            if (peek('}')) {
                ++pos;
                return j;
            }
            for (;;) {
                skip_space();
                if (!peek('"')) fail("expected a string key, found '", shown(), "'");
                std::string key = string();
                skip_space();
                expect_char(':', "':'");
                skip_space();
                j.o_.emplace_back(std::move(key), value(depth + 1));
                skip_space();
                if (peek(',')) {
                    ++pos;
                    continue;
                }
                expect_char('}', "',' or '}'");
                break;
            }
            refuse_duplicates(j.o_);
            return j;
        }
        void refuse_duplicates(const object_type& o) {
            std::vector<std::string_view> keys;
            keys.reserve(o.size());
            for (const auto& m : o) keys.push_back(m.first);
            std::sort(keys.begin(), keys.end());
            const auto d = std::adjacent_find(keys.begin(), keys.end());
            if (d != keys.end()) fail("the key '", *d, "' appears twice in one object");
        }
        json array(int depth) {
            json j = json::array();
            ++pos;
            skip_space();
            if (peek(']')) {
                ++pos;
                return j;
            }
            for (;;) {
                skip_space();
                j.a_.push_back(value(depth + 1));
                skip_space();
                if (peek(',')) {
                    ++pos;
                    continue;
                }
                expect_char(']', "',' or ']'");
                return j;
            }
        }
        unsigned hex4() {
            if (pos + 4 > text.size()) fail("a \\u escape needs four hexadecimal digits");
            unsigned v = 0;
            for (int k = 0; k < 4; ++k) {
                const char c = text[pos++];
                v <<= 4;
                if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
                else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
                else {
                    --pos;
                    fail("a \\u escape needs four hexadecimal digits");
                }
            }
            return v;
        }
        static void append_utf8(std::string& out, unsigned cp) {
            if (cp < 0x80) out += static_cast<char>(cp);
            else if (cp < 0x800) {
                out += static_cast<char>(0xC0 | (cp >> 6));
                out += static_cast<char>(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out += static_cast<char>(0xE0 | (cp >> 12));
                out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                out += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
                out += static_cast<char>(0xF0 | (cp >> 18));
                out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
                out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                out += static_cast<char>(0x80 | (cp & 0x3F));
            }
        }
        std::string string() {
            ++pos;  // the opening quote
            std::string out;
            for (;;) {
                if (pos >= text.size()) fail("a string is not closed");
                const auto c = static_cast<unsigned char>(text[pos]);
                if (c == '"') {
                    ++pos;
                    return out;
                }
                if (c < 0x20) fail("a control character (", shown(), ") in a string must be escaped");
                if (c >= 0x80) {
                    const std::size_t n = utf8_length(text, pos);
                    if (n == 0) fail("a string holds bytes that are not UTF-8 (", shown(), ")");
                    out.append(text.substr(pos, n));
                    pos += n;
                    continue;
                }
                ++pos;
                if (c != '\\') {
                    out += static_cast<char>(c);
                    continue;
                }
                if (pos >= text.size()) fail("a string is not closed");
                const char e = text[pos++];
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        unsigned cp = hex4();
                        if (cp >= 0xDC00 && cp <= 0xDFFF) fail("a \\u escape holds a lone low surrogate");
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            if (text.substr(pos, 2) != "\\u") fail("a high surrogate escape is not followed by a low one");
                            pos += 2;
                            const unsigned lo = hex4();
                            if (lo < 0xDC00 || lo > 0xDFFF) fail("a high surrogate escape is not followed by a low one");
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        append_utf8(out, cp);
                        break;
                    }
                    default:
                        --pos;
                        fail("'\\", shown(), "' is not a JSON escape");
                }
            }
        }
        json number() {
            const std::size_t start = pos;
            const auto digits = [&] {
                const std::size_t from = pos;
                while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
                return pos - from;
            };
            if (peek('-')) ++pos;
            if (peek('0')) ++pos;
            else if (digits() == 0) fail("a number needs a digit after '-'");
            bool integral = true;
            if (peek('.')) {
                ++pos;
                integral = false;
                if (digits() == 0) fail("a number needs a digit after '.'");
            }
            if (peek('e') || peek('E')) {
                ++pos;
                integral = false;
                if (peek('+') || peek('-')) ++pos;
                if (digits() == 0) fail("a number needs a digit in its exponent");
            }
            const char* first = text.data() + start;
            const char* last = text.data() + pos;
            if (integral) {
                if (*first == '-') {
                    std::int64_t v = 0;
                    const auto r = std::from_chars(first, last, v);
                    if (r.ec == std::errc() && r.ptr == last) return v == 0 ? json(std::uint64_t{0}) : json(v);
                } else {
                    std::uint64_t v = 0;
                    const auto r = std::from_chars(first, last, v);
                    if (r.ec == std::errc() && r.ptr == last) return json(v);
                }
            }
            double d = 0;
            const auto r = std::from_chars(first, last, d);
            if (r.ec == std::errc::result_out_of_range) {
                // Underflow reads as zero; overflow has no JSON value to become.
                bool nonzero_digit = false;
                for (const char* p = first; p < last && *p != 'e' && *p != 'E'; ++p) nonzero_digit |= (*p >= '1' && *p <= '9');
                bool negative_exponent = false;
                for (const char* p = first; p < last; ++p)
                    if ((*p == 'e' || *p == 'E') && p + 1 < last && p[1] == '-') negative_exponent = true;
                if (!nonzero_digit || negative_exponent) return json(*first == '-' ? -0.0 : 0.0);
                pos = start;
                fail("the number ", std::string(first, last), " is out of the range of a double");
            }
            if (r.ec != std::errc() || r.ptr != last) {
                pos = start;
                fail("'", std::string(first, last), "' is not a number");
            }
            return json(d);
        }
    };
};

}  // namespace io
SIB_END_NAMESPACE
