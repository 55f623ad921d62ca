// The registry of attribution methods: one table, method_table, of every method's name, family,
// whether it is one of the six core methods of docs/explanations.md, and its entry point (a
// method_id, which explain_into's one switch turns into the call). Everything that lists, checks
// or chooses methods derives from it: method_names, method_list() in error messages, the groups
// "all" (the core six) and "every" (all 14) of select_methods(), is_gradient_family(),
// is_cam_method(), methods_help() for --help, and the dispatch in explain.hpp.
//
// Adding a method: its header, one row here (and the method_id value it names), one case in
// explain_into's switch (explain.hpp). A row whose id is out of order fails to compile.
#pragma once
#include <sib/core/split.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

// The families of docs/explanations.md: the gradient family (a map with a channel axis before
// reduction, so keep_channels applies), the CAM family (a target layer with a 4-D output) and the
// perturbation methods (model calls on perturbed inputs only).
enum class method_family { gradient, cam, perturbation };

// The entry point of a method: explain_into (explain.hpp) switches on it. In method_table order.
enum class method_id {
    saliency, input_x_gradient, smoothgrad, integrated_gradients, gradcam, gradcam_pp, guided_backprop,
    layercam, xgradcam, hirescam, scorecam, vargrad, occlusion, rise
};

struct method_entry {
    std::string_view name;     // as explain() and the command line spell it
    method_id id;              // entry point
    method_family family;
    bool core;                 // one of the six of docs/explanations.md: --method all
    std::string_view summary;  // one line for --help
};

inline constexpr std::array method_table{
    method_entry{"saliency", method_id::saliency, method_family::gradient, true,
                 "max_c |g|, g = dz_t/dx the input gradient of the target logit"},
    method_entry{"input_x_gradient", method_id::input_x_gradient, method_family::gradient, true, "sum_c x * g"},
    method_entry{"smoothgrad", method_id::smoothgrad, method_family::gradient, true,
                 "saliency averaged over noisy copies of the input (--samples)"},
    method_entry{"integrated_gradients", method_id::integrated_gradients, method_family::gradient, true,
                 "sum_c (x - x0) * mean g on the path from x0 = 0 to x (--steps)"},
    method_entry{"gradcam", method_id::gradcam, method_family::cam, true,
                 "relu(sum_k w_k A_k), w_k = mean G_k; A at layer --layer"},
    method_entry{"gradcam_pp", method_id::gradcam_pp, method_family::cam, true,
                 "relu(sum_k w_k A_k), w_k = sum alpha_k relu(G_k) (Grad-CAM++)"},
    method_entry{"guided_backprop", method_id::guided_backprop, method_family::gradient, false,
                 "max_c |g| with ReLUs passing positive gradients only"},
    method_entry{"layercam", method_id::layercam, method_family::cam, false, "relu(sum_k relu(G_k) * A_k)"},
    method_entry{"xgradcam", method_id::xgradcam, method_family::cam, false,
                 "relu(sum_k w_k A_k), w_k = sum G_k A_k / sum A_k"},
    method_entry{"hirescam", method_id::hirescam, method_family::cam, false, "relu(sum_k G_k * A_k)"},
    method_entry{"scorecam", method_id::scorecam, method_family::cam, false,
                 "relu(sum_k w_k A_k), w = softmax_k z_t(x * A_k)"},
    method_entry{"vargrad", method_id::vargrad, method_family::gradient, false,
                 "max_c of the variance of g over noisy copies of x (--samples)"},
    method_entry{"occlusion", method_id::occlusion, method_family::perturbation, false,
                 "mean drop of z_t when 8x8 windows over the pixel are 0"},
    method_entry{"rise", method_id::rise, method_family::perturbation, false,
                 "sum_i P_t(x * M_i) M_i over 2000 random masks M_i"},
};

namespace detail {
consteval bool method_table_is_consistent() {
    for (std::size_t i = 0; i < method_table.size(); ++i) {
        if (static_cast<std::size_t>(method_table[i].id) != i) return false;
        for (std::size_t j = 0; j < i; ++j)
            if (method_table[j].name == method_table[i].name) return false;
    }
    return static_cast<std::size_t>(method_id::rise) + 1 == method_table.size();
}
static_assert(method_table_is_consistent(),
              "sib::explain::method_table: row i must name method_id i, every method_id once, every name once");
}  // namespace detail

// Every method's name, in table order.
inline constexpr auto method_names = [] {
    std::array<std::string_view, method_table.size()> names{};
    for (std::size_t i = 0; i < names.size(); ++i) names[i] = method_table[i].name;
    return names;
}();

// The row of `name`, or nullptr.
constexpr const method_entry* find_method(std::string_view name) {
    for (const auto& e : method_table)
        if (e.name == name) return &e;
    return nullptr;
}

constexpr std::string_view family_name(method_family f) {
    switch (f) {
        case method_family::gradient: return "gradient";
        case method_family::cam: return "CAM";
        case method_family::perturbation: return "perturbation";
    }
    return "?";
}

// "a, b, c": the names of the rows `keep` accepts (every row without an argument), in table order.
template <class Keep>
std::string method_list(Keep keep) {
    std::string s;
    for (const auto& e : method_table)
        if (keep(e)) {
            if (!s.empty()) s += ", ";
            s += e.name;
        }
    return s;
}
inline std::string method_list() {
    return method_list([](const method_entry&) { return true; });
}
inline std::string method_list(method_family f) {
    return method_list([f](const method_entry& e) { return e.family == f; });
}

// The row of `name`; an unknown name fails as "<who>: unknown method '<name>' (known: ...)".
inline const method_entry& method_by_name(std::string_view name, std::string_view who = "explain") {
    const method_entry* e = find_method(name);
    require(e != nullptr, who, ": unknown method '", name, "' (known: ", method_list(), ")");
    return *e;
}

// Whether `method` is a known method of family `f` (a loop over the table rather than a pointer
// test, so that it folds to a constant under -fsanitize=undefined too).
constexpr bool is_method_of(std::string_view method, method_family f) {
    for (const auto& e : method_table)
        if (e.name == method) return e.family == f;
    return false;
}
// The methods whose map has a channel axis before reduction (keep_channels applies). False for
// unknown names.
constexpr bool is_gradient_family(std::string_view method) { return is_method_of(method, method_family::gradient); }
// The methods with a target layer (--layer).
constexpr bool is_cam_method(std::string_view method) { return is_method_of(method, method_family::cam); }

// The six core methods (--method all) and all 14 (--method every), in table order.
inline std::vector<std::string> core_methods() {
    std::vector<std::string> out;
    for (const auto& e : method_table)
        if (e.core) out.emplace_back(e.name);
    return out;
}
inline std::vector<std::string> every_method() { return {method_names.begin(), method_names.end()}; }

// Methods chosen by text: "all" (the core six), "every" (all 14) or a comma-separated list of
// known methods without repeats. Errors name `who` (e.g. the flag): "<who>: unknown method ...".
inline std::vector<std::string> select_methods(std::string_view text, std::string_view who = "methods") {
    if (text == "all") return core_methods();
    if (text == "every") return every_method();
    std::vector<std::string> out;
    for (auto& m : split_list(text)) {
        require(find_method(m) != nullptr, who, ": unknown method '", m, "' (known: ", method_list(),
                "; or all, every)");
        for (const auto& seen : out) require(seen != m, who, ": method ", m, " given twice");
        out.push_back(std::move(m));
    }
    return out;
}

// The table for --help: a line naming the groups, then one line per method (name, * for the core
// six, family, summary); no newline after the last.
inline std::string methods_help() {
    std::string out = "Methods (all = the six marked *, every = all " + std::to_string(method_table.size()) + "):";
    for (const auto& e : method_table) {
        std::string line = "  " + std::string(e.name) + (e.core ? " *" : "") + " ";
        line.resize(std::max<std::size_t>(line.size(), 25), ' ');
        line += family_name(e.family);
        line.resize(std::max<std::size_t>(line.size() + 1, 39), ' ');
        out += "\n" + line + std::string(e.summary);
    }
    return out;
}

}  // namespace explain
SIB_END_NAMESPACE
