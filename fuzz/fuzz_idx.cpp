// IDX, gzip or not (include/sib/data/idx.hpp through zlib): read_idx, and when it holds images,
// the Fashion-MNIST dataset path (scaling, labels, foreground masks) with a labels file to match.
#include "fuzz_common.hpp"
#include <sib/data/idx.hpp>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("images-idx-ubyte.gz");
    sib_fuzz::write_file(path, data, size);
    try {
        const sib::data::idx_array a = sib::data::read_idx(path);
        if (a.dims.rank() < 3 || a.dims[0] > 1000) return 0;
        // A labels file of the same count, 0, 1, ..., 9, 0, ...
        const auto n = static_cast<std::uint32_t>(a.dims[0]);
        std::vector<std::uint8_t> labels{0, 0, 8, 1, std::uint8_t(n >> 24), std::uint8_t(n >> 16),
                                         std::uint8_t(n >> 8), std::uint8_t(n)};
        for (std::uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<std::uint8_t>(i % 10));
        const std::string labels_path = sib_fuzz::temp_path("labels-idx1-ubyte");
        sib_fuzz::write_file(labels_path, labels.data(), labels.size());
        (void)sib::data::load_idx_dataset(path, labels_path, 10, true);
    } catch (const sib::error&) {
    }
    return 0;
}
