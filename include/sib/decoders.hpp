// <sib/decoders.hpp>: sib::decoders: the VJP decoders (seed and Hessian-vector product at the logits).
#pragma once
#include <sib/decoders/argmax.hpp>
#include <sib/decoders/decoder.hpp>
#include <sib/decoders/softmax_energy.hpp>
#include <sib/decoders/sum_log_prob.hpp>
#include <sib/decoders/target_log_prob.hpp>
#include <sib/decoders/target_logit.hpp>
