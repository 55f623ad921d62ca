// The JSON the command line reads: a checkpoint's "sib" metadata, parsed by load_checkpoint and
// used by trainer::resume (`sib train --resume`) and by `sib info`. The input is that JSON text,
// stored in an otherwise valid checkpoint of the harness's model.
#include "fuzz_checkpoint_common.hpp"
#include <optional>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    static const sib::io::safetensors_file::named_arrays arrays = [] {
        sib::models::spec_model<float> model(sib_fuzz::checkpoint_spec);
        sib::optim::adamw<float> opt;
        opt.init_state(model);
        sib::io::safetensors_file::named_arrays a;
        model.for_each_parameter([&](std::string_view name, sib::tensor<float>& v, sib::tensor<float>*) {
            a.emplace_back(std::string(name), sib::io::raw_array::from_tensor(v));
        });
        opt.for_each_state([&](const std::string& name, const sib::tensor<float>& v) {
            a.emplace_back(name, sib::io::raw_array::from_tensor(v));
        });
        return a;
    }();
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string path = sib_fuzz::temp_path("meta.safetensors");
    try {
        sib::io::safetensors_file::save(path, arrays, {{"format", sib::train::checkpoint_format}, {"sib", text}});
    } catch (const sib::error&) {
        return -1;  // not UTF-8: no safetensors header can hold it as a string
    }
    // `sib info` parses and prints it. What parse() accepts, dump() writes back as the same value.
    std::optional<sib::io::json> j;
    try {
        j = sib::io::json::parse(text);
    } catch (const sib::io::json_error&) {
    }
    if (j && !(sib::io::json::parse(j->dump()) == *j)) {
        std::fprintf(stderr, "finding: JSON does not survive dump and parse: %s\n", j->dump().c_str());
        std::abort();
    }
    sib_fuzz::resume_from(path);
    return 0;
}
