// Folders of real photos: PIL's resampling reproduced byte for byte (checked against PIL where
// python3-pil is installed: set SIB_REQUIRE_PIL=1 to make its absence a failure), torchvision's crop
// geometry and its sampler's distribution, the photo folder's listing, transforms and errors, and the
// batch loader's per-sample streams and prefetching (batches independent of threads and prefetching).
#include <doctest/doctest.h>
#include <sib/dist/data_parallel.hpp>
#include <sib/backend/cpu/threading.hpp>
#include <sib/data/loader.hpp>
#include <sib/data/photo_folder.hpp>
#include <sib/data/resample.hpp>
#include <sib/io/png.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/train/objective.hpp>
#include <sib/train/trainer.hpp>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using sib::index_t;
using sib::data::crop_box;
using bytes = std::vector<std::uint8_t>;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("sib_test_photo_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const sib::error& e) {
        return e.what();
    }
    return "(no error)";
}

// Random pixels: noise is the hardest case for a resampler (every tap matters).
bytes noise(int w, int h, int c, std::uint64_t seed) {
    sib::rng r(seed);
    bytes b(static_cast<std::size_t>(w * h * c));
    for (auto& v : b) v = static_cast<std::uint8_t>(r.below(256));
    return b;
}

void png(const std::string& path, const bytes& px, int w, int h, int c) {
    fs::create_directories(fs::path(path).parent_path());
    sib::io::write_png(path, px.data(), w, h, c);
}

void write_bytes(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

bytes read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

bytes resized(const sib::io::image_8bit& im, crop_box box, int ow, int oh) {
    bytes out(static_cast<std::size_t>(ow * oh * im.channels)), scratch;
    sib::data::resize_bilinear(im.pixels.data(), im.width, im.height, im.channels, box, ow, oh, 0, 0, ow, oh, out.data(),
                               scratch);
    return out;
}

// python3 with PIL, or empty.
std::string python_with_pil() {
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    if (std::system((python + " -c 'import PIL, numpy' >/dev/null 2>&1").c_str()) == 0) return python;
    return "";
}
bool pil_required() {
    const char* v = std::getenv("SIB_REQUIRE_PIL");
    return v && std::string(v) == "1";
}

}  // namespace

TEST_CASE("resample: sizes and boxes are torchvision's (shorter side truncated, centre crop rounded half to even)") {
    using sib::data::size2;
    CHECK(sib::data::shorter_side_size(480, 640, 256) == size2{256, 341});  // int(256 * 640 / 480) = 341
    CHECK(sib::data::shorter_side_size(640, 480, 256) == size2{341, 256});
    CHECK(sib::data::shorter_side_size(100, 100, 37) == size2{37, 37});
    CHECK(sib::data::shorter_side_size(3, 7, 5) == size2{5, 11});  // 11.67 truncated
    // round((5 - 2) / 2) = round(1.5) = 2 and round((7 - 2) / 2) = round(2.5) = 2 (Python's round).
    CHECK(sib::data::center_crop(5, 7, 2, 2) == crop_box{2, 2, 2, 2});
    CHECK(sib::data::center_crop(256, 341, 224, 224) == crop_box{16, 58, 224, 224});  // 58.5 -> 58
    CHECK(sib::data::center_crop(8, 8, 8, 8) == crop_box{0, 0, 8, 8});
    CHECK(error_of([] { sib::data::center_crop(8, 8, 9, 8); }) == "center crop: 9x8 does not fit in 8x8");
}

TEST_CASE("resample: a constant image stays constant, a window is the cut of the whole resize, same size is a copy") {
    sib::io::image_8bit flat{bytes(static_cast<std::size_t>(53 * 29 * 3), 0), 53, 29, 3};
    for (std::size_t p = 0; p < flat.pixels.size(); ++p) flat.pixels[p] = static_cast<std::uint8_t>(p % 3 == 0 ? 7 : p % 3 == 1 ? 128 : 255);
    for (auto [ow, oh] : {std::pair{10, 10}, {5, 3}, {200, 91}, {53, 7}}) {
        const bytes out = resized(flat, {0, 0, 29, 53}, ow, oh);
        for (std::size_t p = 0; p < out.size(); ++p) REQUIRE(out[p] == flat.pixels[p % 3]);
    }
    const sib::io::image_8bit im{noise(41, 37, 3, 5), 41, 37, 3};
    CHECK(resized(im, {0, 0, 37, 41}, 41, 37) == im.pixels);
    const crop_box box{3, 5, 30, 33};
    const bytes whole = resized(im, box, 25, 19);
    bytes part(static_cast<std::size_t>(11 * 7 * 3)), scratch;
    sib::data::resize_bilinear(im.pixels.data(), 41, 37, 3, box, 25, 19, 9, 6, 11, 7, part.data(), scratch);
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 11 * 3; ++x)
            REQUIRE(part[static_cast<std::size_t>(y * 33 + x)] == whole[static_cast<std::size_t>((y + 6) * 75 + 9 * 3 + x)]);
}

TEST_CASE("resample: antialiasing: a downscale by 4 weighs 6 input pixels by a triangle 4 pixels wide") {
    // One row of 8 pixels to 2: output 0 is centred at 2.0 with support 4: taps 0..5 weighted by
    // 1 - |j + 0.5 - 2| / 4 = 5/8, 7/8, 7/8, 5/8, 3/8, 1/8 (sum 28/8), as PIL's bilinear filter does.
    const sib::io::image_8bit row{{0, 0, 0, 0, 255, 255, 255, 255}, 8, 1, 1};
    const bytes out = resized(row, {0, 0, 1, 8}, 2, 1);
    CHECK(out[0] == static_cast<int>(255.0 * (3.0 + 1.0) / 28.0 + 0.5));  // 36
    CHECK(out[1] == 255 - out[0]);
}

TEST_CASE("resample: nearest neighbour samples the source at the output pixel's centre") {
    const bytes plane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // 10 x 1
    bytes out(4);
    sib::data::resize_nearest(plane.data(), 10, 1, {0, 0, 1, 10}, 4, 1, 0, 0, 4, 1, out.data());
    CHECK(out == bytes{1, 3, 6, 8});  // int(1.25), int(3.75), int(6.25), int(8.75)
    sib::data::resize_nearest(plane.data(), 10, 1, {0, 2, 1, 4}, 4, 1, 0, 0, 4, 1, out.data());
    CHECK(out == bytes{2, 3, 4, 5});
}

TEST_CASE("resample: RandomResizedCrop's sampler has torchvision's distribution") {
    sib::rng r(3);
    const int n = 20000;
    SUBCASE("every first draw fits: area share uniform in [0.08, 0.5], log aspect ratio uniform, position uniform") {
        // On a 1000 x 1000 image with scale <= 0.5 every draw fits (w h <= 0.5 A and the ratio is within
        // 3/4 .. 4/3), so the box shows the raw draws up to rounding.
        sib::data::resized_crop_options o;
        o.scale_max = 0.5;
        double sum_area = 0, sum_area2 = 0, sum_log = 0, sum_log2 = 0, sum_top = 0, sum_left = 0;
        for (int k = 0; k < n; ++k) {
            const crop_box b = sib::data::random_resized_crop(r, 1000, 1000, o);
            REQUIRE(b.top >= 0);
            REQUIRE(b.left >= 0);
            REQUIRE(b.top + b.height <= 1000);
            REQUIRE(b.left + b.width <= 1000);
            const double a = b.width * b.height / 1e6, l = std::log(static_cast<double>(b.width) / b.height);
            REQUIRE(a >= 0.08 * 0.99);
            REQUIRE(a <= 0.5 * 1.01);
            REQUIRE(l >= std::log(0.75) - 0.01);
            REQUIRE(l <= std::log(4.0 / 3.0) + 0.01);
            sum_area += a;
            sum_area2 += a * a;
            sum_log += l;
            sum_log2 += l * l;
            sum_top += static_cast<double>(b.top) / (1000 - b.height);
            sum_left += static_cast<double>(b.left) / (1000 - b.width);
        }
        // Means within 4 standard errors of the uniform distributions' (sd/sqrt(n)).
        const double se_u = std::sqrt(1.0 / 12 / n);
        const double span = std::log(16.0 / 9.0);
        CHECK(std::abs(sum_area / n - 0.29) < 4 * 0.42 * se_u);
        CHECK(std::abs(sum_area2 / n - (0.29 * 0.29 + 0.42 * 0.42 / 12)) < 0.002);
        CHECK(std::abs(sum_log / n) < 4 * span * se_u);
        CHECK(std::abs(sum_log2 / n - span * span / 12) < 0.002);
        CHECK(std::abs(sum_top / n - 0.5) < 4 * se_u);
        CHECK(std::abs(sum_left / n - 0.5) < 4 * se_u);
    }
    SUBCASE("the default scale: a draw that does not fit is drawn again") {
        // Square image, scale (0.08, 1): a draw (u, r) fits iff u <= min(r, 1/r). Accepted draws are
        // uniform on that region, whose mean of u is computed here by quadrature over log r.
        double num = 0, den = 0;
        const int steps = 20000;
        for (int k = 0; k < steps; ++k) {
            const double lr = std::log(0.75) + (k + 0.5) / steps * std::log(16.0 / 9.0);
            const double top = std::min(1.0, std::exp(-std::abs(lr)));
            num += (top * top - 0.08 * 0.08) / 2;
            den += top - 0.08;
        }
        double sum = 0;
        for (int k = 0; k < n; ++k) {
            const crop_box b = sib::data::random_resized_crop(r, 1000, 1000);
            sum += b.width * b.height / 1e6;
        }
        CHECK(std::abs(sum / n - num / den) < 0.005);  // sd of u about 0.26: 4 se = 0.0074
    }
    SUBCASE("no draw fits: the central crop clamped to the ratio range") {
        // 10 x 1000: any draw's height is at least sqrt(0.08 * 10000 * 3 / 4) > 10, so all 10 fail.
        CHECK(sib::data::random_resized_crop(r, 10, 1000) == crop_box{0, 493, 10, 13});  // w = round(10 * 4/3)
        CHECK(sib::data::random_resized_crop(r, 1000, 10) == crop_box{493, 0, 13, 10});  // h = round(10 / (3/4))
        sib::data::resized_crop_options o;
        o.scale_min = o.scale_max = 1.0;  // the whole image: fits only at ratio 1, which a draw never is exactly
        CHECK(sib::data::random_resized_crop(r, 30, 31, o) == crop_box{0, 0, 30, 31});
    }
}

TEST_CASE("resample and photo folder: equal to PIL byte for byte (bilinear, nearest) and torchvision's eval transform bit for bit") {
    const std::string python = python_with_pil();
    if (python.empty()) {
        if (pil_required()) FAIL("SIB_REQUIRE_PIL=1 but python3 with PIL and numpy is not installed");
        MESSAGE("python3-pil not installed: the comparison with PIL is skipped");
        return;
    }
    temp_dir dir;
    struct picture {
        std::string name;
        int w, h, c;
    };
    const std::vector<picture> pictures = {{"rgb.png", 61, 47, 3}, {"gray.png", 40, 33, 1}, {"rgba.png", 50, 52, 4},
                                           {"big.png", 640, 480, 3}, {"tall.png", 97, 300, 3}};
    for (std::size_t k = 0; k < pictures.size(); ++k) {
        const auto& p = pictures[k];
        png(dir / p.name, noise(p.w, p.h, p.c, 100 + k), p.w, p.h, p.c);
        png(dir / ("plane_" + p.name), noise(p.w, p.h, 1, 200 + k), p.w, p.h, 1);  // for nearest
    }
    // (picture, box top, left, height, width, out w, out h): down by 1.3 to 80, up to 8x, one axis only,
    // identity, odd boxes.
    struct resize_case {
        std::size_t picture;
        crop_box box;
        int ow, oh;
    };
    std::vector<resize_case> cases = {
        {0, {0, 0, 47, 61}, 20, 15},   {0, {3, 5, 40, 30}, 16, 16},  {0, {0, 0, 47, 61}, 130, 100},
        {0, {10, 10, 5, 7}, 32, 32},   {0, {0, 0, 47, 61}, 61, 20},  {0, {0, 0, 47, 61}, 17, 47},
        {0, {2, 1, 44, 59}, 59, 44},   {0, {0, 0, 47, 61}, 8, 8},    {0, {1, 3, 45, 55}, 55, 23},
        {1, {0, 0, 33, 40}, 13, 11},   {1, {4, 4, 20, 30}, 64, 64},  {2, {0, 0, 52, 50}, 24, 24},
        {3, {0, 0, 480, 640}, 224, 224}, {3, {37, 101, 301, 377}, 224, 224}, {3, {0, 0, 480, 640}, 7, 5},
        {4, {0, 0, 300, 97}, 32, 32},  {4, {150, 0, 3, 97}, 9, 100},
    };
    std::ostringstream script;
    script << "import sys\nfrom PIL import Image\nimport numpy as np\n";
    for (std::size_t k = 0; k < cases.size(); ++k) {
        const auto& c = cases[k];
        const crop_box& b = c.box;
        script << "im = Image.open('" << dir / pictures[c.picture].name << "').convert('RGB').crop((" << b.left << ","
               << b.top << "," << b.left + b.width << "," << b.top + b.height << "))\n"
               << "open('" << dir / ("bilinear" + std::to_string(k)) << "', 'wb').write(im.resize((" << c.ow << "," << c.oh
               << "), Image.BILINEAR).tobytes())\n"
               << "pl = Image.open('" << dir / ("plane_" + pictures[c.picture].name) << "').crop((" << b.left << ","
               << b.top << "," << b.left + b.width << "," << b.top + b.height << "))\n"
               << "open('" << dir / ("nearest" + std::to_string(k)) << "', 'wb').write(pl.resize((" << c.ow << ","
               << c.oh << "), Image.NEAREST).tobytes())\n";
    }
    // torchvision's evaluation transform (Resize(37) + CenterCrop(32), ToTensor, Normalize), written out
    // with its formulas: transforms.functional._compute_resized_output_size and center_crop.
    script << "mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)\n"
              "std = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)\n"
              "for name in ['rgb.png', 'gray.png', 'rgba.png', 'big.png', 'tall.png']:\n"
              "    im = Image.open('" << dir.path.string() << "/' + name).convert('RGB')\n"
              "    w, h = im.size\n"
              "    short, long = (w, h) if w <= h else (h, w)\n"
              "    ns, nl = 37, int(37 * long / short)\n"
              "    nw, nh = (ns, nl) if w <= h else (nl, ns)\n"
              "    im = im.resize((nw, nh), Image.BILINEAR)\n"
              "    top, left = int(round((nh - 32) / 2.0)), int(round((nw - 32) / 2.0))\n"
              "    im = im.crop((left, top, left + 32, top + 32))\n"
              "    t = np.asarray(im).astype(np.float32).transpose(2, 0, 1) / np.float32(255)\n"
              "    t = (t - mean) / std\n"
              "    open('" << dir.path.string() << "/eval_' + name + '.f32', 'wb').write(t.astype(np.float32).tobytes())\n";
    write_bytes(dir / "pil.py", script.str());
    REQUIRE(std::system((python + " " + dir / "pil.py").c_str()) == 0);

    index_t compared = 0;
    int worst = 0;
    for (std::size_t k = 0; k < cases.size(); ++k) {
        CAPTURE(k);
        const auto& c = cases[k];
        const auto im = sib::io::read_image_8bit(dir / pictures[c.picture].name, 3);
        const bytes mine = resized(im, c.box, c.ow, c.oh);
        const bytes theirs = read_all(dir / ("bilinear" + std::to_string(k)));
        REQUIRE(theirs.size() == mine.size());
        for (std::size_t p = 0; p < mine.size(); ++p) worst = std::max(worst, std::abs(mine[p] - theirs[p]));
        CHECK(mine == theirs);
        compared += static_cast<index_t>(mine.size());
        // Nearest on a one-byte plane.
        const auto plane = sib::io::read_image_8bit(dir / ("plane_" + pictures[c.picture].name), 1);
        bytes near(static_cast<std::size_t>(c.ow * c.oh));
        sib::data::resize_nearest(plane.pixels.data(), plane.width, plane.height, c.box, c.ow, c.oh, 0, 0, c.ow, c.oh,
                                  near.data());
        CHECK(near == read_all(dir / ("nearest" + std::to_string(k))));
    }
    MESSAGE("bilinear: " << compared << " bytes compared with PIL, largest difference " << worst);
    CHECK(worst == 0);

    // The photo folder in evaluation mode against torchvision's pipeline, in float32.
    temp_dir folder;
    fs::create_directories(folder.path / "a");
    for (const auto& p : pictures) fs::copy_file(dir / p.name, folder / ("a/" + p.name));
    sib::data::photo_folder_options o;
    o.image_size = 32;
    o.resize_size = 37;
    const sib::data::photo_folder f(folder.path.string(), o);
    REQUIRE(f.size() == 5);
    std::vector<float> out(3 * 32 * 32);
    for (index_t i = 0; i < f.size(); ++i) {
        const std::string name = f.path(i).filename().string();
        CAPTURE(name);
        f.image(i, out.data());
        const bytes theirs = read_all(dir / ("eval_" + name + ".f32"));
        REQUIRE(theirs.size() == out.size() * sizeof(float));
        CHECK(std::memcmp(theirs.data(), out.data(), theirs.size()) == 0);
    }
}

namespace {

// A small photo folder: two classes, images of several sizes and formats, with masks marking a
// bright square.
struct photo_tree {
    temp_dir dir;
    std::string root, masks;
    photo_tree() {
        root = dir / "train";
        masks = dir / "masks";
        // (class, relative name, w, h, stored channels)
        add("cat", "a.png", 40, 30, 3);
        add("cat", "sub/b.png", 25, 33, 1);  // in a sub-folder: listed after the folder's own files
        add("cat", "c.bmp", 31, 31, 3);
        add("dog", "d.png", 50, 20, 4);
        add("dog", "e.jpg", 36, 44, 3);
        add("dog", "f.tga", 17, 29, 3);
        write_bytes(root + "/dog/notes.txt", "not an image");
    }
    // The image: dark noise with a bright square; its mask: the square.
    void add(const std::string& cls, const std::string& name, int w, int h, int c) {
        bytes px = noise(w, h, c, std::hash<std::string>{}(name));
        bytes m(static_cast<std::size_t>(w * h), 0);
        for (std::size_t p = 0; p < px.size(); ++p) px[p] = static_cast<std::uint8_t>(px[p] / 4);
        for (int y = h / 4; y < h / 2; ++y)
            for (int x = w / 3; x < 2 * w / 3; ++x) {
                for (int k = 0; k < c; ++k) px[static_cast<std::size_t>((y * w + x) * c + k)] = 255;
                m[static_cast<std::size_t>(y * w + x)] = 255;
            }
        const std::string path = root + "/" + cls + "/" + name;
        fs::create_directories(fs::path(path).parent_path());
        const std::string ext = fs::path(name).extension().string();
        if (ext == ".png") sib::io::write_png(path, px.data(), w, h, c);
        if (ext == ".bmp") REQUIRE(stbi_write_bmp(path.c_str(), w, h, c, px.data()) != 0);
        if (ext == ".tga") REQUIRE(stbi_write_tga(path.c_str(), w, h, c, px.data()) != 0);
        if (ext == ".jpg") REQUIRE(stbi_write_jpg(path.c_str(), w, h, c, px.data(), 95) != 0);
        png(masks + "/" + cls + "/" + fs::path(name).replace_extension(".png").string(), m, w, h, 1);
    }
};

std::vector<float> sample_of(const sib::data::photo_folder& f, index_t i, std::uint64_t key, bool mask = false) {
    const index_t s = f.options().image_size;
    std::vector<float> out(static_cast<std::size_t>(mask ? s * s : 3 * s * s));
    if (mask)
        f.sample(i, key, nullptr, out.data());
    else
        f.sample(i, key, out.data(), nullptr);
    return out;
}

}  // namespace

TEST_CASE("photo folder: classes sorted, files in os.walk order, any size and format, 3 channels") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 16;
    const sib::data::photo_folder f(t.root, o);
    CHECK(f.size() == 6);
    CHECK(f.num_classes() == 2);
    CHECK(f.class_names() == std::vector<std::string>{"cat", "dog"});
    CHECK(f.image_shape() == sib::shape{3, 16, 16});
    CHECK(!f.has_masks());
    CHECK(f.resize_size() == 18);  // round(16 * 256 / 224) = round(18.29)
    std::vector<std::string> names;
    for (index_t i = 0; i < f.size(); ++i) names.push_back(fs::path(f.path(i)).lexically_relative(t.root).string());
    CHECK(names == std::vector<std::string>{"cat/a.png", "cat/c.bmp", "cat/sub/b.png", "dog/d.png", "dog/e.jpg", "dog/f.tga"});
    for (index_t i = 0; i < 6; ++i) CHECK(f.label(i) == (i < 3 ? 0 : 1));
    // A gray image comes out with three equal channels; every value is a normalised byte.
    std::vector<float> px(3 * 16 * 16);
    f.image(2, px.data());
    const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
    for (index_t p = 0; p < 256; ++p) {
        const float v0 = px[static_cast<std::size_t>(p)] * s[0] + m[0], v1 = px[static_cast<std::size_t>(256 + p)] * s[1] + m[1];
        REQUIRE(std::abs(v0 - v1) < 1e-6f);
        REQUIRE(std::abs(v0 * 255 - std::round(v0 * 255)) < 1e-4f);
    }
    for (index_t i = 0; i < 6; ++i) {
        f.image(i, px.data());
        for (float v : px) REQUIRE(std::isfinite(v));
    }
}

TEST_CASE("photo folder: its digest names the files, sizes, labels and transform, not where the folder is") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 16;
    const sib::data::photo_folder f(t.root, o);
    CHECK(sib::dist::dataset_digest(f) == f.digest());  // what processes compare under mpirun
    CHECK(sib::data::photo_folder(t.root, o).digest() == f.digest());
    const fs::path copy = fs::path(t.root).parent_path() / (fs::path(t.root).filename().string() + "_copy");
    fs::remove_all(copy);
    fs::copy(t.root, copy, fs::copy_options::recursive);
    CHECK(sib::data::photo_folder(copy.string(), o).digest() == f.digest());  // another machine's path
    auto other = o;
    other.image_size = 12;
    CHECK(sib::data::photo_folder(t.root, other).digest() != f.digest());
    other = o;
    other.train = true;
    CHECK(sib::data::photo_folder(t.root, other).digest() != f.digest());
    {
        std::ofstream grow(copy / "cat" / "a.png", std::ios::app | std::ios::binary);
        grow << '\0';  // PNG readers ignore bytes after IEND; the file is another file all the same
    }
    CHECK(sib::data::photo_folder(copy.string(), o).digest() != f.digest());
    fs::remove_all(copy);
}

TEST_CASE("photo folder: the evaluation view is Resize + CenterCrop of the decoded pixels, normalised") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 12;
    o.resize_size = 14;
    o.mean = {0.5};
    o.std_dev = {0.25, 0.5, 1.0};
    const sib::data::photo_folder f(t.root, o);
    const auto im = sib::io::read_image_8bit(f.path(3), 3);  // dog/d.png, 50 x 20
    const auto r = sib::data::shorter_side_size(20, 50, 14);
    CHECK(r.height == 14);
    CHECK(r.width == 35);
    const auto c = sib::data::center_crop(r.height, r.width, 12, 12);
    bytes want(12 * 12 * 3), scratch;
    sib::data::resize_bilinear(im.pixels.data(), 50, 20, 3, {0, 0, 20, 50}, 35, 14, c.left, c.top, 12, 12, want.data(), scratch);
    const auto got = sample_of(f, 3, 12345);  // evaluation ignores the key
    const float sd[3] = {0.25f, 0.5f, 1.0f};
    for (int ch = 0; ch < 3; ++ch)
        for (int p = 0; p < 144; ++p)
            REQUIRE(got[static_cast<std::size_t>(ch * 144 + p)] ==
                    (static_cast<float>(want[static_cast<std::size_t>(p * 3 + ch)]) / 255.0f - 0.5f) / sd[ch]);
}

TEST_CASE("photo folder: training crops and flips from the key; the mask takes the image's crop, resize and flip") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 24;
    o.train = true;
    o.mask_root = t.masks;
    o.mean = {0.0};
    o.std_dev = {1.0};
    const sib::data::photo_folder f(t.root, o);
    CHECK(f.has_masks());
    for (index_t i = 0; i < f.size(); ++i) {
        CAPTURE(i);
        // The same key, the same sample; another key, another crop.
        CHECK(sample_of(f, i, 7) == sample_of(f, i, 7));
        CHECK(sample_of(f, i, 7) != sample_of(f, i, 8));
        // The crop and flip drawn from the key, as the sampler draws them.
        const auto im = sib::io::read_image_8bit(f.path(i), 3);
        sib::rng r(99);
        const crop_box box = sib::data::random_resized_crop(r, im.height, im.width);
        const bool flip = r.uniform() < 0.5;
        const bytes want = resized(im, box, 24, 24);
        const auto got = sample_of(f, i, 99);
        for (int y = 0; y < 24; ++y)
            for (int x = 0; x < 24; ++x)
                REQUIRE(got[static_cast<std::size_t>(y * 24 + x)] ==
                        static_cast<float>(want[static_cast<std::size_t>((y * 24 + (flip ? 23 - x : x)) * 3)]) / 255.0f);
        // Where the image is the bright square's inside (255 in red; the rest is noise below 64, and
        // JPEG's ringing stays far below 200), the mask is 1, and where it is dark the mask is 0.
        for (std::uint64_t key = 0; key < 20; ++key) {
            const auto img = sample_of(f, i, key), m = sample_of(f, i, key, true);
            for (std::size_t p = 0; p < m.size(); ++p) {
                REQUIRE((m[p] == 0.0f || m[p] == 1.0f));
                if (img[p] >= 250.0f / 255) REQUIRE(m[p] == 1.0f);
                if (img[p] <= 70.0f / 255) REQUIRE(m[p] == 0.0f);
            }
        }
    }
    // Flip probability 1 mirrors the probability-0 sample.
    o.flip_probability = 0;
    const sib::data::photo_folder never(t.root, o);
    o.flip_probability = 1;
    const sib::data::photo_folder always(t.root, o);
    const auto a = sample_of(never, 0, 5), b = sample_of(always, 0, 5);
    for (int ch = 0; ch < 3; ++ch)
        for (int y = 0; y < 24; ++y)
            for (int x = 0; x < 24; ++x)
                REQUIRE(a[static_cast<std::size_t>((ch * 24 + y) * 24 + x)] == b[static_cast<std::size_t>((ch * 24 + y) * 24 + 23 - x)]);
}

TEST_CASE("photo folder: bad folders, images, masks and options are one line naming the problem") {
    using sib::data::photo_folder;
    sib::data::photo_folder_options o;
    o.image_size = 8;
    temp_dir d;
    CHECK(error_of([&] { photo_folder(d / "nowhere", o); }) == "photo folder: " + d / "nowhere" + " is not a folder");
    fs::create_directories(d / "empty");
    CHECK(error_of([&] { photo_folder(d / "empty", o); }) ==
          "photo folder: " + d / "empty" + " has no class folders and no images (expected " + d / "empty" + "/<class>/<image>)");
    png(d / "loose/x.png", noise(4, 4, 3, 1), 4, 4, 3);
    CHECK(error_of([&] { photo_folder(d / "loose", o); }) ==
          "photo folder: " + d / "loose" + " has no class folders (its 1 images must sit in " + d / "loose" + "/<class>/)");
    png(d / "one/a/x.png", noise(4, 4, 3, 1), 4, 4, 3);
    write_bytes(d / "one/b/readme.txt", "none here");
    CHECK(error_of([&] { photo_folder(d / "one", o); }) ==
          "photo folder: class folder " + d / "one/b" +
              " has no images (.png, .jpg, .jpeg, .bmp, .tga, .gif, .ppm, .pgm, .pnm)");
    // Options.
    auto bad = o;
    bad.image_size = 0;
    CHECK(error_of([&] { photo_folder(d / "one", bad); }) == "photo folder: image size must be positive, got 0");
    bad = o;
    bad.mean = {0.5, 0.5};
    CHECK(error_of([&] { photo_folder(d / "one", bad); }) == "photo folder: mean needs 1 or 3 values, got 2");
    bad = o;
    bad.std_dev = {0.2, 0.0, 0.2};
    CHECK(error_of([&] { photo_folder(d / "one", bad); }) == "photo folder: std of channel 1 must be positive and finite, got 0");
    bad = o;
    bad.resize_size = 7;
    CHECK(error_of([&] { photo_folder(d / "one", bad); }) ==
          "photo folder: resize size 7 is smaller than the image size 8 it is centre-cropped to");
    bad = o;
    bad.crop.scale_min = 0;
    CHECK(error_of([&] { photo_folder(d / "one", bad); }) ==
          "photo folder: crop scale must satisfy 0 < min <= max <= 1, got 0, 1");
}

TEST_CASE("photo folder: an unreadable image fails with its path, or with skip_bad_images is left out and counted") {
    using sib::data::photo_folder;
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 8;
    // Not an image at all: found when the folder is opened.
    write_bytes(t.root + "/cat/broken.png", "this is not a PNG");
    const std::string broken = t.root + "/cat/broken.png";
    CHECK(error_of([&] { photo_folder(t.root, o); }).rfind("photo folder: cannot read " + broken + " (", 0) == 0);
    o.skip_bad_images = true;
    {
        const photo_folder f(t.root, o);
        CHECK(f.size() == 6);
        CHECK(f.bad_image_count() == 1);
        CHECK(f.bad_images() == std::vector<std::string>{broken});
    }
    fs::remove(broken);
    // A valid header over corrupt data: found when decoded, naming the file.
    {
        std::string good;
        {
            const bytes b = read_all(t.root + "/dog/d.png");
            good.assign(b.begin(), b.end());
        }
        write_bytes(t.root + "/dog/d.png", good.substr(0, 60) + std::string(200, '\x5a'));
    }
    o.skip_bad_images = false;
    const photo_folder strict(t.root, o);
    std::vector<float> px(3 * 8 * 8);
    const std::string corrupt = t.root + "/dog/d.png";
    // Its image data chunk runs past the end of what is left of the file: refused before decoding.
    CHECK(error_of([&] { strict.image(3, px.data()); }).rfind("photo folder: " + corrupt + ": the PNG chunk IDAT at byte ", 0) == 0);
    o.skip_bad_images = true;
    o.mask_root = t.masks;
    const photo_folder lenient(t.root, o);
    // Replaced by the next image of the listing (dog/e.jpg), its label and mask with it.
    std::vector<float> want(3 * 8 * 8), mw(64), mg(64);
    lenient.sample(4, 1, want.data(), mw.data());
    CHECK(lenient.sample(3, 1, px.data(), mg.data()) == 1);
    CHECK(px == want);
    CHECK(mg == mw);
    CHECK(lenient.label(3) == 1);
    CHECK(lenient.bad_image_count() == 1);
    CHECK(lenient.bad_images() == std::vector<std::string>{corrupt});
}

TEST_CASE("photo folder: a mask folder that does not match its images says which") {
    using sib::data::photo_folder;
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 8;
    o.mask_root = t.masks;
    CHECK_NOTHROW(photo_folder(t.root, o));
    o.mask_root = t.dir / "nomasks";
    CHECK(error_of([&] { photo_folder(t.root, o); }) == "photo folder: mask folder " + t.dir / "nomasks" + " is not a folder");
    o.mask_root = t.masks;
    fs::rename(t.masks + "/dog/e.png", t.dir / "e.png");
    CHECK(error_of([&] { photo_folder(t.root, o); }) ==
          "photo folder: 1 image has no mask, the first dog/e.jpg (expected " + t.masks + "/dog/e.png)");
    png(t.masks + "/dog/e.png", bytes(36 * 43, 0), 36, 43, 1);
    CHECK(error_of([&] { photo_folder(t.root, o); }) ==
          "photo folder: mask " + t.masks + "/dog/e.png is 36x43, its image dog/e.jpg is 36x44");
    fs::rename(t.dir / "e.png", t.masks + "/dog/e.png");
    png(t.masks + "/dog/zebra.png", bytes(4, 0), 2, 2, 1);
    CHECK(error_of([&] { photo_folder(t.root, o); }) ==
          "photo folder: mask " + t.masks + "/dog/zebra.png has no image in " + t.root + " (expected " + t.root + "/dog/zebra.*)");
}

TEST_CASE("batch_loader on a photo folder: each sample from (seed, epoch, index), the same whatever the threads and prefetching") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 16;
    o.train = true;
    o.mask_root = t.masks;
    const sib::data::photo_folder f(t.root, o);
    sib::data::loader_options lo;
    lo.batch_size = 4;
    lo.seed = 11;
    using loader = sib::data::batch_loader<float>;
    // Every batch of three epochs, as raw values.
    auto run = [&](int omp_threads, int decode_threads, index_t prefetch) {
        sib::set_num_threads(omp_threads);
        auto l = lo;
        l.decode_threads = decode_threads;
        l.prefetch_batches = prefetch;
        loader ld(f, l);
        CHECK(ld.prefetch_batches() == prefetch);
        std::vector<float> all;
        loader::batch_type b;
        for (index_t e = 0; e < 3; ++e) {
            ld.set_epoch(e);
            for (index_t k = 0; k < ld.num_batches(); ++k) {
                ld.load(k, b);
                for (index_t s = 0; s < b.size(); ++s) {
                    // The sample is the folder's sample(i, sample_key(seed, epoch, i)).
                    const index_t i = b.indices[static_cast<std::size_t>(s)];
                    const auto want = sample_of(f, i, sib::data::sample_key(11, static_cast<std::uint64_t>(e), static_cast<std::uint64_t>(i)));
                    REQUIRE(std::equal(want.begin(), want.end(), b.images.data() + s * 3 * 256));
                    REQUIRE(b.labels[s] == f.label(i));
                }
                all.insert(all.end(), b.images.data(), b.images.data() + b.images.size());
                all.insert(all.end(), b.masks.data(), b.masks.data() + b.masks.size());
                // Bounded: at most prefetch_batches x batch_size samples wait decoded.
                REQUIRE(ld.samples_in_flight() <= prefetch * lo.batch_size);
            }
        }
        // With prefetching every batch was decoded ahead (batch 0 of an epoch since set_epoch).
        CHECK(ld.prefetched_loads() == (prefetch > 0 ? 3 * ld.num_batches() : 0));
        return all;
    };
    const auto one = run(1, 1, 0);
    CHECK(run(2, 1, 0) == one);
    CHECK(run(1, 1, 2) == one);
    CHECK(run(2, 2, 2) == one);
    CHECK(run(2, 3, 1) == one);
    sib::set_num_threads(2);
    // The folder's hint turns prefetching on by default.
    loader ld(f, lo);
    CHECK(ld.prefetch_batches() == 2);
    // Data in memory is never decoded ahead: asking for it is an error, not ignored.
    sib::tensor<std::int64_t> labels({4});
    for (index_t i = 0; i < 4; ++i) labels[i] = i % 2;
    const sib::data::in_memory_dataset memory(sib::tensor<float>({4, 1, 2, 2}, 0.5f), labels, 2);
    auto ahead = lo;
    ahead.prefetch_batches = 1;
    CHECK_THROWS_WITH_AS(loader(memory, ahead),
                         "batch_loader: prefetch_batches 1 asks to decode ahead, but this dataset is in memory "
                         "(only datasets with prefetch_batches(), as photo folders, decode on demand)",
                         sib::error);
    ahead.prefetch_batches = 0;
    CHECK(loader(memory, ahead).prefetch_batches() == 0);
}

TEST_CASE("batch_loader on a photo folder: a corrupt image met by a prefetching worker fails the batch with its path") {
    photo_tree t;
    {
        const bytes b = read_all(t.root + "/cat/a.png");
        write_bytes(t.root + "/cat/a.png", std::string(b.begin(), b.begin() + 60) + std::string(300, '\x11'));
    }
    sib::data::photo_folder_options o;
    o.image_size = 8;
    const sib::data::photo_folder f(t.root, o);
    sib::data::loader_options lo;
    lo.batch_size = 2;
    lo.shuffle = false;
    sib::data::batch_loader<float> ld(f, lo);
    sib::data::batch_loader<float>::batch_type b;
    // Batch 0 holds image 0 (cat/a.png), decoded ahead by the workers since set_epoch.
    CHECK(error_of([&] { ld.load(0, b); }).rfind("photo folder: " + t.root + "/cat/a.png: the PNG chunk IDAT at byte ", 0) == 0);
    CHECK_NOTHROW(ld.load(1, b));
    CHECK_NOTHROW(ld.load(2, b));
    CHECK(ld.prefetched_loads() == 1);  // batch 2, queued when batch 1 was decoded on the spot
}

TEST_CASE("trainer on photo folders: S-IB trains on the training view, scores the evaluation view, the same on 1 and 2 threads") {
    photo_tree t;
    sib::data::photo_folder_options o;
    o.image_size = 8;
    o.mask_root = t.masks;
    const sib::data::photo_folder test(t.root, o);
    o.train = true;
    const sib::data::photo_folder train(t.root, o);
    auto run = [&](int threads) {
        sib::set_num_threads(threads);
        sib::models::spec_model<float> m("Conv2d(3,4,3,padding=1); ReLU; MaxPool2d(2); Flatten; Linear(64,2)");
        sib::train::train_options opt;
        opt.epochs = 3;
        opt.batch_size = 2;
        opt.seed = 4;
        opt.progress = sib::train::progress_mode::plain;
        std::ostringstream log;
        opt.progress_stream = &log;
        sib::masks::density_mask_options mo;
        mo.window = 3;
        sib::train::trainer tr(m, sib::train::make_sib_objective<float>({}, mo), sib::optim::adamw<float>(), opt, "photo");
        tr.initialise();
        const auto r = tr.run(train, test);
        CHECK(std::isfinite(r.train_loss));
        CHECK(r.steps == 9);
        std::vector<float> w;
        m.for_each_parameter([&](std::string_view, sib::tensor<float>& v, sib::tensor<float>*) {
            const auto x = v.to_vector();
            w.insert(w.end(), x.begin(), x.end());
        });
        w.push_back(static_cast<float>(r.train_loss));
        w.push_back(static_cast<float>(r.test_accuracy));
        return w;
    };
    const auto one = run(1);
    CHECK(run(2) == one);
    sib::set_num_threads(2);
}
