// Images through stb_image (include/sib/io/png.hpp's read_image): every format stb reads, as
// stored and converted to 3 channels. stb's implementation is compiled here (SIB_STB_IMPLEMENTATION),
// so that the sanitizers and the coverage reach into the decoder.
#define SIB_STB_IMPLEMENTATION
#include "fuzz_common.hpp"
#include <sib/io/png.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("image");
    sib_fuzz::write_file(path, data, size);
    for (int channels : {0, 3}) {
        try {
            (void)sib::io::read_image<float>(path, channels);
        } catch (const sib::error&) {
        }
    }
    return 0;
}
