// The run the checkpoint harnesses resume: a small spec model with a BatchNorm2d (so that a
// counter, num_batches_tracked, is read too), AdamW, cross entropy; resume() is what
// `sib train --resume FILE` calls.
#pragma once
#include "fuzz_common.hpp"
#include <sib/models/spec_model.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/train/checkpoint.hpp>
#include <sib/train/objective.hpp>
#include <sib/train/trainer.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sib_fuzz {

inline constexpr const char* checkpoint_spec = "Conv2d(1,2,3); BatchNorm2d(2); ReLU; Flatten; Linear(8,3)";

// Resumes from `path` as the command line does. sib::error is the clean refusal; any other exception
// escaping the reader is a finding (libFuzzer reports it).
inline void resume_from(const std::string& path) {
    sib::models::spec_model<float> model(checkpoint_spec);
    sib::train::train_options o;
    o.epochs = 2;
    o.batch_size = 4;
    sib::train::trainer t(model, sib::train::make_ce_objective<float>(), sib::optim::adamw<float>(), o,
                          checkpoint_spec);
    try {
        t.resume(path);
    } catch (const sib::error&) {
    }
}

}  // namespace sib_fuzz
