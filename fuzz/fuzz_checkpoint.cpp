// Checkpoints on --resume (include/sib/train/checkpoint.hpp through trainer::resume): the whole
// file, safetensors container, tensors, counters, optimizer state and metadata.
#include "fuzz_checkpoint_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("checkpoint.safetensors");
    sib_fuzz::write_file(path, data, size);
    sib_fuzz::resume_from(path);
    return 0;
}
