// The definitions of <sib/io/json.hpp>: JSON reading and writing.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/io/json.hpp>
#include <istream>
#include <iterator>

SIB_BEGIN_NAMESPACE
namespace io {

struct json::parser {
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

SIB_INLINE const char* json::type_name() const {
    switch (kind_) {
        case kind::null: return "null";
        case kind::boolean: return "boolean";
        case kind::string: return "string";
        case kind::array: return "array";
        case kind::object: return "object";
        default: return "number";
    }
}

SIB_INLINE const json* json::find(std::string_view key) const {
    if (kind_ != kind::object) return nullptr;
    for (const auto& [k, v] : o_)
        if (k == key) return &v;
    return nullptr;
}

SIB_INLINE const json& json::at(std::string_view key) const {
    expect(kind::object, "at(\"" + std::string(key) + "\")");
    if (const json* v = find(key)) return *v;
    throw json_error(sib::detail::concat("JSON: no key '", key, "' in the object"));
}

SIB_INLINE json& json::operator[](std::string_view key) {
    if (kind_ == kind::null) kind_ = kind::object;
    expect(kind::object, "operator[](\"" + std::string(key) + "\")");
    for (auto& [k, v] : o_)
        if (k == key) return v;
    o_.emplace_back(std::string(key), json());
    return o_.back().second;
}

SIB_INLINE void json::update(const json& other) {
    other.expect(kind::object, "update()");
    for (const auto& [k, v] : other.o_) (*this)[k] = v;
}

SIB_INLINE const json& json::at(std::size_t i) const {
    expect(kind::array, "at(" + std::to_string(i) + ")");
    if (i >= a_.size())
        throw json_error(sib::detail::concat("JSON: index ", i, " past the end of an array of ", a_.size()));
    return a_[i];
}

SIB_INLINE json& json::operator[](std::size_t i) {
    expect(kind::array, "operator[](" + std::to_string(i) + ")");
    if (i >= a_.size())
        throw json_error(sib::detail::concat("JSON: index ", i, " past the end of an array of ", a_.size()));
    return a_[i];
}

SIB_INLINE void json::push_back(json v) {
    if (kind_ == kind::null) kind_ = kind::array;
    expect(kind::array, "push_back()");
    a_.push_back(std::move(v));
}

SIB_INLINE bool operator==(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_number_integer() && b.is_number_integer())
            return a.kind_ == b.kind_ ? (a.kind_ == json::kind::integer ? a.i_ == b.i_ : a.u_ == b.u_) : false;
        return a.number("") == b.number("");
    }
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
        case json::kind::null: return true;
        case json::kind::boolean: return a.b_ == b.b_;
        case json::kind::string: return a.s_ == b.s_;
        case json::kind::array: return a.a_ == b.a_;
        case json::kind::object:
            if (a.o_.size() != b.o_.size()) return false;
            for (const auto& [k, v] : a.o_) {
                const json* w = b.find(k);
                if (!w || !(v == *w)) return false;
            }
            return true;
        default: return false;
    }
}

SIB_INLINE std::string json::dump(int indent) const {
    std::string out;
    write(out, indent, 0);
    return out;
}

SIB_INLINE bool json::is_utf8(std::string_view s) {
    for (std::size_t i = 0, n = 0; i < s.size(); i += n)
        if ((n = utf8_length(s, i)) == 0) return false;
    return true;
}

SIB_INLINE json json::parse(std::string_view text) {
    parser p{text};
    p.skip_space();
    json j = p.value(0);
    p.skip_space();
    if (p.pos != text.size()) p.fail("unexpected '", p.shown(), "' after the JSON value");
    return j;
}

SIB_INLINE json json::parse(std::istream& in) {
    return parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

SIB_INLINE void json::expect(kind k, const std::string& what) const {
    if (kind_ == k) return;
    json want;
    want.kind_ = k;
    throw json_error(sib::detail::concat("JSON: ", what, " needs ", article(k), want.type_name(), ", got ", article(kind_),
                                    type_name()));
}

SIB_INLINE double json::number(const char* what) const {
    switch (kind_) {
        case kind::integer: return static_cast<double>(i_);
        case kind::unsigned_integer: return static_cast<double>(u_);
        case kind::floating: return d_;
        default: throw json_error(sib::detail::concat("JSON: expected ", what, ", got ", article(kind_), type_name()));
    }
}

SIB_INLINE void json::newline(std::string& out, int indent, int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

SIB_INLINE void json::write_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    const std::size_t start = out.size();
    write_number(out, v);  // the shortest text that reads back to v
    if (out.find_first_of(".eE", start) == std::string::npos) out += ".0";  // stays a float
}

SIB_INLINE std::size_t json::utf8_length(std::string_view s, std::size_t i) {
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

SIB_INLINE void json::write_string(std::string& out, std::string_view s) {
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

SIB_INLINE void json::write(std::string& out, int indent, int level) const {
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

}  // namespace io
SIB_END_NAMESPACE
