// Images through stb_image (include/sib/io/png.hpp's read_image): every format stb reads, as
// stored and converted to 3 channels. stb's implementation is compiled here (SIB_STB_IMPLEMENTATION),
// so that the sanitizers and the coverage reach into the decoder.
//
// The harness decodes at most 2^20 pixels, not read_image's default 2^26: a valid image of 2^26
// pixels (a GIF's canvas around a one-pixel frame is valid, and 35 bytes) takes some 16 s and 2 GB
// under the sanitizers, beyond libFuzzer's limits. That size is the limit's purpose, not a decoding
// bug; the refusal itself is still exercised, at the smaller limit.
//
// Every allocation stb makes is bounded: past read_image's checks, an image of at most 2^20 pixels
// never needs 256 MB (16-bit RGBA is 8 MB). A larger request is a hole in those checks, found here
// at once, not only when the process's memory happens to reach libFuzzer's limit (as for a PNG
// chunk declaring a gigabyte, and a PIC whose canvas stb filled after stbi_info had rejected it).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
namespace sib_fuzz {
inline std::size_t bounded(std::size_t bytes) {
    if (bytes > (std::size_t{256} << 20)) {
        std::fprintf(stderr, "finding: stb allocates %zu bytes for an image of at most 2^20 pixels\n", bytes);
        std::abort();
    }
    return bytes;
}
}  // namespace sib_fuzz
#define STBI_MALLOC(bytes) std::malloc(sib_fuzz::bounded(bytes))
#define STBI_REALLOC(pointer, bytes) std::realloc(pointer, sib_fuzz::bounded(bytes))
#define STBI_FREE(pointer) std::free(pointer)
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
