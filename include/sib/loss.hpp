// <sib/loss.hpp>: sib::loss: cross entropy, the S-IB and RRR terms, compile-time composition, the paper objective.
#pragma once
#include <sib/loss/compose.hpp>
#include <sib/loss/context.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/loss/objective.hpp>
#include <sib/loss/right_reasons.hpp>
#include <sib/loss/sib_terms.hpp>
#include <sib/loss/term_values.hpp>
