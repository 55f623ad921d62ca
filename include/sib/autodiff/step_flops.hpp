// The FLOP count of one training step, for achieved GFLOP/s (`sib bench`, benchmarks/). Only the
// GEMMs of convolution and linear layers count (2*m*n*k each); bias, pooling, activations, the
// mask, the terms and the optimizer are left out, so the figure compares with an SGEMM's. With
// F_l = 2*N*O*(C*kh*kw)*(OH*OW) for a convolution and 2*N*in*out for a linear layer, the sweeps
// (train/sweeps.hpp) run per layer l:
//   S-IB step: forward + decoder vjp + tangent jvp + mixed weight grad + backward weight grad
//              + backward input grad (skipped for layer 0: nothing before it needs it)
//              = (5 + [l > 0]) F_l
//   CE step:   forward + backward weight grad + backward input grad = (2 + [l > 0]) F_l
// The layers inside a spec's Residual blocks count as those of a chain (their input gradient always
// needed).
#pragma once
#include <sib/layers/conv2d.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/spec_sequence.hpp>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace autodiff {

struct step_flop_count {
    double forward = 0, sib_step = 0, ce_step = 0;
};

namespace detail {
// Adds the layers of `m` (a run-time chain) from input shape `in`; `first` says whether its layer 0
// is the model's first (no input gradient). A block's branches count their layers as a chain's from
// the block's input (a lower bound: its fused tangent rule runs an inner decoder and backward sweep
// again, docs/second-order.md).
template <class T, class B, class M>
void add_step_flops(M& m, shape& in, step_flop_count& c, bool first) {
    m.for_each_layer([&](auto& l, int i) {
        using L = std::decay_t<decltype(l)>;
        const shape out = l.output_shape(in);
        double f = 0;
        if constexpr (requires { l.main(); }) {
            shape s = in;
            add_step_flops<T, B>(l.main(), s, c, false);
            if constexpr (requires { l.shortcut(); }) {
                shape t = in;
                add_step_flops<T, B>(l.shortcut(), t, c, false);
            }
        } else if constexpr (std::is_same_v<L, nn::conv2d<T, B>>) {
            f = 2.0 * static_cast<double>(out[0] * out[1] * out[2] * out[3]) *
                static_cast<double>(l.in_channels() * l.window().area());
        } else if constexpr (std::is_same_v<L, nn::linear<T, B>>) {
            f = 2.0 * static_cast<double>(in[0]) * static_cast<double>(l.in_features() * l.out_features());
        }
        const double backward_input = (i > 0 || !first) ? 1.0 : 0.0;
        c.forward += f;
        c.sib_step += (5.0 + backward_input) * f;
        c.ce_step += (2.0 + backward_input) * f;
        in = out;
    });
}
}  // namespace detail

// `in` is the input batch's shape [N,C,H,W].
template <class T, class B>
step_flop_count count_step_flops(nn::spec_sequence<T, B>& m, shape in) {
    step_flop_count c;
    detail::add_step_flops<T, B>(m, in, c, true);
    return c;
}

}  // namespace autodiff
SIB_END_NAMESPACE
