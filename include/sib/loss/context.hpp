// What loss terms read (logits, labels, input, explanation R, mask M) and where they send their
// gradients (zbar, Rbar, Mbar). One context per step; the terms accumulate, never overwrite.
#pragma once
#include <sib/decoders/decoder.hpp>
#include <limits>

SIB_BEGIN_NAMESPACE

template <class T, class B = cpu>
struct loss_context {
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    const tensor_type* x = nullptr;              // input batch [B,C,H,W]
    const tensor_type* z = nullptr;              // logits [B,K]
    const labels_tensor<T, B>* y = nullptr;      // labels [B]
    const tensor_type* R = nullptr;              // explanation, shape of x (null for CE only)
    const tensor_type* M = nullptr;              // soft mask [B,1,H,W] (null for CE only)

    tensor_type zbar, Rbar, Mbar;

    // Points at this step's tensors and forgets last step's values (the adjoint buffers are kept).
    void begin(const tensor_type& input, const tensor_type& logits, const labels_tensor<T, B>& labels) {
        x = &input;
        z = &logits;
        y = &labels;
        R = nullptr;
        M = nullptr;
        ce = fg = bg = std::numeric_limits<T>::quiet_NaN();
    }

    // Values of the named terms, for logs; NaN when the objective has no such term.
    T ce = std::numeric_limits<T>::quiet_NaN();
    T fg = std::numeric_limits<T>::quiet_NaN();
    T bg = std::numeric_limits<T>::quiet_NaN();
};

// A loss term computes its value from the context, then sends w * d(value) into the adjoints.
// needs_explanation says whether it reads R and M (and so whether the step runs the decoder).
template <class E>
concept loss_term = requires(E& e, loss_context<double>& c) {
    { e.forward(c) } -> std::convertible_to<double>;
    e.backward(c, 1.0);
    { E::needs_explanation } -> std::convertible_to<bool>;
};

SIB_END_NAMESPACE
