// Datasets, loaders and benchmarks: every file format is written by the test itself into a
// temporary folder, so no data set needs to be installed (the real Fashion-MNIST check skips
// without it).
#include <doctest/doctest.h>
#include <sib/data/benchmarks.hpp>
#include <sib/data/cifar.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/foreground_mask.hpp>
#include <sib/data/idx.hpp>
#include <sib/data/image_folder.hpp>
#include <sib/data/loader.hpp>
#include <sib/data/npy_dataset.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/png.hpp>
#include <zlib.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sib::index_t;
using sib::data::in_memory_dataset;
using bytes = std::vector<std::uint8_t>;

namespace {

// A fresh folder per test case, removed afterwards.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("sib_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_file(const std::string& path, const bytes& b) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const std::string& path, const bytes& b) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
    gzclose(f);
}

bytes idx_bytes(const std::vector<std::uint32_t>& dims, const bytes& values, std::uint8_t type = 0x08) {
    bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
    for (std::uint32_t d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
    b.insert(b.end(), values.begin(), values.end());
    return b;
}

bytes iota_bytes(std::size_t n, int step = 1) {
    bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * step) % 251);
    return b;
}

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const sib::error& e) {
        return e.what();
    }
    return "(no error)";
}

// A stand-in for Fashion-MNIST: N gray 28x28 images of an ellipse of random size, place and
// shading (values in (0,1], black background), labels i mod 10, foreground masks.
in_memory_dataset fake_fmnist(index_t n, std::uint64_t seed, index_t side = 28) {
    sib::rng r(seed);
    in_memory_dataset::image_tensor images({n, 1, side, side}, 0.0f), masks({n, 1, side, side});
    in_memory_dataset::label_tensor labels({n});
    for (index_t i = 0; i < n; ++i) {
        labels[i] = i % 10;
        const double cx = r.uniform(8, side - 8), cy = r.uniform(8, side - 8);
        const double ax = r.uniform(3, 8), ay = r.uniform(3, 8);
        for (index_t y = 0; y < side; ++y)
            for (index_t x = 0; x < side; ++x) {
                const double u = (x - cx) / ax, v = (y - cy) / ay;
                if (u * u + v * v <= 1) images[(i * side + y) * side + x] = static_cast<float>(r.uniform(0.05, 1.0));
            }
        sib::data::foreground_mask(images.data() + i * side * side, side, side, masks.data() + i * side * side);
    }
    return in_memory_dataset(std::move(images), std::move(labels), 10, std::move(masks));
}

bool same_bytes(const sib::tensor<float>& a, const sib::tensor<float>& b) {
    return a.shape() == b.shape() &&
           std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0;
}
bool same_dataset(const in_memory_dataset& a, const in_memory_dataset& b) {
    return same_bytes(a.images(), b.images()) && same_bytes(a.masks(), b.masks()) &&
           a.labels().to_vector() == b.labels().to_vector();
}

}  // namespace

// ---- in_memory_dataset ----------------------------------------------------------------------

TEST_CASE("in_memory_dataset: accessors and validation") {
    in_memory_dataset::image_tensor images({2, 3, 2, 2});
    std::iota(images.begin(), images.end(), 0.0f);
    in_memory_dataset::label_tensor labels({2}, std::vector<std::int64_t>{1, 0});
    in_memory_dataset::image_tensor masks({2, 1, 2, 2}, 1.0f);
    const in_memory_dataset d(images, labels, 2, masks, {"a", "b"});
    CHECK(d.size() == 2);
    CHECK(d.image_shape() == sib::shape{3, 2, 2});
    CHECK(d.num_classes() == 2);
    CHECK(d.has_masks());
    float out[12];
    d.image(1, out);
    for (int k = 0; k < 12; ++k) CHECK(out[k] == 12.0f + k);
    CHECK(d.label(0) == 1);
    d.mask(0, out);
    CHECK(out[3] == 1.0f);

    CHECK(error_of([&] { d.image(2, out); }) == "in_memory_dataset: index 2 out of range for 2 images");
    const in_memory_dataset bare(images, labels, 2);
    CHECK_FALSE(bare.has_masks());
    CHECK(error_of([&] { bare.mask(0, out); }) ==
          "in_memory_dataset: mask(0) asked of a dataset without masks");
    CHECK(error_of([&] { in_memory_dataset(images, labels, 1); }) ==
          "in_memory_dataset: label 1 of image 0 is out of range for 1 classes");
    CHECK(error_of([&] { in_memory_dataset(images, in_memory_dataset::label_tensor({3}, 0), 2); }) ==
          "in_memory_dataset: labels [3] do not match images [2,3,2,2]");
    CHECK(error_of([&] { in_memory_dataset(images, labels, 2, in_memory_dataset::image_tensor({2, 1, 2, 3})); }) ==
          "in_memory_dataset: masks [2,1,2,3] do not match images [2,3,2,2] (want [2,1,2,2])");
    CHECK(error_of([&] { in_memory_dataset(images, labels, 2, {}, {"a"}); }) ==
          "in_memory_dataset: 1 class names for 2 classes");
    CHECK(error_of([&] { in_memory_dataset(in_memory_dataset::image_tensor({2, 4}), labels, 2); }) ==
          "in_memory_dataset: images must be [N,C,H,W], got [2,4]");

    const in_memory_dataset copy = sib::data::to_in_memory(d, {"a", "b"});
    CHECK(same_dataset(copy, d));
    // A limit copies the first images only (and a limit past the end all of them).
    const in_memory_dataset first = sib::data::to_in_memory(d, {"a", "b"}, 1);
    REQUIRE(first.size() == 1);
    CHECK(first.images().shape() == sib::shape{1, 3, 2, 2});
    CHECK(first.masks().shape() == sib::shape{1, 1, 2, 2});
    CHECK(first.label(0) == d.label(0));
    float a[12], b[12];
    first.image(0, a);
    d.image(0, b);
    CHECK(std::equal(a, a + 12, b));
    CHECK(same_dataset(sib::data::to_in_memory(d, {"a", "b"}, 5), d));
}

TEST_CASE("foreground_mask: nonzero pixels dilated by one, clipped at the border") {
    float img[5 * 4] = {};
    img[2 * 4 + 1] = 0.2f;  // (2,1)
    img[0 * 4 + 3] = 1.0f;  // corner (0,3)
    float m[5 * 4];
    sib::data::foreground_mask(img, 5, 4, m);
    const float want[5 * 4] = {0, 0, 1, 1,  //
                               1, 1, 1, 1,  //
                               1, 1, 1, 0,  //
                               1, 1, 1, 0,  //
                               0, 0, 0, 0};
    for (int k = 0; k < 20; ++k) CHECK_MESSAGE(m[k] == want[k], "pixel ", k);
}

// ---- IDX ------------------------------------------------------------------------------------

TEST_CASE("idx: reads plain and gzip files alike") {
    temp_dir dir;
    const bytes values = iota_bytes(3 * 5 * 4, 7);
    write_file(dir / "a.idx", idx_bytes({3, 5, 4}, values));
    write_gz(dir / "a.idx.gz", idx_bytes({3, 5, 4}, values));
    for (const char* name : {"a.idx", "a.idx.gz"}) {
        const auto a = sib::data::read_idx(dir / name);
        CHECK(a.dims == sib::shape{3, 5, 4});
        CHECK(a.values == values);
    }
    // A large gzip file is read across several chunks.
    const bytes big = iota_bytes(3u << 20, 3);
    write_gz(dir / "big.gz", idx_bytes({3, 1024, 1024}, big));
    CHECK(sib::data::read_idx(dir / "big.gz").values == big);
}

TEST_CASE("idx: every malformed file fails with a message naming it") {
    temp_dir dir;
    const std::string p = dir / "bad.idx";
    CHECK(error_of([&] { sib::data::read_idx(p); }) == "IDX: " + p + " not found");
    write_file(p, {1, 0, 8, 1, 0, 0, 0, 1, 5});
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " is not an IDX file (it does not start with two zero bytes)");
    write_file(p, idx_bytes({2}, {1, 2}, 0x0D));
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " has element type 0x0D; only unsigned bytes (0x08) are supported");
    write_file(p, idx_bytes({}, {}));
    CHECK(error_of([&] { sib::data::read_idx(p); }) == "IDX: " + p + " has rank 0; supported ranks are 1 to 6");
    write_file(p, {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
    CHECK(error_of([&] { sib::data::read_idx(p); }) == "IDX: " + p + " is truncated inside its header");
    write_file(p, idx_bytes({2, 3}, {1, 2, 3, 4, 5}));
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " is truncated: its header [2,3] needs 6 bytes of data, the file has 5");
    write_file(p, idx_bytes({2, 3}, {1, 2, 3, 4, 5, 6, 7, 8}));
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " has 2 trailing bytes after the data of its header [2,3]");
    write_file(p, idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " declares an absurd size [4294967295,4294967295]");
    // Empty, yet its other dimensions multiply past 2^63 (fuzz finding).
    write_file(p, {0, 0, 8, 3, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0E});
    CHECK(error_of([&] { sib::data::read_idx(p); }) ==
          "IDX: " + p + " declares an absurd size [0,4294967295,4294967054]");
    // A gzip stream cut short.
    const std::string gz = dir / "cut.gz";
    write_gz(gz, idx_bytes({100, 100}, iota_bytes(10000)));
    const auto full = fs::file_size(gz);
    fs::resize_file(gz, full - 20);
    CHECK(error_of([&] { sib::data::read_idx(gz); }) == "IDX: " + gz + " is a truncated or corrupt gzip file");
}

TEST_CASE("idx: images with a zero dimension are refused, not looped over (fuzz finding)") {
    // [2, 2197815302, 0]: no data, but 2.2e9 rows of width 0 for the mask pass to walk.
    temp_dir dir;
    write_file(dir / "im", {0, 0, 8, 3, 0, 0, 0, 2, 0x83, 0, 0, 6, 0, 0, 0, 0});
    write_file(dir / "lb", idx_bytes({2}, {0, 1}));
    CHECK(error_of([&] { sib::data::load_idx_dataset(dir / "im", dir / "lb", 2, true); }) ==
          "IDX: " + (dir / "im") + " holds [2,2197815302,0]: an image dimension is zero");
}

TEST_CASE("idx: image and label files make a dataset with foreground masks") {
    temp_dir dir;
    bytes pixels(3 * 5 * 4, 0);
    pixels[20 + 2 * 4 + 1] = 51;  // image 1, pixel (2,1)
    pixels[40 + 0] = 255;         // image 2, pixel (0,0)
    write_gz(dir / "im.gz", idx_bytes({3, 5, 4}, pixels));
    write_file(dir / "lb", idx_bytes({3}, {2, 0, 1}));
    const auto d = sib::data::load_idx_dataset(dir / "im.gz", dir / "lb", 3, true);
    CHECK(d.size() == 3);
    CHECK(d.image_shape() == sib::shape{1, 5, 4});
    CHECK(d.label(0) == 2);
    CHECK(d.label(2) == 1);
    CHECK(d.image_data(1)[9] == doctest::Approx(0.2f));
    CHECK(d.image_data(2)[0] == 1.0f);
    const float* m0 = d.mask_data(0);
    CHECK(std::all_of(m0, m0 + 20, [](float v) { return v == 0.0f; }));
    const float* m1 = d.mask_data(1);
    CHECK(std::accumulate(m1, m1 + 20, 0.0f) == 9.0f);
    CHECK(m1[1 * 4 + 0] == 1.0f);
    CHECK(m1[3 * 4 + 2] == 1.0f);
    CHECK(m1[4 * 4 + 1] == 0.0f);
    CHECK(std::accumulate(d.mask_data(2), d.mask_data(2) + 20, 0.0f) == 4.0f);

    write_file(dir / "lb4", idx_bytes({4}, {0, 0, 0, 0}));
    CHECK(error_of([&] { sib::data::load_idx_dataset(dir / "im.gz", dir / "lb4", 3, false); }) ==
          "IDX: " + (dir / "im.gz") + " has 3 images but " + (dir / "lb4") + " has 4 labels");
    write_file(dir / "lbbad", idx_bytes({3}, {0, 3, 0}));
    CHECK(error_of([&] { sib::data::load_idx_dataset(dir / "im.gz", dir / "lbbad", 3, false); }) ==
          "IDX: " + (dir / "lbbad") + ": label 3 of image 1 is out of range for 3 classes");
    CHECK(error_of([&] { sib::data::load_idx_dataset(dir / "lb", dir / "lb", 3, false); }) ==
          "IDX: " + (dir / "lb") + " holds [3], not images [N,H,W] or [N,C,H,W]");
    CHECK(error_of([&] { sib::data::load_idx_dataset(dir / "im.gz", dir / "im.gz", 3, false); }) ==
          "IDX: " + (dir / "im.gz") + " holds [3,5,4], not labels [N]");
}

TEST_CASE("fashion-mnist: loads from a folder, and names the package when files are missing") {
    temp_dir dir;
    CHECK(error_of([&] { sib::data::load_fashion_mnist(dir.path.string()); }) ==
          "Fashion-MNIST: " + (dir / "train-images-idx3-ubyte") +
              ".gz not found; `apt-get install dataset-fashion-mnist` provides Fashion-MNIST");
    write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_bytes({2, 28, 28}, iota_bytes(2 * 784)));
    write_file(dir / "t10k-labels-idx1-ubyte", idx_bytes({2}, {9, 4}));  // plain file also found
    const auto d = sib::data::load_fashion_mnist(dir.path.string(), false);
    CHECK(d.size() == 2);
    CHECK(d.label(0) == 9);
    CHECK(d.class_names()[9] == "Ankle boot");
    CHECK(d.has_masks());
}

TEST_CASE("fashion-mnist: the installed data set, when there is one") {
    const std::string dir = sib::data::fashion_mnist_default_dir;
    if (!fs::exists(fs::path(dir) / "train-images-idx3-ubyte.gz")) {
        MESSAGE("skipped: " << dir << " absent (apt-get install dataset-fashion-mnist)");
        return;
    }
    // Reference values read with Python's gzip and numpy from the same files.
    const auto train = sib::data::load_fashion_mnist(dir, true);
    CHECK(train.size() == 60000);
    CHECK(train.image_shape() == sib::shape{1, 28, 28});
    const std::int64_t train_labels[] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    for (int i = 0; i < 10; ++i) CHECK(train.label(i) == train_labels[i]);
    const double train_sums[] = {76247, 84598, 28662}, train_masks[] = {573, 630, 403};
    for (int i = 0; i < 3; ++i) {
        CHECK(std::accumulate(train.image_data(i), train.image_data(i) + 784, 0.0) * 255 ==
              doctest::Approx(train_sums[i]));
        CHECK(std::accumulate(train.mask_data(i), train.mask_data(i) + 784, 0.0) == train_masks[i]);
    }
    const auto test = sib::data::load_fashion_mnist(dir, false);
    CHECK(test.size() == 10000);
    const std::int64_t test_labels[] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (int i = 0; i < 10; ++i) CHECK(test.label(i) == test_labels[i]);
    const double test_masks[] = {391, 618, 371};
    for (int i = 0; i < 3; ++i)
        CHECK(std::accumulate(test.mask_data(i), test.mask_data(i) + 784, 0.0) == test_masks[i]);

    const auto b = sib::data::make_benchmark("fmnist-clutter", 1, 100, 50, train, test);
    CHECK(b.train.size() == 100);
    CHECK(b.test.images().shape() == sib::shape{50, 1, 56, 56});
}

// ---- CIFAR ----------------------------------------------------------------------------------

namespace {
// Record r of a CIFAR file: labels, then pixel (c,y,x) = (r*7 + c*3 + y*5 + x) mod 256.
bytes cifar_records(int count, const std::vector<std::vector<std::uint8_t>>& labels) {
    bytes b;
    for (int r = 0; r < count; ++r) {
        for (auto l : labels[static_cast<std::size_t>(r)]) b.push_back(l);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) b.push_back(static_cast<std::uint8_t>((r * 7 + c * 3 + y * 5 + x) % 256));
    }
    return b;
}
}  // namespace

TEST_CASE("cifar: records become [3,32,32] images in [0,1] with their labels") {
    temp_dir dir;
    write_file(dir / "a.bin", cifar_records(2, {{3}, {9}}));
    write_file(dir / "b.bin", cifar_records(1, {{0}}));
    const auto d = sib::data::load_cifar_binary({dir / "a.bin", dir / "b.bin"}, 1, 0, 10);
    CHECK(d.size() == 3);
    CHECK(d.image_shape() == sib::shape{3, 32, 32});
    CHECK_FALSE(d.has_masks());
    CHECK(d.label(0) == 3);
    CHECK(d.label(1) == 9);
    CHECK(d.label(2) == 0);
    for (index_t i : {0, 1, 2}) {
        const int r = i == 2 ? 0 : static_cast<int>(i);
        const float* p = d.image_data(i);
        CHECK(p[0] == doctest::Approx((r * 7) / 255.0f));
        CHECK(p[1024 * 2 + 32 * 3 + 4] == doctest::Approx(((r * 7 + 6 + 15 + 4) % 256) / 255.0f));
    }

    // CIFAR-100: coarse then fine label byte.
    write_file(dir / "c100/train.bin", cifar_records(2, {{4, 77}, {19, 99}}));
    write_file(dir / "c100/test.bin", cifar_records(1, {{1, 2}}));
    const auto fine = sib::data::load_cifar100(dir / "c100");
    CHECK(fine.num_classes() == 100);
    CHECK(fine.label(0) == 77);
    CHECK(fine.label(1) == 99);
    const auto coarse = sib::data::load_cifar100(dir / "c100", true, true);
    CHECK(coarse.num_classes() == 20);
    CHECK(coarse.label(1) == 19);
    CHECK(sib::data::load_cifar100(dir / "c100", false).label(0) == 2);

    // CIFAR-10 folder layout, with its class names.
    for (int i = 1; i <= 5; ++i)
        write_file(dir / ("c10/data_batch_" + std::to_string(i) + ".bin"), cifar_records(1, {{static_cast<std::uint8_t>(i)}}));
    write_file(dir / "c10/test_batch.bin", cifar_records(2, {{7}, {8}}));
    const auto c10 = sib::data::load_cifar10(dir / "c10");
    CHECK(c10.size() == 5);
    CHECK(c10.label(4) == 5);
    CHECK(c10.class_names()[0] == "airplane");
    CHECK(sib::data::load_cifar10(dir / "c10", false).size() == 2);
}

TEST_CASE("cifar: sizes that are not whole records, bad labels and missing files fail") {
    temp_dir dir;
    bytes b = cifar_records(2, {{1}, {2}});
    b.pop_back();
    write_file(dir / "short.bin", b);
    CHECK(error_of([&] { sib::data::load_cifar_binary({dir / "short.bin"}, 1, 0, 10); }) ==
          "CIFAR: " + (dir / "short.bin") +
              " has 6145 bytes, not a whole number of 3073-byte records (1 label byte + 3072 image bytes)");
    write_file(dir / "c100.bin", cifar_records(1, {{1, 2}}));
    CHECK(error_of([&] { sib::data::load_cifar_binary({dir / "c100.bin"}, 1, 0, 10); }) ==
          "CIFAR: " + (dir / "c100.bin") +
              " has 3074 bytes, not a whole number of 3073-byte records (1 label byte + 3072 image bytes)");
    write_file(dir / "label.bin", cifar_records(2, {{1}, {10}}));
    CHECK(error_of([&] { sib::data::load_cifar_binary({dir / "label.bin"}, 1, 0, 10); }) ==
          "CIFAR: " + (dir / "label.bin") + ": label 10 of record 1 is out of range for 10 classes");
    CHECK(error_of([&] { sib::data::load_cifar10(dir.path.string()); }) ==
          "CIFAR: " + (dir / "data_batch_1.bin") + " not found");
    write_file(dir / "empty.bin", {});
    CHECK(error_of([&] { sib::data::load_cifar_binary({dir / "empty.bin"}, 1, 0, 10); }) ==
          "CIFAR: " + (dir / "empty.bin") +
              " has 0 bytes, not a whole number of 3073-byte records (1 label byte + 3072 image bytes)");
    CHECK(error_of([&] { sib::data::load_cifar_binary({dir / "label.bin"}, 1, 1, 10); }) ==
          "CIFAR: label byte 1 does not exist in records with 1 label byte");
}

// ---- batch loader ---------------------------------------------------------------------------

namespace {
// N images [C,H,W] whose pixels are all distinct and positive, masks = (channel 0 > 0.5).
in_memory_dataset distinct_dataset(index_t n, index_t c, index_t h, index_t w, bool masks = true) {
    in_memory_dataset::image_tensor images({n, c, h, w}), mask_tensor;
    for (index_t i = 0; i < images.size(); ++i) images[i] = 0.01f + static_cast<float>(i) / static_cast<float>(images.size());
    // Scramble so the mask is not a simple band.
    sib::rng r(5);
    r.shuffle(images.begin(), images.end());
    in_memory_dataset::label_tensor labels({n});
    for (index_t i = 0; i < n; ++i) labels[i] = (i * 3) % 7;
    if (masks) {
        mask_tensor.resize({n, 1, h, w});
        for (index_t i = 0; i < n; ++i)
            for (index_t p = 0; p < h * w; ++p) mask_tensor[i * h * w + p] = images[i * c * h * w + p] > 0.5f ? 1.0f : 0.0f;
    }
    return in_memory_dataset(std::move(images), std::move(labels), 7, std::move(mask_tensor));
}

bool is_permutation_of_range(std::vector<index_t> v, index_t n) {
    std::sort(v.begin(), v.end());
    std::vector<index_t> want(static_cast<std::size_t>(n));
    std::iota(want.begin(), want.end(), index_t{0});
    return v == want;
}
}  // namespace

TEST_CASE("batch_loader: shuffling is a deterministic permutation per (seed, epoch)") {
    const auto d = distinct_dataset(23, 1, 3, 3);
    sib::data::loader_options opt;
    opt.batch_size = 5;
    opt.seed = 11;
    sib::data::batch_loader<float> a(d, opt), b(d, opt);
    CHECK(a.num_batches() == 5);
    sib::data::batch<float> batch;
    std::vector<std::vector<index_t>> epochs;
    for (int e = 0; e < 3; ++e) {
        std::vector<index_t> seen;
        std::vector<index_t> sizes;
        while (a.next(batch)) {
            sizes.push_back(batch.size());
            seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
            for (index_t s = 0; s < batch.size(); ++s) CHECK(batch.labels[s] == d.label(batch.indices[s]));
        }
        CHECK(sizes == std::vector<index_t>{5, 5, 5, 5, 3});
        CHECK(is_permutation_of_range(seen, 23));
        epochs.push_back(seen);
    }
    CHECK(a.epoch() == 3);
    CHECK(epochs[0] != epochs[1]);
    CHECK(epochs[1] != epochs[2]);
    // Same seed and epoch, same order; random access agrees with the sequence.
    b.set_epoch(1);
    CHECK(b.order() == epochs[1]);
    b.load(4, batch);
    CHECK(batch.indices == std::vector<index_t>(epochs[1].begin() + 20, epochs[1].end()));
    // Another seed, another order.
    opt.seed = 12;
    sib::data::batch_loader<float> c(d, opt);
    CHECK(c.order() != epochs[0]);
    CHECK(is_permutation_of_range(c.order(), 23));
    // Without shuffling the order is the identity; drop_last removes the partial batch.
    opt.shuffle = false;
    opt.drop_last = true;
    sib::data::batch_loader<float> e(d, opt);
    CHECK(e.num_batches() == 4);
    std::vector<index_t> id(23);
    std::iota(id.begin(), id.end(), index_t{0});
    CHECK(e.order() == id);
}

TEST_CASE("batch_loader: values are normalised per channel, in float and double alike") {
    const auto d = distinct_dataset(6, 3, 4, 5);
    sib::data::loader_options opt;
    opt.batch_size = 4;
    opt.mean = {0.5, 0.25, 0.1};
    opt.std_dev = {0.2, 0.5, 2.0};
    sib::data::batch_loader<float> lf(d, opt);
    sib::data::batch_loader<double> ld(d, opt);
    sib::data::batch<float> bf;
    sib::data::batch<double> bd;
    for (index_t k = 0; k < 2; ++k) {
        lf.load(k, bf);
        ld.load(k, bd);
        REQUIRE(bf.images.shape() == sib::shape{k == 0 ? 4 : 2, 3, 4, 5});
        CHECK(bd.masks.shape() == sib::shape{k == 0 ? 4 : 2, 1, 4, 5});
        for (index_t s = 0; s < bf.size(); ++s) {
            const float* src = d.image_data(bf.indices[s]);
            for (index_t c = 0; c < 3; ++c)
                for (index_t p = 0; p < 20; ++p) {
                    const double want = (src[c * 20 + p] - opt.mean[c]) / opt.std_dev[c];
                    const index_t at = s * 60 + c * 20 + p;
                    CHECK(bd.images[at] == doctest::Approx(want).epsilon(1e-12));
                    CHECK(bf.images[at] == doctest::Approx(want).epsilon(1e-6));
                }
            for (index_t p = 0; p < 20; ++p) CHECK(bf.masks[s * 20 + p] == d.mask_data(bf.indices[s])[p]);
        }
    }
    // One value serves every channel.
    opt.mean = {1.0};
    opt.std_dev = {};
    sib::data::batch_loader<double> one(d, opt);
    one.load(0, bd);
    CHECK(bd.images[59] == doctest::Approx(d.image_data(bd.indices[0])[59] - 1.0));
}

TEST_CASE("batch_loader: random crop and flip move image and mask together") {
    const index_t h = 6, w = 7, pad = 2;
    const auto d = distinct_dataset(40, 2, h, w);
    sib::data::loader_options opt;
    opt.batch_size = 16;
    opt.crop_padding = pad;
    opt.horizontal_flip = true;
    opt.seed = 3;
    sib::data::batch_loader<double> loader(d, opt);
    sib::data::batch<double> b;
    int flipped = 0, shifted = 0;
    for (index_t k = 0; k < loader.num_batches(); ++k) {
        loader.load(k, b);
        for (index_t s = 0; s < b.size(); ++s) {
            const float* src = d.image_data(b.indices[s]);
            const float* msrc = d.mask_data(b.indices[s]);
            // Exactly one placement (oy, ox, flip) explains every pixel of image and mask.
            int explanations = 0;
            for (index_t oy = -pad; oy <= pad; ++oy)
                for (index_t ox = -pad; ox <= pad; ++ox)
                    for (bool flip : {false, true}) {
                        bool ok = true;
                        for (index_t c = 0; c < 2 && ok; ++c)
                            for (index_t y = 0; y < h && ok; ++y)
                                for (index_t x = 0; x < w && ok; ++x) {
                                    const index_t sy = y + oy, sx = (flip ? w - 1 - x : x) + ox;
                                    const bool in = sy >= 0 && sy < h && sx >= 0 && sx < w;
                                    const double v = in ? src[c * h * w + sy * w + sx] : 0.0;
                                    const double m = in ? msrc[sy * w + sx] : 0.0;
                                    ok = b.images[((s * 2 + c) * h + y) * w + x] == v &&
                                         b.masks[(s * h + y) * w + x] == m;
                                }
                        if (ok) {
                            ++explanations;
                            flipped += flip;
                            shifted += oy != 0 || ox != 0;
                        }
                    }
            CHECK_MESSAGE(explanations == 1, "sample ", s, " of batch ", k);
        }
    }
    // 40 draws: both flips and several shifts occur (the chance of failing is below 1e-9).
    CHECK(flipped > 5);
    CHECK(flipped < 35);
    CHECK(shifted > 20);
}

TEST_CASE("batch_loader: steady-state batches reuse their storage") {
    const auto d = distinct_dataset(10, 1, 4, 4);
    sib::data::loader_options opt;
    opt.batch_size = 4;
    sib::data::batch_loader<float> loader(d, opt);
    sib::data::batch<float> b;
    loader.load(0, b);
    const float* images = b.images.data();
    const float* masks = b.masks.data();
    for (int e = 0; e < 2; ++e)
        while (loader.next(b)) {
            CHECK(b.images.data() == images);
            CHECK(b.masks.data() == masks);
        }
}

TEST_CASE("batch_loader: bad options fail with one line") {
    const auto d = distinct_dataset(5, 3, 2, 2, false);
    sib::data::loader_options opt;
    opt.batch_size = 0;
    CHECK(error_of([&] { sib::data::batch_loader<float>(d, opt); }) == "batch_loader: batch_size must be positive, got 0");
    opt.batch_size = 2;
    opt.mean = {0.1, 0.2};
    CHECK(error_of([&] { sib::data::batch_loader<float>(d, opt); }) == "batch_loader: mean has 2 values, images have 3 channels");
    opt.mean = {};
    opt.std_dev = {1, 0, 1};
    CHECK(error_of([&] { sib::data::batch_loader<float>(d, opt); }) == "batch_loader: std_dev of channel 1 must be positive, got 0");
    opt.std_dev = {};
    sib::data::batch_loader<float> ok(d, opt);
    sib::data::batch<float> b;
    CHECK(error_of([&] { ok.load(3, b); }) == "batch_loader: batch 3 out of range for 3 batches");
    ok.load(2, b);
    CHECK(b.size() == 1);
    CHECK(b.masks.empty());
}

// ---- benchmarks -----------------------------------------------------------------------------

TEST_CASE("benchmarks: same seed same bytes, another seed other bytes, limits give prefixes") {
    const auto src = fake_fmnist(60, 1);
    for (const char* name : {"fmnist-decoy", "fmnist-clutter", "fmnist-color", "shapes"}) {
        CAPTURE(name);
        const auto a = sib::data::make_benchmark(name, 7, 60, 60, src, src);
        const auto b = sib::data::make_benchmark(name, 7, 60, 60, src, src);
        const auto c = sib::data::make_benchmark(name, 8, 60, 60, src, src);
        const auto p = sib::data::make_benchmark(name, 7, 9, 4, src, src);
        CHECK(a.name == name);
        CHECK(same_dataset(a.train, b.train));
        CHECK(same_dataset(a.test, b.test));
        CHECK_FALSE(same_bytes(a.train.images(), c.train.images()));
        CHECK_FALSE(same_bytes(a.train.images(), a.test.images()));
        REQUIRE(p.train.size() == 9);
        REQUIRE(p.test.size() == 4);
        const index_t numel = p.train.image_shape().numel();
        CHECK(std::equal(p.train.images().begin(), p.train.images().end(), a.train.images().begin()));
        CHECK(std::equal(p.test.images().begin(), p.test.images().end(), a.test.images().begin()));
        CHECK(std::equal(p.test.masks().begin(), p.test.masks().end(), a.test.masks().begin()));
        CHECK(numel > 0);
        CHECK(a.train.has_masks());
        CHECK(a.train.num_classes() == (std::string(name) == "shapes" ? 6 : 10));
    }
    // fmnist is the source itself.
    const auto f = sib::data::make_benchmark("fmnist", 7, 0, 5, src, src);
    CHECK(same_dataset(f.train, src));
    CHECK(f.test.size() == 5);
}

TEST_CASE("benchmarks: an unknown name lists the known ones") {
    const std::string want =
        "benchmark: unknown name 'mnist'; known: fmnist, fmnist-decoy, fmnist-clutter, fmnist-color, shapes";
    CHECK(error_of([] { sib::data::make_benchmark("mnist", 1); }) == want);
    CHECK(error_of([] { sib::data::make_benchmark("mnist", 1, 0, 0, {}, {}); }) == want);
    // Only the Fashion-MNIST benchmarks read the folder.
    CHECK(error_of([] { sib::data::make_benchmark("fmnist-decoy", 1, 0, 0, "/nonexistent"); }) ==
          "Fashion-MNIST: /nonexistent/train-images-idx3-ubyte.gz not found; `apt-get install "
          "dataset-fashion-mnist` provides Fashion-MNIST");
    CHECK(sib::data::make_benchmark("shapes", 1, 3, 2, "/nonexistent").test.size() == 2);
    CHECK(error_of([] { sib::data::make_fmnist_decoy(in_memory_dataset(), 1, true); }) ==
          "fmnist-decoy: source must be non-empty gray images [N,1,H,W] with H,W >= 8, got " +
              in_memory_dataset().images().shape().str());
}

TEST_CASE("benchmarks: one table; names, help, errors and both generators derive from it") {
    REQUIRE(sib::data::benchmark_table.size() == 5);
    std::vector<std::string> names;
    for (const auto& e : sib::data::benchmark_table) {
        names.emplace_back(e.name);
        CHECK(sib::data::find_benchmark(e.name) == &e);
        CHECK(&sib::data::benchmark_by_name(e.name) == &e);
        CHECK(sib::data::benchmarks_help().find("  " + std::string(e.name) + " ") != std::string::npos);
        CHECK(e.uses_fashion_mnist == (e.name != "shapes"));
    }
    CHECK(sib::data::benchmark_names() == names);
    CHECK(sib::data::benchmark_list() == "fmnist, fmnist-decoy, fmnist-clutter, fmnist-color, shapes");
    // (A run-time check: GCC does not fold this comparison of table addresses under -fsanitize=undefined.)
    CHECK((sib::data::find_benchmark("shapes") != nullptr && sib::data::find_benchmark("mnist") == nullptr));
    CHECK(error_of([] { sib::data::benchmark_by_name("mnist"); }) ==
          "benchmark: unknown name 'mnist'; known: fmnist, fmnist-decoy, fmnist-clutter, fmnist-color, shapes");
    // A row's generator gives make_benchmark's splits; make_benchmark_split gives one without the other.
    const auto src = fake_fmnist(20, 3);
    for (const auto& e : sib::data::benchmark_table) {
        CAPTURE(e.name);
        const auto b = sib::data::make_benchmark(std::string(e.name), 4, 6, 5, src, src);
        CHECK(same_dataset(e.generate(src, 4, true, 6), b.train));
        CHECK(same_dataset(e.generate(src, 4, false, 5), b.test));
    }
    CHECK(same_dataset(sib::data::make_benchmark_split("shapes", 4, false, 5, "/nonexistent"),
                       sib::data::make_benchmark("shapes", 4, 6, 5, src, src).test));
    CHECK(error_of([] { sib::data::make_benchmark_split("fmnist-color", 1, false, 3, "/nonexistent"); }) ==
          "Fashion-MNIST: /nonexistent/t10k-images-idx3-ubyte.gz not found; `apt-get install "
          "dataset-fashion-mnist` provides Fashion-MNIST");
    CHECK(error_of([] { sib::data::make_benchmark_split("mnist", 1, true); }) ==
          "benchmark: unknown name 'mnist'; known: fmnist, fmnist-decoy, fmnist-clutter, fmnist-color, shapes");
}

TEST_CASE("fmnist-decoy: a class-coded patch in a corner, outside the mask") {
    const auto src = fake_fmnist(50, 2);
    const index_t side = 28;
    int matches_at_test = 0;
    for (bool train : {true, false}) {
        const auto d = sib::data::make_fmnist_decoy(src, 3, train);
        REQUIRE(d.images().shape() == sib::shape{50, 1, side, side});
        std::vector<int> corners(4, 0);
        for (index_t i = 0; i < d.size(); ++i) {
            const float* img = d.image_data(i);
            const float* m = d.mask_data(i);
            int found = -1;
            float level = -1;
            for (int corner = 0; corner < 4; ++corner) {
                const index_t y0 = corner / 2 ? side - 4 : 0, x0 = corner % 2 ? side - 4 : 0;
                bool patch = true;
                for (index_t y = y0; y < y0 + 4; ++y)
                    for (index_t x = x0; x < x0 + 4; ++x) {
                        patch = patch && img[y * side + x] == img[y0 * side + x0] && m[y * side + x] == 0.0f;
                    }
                // Everything outside this corner must be the source, image and mask.
                bool rest = true;
                for (index_t y = 0; y < side; ++y)
                    for (index_t x = 0; x < side; ++x) {
                        const bool in_patch = y >= y0 && y < y0 + 4 && x >= x0 && x < x0 + 4;
                        if (!in_patch)
                            rest = rest && img[y * side + x] == src.image_data(i)[y * side + x] &&
                                   m[y * side + x] == src.mask_data(i)[y * side + x];
                    }
                if (patch && rest && found < 0) {
                    found = corner;
                    level = img[y0 * side + x0];
                }
            }
            REQUIRE_MESSAGE(found >= 0, "image ", i);
            ++corners[static_cast<std::size_t>(found)];
            const double k = (1.0 - level) / 0.1;
            CHECK(std::abs(k - std::round(k)) < 1e-5);
            if (train) CHECK(level == doctest::Approx(1.0 - 0.1 * static_cast<double>(d.label(i))));
            else matches_at_test += std::round(k) == static_cast<double>(d.label(i));
        }
        for (int c : corners) CHECK(c > 3);
    }
    CHECK(matches_at_test < 20);
}

TEST_CASE("fmnist-clutter: the mask is the object's mask at its place, the object intact") {
    const auto src = fake_fmnist(40, 4);
    const auto d = sib::data::make_fmnist_clutter(src, 5, true);
    REQUIRE(d.images().shape() == sib::shape{40, 1, 56, 56});
    int clutter_pixels = 0;
    for (index_t i = 0; i < d.size(); ++i) {
        const float* img = d.image_data(i);
        const float* m = d.mask_data(i);
        const float* so = src.image_data(i);
        const float* sm = src.mask_data(i);
        const float mask_sum = std::accumulate(m, m + 56 * 56, 0.0f);
        CHECK(mask_sum == std::accumulate(sm, sm + 784, 0.0f));
        int placements = 0;
        for (index_t oy = 0; oy <= 28; ++oy)
            for (index_t ox = 0; ox <= 28; ++ox) {
                bool ok = true;
                for (index_t y = 0; y < 28 && ok; ++y)
                    for (index_t x = 0; x < 28 && ok; ++x) {
                        const index_t p = (oy + y) * 56 + ox + x;
                        ok = m[p] == sm[y * 28 + x] && (sm[y * 28 + x] == 0.0f || img[p] == so[y * 28 + x]);
                    }
                placements += ok;
            }
        CHECK_MESSAGE(placements == 1, "image ", i);
        int clutter = 0;
        for (index_t p = 0; p < 56 * 56; ++p) clutter += m[p] == 0.0f && img[p] > 0.0f;
        CHECK(clutter > 0);
        clutter_pixels += clutter;
    }
    // 4 to 8 fragments of 8x8, a quarter object each when 8 tries find such a window.
    CHECK(clutter_pixels > 40 * 4 * 8);
}

TEST_CASE("fmnist-color: gray object over class-hued noise, 90% agreement in train") {
    const auto src = fake_fmnist(400, 6);
    for (bool train : {true, false}) {
        const auto d = sib::data::make_fmnist_color(src, 7, train);
        REQUIRE(d.images().shape() == sib::shape{400, 3, 32, 32});
        int agree = 0;
        for (index_t i = 0; i < d.size(); ++i) {
            const float* img = d.image_data(i);
            const float* m = d.mask_data(i);
            const float* so = src.image_data(i);
            const float* sm = src.mask_data(i);
            int placements = 0;
            for (index_t oy = 0; oy <= 4; ++oy)
                for (index_t ox = 0; ox <= 4; ++ox) {
                    bool ok = true;
                    for (index_t y = 0; y < 32 && ok; ++y)
                        for (index_t x = 0; x < 32 && ok; ++x) {
                            const index_t sy = y - oy, sx = x - ox, p = y * 32 + x;
                            const bool in = sy >= 0 && sy < 28 && sx >= 0 && sx < 28;
                            ok = m[p] == (in ? sm[sy * 28 + sx] : 0.0f);
                            if (ok && in && so[sy * 28 + sx] > 0.0f)
                                for (int c = 0; c < 3; ++c) ok = ok && img[c * 1024 + p] == so[sy * 28 + sx];
                        }
                    placements += ok;
                }
            CHECK_MESSAGE(placements == 1, "image ", i);
            // The hue of a background pixel names a class (hues k/10, jitter below 0.05).
            index_t p = 0;
            while (m[p] != 0.0f) ++p;
            const double r = img[p], g = img[1024 + p], b = img[2048 + p];
            const double mx = std::max({r, g, b}), mn = std::min({r, g, b});
            REQUIRE(mx - mn > 0.1);
            double hue = mx == r ? (g - b) / (mx - mn) : mx == g ? 2 + (b - r) / (mx - mn) : 4 + (r - g) / (mx - mn);
            hue = hue / 6 - std::floor(hue / 6);
            const double k = hue * 10;
            CHECK(std::abs(k - std::round(k)) < 0.31);
            agree += static_cast<std::int64_t>(std::round(k)) % 10 == d.label(i);
        }
        // Bounds 5 standard deviations from the means 360 (train) and 40 (test).
        if (train) {
            CHECK(agree > 330);
            CHECK(agree < 390);
        } else {
            CHECK(agree < 70);
        }
    }
}

TEST_CASE("shapes: six classes, exact masks of one uniformly coloured shape") {
    const auto d = sib::data::make_shapes(9, true, 120);
    REQUIRE(d.images().shape() == sib::shape{120, 3, 32, 32});
    CHECK(d.class_names()[4] == "ring");
    for (index_t i = 0; i < d.size(); ++i) {
        CHECK(d.label(i) == i % 6);
        const float* img = d.image_data(i);
        const float* m = d.mask_data(i);
        double area = 0, mean[3] = {0, 0, 0}, cy = 0, cx = 0;
        for (index_t p = 0; p < 1024; ++p)
            if (m[p] == 1.0f) {
                area += 1;
                cy += p / 32 + 0.5;
                cx += p % 32 + 0.5;
                for (int c = 0; c < 3; ++c) mean[c] += img[c * 1024 + p];
            } else {
                CHECK(m[p] == 0.0f);
            }
        REQUIRE(area >= 20);
        // The painted pixels have the shape's colour up to noise of sd 0.03.
        for (int c = 0; c < 3; ++c) mean[c] /= area;
        for (index_t p = 0; p < 1024; ++p)
            if (m[p] == 1.0f)
                for (int c = 0; c < 3; ++c) CHECK(std::abs(img[c * 1024 + p] - mean[c]) < 0.2);
        // A ring has a hole at its centre, the other shapes are filled there.
        const index_t centre = static_cast<index_t>(cy / area) * 32 + static_cast<index_t>(cx / area);
        CHECK(m[centre] == (d.label(i) == 4 ? 0.0f : 1.0f));
        // The mask touches no border (the shape keeps a pixel of margin).
        for (index_t k = 0; k < 32; ++k) {
            CHECK(m[k] == 0.0f);
            CHECK(m[k * 32] == 0.0f);
        }
    }
}

// ---- .npy folders ---------------------------------------------------------------------------

TEST_CASE("npy dataset: images, labels and masks of both splits; classes inferred from both") {
    temp_dir dir;
    sib::tensor<double> images({5, 2, 3, 4});
    std::iota(images.begin(), images.end(), 0.5);
    sib::io::save_npy(dir / "train_images.npy", images);  // float64 on disk, float in memory
    sib::io::save_npy(dir / "train_labels.npy", sib::tensor<std::int64_t>({5}, std::vector<std::int64_t>{0, 2, 1, 2, 0}));
    sib::tensor<std::uint8_t> masks({5, 1, 3, 4}, 0);
    masks[0] = 2;
    masks[13] = 255;
    sib::io::save_npy(dir / "train_masks.npy", masks);
    sib::io::save_npy(dir / "test_images.npy", sib::tensor<float>({2, 2, 3, 4}, 0.25f));
    sib::io::save_npy(dir / "test_labels.npy", sib::tensor<std::int32_t>({2}, std::vector<std::int32_t>{6, 1}));

    const auto train = sib::data::load_npy_dataset(dir.path.string());
    CHECK(train.size() == 5);
    CHECK(train.image_shape() == sib::shape{2, 3, 4});
    CHECK(train.num_classes() == 7);  // test has label 6
    CHECK(train.label(3) == 2);
    CHECK(train.image_data(4)[23] == 4 * 24 + 23 + 0.5f);
    REQUIRE(train.has_masks());
    CHECK(train.mask_data(0)[0] == 1.0f);
    CHECK(train.mask_data(1)[1] == 1.0f);
    CHECK(std::accumulate(train.masks().begin(), train.masks().end(), 0.0f) == 2.0f);
    const auto test = sib::data::load_npy_dataset(dir.path.string(), false);
    CHECK(test.num_classes() == 7);
    CHECK_FALSE(test.has_masks());
    CHECK(test.label(0) == 6);
    CHECK(sib::data::load_npy_dataset(dir.path.string(), true, 10).num_classes() == 10);

    // Masks [N,H,W] are taken as [N,1,H,W].
    sib::io::save_npy(dir / "train_masks.npy", sib::tensor<float>({5, 3, 4}, 1.0f));
    CHECK(sib::data::load_npy_dataset(dir.path.string()).masks().shape() == sib::shape{5, 1, 3, 4});
}

TEST_CASE("npy dataset: missing files, count mismatches, bad labels and bad masks fail") {
    temp_dir dir;
    const std::string d = dir.path.string();
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) == "npy dataset: " + (dir / "train_images.npy") + " not found");
    sib::io::save_npy(dir / "train_images.npy", sib::tensor<float>({3, 1, 2, 2}, 0.0f));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) == "npy dataset: " + (dir / "train_labels.npy") + " not found");
    sib::io::save_npy(dir / "train_labels.npy", sib::tensor<std::int64_t>({4}, 0));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) ==
          "npy dataset: " + (dir / "train_labels.npy") + " has 4 labels, " + (dir / "train_images.npy") + " has 3 images");
    sib::io::save_npy(dir / "train_labels.npy", sib::tensor<std::int64_t>({3}, std::vector<std::int64_t>{0, -1, 1}));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) ==
          "npy dataset: " + (dir / "train_labels.npy") + ": label -1 of image 1 is negative");
    sib::io::save_npy(dir / "train_labels.npy", sib::tensor<std::int64_t>({3}, std::vector<std::int64_t>{0, 5, 1}));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d, true, 3); }) ==
          "npy dataset: " + (dir / "train_labels.npy") + ": label 5 of image 1 is out of range for 3 classes");
    sib::io::save_npy(dir / "train_masks.npy", sib::tensor<float>({3, 1, 2, 3}, 0.0f));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) ==
          "npy dataset: " + (dir / "train_masks.npy") +
              " holds [3,1,2,3], which does not match images [3,1,2,2]; masks must be [3,1,2,2]");
    sib::io::save_npy(dir / "train_masks.npy", sib::tensor<float>({2, 1, 2, 2}, 0.0f));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) ==
          "npy dataset: " + (dir / "train_masks.npy") +
              " holds [2,1,2,2], which does not match images [3,1,2,2]; masks must be [3,1,2,2]");
    sib::io::save_npy(dir / "train_images.npy", sib::tensor<float>({3, 4, 4}, 0.0f));
    CHECK(error_of([&] { sib::data::load_npy_dataset(d); }) ==
          "npy dataset: " + (dir / "train_images.npy") + " must hold images [N,C,H,W], found [3,4,4]");
}

// ---- image folders --------------------------------------------------------------------------

namespace {
// width x height pixels with `channels` interleaved values: (seed + 11 p + 3 c) mod 256.
void png(const std::string& path, int w, int h, int channels, int seed) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels));
    for (std::size_t i = 0; i < px.size(); ++i)
        px[i] = static_cast<std::uint8_t>((seed + 11 * (i / channels) + 3 * (i % channels)) % 256);
    fs::create_directories(fs::path(path).parent_path());
    sib::io::write_png(path, px.data(), w, h, channels);
}
}  // namespace

TEST_CASE("image folder: classes sorted by name, images in path order, masks beside") {
    temp_dir dir;
    const std::string root = dir / "images", masks = dir / "masks";
    png(root + "/dog/c.png", 4, 3, 3, 30);
    png(root + "/cat/sub/b.png", 4, 3, 3, 20);
    png(root + "/cat/a.png", 4, 3, 1, 10);  // gray: converted to RGB
    write_file(root + "/dog/notes.txt", {'h', 'i'});
    // Masks: gray (value), RGB (blue only counts), RGBA (alpha ignored).
    std::vector<std::uint8_t> gray(12, 0), rgb(36, 0), rgba(48, 0);
    gray[5] = 7;
    rgb[3 * 2 + 2] = 1;
    for (int p = 0; p < 12; ++p) rgba[static_cast<std::size_t>(4 * p + 3)] = 255;
    rgba[4 * 11 + 0] = 200;
    fs::create_directories(masks + "/cat/sub");
    fs::create_directories(masks + "/dog");
    sib::io::write_png(masks + "/cat/a.png", gray.data(), 4, 3, 1);
    sib::io::write_png(masks + "/cat/sub/b.png", rgb.data(), 4, 3, 3);
    sib::io::write_png(masks + "/dog/c.png", rgba.data(), 4, 3, 4);

    sib::data::image_folder_options opt;
    opt.mask_root = masks;
    const sib::data::image_folder f(root, opt);
    CHECK(f.size() == 3);
    CHECK(f.num_classes() == 2);
    CHECK(f.class_names() == std::vector<std::string>{"cat", "dog"});
    CHECK(f.image_shape() == sib::shape{3, 3, 4});
    CHECK(f.label(0) == 0);
    CHECK(f.label(1) == 0);
    CHECK(f.label(2) == 1);
    CHECK(f.path(1).filename() == "b.png");
    float img[36], m[12];
    f.image(0, img);  // gray replicated on R, G, B
    for (int p = 0; p < 12; ++p)
        for (int c = 0; c < 3; ++c) CHECK(img[c * 12 + p] * 255 == doctest::Approx((10 + 11 * p) % 256));
    f.image(2, img);
    CHECK(img[1 * 12 + 5] * 255 == doctest::Approx((30 + 55 + 3) % 256));
    f.mask(0, m);
    CHECK(std::accumulate(m, m + 12, 0.0f) == 1.0f);
    CHECK(m[5] == 1.0f);
    f.mask(1, m);
    CHECK(std::accumulate(m, m + 12, 0.0f) == 1.0f);
    CHECK(m[2] == 1.0f);
    f.mask(2, m);
    CHECK(std::accumulate(m, m + 12, 0.0f) == 1.0f);
    CHECK(m[11] == 1.0f);

    const auto mem = sib::data::load_image_folder(root, opt);
    CHECK(mem.class_names() == f.class_names());
    for (index_t i = 0; i < 3; ++i) {
        f.image(i, img);
        CHECK(std::equal(img, img + 36, mem.image_data(i)));
        f.mask(i, m);
        CHECK(std::equal(m, m + 12, mem.mask_data(i)));
    }
    // Stored channels, when they agree.
    opt.mask_root.clear();
    opt.channels = 0;
    CHECK(error_of([&] { sib::data::image_folder(root, opt); }) ==
          "image folder: images of mixed channel counts: cat/a.png has 1, cat/sub/b.png has 3 (set channels to convert them)");
    opt.channels = 1;
    CHECK(sib::data::image_folder(root, opt).image_shape() == sib::shape{1, 3, 4});
}

TEST_CASE("image folder: mixed sizes, missing or wrong masks and unreadable files fail") {
    temp_dir dir;
    const std::string root = dir / "images", masks = dir / "masks";
    CHECK(error_of([&] { sib::data::image_folder f(root); }) == "image folder: " + root + " is not a folder");
    fs::create_directories(root);
    CHECK(error_of([&] { sib::data::image_folder f(root); }) == "image folder: " + root + " has no class folders");
    fs::create_directories(root + "/a");
    CHECK(error_of([&] { sib::data::image_folder f(root); }) ==
          "image folder: class folder " + root +
              "/a has no images (.png, .jpg, .jpeg, .bmp, .tga, .gif, .ppm, .pgm, .pnm)");
    png(root + "/a/x.png", 28, 28, 1, 0);
    png(root + "/b/y.png", 32, 32, 1, 0);
    CHECK(error_of([&] { sib::data::image_folder f(root); }) ==
          "image folder: images of mixed sizes: a/x.png is 28x28, b/y.png is 32x32");
    png(root + "/b/y.png", 28, 28, 3, 0);
    sib::data::image_folder_options opt;
    opt.mask_root = masks;
    CHECK(error_of([&] { sib::data::image_folder f(root, opt); }) == "image folder: mask folder " + masks + " is not a folder");
    png(masks + "/a/x.png", 28, 28, 1, 0);
    CHECK(error_of([&] { sib::data::image_folder f(root, opt); }) ==
          "image folder: no mask for b/y.png: " + masks + "/b/y.png not found");
    png(masks + "/b/y.png", 28, 27, 1, 0);
    CHECK(error_of([&] { sib::data::image_folder f(root, opt); }) ==
          "image folder: mask " + masks + "/b/y.png is 27x28, its image b/y.png is 28x28");
    png(masks + "/b/y.png", 28, 28, 1, 0);
    const sib::data::image_folder ok(root, opt);
    CHECK(ok.has_masks());
    write_file(root + "/b/z.jpg", {'n', 'o', 't'});
    const std::string why = error_of([&] { sib::data::image_folder f(root); });
    CHECK(why.rfind("image folder: cannot read " + root + "/b/z.jpg (", 0) == 0);
}
