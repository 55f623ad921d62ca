// The model spec grammar of docs/cli.md: PyTorch class names and argument order, separated by ';'.
//   Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(3136,10)
// Parsing is separate from building so that errors can name the layer and the argument.
#pragma once
#include <sib/core/error.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

struct layer_spec {
    std::string name;
    std::vector<std::string> args;             // positional, as written
    std::map<std::string, std::string> kwargs;  // keyword=value, as written
    std::string text;                          // the whole item, for messages

    std::size_t used_positional = 0;

    // The argument at `position` or named `key`, or std::nullopt.
    std::optional<std::string> find(std::size_t position, const std::string& key) const {
        if (position < args.size()) {
            require(!kwargs.count(key), "spec: '", text, "': argument '", key, "' given twice");
            return args[position];
        }
        auto it = kwargs.find(key);
        if (it != kwargs.end()) return it->second;
        return std::nullopt;
    }

    long long integer(std::size_t position, const std::string& key, std::optional<long long> fallback = std::nullopt) const {
        auto v = find(position, key);
        if (!v) {
            require(fallback.has_value(), "spec: '", text, "': missing argument '", key, "'");
            return *fallback;
        }
        if (*v == "None" && fallback) return *fallback;
        long long out = 0;
        const char* b = v->data();
        const char* e = b + v->size();
        auto [p, ec] = std::from_chars(b, e, out);
        require(ec == std::errc() && p == e, "spec: '", text, "': argument '", key,
                "' must be an integer, got '", *v, "'");
        return out;
    }

    // An int or a pair "(a,b)", as PyTorch's _pair arguments.
    std::pair<long long, long long> pair(std::size_t position, const std::string& key,
                                         std::optional<long long> fallback = std::nullopt) const {
        auto v = find(position, key);
        if (!v || *v == "None") {
            require(fallback.has_value(), "spec: '", text, "': missing argument '", key, "'");
            return {*fallback, *fallback};
        }
        auto parse = [&](std::string_view t) {
            long long out = 0;
            const std::string s(t.empty() ? "" : t);
            std::size_t b = 0, e = s.size();
            while (b < e && s[b] == ' ') ++b;
            while (e > b && s[e - 1] == ' ') --e;
            auto [p, ec] = std::from_chars(s.data() + b, s.data() + e, out);
            require(b < e && ec == std::errc() && p == s.data() + e, "spec: '", text, "': argument '",
                    key, "' must be an integer or a pair of integers, got '", *v, "'");
            return out;
        };
        if (v->size() >= 2 && v->front() == '(' && v->back() == ')') {
            const std::string_view in = std::string_view(*v).substr(1, v->size() - 2);
            const auto comma = in.find(',');
            require(comma != std::string_view::npos, "spec: '", text, "': argument '", key,
                    "' must be an integer or a pair of integers, got '", *v, "'");
            return {parse(in.substr(0, comma)), parse(in.substr(comma + 1))};
        }
        const long long a = parse(*v);
        return {a, a};
    }

    double real(std::size_t position, const std::string& key, double fallback) const {
        auto v = find(position, key);
        if (!v) return fallback;
        try {
            std::size_t used = 0;
            double d = std::stod(*v, &used);
            require(used == v->size(), "");
            return d;
        } catch (...) {
            fail("spec: '", text, "': argument '", key, "' must be a number, got '", *v, "'");
        }
    }

    bool boolean(std::size_t position, const std::string& key, bool fallback) const {
        auto v = find(position, key);
        if (!v) return fallback;
        if (*v == "True" || *v == "true" || *v == "1") return true;
        if (*v == "False" || *v == "false" || *v == "0") return false;
        fail("spec: '", text, "': argument '", key, "' must be True or False, got '", *v, "'");
    }

    // Rejects arguments beyond `positional` and keywords not in `known`.
    void only(std::size_t positional, std::initializer_list<std::string_view> known) const {
        require(args.size() <= positional, "spec: '", text, "': ", name, " takes at most ", positional,
                " positional arguments, got ", args.size());
        for (const auto& [k, v] : kwargs) {
            bool ok = false;
            for (auto n : known) ok = ok || n == k;
            require(ok, "spec: '", text, "': unknown argument '", k, "' for ", name);
        }
    }
};

namespace detail {
inline std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// The next ',' at nesting depth 0 from `start` (tuples such as kernel_size=(3,5) stay whole).
inline std::size_t top_level_comma(std::string_view s, std::size_t start) {
    int depth = 0;
    for (std::size_t i = start; i < s.size(); ++i) {
        if (s[i] == '(') ++depth;
        if (s[i] == ')') --depth;
        if (s[i] == ',' && depth == 0) return i;
    }
    return s.size();
}
}  // namespace detail

inline layer_spec parse_layer_spec(std::string_view item) {
    layer_spec out;
    out.text = detail::trim(item);
    const auto open = out.text.find('(');
    if (open == std::string::npos) {
        out.name = out.text;
    } else {
        require(out.text.back() == ')', "spec: '", out.text, "': missing ')'");
        out.name = detail::trim(std::string_view(out.text).substr(0, open));
        std::string_view inner = std::string_view(out.text).substr(open + 1, out.text.size() - open - 2);
        if (!detail::trim(inner).empty()) {
            std::size_t start = 0;
            while (start <= inner.size()) {
                const std::size_t comma = detail::top_level_comma(inner, start);
                const std::string arg = detail::trim(inner.substr(start, comma - start));
                require(!arg.empty(), "spec: '", out.text, "': empty argument");
                const auto eq = arg.find('=');
                if (eq == std::string::npos) {
                    require(out.kwargs.empty(), "spec: '", out.text,
                            "': positional argument after a keyword argument");
                    out.args.push_back(arg);
                } else {
                    const std::string key = detail::trim(std::string_view(arg).substr(0, eq));
                    const std::string value = detail::trim(std::string_view(arg).substr(eq + 1));
                    require(!key.empty() && !value.empty(), "spec: '", out.text, "': malformed argument '", arg, "'");
                    require(!out.kwargs.count(key), "spec: '", out.text, "': argument '", key, "' given twice");
                    out.kwargs[key] = value;
                }
                start = comma + 1;
            }
        }
    }
    require(!out.name.empty(), "spec: empty layer name in '", out.text, "'");
    for (char c : out.name)
        require(std::isalnum(static_cast<unsigned char>(c)) || c == '_', "spec: '", out.text,
                "': malformed layer name");
    return out;
}

// Splits "A(...); B; C(...)" at top-level semicolons; also accepts "nn." prefixes.
inline std::vector<layer_spec> parse_model_spec(std::string_view spec) {
    std::vector<layer_spec> out;
    std::size_t start = 0;
    while (start <= spec.size()) {
        auto semi = spec.find(';', start);
        if (semi == std::string_view::npos) semi = spec.size();
        const std::string item = detail::trim(spec.substr(start, semi - start));
        if (!item.empty()) {
            auto l = parse_layer_spec(item.rfind("nn.", 0) == 0 ? item.substr(3) : item);
            out.push_back(std::move(l));
        }
        start = semi + 1;
    }
    require(!out.empty(), "spec: no layers in '", std::string(spec), "'");
    return out;
}

}  // namespace nn
SIB_END_NAMESPACE
