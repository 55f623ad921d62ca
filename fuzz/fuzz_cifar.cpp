// CIFAR binary batches, gzip or not (include/sib/data/cifar.hpp): the same bytes read as CIFAR-10
// (one label byte), CIFAR-100 fine and CIFAR-100 coarse (two label bytes).
#include "fuzz_common.hpp"
#include <sib/data/cifar.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sib_fuzz::init_once();
    const std::string path = sib_fuzz::temp_path("batch.bin");
    sib_fuzz::write_file(path, data, size);
    struct layout {
        int label_bytes, label_index, classes;
    };
    for (const layout l : {layout{1, 0, 10}, layout{2, 1, 100}, layout{2, 0, 20}}) {
        try {
            (void)sib::data::load_cifar_binary({path}, l.label_bytes, l.label_index, l.classes);
        } catch (const sib::error&) {
        }
    }
    return 0;
}
