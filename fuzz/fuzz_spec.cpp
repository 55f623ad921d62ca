// Model specs (include/sib/layers/spec.hpp, spec_model.hpp): the text parsed and built into a
// spec_model<float>, then its output shape for a small image batch.
//
// A valid spec may name a model too large for memory (Linear(100000,100000) is 40 GB, as in PyTorch):
// that is the machine's limit, not a reader's bug, and the command line reports it as "out of
// memory". So specs whose weights (as this harness counts them) exceed 2^24 values are skipped:
// libFuzzer would otherwise report each as an out-of-memory.
#include "fuzz_common.hpp"
#include <sib/layers/registry.hpp>
#include <sib/models/spec_model.hpp>
#include <string_view>

namespace {
// The parameter count of the weighted layers, saturating; 0 where the arguments do not parse (the
// library then refuses the spec itself).
long double weights_of(std::string_view text) {
    long double total = 0;
    try {
        for (const auto& l : sib::nn::parse_model_spec(text)) {
            using namespace sib::nn::registry;
            if (l.name == "Linear") {
                const sib::nn::layer_arguments a(l, linear_entry::signature);
                total += static_cast<long double>(a.integer("in_features")) * a.integer("out_features");
            } else if (l.name == "Conv2d") {
                const sib::nn::layer_arguments a(l, conv2d_entry::signature);
                const auto k = a.pair("kernel_size");
                total += static_cast<long double>(a.integer("in_channels")) * a.integer("out_channels") * k.first *
                         k.second;
            } else if (l.name == "BatchNorm2d") {
                const sib::nn::layer_arguments a(l, batch_norm2d_entry::signature);
                total += static_cast<long double>(a.integer("num_features")) * 4;
            }
        }
    } catch (const sib::error&) {
    }
    return total < 0 ? -total : total;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (weights_of(text) > (1 << 24)) return -1;  // -1: not added to the corpus
    try {
        sib::models::spec_model<float> model(text);
        (void)model.output_shape(sib::shape{2, 1, 8, 8});
    } catch (const sib::error&) {
    }
    return 0;
}
