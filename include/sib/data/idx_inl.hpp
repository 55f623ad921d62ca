// The definitions of <sib/data/idx.hpp>: the IDX reader and the Fashion-MNIST loader.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/data/idx.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/data/foreground_mask.hpp>
#include <cstdio>

SIB_BEGIN_NAMESPACE
namespace data {

SIB_INLINE idx_array read_idx(const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_file_bytes(path, "IDX");
    const std::size_t n = bytes.size();
    require(n >= 4 && bytes[0] == 0 && bytes[1] == 0, "IDX: ", path,
            " is not an IDX file (it does not start with two zero bytes)");
    const int type = bytes[2], rank = bytes[3];
    if (type != 0x08) {
        char code[8];
        std::snprintf(code, sizeof code, "0x%02X", type);
        fail("IDX: ", path, " has element type ", code, "; only unsigned bytes (0x08) are supported");
    }
    require(rank >= 1 && rank <= sib::shape::max_rank, "IDX: ", path, " has rank ", rank,
            "; supported ranks are 1 to ", sib::shape::max_rank);
    const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
    require(n >= header, "IDX: ", path, " is truncated inside its header");
    idx_array out;
    // The product of the nonzero dimensions is bounded too: an empty array of [0, 2^32-1, 2^32-1]
    // holds no data, but a reader multiplying its other dimensions would overflow.
    std::uint64_t count = 1, span = 1;
    for (int d = 0; d < rank; ++d) {
        const std::uint8_t* p = bytes.data() + 4 + 4 * d;
        const std::uint64_t dim = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) |
                                  (std::uint64_t{p[2]} << 8) | std::uint64_t{p[3]};
        out.dims.push_back(static_cast<index_t>(dim));
        // A corrupt header must fail here, not overflow the count past the size check below.
        constexpr std::uint64_t limit = std::uint64_t{1} << 40;
        require(dim == 0 || span <= limit / dim, "IDX: ", path, " declares an absurd size ", out.dims.str());
        if (dim != 0) span *= dim;
        count *= dim;
    }
    const std::size_t have = n - header;
    require(have >= count, "IDX: ", path, " is truncated: its header ", out.dims.str(), " needs ",
            count, " bytes of data, the file has ", have);
    require(have == count, "IDX: ", path, " has ", have - count,
            " trailing bytes after the data of its header ", out.dims.str());
    out.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return out;
}

SIB_INLINE in_memory_dataset load_idx_dataset(const std::string& images_path,
                                              const std::string& labels_path, int num_classes,
                                              bool masks, std::vector<std::string> class_names) {
    const idx_array im = read_idx(images_path);
    const idx_array lb = read_idx(labels_path);
    require(im.dims.rank() == 3 || im.dims.rank() == 4, "IDX: ", images_path,
            " holds ", im.dims.str(), ", not images [N,H,W] or [N,C,H,W]");
    require(lb.dims.rank() == 1, "IDX: ", labels_path, " holds ", lb.dims.str(),
            ", not labels [N]");
    const index_t n = im.dims[0];
    require(lb.dims[0] == n, "IDX: ", images_path, " has ", n, " images but ", labels_path, " has ",
            lb.dims[0], " labels");
    const index_t c = im.dims.rank() == 4 ? im.dims[1] : 1;
    const index_t h = im.dims[im.dims.rank() - 2], w = im.dims[im.dims.rank() - 1];
    require(c > 0 && h > 0 && w > 0, "IDX: ", images_path, " holds ", im.dims.str(),
            ": an image dimension is zero");

    in_memory_dataset::image_tensor images({n, c, h, w});
    float* pi = images.data();
    const std::uint8_t* src = im.values.data();
    cpu::parallel_for(images.size(), [=](index_t i) { pi[i] = static_cast<float>(src[i]) / 255.0f; });

    in_memory_dataset::label_tensor labels({n});
    for (index_t i = 0; i < n; ++i) {
        labels.data()[i] = lb.values[static_cast<std::size_t>(i)];
        require(labels.data()[i] < num_classes, "IDX: ", labels_path, ": label ",
                labels.data()[i], " of image ", i, " is out of range for ", num_classes, " classes");
    }

    in_memory_dataset::image_tensor mask_tensor;
    if (masks) {
        require(c == 1, "IDX: foreground masks need gray images, ", images_path, " has ", c,
                " channels");
        mask_tensor.resize({n, 1, h, w});
        float* pm = mask_tensor.data();
        cpu::parallel_for(n, [=](index_t i) { foreground_mask(pi + i * h * w, h, w, pm + i * h * w); },
                          h * w * 9);
    }
    return in_memory_dataset(std::move(images), std::move(labels), num_classes,
                             std::move(mask_tensor), std::move(class_names));
}

SIB_INLINE const std::vector<std::string>& fashion_mnist_classes() {
    static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};
    return names;
}

SIB_INLINE in_memory_dataset load_fashion_mnist(const std::string& dir,
                                                bool train) {
    const std::string prefix = train ? "train" : "t10k";
    auto find = [&](const std::string& stem) {
        const std::filesystem::path base = std::filesystem::path(dir) / stem;
        std::error_code ec;
        if (std::filesystem::is_regular_file(base.string() + ".gz", ec)) return base.string() + ".gz";
        if (std::filesystem::is_regular_file(base, ec)) return base.string();
        fail("Fashion-MNIST: ", base.string(), ".gz not found; `apt-get install "
             "dataset-fashion-mnist` provides Fashion-MNIST");
    };
    const std::string images = find(prefix + "-images-idx3-ubyte");
    const std::string labels = find(prefix + "-labels-idx1-ubyte");
    return load_idx_dataset(images, labels, 10, true, fashion_mnist_classes());
}

}  // namespace data
SIB_END_NAMESPACE
