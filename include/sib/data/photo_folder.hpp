// Folders of real photos, as torchvision's ImageFolder with its standard transforms reads them:
//
//   root/<class>/<image>         images of any size, in any format stb_image reads (JPEG, PNG, BMP,
//                                TGA, GIF, PNM; gray, RGB or RGBA, converted to RGB as PIL's
//                                convert("RGB") does: gray replicated, alpha dropped)
//   mask_root/<class>/<stem>.png optional masks mirroring it, nonzero (any of R, G, B) = foreground
//
// Classes are the sub-folders sorted by name; images the files under each with an extension stb
// reads, in os.walk order (folders sorted by path, files by name), as torchvision lists them.
// Each image is decoded when asked for, so only a list of paths stays in memory, and transformed:
//
//   training:   RandomResizedCrop(S, scale, ratio) + RandomHorizontalFlip(p)
//   evaluation: Resize(R) (shorter side, R = round(S * 256 / 224) by default) + CenterCrop(S)
//   then ToTensor (/255) and Normalize(mean, std) (ImageNet's statistics by default),
//
// with PIL's resampling (data/resample.hpp), so the pixels equal torchvision's on PIL images.
// The mask takes the image's crop, resize (nearest neighbour) and flip.
//
// Randomness: sample(i, key, image, mask) draws image i's crop and flip from sib::rng(key). The batch
// loader passes key = sample_key(seed, epoch, i), so a sample's augmentation depends on (seed, epoch,
// index) only: not on the thread that decodes it, the batch it falls in, or the thread count.
// image(i, out) and mask(i, out) (the plain dataset interface) are sample(i, sample_key(0, 0, i)):
// the evaluation view in evaluation mode.
//
// Bad files: every image's header is read when the folder is opened (in parallel), so a file stb
// cannot read fails then, naming it; a file whose header reads but whose data is corrupt fails when
// decoded, naming it. With skip_bad_images a bad file is left out instead (found at opening), or,
// found while decoding, replaced by the next image of the listing that decodes (its label and mask
// with it, so the batch stays consistent and deterministic); bad_images() lists the files skipped
// so far, for the caller's summary.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/rng.hpp>
#include <sib/core/shape.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/prefetcher.hpp>
#include <sib/data/resample.hpp>
#include <sib/io/png.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// ImageNet's channel statistics, torchvision's usual Normalize.
inline const std::vector<double> imagenet_mean = {0.485, 0.456, 0.406};
inline const std::vector<double> imagenet_std = {0.229, 0.224, 0.225};

struct photo_folder_options {
    // Empty: no masks.
    std::string mask_root;
    // The side S of the square output.
    int image_size = 224;
    // Evaluation: the shorter side is resized to this first; 0 means round(S * 256 / 224).
    int resize_size = 0;
    // true: RandomResizedCrop + RandomHorizontalFlip; false: Resize + CenterCrop.
    bool train = false;
    resized_crop_options crop{};
    double flip_probability = 0.5;
    // One value per channel, or one for all three.
    std::vector<double> mean = imagenet_mean, std_dev = imagenet_std;
    // Leave out (or replace, see above) images that cannot be read, counting them, instead of failing.
    bool skip_bad_images = false;
    // Hints for the batch loader: batches decoded ahead of the training step, and threads decoding
    // them (0: sib::num_threads()). loader_options can override both.
    index_t prefetch_batches = 2;
    int decode_threads = 0;
};

class photo_folder {
public:
    explicit photo_folder(const std::string& root, photo_folder_options opt = {}) : root_(root), opt_(std::move(opt)) {
        check_options();
        list_files();
        check_headers();
        if (!opt_.mask_root.empty()) check_masks();
    }

    index_t size() const { return static_cast<index_t>(files_.size()); }
    sib::shape image_shape() const { return {3, opt_.image_size, opt_.image_size}; }
    int num_classes() const { return static_cast<int>(class_names_.size()); }
    bool has_masks() const { return !opt_.mask_root.empty(); }
    // Decoded 8-bit pixels divided by 255 and normalised by a positive finite std are finite: the
    // trainer need not decode the whole folder to look for NaNs (require_finite_images skips it).
    bool finite_by_construction() const { return true; }
    index_t prefetch_batches() const { return opt_.prefetch_batches; }
    int decode_threads() const { return opt_.decode_threads; }

    void image(index_t i, float* out) const { sample(i, sample_key(0, 0, static_cast<std::uint64_t>(i)), out, nullptr); }
    void mask(index_t i, float* out) const {
        require(has_masks(), "photo folder: mask(", i, ") asked of a folder without masks");
        sample(i, sample_key(0, 0, static_cast<std::uint64_t>(i)), nullptr, out);
    }
    // The label of the image image(i) gives: its folder's, or, when the file turned out unreadable
    // under skip_bad_images, its replacement's (known once image(i) or sample(i) has met it).
    std::int64_t label(index_t i) const {
        check_index(i);
        return labels_[static_cast<std::size_t>(replacement(i))];
    }

    // Image i transformed with the random stream `key`: 3 x S x S normalised floats into `image`
    // and, when has_masks(), S x S 0/1 values into `mask` (either may be null). Returns its label.
    // Safe to call from several threads at once.
    std::int64_t sample(index_t i, std::uint64_t key, float* image, float* mask) const {
        check_index(i);
        require(mask == nullptr || has_masks(), "photo folder: a mask asked of a folder without masks");
        io::image_8bit rgb;
        const index_t used = decode(i, rgb);
        const int S = opt_.image_size;
        // The geometry: crop box, resized size, output window, flip.
        crop_box box{0, 0, rgb.height, rgb.width};
        int out_w = S, out_h = S, ox = 0, oy = 0;
        bool flip = false;
        if (opt_.train) {
            rng r(key);
            box = random_resized_crop(r, rgb.height, rgb.width, opt_.crop);
            flip = r.uniform() < opt_.flip_probability;
        } else {
            const size2 resized = shorter_side_size(rgb.height, rgb.width, resize_size());
            const crop_box c = center_crop(resized.height, resized.width, S, S);
            out_w = resized.width;
            out_h = resized.height;
            ox = c.left;
            oy = c.top;
        }
        const std::size_t plane = static_cast<std::size_t>(S) * static_cast<std::size_t>(S);
        thread_local std::vector<std::uint8_t> pixels, scratch;
        if (image) {
            pixels.resize(plane * 3);
            resize_bilinear(rgb.pixels.data(), rgb.width, rgb.height, 3, box, out_w, out_h, ox, oy, S, S,
                            pixels.data(), scratch);
            // ToTensor then Normalize, in float as torchvision computes them: (v / 255 - mean) / std.
            for (int c = 0; c < 3; ++c) {
                const float mu = mean_[static_cast<std::size_t>(c)], sd = std_[static_cast<std::size_t>(c)];
                float* to = image + static_cast<std::size_t>(c) * plane;
                for (int y = 0; y < S; ++y)
                    for (int x = 0; x < S; ++x) {
                        const int sx = flip ? S - 1 - x : x;
                        const float v = static_cast<float>(pixels[(static_cast<std::size_t>(y) * S + sx) * 3 + c]) / 255.0f;
                        to[static_cast<std::size_t>(y) * S + x] = (v - mu) / sd;
                    }
            }
        }
        if (mask) {
            const std::vector<std::uint8_t> m = read_mask(used, rgb.width, rgb.height);
            pixels.resize(plane);
            resize_nearest(m.data(), rgb.width, rgb.height, box, out_w, out_h, ox, oy, S, S, pixels.data());
            for (int y = 0; y < S; ++y)
                for (int x = 0; x < S; ++x)
                    mask[static_cast<std::size_t>(y) * S + x] =
                        pixels[static_cast<std::size_t>(y) * S + (flip ? S - 1 - x : x)] ? 1.0f : 0.0f;
        }
        return labels_[static_cast<std::size_t>(used)];
    }

    const std::vector<std::string>& class_names() const { return class_names_; }
    // What processes compare to know they read the same data (dist::dataset_digest): every file's
    // path below the root, size and label, the masks' too, and the transform's settings; a
    // folder of photos is not decoded for it.
    std::int64_t digest() const {
        std::uint64_t h = 0xcbf29ce484222325ULL;
        const auto mix = [&h](const void* p, std::size_t n) {
            const auto* b = static_cast<const unsigned char*>(p);
            for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
        };
        const auto mix_file = [&](const std::filesystem::path& file, const std::filesystem::path& base) {
            const std::string rel = file.lexically_relative(base).generic_string();
            std::error_code ec;
            const auto bytes = static_cast<std::uint64_t>(std::filesystem::file_size(file, ec));
            mix(rel.data(), rel.size() + 1);
            mix(&bytes, sizeof bytes);
        };
        const std::int64_t settings[] = {size(), opt_.image_size, resize_size(), opt_.train, has_masks()};
        mix(settings, sizeof settings);
        for (const auto* v : {&opt_.mean, &opt_.std_dev}) mix(v->data(), v->size() * sizeof(double));
        for (index_t i = 0; i < size(); ++i) {
            mix_file(files_[static_cast<std::size_t>(i)], root_);
            mix(&labels_[static_cast<std::size_t>(i)], sizeof(std::int64_t));
            if (has_masks()) mix_file(mask_path(files_[static_cast<std::size_t>(i)]), opt_.mask_root);
        }
        return static_cast<std::int64_t>(h);
    }
    const std::filesystem::path& path(index_t i) const {
        check_index(i);
        return files_[static_cast<std::size_t>(i)];
    }
    const photo_folder_options& options() const { return opt_; }
    int resize_size() const {
        return opt_.resize_size > 0 ? opt_.resize_size
                                    : static_cast<int>(std::lround(opt_.image_size * 256.0 / 224.0));
    }
    // Files skipped under skip_bad_images so far (at opening, and while decoding), sorted.
    std::vector<std::string> bad_images() const {
        std::lock_guard<std::mutex> lock(bad_->mutex);
        std::vector<std::string> out = skipped_at_open_;
        for (const index_t i : bad_->decoded) out.push_back(files_[static_cast<std::size_t>(i)].string());
        std::sort(out.begin(), out.end());
        return out;
    }
    index_t bad_image_count() const {
        std::lock_guard<std::mutex> lock(bad_->mutex);
        return static_cast<index_t>(skipped_at_open_.size() + bad_->decoded.size());
    }

private:
    static bool is_image(const std::filesystem::path& p) { return io::is_image_path(p); }

    void check_options() {
        require(opt_.image_size > 0, "photo folder: image size must be positive, got ", opt_.image_size);
        require(opt_.resize_size >= 0, "photo folder: resize size must be positive, got ", opt_.resize_size);
        require(opt_.train || resize_size() >= opt_.image_size, "photo folder: resize size ", resize_size(),
                " is smaller than the image size ", opt_.image_size, " it is centre-cropped to");
        const auto& c = opt_.crop;
        require(c.scale_min > 0 && c.scale_min <= c.scale_max && c.scale_max <= 1, "photo folder: crop scale must satisfy 0 < min <= max <= 1, got ",
                c.scale_min, ", ", c.scale_max);
        require(c.ratio_min > 0 && c.ratio_min <= c.ratio_max && std::isfinite(c.ratio_max),
                "photo folder: crop ratio must satisfy 0 < min <= max, got ", c.ratio_min, ", ", c.ratio_max);
        require(opt_.flip_probability >= 0 && opt_.flip_probability <= 1,
                "photo folder: flip probability must be in [0, 1], got ", opt_.flip_probability);
        const auto per_channel = [](const std::vector<double>& v, const char* name, bool positive) {
            require(v.size() == 1 || v.size() == 3, "photo folder: ", name, " needs 1 or 3 values, got ", v.size());
            std::vector<float> out;
            for (int c = 0; c < 3; ++c) {
                const double x = v.size() == 1 ? v[0] : v[static_cast<std::size_t>(c)];
                require(std::isfinite(x) && (!positive || x > 0), "photo folder: ", name, " of channel ", c, " must be ",
                        positive ? "positive and finite" : "finite", ", got ", x);
                out.push_back(static_cast<float>(x));
            }
            return out;
        };
        mean_ = per_channel(opt_.mean, "mean", false);
        std_ = per_channel(opt_.std_dev, "std", true);
        require(opt_.prefetch_batches >= 0, "photo folder: prefetch_batches must be >= 0, got ", opt_.prefetch_batches);
    }

    void list_files() {
        namespace fs = std::filesystem;
        std::error_code ec;
        require(fs::is_directory(root_, ec), "photo folder: ", root_.string(), " is not a folder");
        index_t loose = 0;
        for (const auto& e : fs::directory_iterator(root_)) {
            if (e.is_directory())
                class_names_.push_back(e.path().filename().string());
            else if (is_image(e.path()))
                ++loose;
        }
        std::sort(class_names_.begin(), class_names_.end());
        require(!class_names_.empty(), "photo folder: ", root_.string(), " has no class folders",
                loose ? " (its " + std::to_string(loose) + " images must sit in " + root_.string() + "/<class>/)"
                      : " and no images (expected " + root_.string() + "/<class>/<image>)");
        for (std::size_t k = 0; k < class_names_.size(); ++k) {
            // os.walk order: folders sorted by path, each folder's files by name.
            std::vector<std::pair<std::string, std::string>> found;
            const fs::path dir = root_ / class_names_[k];
            for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
                if (e.is_regular_file() && is_image(e.path()))
                    found.emplace_back(e.path().parent_path().string(), e.path().filename().string());
            require(!found.empty(), "photo folder: class folder ", dir.string(),
                    " has no images (.png, .jpg, .jpeg, .bmp, .tga, .gif, .ppm, .pgm, .pnm)");
            std::sort(found.begin(), found.end());
            for (auto& [folder, name] : found) {
                files_.push_back(fs::path(folder) / name);
                labels_.push_back(static_cast<std::int64_t>(k));
            }
        }
    }

    // Every header, in parallel: the first unreadable file in listing order fails (or, skipping,
    // every unreadable one is left out).
    void check_headers() {
        const index_t n = size();
        std::vector<std::string> why(static_cast<std::size_t>(n));
        std::vector<char> ok(static_cast<std::size_t>(n), 1);
        cpu::parallel_for(
            n,
            [&](index_t i) {
                int w = 0, h = 0, c = 0;
                const std::string p = files_[static_cast<std::size_t>(i)].string();
                if (!stbi_info(p.c_str(), &w, &h, &c)) {
                    ok[static_cast<std::size_t>(i)] = 0;
                    const char* reason = stbi_failure_reason();
                    why[static_cast<std::size_t>(i)] = reason ? reason : "unknown reason";
                }
            },
            1 << 16);
        std::vector<std::filesystem::path> files;
        std::vector<std::int64_t> labels;
        for (index_t i = 0; i < n; ++i) {
            const auto& p = files_[static_cast<std::size_t>(i)];
            if (ok[static_cast<std::size_t>(i)]) {
                files.push_back(p);
                labels.push_back(labels_[static_cast<std::size_t>(i)]);
                continue;
            }
            require(opt_.skip_bad_images, "photo folder: cannot read ", p.string(), " (", why[static_cast<std::size_t>(i)],
                    "; skip_bad_images leaves such files out)");
            skipped_at_open_.push_back(p.string());
        }
        require(!files.empty(), "photo folder: none of the ", n, " images in ", root_.string(),
                " can be read (the first, ", files_.empty() ? "" : files_[0].string(), ": ", why.empty() ? "" : why[0], ")");
        files_ = std::move(files);
        labels_ = std::move(labels);
    }

    std::filesystem::path mask_path(const std::filesystem::path& image) const {
        std::filesystem::path rel = image.lexically_relative(root_);
        rel.replace_extension(".png");
        return std::filesystem::path(opt_.mask_root) / rel;
    }
    std::string relative(const std::filesystem::path& p) const { return p.lexically_relative(root_).string(); }

    // Every image has its mask, of its size, and every mask its image.
    void check_masks() {
        namespace fs = std::filesystem;
        std::error_code ec;
        require(fs::is_directory(opt_.mask_root, ec), "photo folder: mask folder ", opt_.mask_root, " is not a folder");
        const index_t n = size();
        // 0 fine, 1 missing, 2 unreadable, 3 size differs; sizes for the message.
        std::vector<int> state(static_cast<std::size_t>(n), 0);
        std::vector<int> dims(static_cast<std::size_t>(4 * n), 0);
        cpu::parallel_for(
            n,
            [&](index_t i) {
                const auto& f = files_[static_cast<std::size_t>(i)];
                const std::string m = mask_path(f).string();
                std::error_code e;
                int* d = dims.data() + 4 * i;
                if (!fs::is_regular_file(m, e)) {
                    state[static_cast<std::size_t>(i)] = 1;
                    return;
                }
                int c = 0;
                if (!stbi_info(m.c_str(), &d[2], &d[3], &c) || !stbi_info(f.c_str(), &d[0], &d[1], &c)) {
                    state[static_cast<std::size_t>(i)] = 2;
                    return;
                }
                if (d[0] != d[2] || d[1] != d[3]) state[static_cast<std::size_t>(i)] = 3;
            },
            1 << 16);
        index_t missing = 0;
        for (int s : state) missing += s == 1;
        for (index_t i = 0; i < n; ++i) {
            const auto& f = files_[static_cast<std::size_t>(i)];
            const int* d = dims.data() + 4 * i;
            switch (state[static_cast<std::size_t>(i)]) {
                case 1:
                    fail("photo folder: ", missing, missing == 1 ? " image has" : " images have", " no mask, the first ",
                         relative(f), " (expected ", mask_path(f).string(), ")");
                case 2: fail("photo folder: cannot read mask ", mask_path(f).string());
                case 3:
                    fail("photo folder: mask ", mask_path(f).string(), " is ", d[2], "x", d[3], ", its image ", relative(f),
                         " is ", d[0], "x", d[1]);
                default: break;
            }
        }
        // Masks without an image: a misaligned or stale mask folder.
        std::set<std::string> expected;
        for (const auto& f : files_) expected.insert(mask_path(f).lexically_normal().string());
        for (const auto& s : skipped_at_open_) expected.insert(mask_path(s).lexically_normal().string());
        for (const auto& e : fs::recursive_directory_iterator(opt_.mask_root, fs::directory_options::follow_directory_symlink)) {
            if (!e.is_regular_file() || e.path().extension() != ".png") continue;
            const std::string p = e.path().lexically_normal().string();
            require(expected.count(p) != 0, "photo folder: mask ", e.path().string(), " has no image in ", root_.string(),
                    " (expected ", (root_ / e.path().lexically_relative(opt_.mask_root)).replace_extension(".*").string(), ")");
        }
    }

    void check_index(index_t i) const {
        require(i >= 0 && i < size(), "photo folder: index ", i, " out of range for ", size(), " images");
    }

    // The index whose image stands for i: i, or the next decodable one when i turned out unreadable.
    index_t replacement(index_t i) const {
        std::lock_guard<std::mutex> lock(bad_->mutex);
        const index_t n = size();
        for (index_t k = 0; k < n; ++k) {
            const index_t j = (i + k) % n;
            if (!bad_->decoded.count(j)) return j;
        }
        return i;
    }

    // Decodes image i as RGB (or its replacement under skip_bad_images); returns the index used.
    index_t decode(index_t i, io::image_8bit& out) const {
        const index_t n = size();
        for (index_t k = 0; k < n; ++k) {
            const index_t j = (i + k) % n;
            {
                std::lock_guard<std::mutex> lock(bad_->mutex);
                if (bad_->decoded.count(j)) continue;
            }
            try {
                out = io::read_image_8bit(files_[static_cast<std::size_t>(j)], 3);
                return j;
            } catch (const out_of_memory&) {
                throw;
            } catch (const error& e) {
                if (!opt_.skip_bad_images) throw error(std::string("photo folder: ") + e.what());
                std::lock_guard<std::mutex> lock(bad_->mutex);
                bad_->decoded.insert(j);
            }
        }
        fail("photo folder: none of the ", n, " images in ", root_.string(), " can be decoded");
    }

    // Mask of image j as one byte per pixel, nonzero on the foreground: gray masks their value, colour
    // masks any of red, green, blue (alpha ignored, so an opaque RGBA mask is not all foreground).
    std::vector<std::uint8_t> read_mask(index_t j, int width, int height) const {
        const std::filesystem::path m = mask_path(files_[static_cast<std::size_t>(j)]);
        io::image_8bit t;
        try {
            t = io::read_image_8bit(m);
        } catch (const out_of_memory&) {
            throw;
        } catch (const error& e) {
            throw error(std::string("photo folder: mask ") + e.what());
        }
        require(t.width == width && t.height == height, "photo folder: mask ", m.string(), " is ", t.width, "x",
                t.height, ", its image ", relative(files_[static_cast<std::size_t>(j)]), " is ", width, "x", height);
        const int c = t.channels, colours = c >= 3 ? 3 : 1;
        std::vector<std::uint8_t> plane(static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
        for (std::size_t p = 0; p < plane.size(); ++p) {
            bool on = false;
            for (int ch = 0; ch < colours; ++ch) on = on || t.pixels[p * static_cast<std::size_t>(c) + static_cast<std::size_t>(ch)] != 0;
            plane[p] = on ? 1 : 0;
        }
        return plane;
    }

    std::filesystem::path root_;
    photo_folder_options opt_;
    std::vector<float> mean_, std_;
    std::vector<std::string> class_names_;
    std::vector<std::filesystem::path> files_;
    std::vector<std::int64_t> labels_;
    std::vector<std::string> skipped_at_open_;
    // Images found unreadable while decoding (skip_bad_images), shared by the decoding threads. Held
    // by pointer so that the folder stays movable.
    struct bad_state {
        std::mutex mutex;
        std::set<index_t> decoded;
    };
    std::unique_ptr<bad_state> bad_ = std::make_unique<bad_state>();
};

static_assert(dataset<photo_folder>);

}  // namespace data
SIB_END_NAMESPACE
