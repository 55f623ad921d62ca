// The model spec grammar of docs/cli.md: PyTorch class names and argument order, separated by ';'.
//   Conv2d(1,16,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(3136,10)
// An item may carry a module name ("fc: Linear(512,10)": parameters "fc.weight", as a PyTorch
// module's attribute), and `Residual([main items], name: [shortcut items])` is a block
// y = f(x) + g(x) (nn::branch_sum) whose branches are item lists of their own:
//   layer2.0: Residual([conv1: Conv2d(64,128,3,2,1,bias=False); bn1: BatchNorm2d(128); relu: ReLU;
//                       conv2: Conv2d(128,128,3,1,1,bias=False); bn2: BatchNorm2d(128)],
//                      downsample: [Conv2d(64,128,1,2,bias=False); BatchNorm2d(128)])
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

// The name of the spec item that builds a two-branch block (nn::branch_sum).
inline constexpr std::string_view residual_item = "Residual";

struct layer_spec;

// A branch of a Residual item as written: `downsample: [Conv2d(64,128,1,2,bias=False); BatchNorm2d(128)]`.
struct branch_spec {
    std::string module;             // its name ("downsample"); empty when not given
    std::vector<layer_spec> items;  // its layers, in order
};

// One item of a spec as written: `Conv2d(1, 16, 3, padding=1)`, `fc: Linear(512, 10)`.
struct layer_spec {
    std::string name;
    std::vector<std::string> args;             // positional, as written
    std::map<std::string, std::string> kwargs;  // keyword=value, as written
    std::string text;                          // the whole item without its module name, for messages
    std::string module;                        // "fc" of "fc: Linear(512,10)"; empty: named by its index
    std::vector<branch_spec> branches;         // Residual: the main branch, then the shortcut (if any)
};

// A spec item's arguments bound to a layer's signature, written as PyTorch's Python signature:
// "in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True".
// Positional arguments take the signature's order, keywords its names; a parameter without a
// default is required. Every accessor names the item and the argument in its error.
class layer_arguments {
public:
    layer_arguments(const layer_spec& s, std::string_view signature) : spec_(s) {
        std::size_t start = 0;
        while (start < signature.size()) {
            std::size_t comma = signature.find(',', start);
            if (comma == std::string_view::npos) comma = signature.size();
            const std::string p = trim(signature.substr(start, comma - start));
            const auto eq = p.find('=');
            if (eq == std::string::npos)
                params_.push_back({p, std::nullopt});
            else
                params_.push_back({trim(std::string_view(p).substr(0, eq)), trim(std::string_view(p).substr(eq + 1))});
            start = comma + 1;
        }
        require(s.args.size() <= params_.size(), "spec: '", s.text, "': ", s.name, " takes at most ", params_.size(),
                " positional arguments, got ", s.args.size());
        for (const auto& [k, v] : s.kwargs) {
            const auto i = index_of(k);
            require(i < params_.size(), "spec: '", s.text, "': unknown argument '", k, "' for ", s.name, "(",
                    signature, ")");
            require(i >= s.args.size(), "spec: '", s.text, "': argument '", k, "' given twice");
        }
    }

    // The value as written, the signature's default, or std::nullopt ("None" counts as absent).
    std::optional<std::string> find(std::string_view name) const {
        const auto i = index_of(name);
        require(i < params_.size(), "spec: internal: ", spec_.name, " has no parameter '", name, "'");
        std::optional<std::string> v;
        if (i < spec_.args.size())
            v = spec_.args[i];
        else if (auto it = spec_.kwargs.find(std::string(name)); it != spec_.kwargs.end())
            v = it->second;
        else
            v = params_[i].second;
        if (v && *v == "None") v.reset();
        return v;
    }
    std::string required(std::string_view name) const {
        auto v = find(name);
        require(v.has_value(), "spec: '", spec_.text, "': missing argument '", name, "'");
        return *v;
    }

    long long integer(std::string_view name) const { return parse_integer(name, required(name)); }

    // An int or a pair "(a,b)", as PyTorch's _pair arguments.
    std::pair<long long, long long> pair(std::string_view name) const {
        const std::string v = required(name);
        if (v.size() >= 2 && v.front() == '(' && v.back() == ')') {
            const std::string_view in = std::string_view(v).substr(1, v.size() - 2);
            const auto comma = in.find(',');
            require(comma != std::string_view::npos, "spec: '", spec_.text, "': argument '", name,
                    "' must be an integer or a pair of integers, got '", v, "'");
            return {parse_integer(name, trim(in.substr(0, comma))), parse_integer(name, trim(in.substr(comma + 1)))};
        }
        const long long a = parse_integer(name, v);
        return {a, a};
    }

    double real(std::string_view name) const {
        const std::string v = required(name);
        double d = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
        require(ec == std::errc() && p == v.data() + v.size(), "spec: '", spec_.text, "': argument '", name,
                "' must be a number, got '", v, "'");
        return d;
    }

    bool boolean(std::string_view name) const {
        const std::string v = required(name);
        if (v == "True" || v == "true" || v == "1") return true;
        if (v == "False" || v == "false" || v == "0") return false;
        fail("spec: '", spec_.text, "': argument '", name, "' must be True or False, got '", v, "'");
    }

    // A parameter sib accepts only at one value (PyTorch's dilation, groups, ceil_mode, ...).
    void only_default(std::string_view name, std::string_view supported) const {
        const auto v = find(name);
        require((!v && supported == "None") || (v && *v == supported), "spec: '", spec_.text, "': only ", name,
                "=", supported, " is supported");
    }

    const layer_spec& spec() const { return spec_; }

private:
    static std::string trim(std::string_view s) {
        std::size_t b = 0, e = s.size();
        while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
        while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
        return std::string(s.substr(b, e - b));
    }
    std::size_t index_of(std::string_view name) const {
        std::size_t i = 0;
        while (i < params_.size() && params_[i].first != name) ++i;
        return i;
    }
    long long parse_integer(std::string_view name, const std::string& v) const {
        long long out = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        require(!v.empty() && ec == std::errc() && p == v.data() + v.size(), "spec: '", spec_.text, "': argument '",
                name, "' must be an integer, got '", v, "'");
        return out;
    }

    const layer_spec& spec_;
    std::vector<std::pair<std::string, std::optional<std::string>>> params_;
};

namespace detail {
inline std::string trim(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

// The next `c` at nesting depth 0 from `start`, or s.size(): tuples such as kernel_size=(3,5) and
// a Residual's bracketed branches stay whole.
inline std::size_t top_level(std::string_view s, char c, std::size_t start = 0) {
    int depth = 0;
    for (std::size_t i = start; i < s.size(); ++i) {
        if (s[i] == '(' || s[i] == '[') ++depth;
        if (s[i] == ')' || s[i] == ']') --depth;
        if (s[i] == c && depth == 0) return i;
    }
    return s.size();
}
inline std::size_t top_level_comma(std::string_view s, std::size_t start) { return top_level(s, ',', start); }

// "name: rest" -> {name, rest} where a ':' comes before any bracket; {"", text} otherwise.
inline std::pair<std::string, std::string> split_module_name(std::string_view text) {
    const std::size_t colon = top_level(text, ':');
    if (colon == text.size()) return {"", trim(text)};
    const std::string name = trim(text.substr(0, colon));
    bool ok = !name.empty() && name.front() != '.' && name.back() != '.' && name.find("..") == std::string::npos;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
    require(ok, "spec: '", trim(text), "': malformed module name '", name,
            "' (letters, digits, '_' and inner '.': conv1, layer1.0, features.3)");
    return {name, trim(text.substr(colon + 1))};
}

// Parentheses and brackets balance, so that splitting at depth 0 means what it says.
inline void check_brackets(std::string_view s) {
    std::string open;
    for (char c : s) {
        if (c == '(' || c == '[') open += c;
        if (c == ')' || c == ']') {
            require(!open.empty() && open.back() == (c == ')' ? '(' : '['), "spec: unbalanced '", std::string(1, c),
                    "' in '", std::string(s), "'");
            open.pop_back();
        }
    }
    if (!open.empty()) fail("spec: unclosed '", open.back(), "' in '", std::string(s), "'");
}

inline std::vector<layer_spec> parse_items(std::string_view spec);

// The branches of `Residual([main], name: [shortcut])`.
inline void parse_branches(layer_spec& out, std::string_view inner) {
    const auto where = [&] { return "spec: '" + out.text + "': "; };
    std::size_t start = 0;
    while (start <= inner.size()) {
        const std::size_t comma = top_level_comma(inner, start);
        const auto [module, body] = split_module_name(inner.substr(start, comma - start));
        require(body.size() >= 2 && body.front() == '[' && body.back() == ']', where(),
                "a Residual takes branches written [item; item; ...] (optionally name: [...]), got '", body, "'");
        require(out.branches.size() < 2, where(), "a Residual has a main branch and at most one shortcut");
        const std::string items = body.substr(1, body.size() - 2);
        require(!trim(items).empty(), where(), "empty branch '", body, "'");
        out.branches.push_back({module, parse_items(items)});
        start = comma + 1;
    }
}
}  // namespace detail

// One item: `[module:] [nn.]Name[(arguments)]`.
inline layer_spec parse_layer_spec(std::string_view item) {
    layer_spec out;
    auto [module, text] = detail::split_module_name(item);
    if (text.rfind("nn.", 0) == 0) text = text.substr(3);
    out.module = std::move(module);
    out.text = std::move(text);
    const auto open = out.text.find('(');
    if (open == std::string::npos) {
        out.name = out.text;
    } else {
        require(out.text.back() == ')', "spec: '", out.text, "': missing ')'");
        out.name = detail::trim(std::string_view(out.text).substr(0, open));
        std::string_view inner = std::string_view(out.text).substr(open + 1, out.text.size() - open - 2);
        if (out.name == residual_item) {
            require(!detail::trim(inner).empty(), "spec: '", out.text, "': a Residual needs a main branch [...]");
            detail::parse_branches(out, inner);
        } else if (!detail::trim(inner).empty()) {
            std::size_t start = 0;
            while (start <= inner.size()) {
                const std::size_t comma = detail::top_level_comma(inner, start);
                const std::string arg = detail::trim(inner.substr(start, comma - start));
                require(!arg.empty(), "spec: '", out.text, "': empty argument");
                const auto eq = detail::top_level(arg, '=');
                if (eq == arg.size()) {
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
    require(out.name != residual_item || !out.branches.empty(), "spec: '", out.text,
            "': a Residual needs a main branch, Residual([...])");
    return out;
}

namespace detail {
// Splits "A(...); B; C(...)" at semicolons outside brackets; empty items are skipped.
inline std::vector<layer_spec> parse_items(std::string_view spec) {
    std::vector<layer_spec> out;
    std::size_t start = 0;
    while (start <= spec.size()) {
        const std::size_t semi = top_level(spec, ';', start);
        const std::string item = trim(spec.substr(start, semi - start));
        if (!item.empty()) out.push_back(parse_layer_spec(item));
        start = semi + 1;
    }
    return out;
}
}  // namespace detail

// A whole spec: its items in order (a Residual's branches nested in its item).
inline std::vector<layer_spec> parse_model_spec(std::string_view spec) {
    detail::check_brackets(spec);
    auto out = detail::parse_items(spec);
    require(!out.empty(), "spec: no layers in '", std::string(spec), "'");
    return out;
}

}  // namespace nn
SIB_END_NAMESPACE
