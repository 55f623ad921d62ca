// .npy (include/sib/io/npy.hpp): the stored array, the conversion to float and to int64, labels.
#include "fuzz_common.hpp"
#include <sib/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("input.npy");
    sib_fuzz::write_file(path, data, size);
    try {
        const auto a = sib::io::read_npy(path);
        (void)a.to_vector<double>("fuzz");
    } catch (const sib::error&) {
    }
    try {
        (void)sib::io::load_npy<float>(path);
    } catch (const sib::error&) {
    }
    try {
        (void)sib::io::load_npy<std::int32_t>(path);
    } catch (const sib::error&) {
    }
    try {
        (void)sib::io::load_labels(path);
    } catch (const sib::error&) {
    }
    return 0;
}
