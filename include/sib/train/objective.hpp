// What a trainer minimises: a loss expression with the soft mask its terms read and the decoder
// that makes the explanation R, plus the settings that identify it in a checkpoint. The command
// line picks one of the three below by name, once; a C++ user composes their own:
//   train::objective{loss::ce() + 10.0 * my_term(), masks::density_mask<float>({}),
//                    decoders::softmax_energy{}, {{"objective", "mine"}}}
#pragma once
#include <sib/decoders/softmax_energy.hpp>
#include <sib/decoders/sum_log_prob.hpp>
#include <sib/loss/compose.hpp>
#include <sib/loss/objective.hpp>
#include <sib/loss/right_reasons.hpp>
#include <sib/masks/density_mask.hpp>
#include <sib/masks/none.hpp>
#include <sib/io/json.hpp>

SIB_BEGIN_NAMESPACE
namespace train {

template <loss::loss_term E, class Mask = masks::none, class Decoder = decoders::softmax_energy>
struct objective {
    using expression_type = E;
    E expression;
    Mask mask{};
    Decoder decoder{};
    io::json settings = io::json::object();  // must match on --resume
};
template <class E>
objective(E) -> objective<E>;
template <class E, class Mask>
objective(E, Mask) -> objective<E, Mask>;
template <class E, class Mask, class Decoder>
objective(E, Mask, Decoder) -> objective<E, Mask, Decoder>;
template <class E, class Mask, class Decoder>
objective(E, Mask, Decoder, io::json) -> objective<E, Mask, Decoder>;

// Cross entropy alone.
template <class T, class B = cpu>
auto make_ce_objective() {
    return objective<loss::cross_entropy_term>{loss::ce(), {}, {}, {{"objective", "ce"}}};
}

// The paper's objective, CE + lambda_bg psi(bg) + lambda_fg psi(-fg), on the density mask.
template <class T, class B = cpu>
auto make_sib_objective(const loss::sib_settings& s = {}, const masks::density_mask_options& m = {}) {
    io::json settings = {{"objective", "sib"}, {"lambda_bg", s.lambda_bg}, {"lambda_fg", s.lambda_fg},
                               {"shaping", s.shaping == loss::shaping::exp ? "exp" : "linear"},
                               {"window", m.window}, {"temperature", m.temperature}, {"slope", m.slope}};
    return objective{loss::sib_objective<T, B>(s), masks::density_mask<T, B>(m), decoders::softmax_energy{},
                     std::move(settings)};
}

// Right for the right reasons: CE + lambda * RRR on the gradient of sum_k log p_k; reads the data's
// foreground masks, no soft mask.
template <class T, class B = cpu>
auto make_rrr_objective(double lambda = 1000) {
    return objective{loss::ce() + lambda * loss::right_reasons<T, B>(), masks::none{}, decoders::sum_log_prob{},
                     io::json{{"objective", "rrr"}, {"lambda_rrr", lambda}}};
}

}  // namespace train
SIB_END_NAMESPACE
