// Compile-time composition of loss terms: ce() + 1000.0 * exp(background()) + 0.01 * exp(-foreground())
// builds one expression type whose forward and backward are plain inlined calls. Terms defined
// outside sib::loss find the operators with `using namespace sib::loss;`.
#pragma once
#include <sib/loss/context.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <algorithm>
#include <cmath>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace loss {

struct cross_entropy_term {
    static constexpr bool needs_explanation = false;
    double value = 0;  // at the last forward
    template <class Ctx>
    auto forward(Ctx& c) {
        const auto v = cross_entropy(*c.z, *c.y);
        value = static_cast<double>(v);
        return v;
    }
    void report(term_values& out) const { out.add("ce", value); }
    template <class Ctx>
    void backward(Ctx& c, double w) {
        cross_entropy(*c.z, *c.y, &c.zbar, static_cast<typename Ctx::value_type>(w));
    }
};
inline cross_entropy_term ce() { return {}; }

// The flags of a composite: those of its parts, combined.
template <class... Es>
struct composite_flags {
    static constexpr bool needs_explanation = (Es::needs_explanation || ...);
    static constexpr bool reads_mask = (reads_mask_v<Es> || ...);
    static constexpr bool needs_annotation = (needs_annotation_v<Es> || ...);
    static constexpr index_t min_batch = std::max({min_batch_v<Es>...});
};

template <loss_term E>
struct scaled_term : composite_flags<E> {
    using context_type = typename common_context<E>::type;
    double weight;
    E term;
    template <class Ctx>
    auto forward(Ctx& c) {
        return static_cast<typename Ctx::value_type>(weight) * term.forward(c);
    }
    template <class Ctx>
    void backward(Ctx& c, double w) {
        term.backward(c, w * weight);
    }
    void report(term_values& out) const { term.report(out); }
};

template <loss_term A, loss_term Bt>
struct sum_term : composite_flags<A, Bt> {
    using context_type = typename common_context<A, Bt>::type;
    A a;
    Bt b;
    template <class Ctx>
    auto forward(Ctx& c) {
        return a.forward(c) + b.forward(c);
    }
    template <class Ctx>
    void backward(Ctx& c, double w) {
        if (reaches(a, c)) a.backward(c, w);
        if (reaches(b, c)) b.backward(c, w);
    }
    // Whether the backward goes into part e: always, unless the context asks for one term's
    // gradient (only_term) and e reports no value of that name.
    template <class E, class Ctx>
    static bool reaches(const E& e, const Ctx& c) {
        if constexpr (requires { c.only_term; }) {
            if (c.only_term.empty()) return true;
            term_values names;
            e.report(names);
            return names.contains(c.only_term);
        } else {
            return true;
        }
    }
    void report(term_values& out) const {
        a.report(out);
        b.report(out);
    }
};

// psi of docs/objective.md: exp (the paper's code) or identity, chosen at compile time or at run time.
struct exp_shaping {
    static double value(double v) { return std::exp(v); }
    static double derivative(double v) { return std::exp(v); }
};
struct linear_shaping {
    static double value(double v) { return v; }
    static double derivative(double) { return 1; }
};
enum class shaping { exp, linear };
inline shaping parse_shaping(std::string_view s) {
    if (s == "exp") return shaping::exp;
    if (s == "linear") return shaping::linear;
    fail("unknown shaping '", s, "' (expected exp or linear)");
}
struct runtime_shaping {
    shaping kind = shaping::exp;
    double value(double v) const { return kind == shaping::exp ? std::exp(v) : v; }
    double derivative(double v) const { return kind == shaping::exp ? std::exp(v) : 1.0; }
};

template <class Psi, loss_term E>
struct shaped_term : composite_flags<E> {
    using context_type = typename common_context<E>::type;
    Psi psi;
    E term;
    double inner = 0;  // the term's value at the last forward, for the chain rule
    template <class Ctx>
    auto forward(Ctx& c) {
        inner = static_cast<double>(term.forward(c));
        return static_cast<typename Ctx::value_type>(psi.value(inner));
    }
    template <class Ctx>
    void backward(Ctx& c, double w) {
        term.backward(c, w * psi.derivative(inner));
    }
    // The inner term's own values (psi's argument), which is what a reader wants to follow.
    void report(term_values& out) const { term.report(out); }
};

template <loss_term E>
auto operator*(double w, E e) {
    return scaled_term<E>{{}, w, std::move(e)};
}
template <loss_term E>
auto operator-(E e) {
    return scaled_term<E>{{}, -1.0, std::move(e)};
}
template <loss_term A, loss_term Bt>
auto operator+(A a, Bt b) {
    return sum_term<A, Bt>{{}, std::move(a), std::move(b)};
}
template <loss_term E>
auto exp(E e) {
    return shaped_term<exp_shaping, E>{{}, {}, std::move(e)};
}
template <loss_term E>
auto identity(E e) {
    return shaped_term<linear_shaping, E>{{}, {}, std::move(e)};
}
template <loss_term E>
auto psi(shaping s, E e) {
    return shaped_term<runtime_shaping, E>{{}, {s}, std::move(e)};
}

}  // namespace loss
SIB_END_NAMESPACE
