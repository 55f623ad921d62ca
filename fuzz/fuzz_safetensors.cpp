// .safetensors (include/sib/io/safetensors.hpp): load (which validates every entry), then every
// tensor's raw bytes, its conversion to float, and the metadata.
#include "fuzz_common.hpp"
#include <sib/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("input.safetensors");
    sib_fuzz::write_file(path, data, size);
    try {
        const auto f = sib::io::safetensors_file::load(path);
        std::size_t sum = 0;
        for (const auto& [k, v] : f.metadata()) sum += k.size() + v.size();
        for (const auto& name : f.names()) {
            for (std::byte b : f.raw(name)) sum += static_cast<std::size_t>(b);
            try {
                const auto t = f.get<float>(name);
                sum += static_cast<std::size_t>(t.size());
                const auto a = f.array(name);
                sum += a.bytes.size();
            } catch (const sib::error&) {
            }
        }
        (void)sum;
    } catch (const sib::error&) {
    }
    return 0;
}
