// Images through stb_image (include/sib/io/png.hpp's read_image): every format stb reads, as
// stored and converted to 3 channels. stb's implementation is compiled here (SIB_STB_IMPLEMENTATION),
// so that the sanitizers and the coverage reach into the decoder.
//
// The harness decodes at most 2^20 pixels, not read_image's default 2^26: a valid image of 2^26
// pixels (a GIF's canvas around a one-pixel frame is valid, and 35 bytes) takes some 16 s and 2 GB
// under the sanitizers, beyond libFuzzer's limits. That size is the limit's purpose, not a decoding
// bug; the refusal itself is still exercised, at the smaller limit.
#define SIB_STB_IMPLEMENTATION
#include "fuzz_common.hpp"
#include <sib/io/png.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("image");
    sib_fuzz::write_file(path, data, size);
    for (int channels : {0, 3}) {
        try {
            (void)sib::io::read_image<float>(path, channels, std::uint64_t{1} << 20);
        } catch (const sib::error&) {
        }
    }
    return 0;
}
