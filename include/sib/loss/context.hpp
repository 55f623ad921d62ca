// What loss terms read (logits, labels, input, explanation R, mask M) and where they send their
// gradients (zbar, Rbar, Mbar). One context per step; the terms accumulate, never overwrite.
#pragma once
#include <sib/decoders/decoder.hpp>
#include <sib/loss/term_values.hpp>
#include <algorithm>
#include <string_view>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace loss {

template <class T, class B = cpu>
struct loss_context {
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    const tensor_type* x = nullptr;              // input batch [B,C,H,W]
    const tensor_type* z = nullptr;              // logits [B,K]
    const labels_tensor<B>* y = nullptr;      // labels [B]
    const tensor_type* R = nullptr;              // explanation, shape of x (null for CE only)
    const tensor_type* M = nullptr;              // soft mask [B,1,H,W] (null for CE only)
    const tensor_type* annotation = nullptr;     // the data's foreground masks [B,1,H,W], if any

    tensor_type zbar, Rbar, Mbar;
    // Non-empty: the backward runs from the terms that report this name only, so the parameter
    // gradient is that term's alone (train/diagnostics.hpp). Not reset by begin().
    std::string_view only_term;

    // Points at this step's tensors and forgets last step's values (the adjoint buffers are kept).
    void begin(const tensor_type& input, const tensor_type& logits, const labels_tensor<B>& labels) {
        x = &input;
        z = &logits;
        y = &labels;
        R = nullptr;
        M = nullptr;
        annotation = nullptr;
    }
};

// The context a term works on: its context_type when it is tied to one element type and backend,
// otherwise (void or absent: terms such as cross entropy that work on any) loss_context<double>.
template <class E>
struct term_context {
    using type = loss_context<double>;
};
template <class E>
    requires requires { typename E::context_type; } && (!std::is_void_v<typename E::context_type>)
struct term_context<E> {
    using type = typename E::context_type;
};
template <class E>
using term_context_t = typename term_context<E>::type;

template <class E>
struct own_context {
    using type = void;
};
template <class E>
    requires requires { typename E::context_type; }
struct own_context<E> {
    using type = typename E::context_type;
};

// The context_type of a composite: void when all parts work on any context, else the one they share.
template <class... Es>
struct common_context {
    using type = void;
};
template <class E, class... Es>
struct common_context<E, Es...> {
    using own = typename own_context<E>::type;
    using rest = typename common_context<Es...>::type;
    static_assert(std::is_void_v<own> || std::is_void_v<rest> || std::is_same_v<own, rest>,
                  "sib loss: terms of one expression must share the element type and backend");
    using type = std::conditional_t<std::is_void_v<own>, rest, own>;
};

// A loss term computes its value from the context, then sends w * d(value) into the adjoints, and
// reports its named values (a leaf term its own, a composite its parts'). Its static flags tell the
// step what to compute: needs_explanation (it reads R, so the decoder and tangent sweeps run).
// Optional flags, false or 1 when absent (see the traits below): reads_mask (it reads M; by default
// as needs_explanation), needs_annotation (it reads the data's foreground masks), min_batch (the
// smallest batch on which its value is defined, 2 for HSIC).
template <class E>
concept loss_term = requires(E& e, const E& ce, term_context_t<E>& c, term_values& v) {
    { e.forward(c) } -> std::convertible_to<double>;
    e.backward(c, 1.0);
    ce.report(v);
    { E::needs_explanation } -> std::convertible_to<bool>;
};

template <class E>
inline constexpr bool reads_mask_v = [] {
    if constexpr (requires { E::reads_mask; }) return static_cast<bool>(E::reads_mask);
    else return static_cast<bool>(E::needs_explanation);
}();
template <class E>
inline constexpr bool needs_annotation_v = [] {
    if constexpr (requires { E::needs_annotation; }) return static_cast<bool>(E::needs_annotation);
    else return false;
}();
template <class E>
inline constexpr index_t min_batch_v = [] {
    if constexpr (requires { E::min_batch; }) return static_cast<index_t>(E::min_batch);
    else return index_t{1};
}();

}  // namespace loss
SIB_END_NAMESPACE
