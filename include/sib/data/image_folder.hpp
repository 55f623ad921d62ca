// torchvision's ImageFolder layout, root/<class>/<image>: classes are the sub-folders sorted by
// name, images the files under each (recursively, sorted) with an extension stb_image reads.
// An optional mask folder mirrors it, mask_root/<class>/<image path with .png>, nonzero pixels
// being foreground. Images are decoded when asked for (image_folder), or all at once
// (load_image_folder).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/io/png.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

struct image_folder_options {
    // Empty: no masks.
    std::string mask_root;
    // Images are converted to this many channels (1 gray, 3 RGB as torchvision's default loader,
    // 4 RGBA); 0 keeps the stored count, which must then be the same for every image.
    int channels = 3;
};

class image_folder {
public:
    explicit image_folder(const std::string& root, image_folder_options opt = {})
        : root_(root), opt_(std::move(opt)) {
        namespace fs = std::filesystem;
        std::error_code ec;
        require(fs::is_directory(root_, ec), "image folder: ", root, " is not a folder");
        require(opt_.channels >= 0 && opt_.channels <= 4, "image folder: channels must be 0 to 4, got ",
                opt_.channels);
        for (const auto& e : fs::directory_iterator(root_))
            if (e.is_directory()) class_names_.push_back(e.path().filename().string());
        std::sort(class_names_.begin(), class_names_.end());
        require(!class_names_.empty(), "image folder: ", root, " has no class folders");
        for (std::size_t k = 0; k < class_names_.size(); ++k) {
            std::vector<fs::path> found;
            for (const auto& e : fs::recursive_directory_iterator(
                     root_ / class_names_[k], fs::directory_options::follow_directory_symlink))
                if (e.is_regular_file() && is_image(e.path())) found.push_back(e.path());
            require(!found.empty(), "image folder: class folder ", (root_ / class_names_[k]).string(),
                    " has no images (.png, .jpg, .jpeg, .bmp, .tga, .gif, .ppm, .pgm, .pnm)");
            std::sort(found.begin(), found.end());
            for (auto& p : found) {
                files_.push_back(std::move(p));
                labels_.push_back(static_cast<std::int64_t>(k));
            }
        }
        // Every size from the headers alone, so that a bad file fails here, not mid-epoch.
        int stored0 = 0;
        for (std::size_t i = 0; i < files_.size(); ++i) {
            int w = 0, h = 0, c = 0;
            header(files_[i], w, h, c);
            if (i == 0) {
                h_ = h;
                w_ = w;
                stored0 = c;
            }
            require(h == h_ && w == w_, "image folder: images of mixed sizes: ", relative(files_[0]),
                    " is ", h_, "x", w_, ", ", relative(files_[i]), " is ", h, "x", w);
            require(opt_.channels != 0 || c == stored0, "image folder: images of mixed channel counts: ",
                    relative(files_[0]), " has ", stored0, ", ", relative(files_[i]), " has ", c,
                    " (set channels to convert them)");
        }
        c_ = opt_.channels ? opt_.channels : stored0;
        if (!opt_.mask_root.empty()) {
            require(fs::is_directory(opt_.mask_root, ec), "image folder: mask folder ",
                    opt_.mask_root, " is not a folder");
            for (const auto& f : files_) {
                const fs::path m = mask_path(f);
                require(fs::is_regular_file(m, ec), "image folder: no mask for ", relative(f), ": ",
                        m.string(), " not found");
                int w = 0, h = 0, c = 0;
                header(m, w, h, c);
                require(h == h_ && w == w_, "image folder: mask ", m.string(), " is ", h, "x", w,
                        ", its image ", relative(f), " is ", h_, "x", w_);
            }
        }
    }

    index_t size() const { return static_cast<index_t>(files_.size()); }
    sib::shape image_shape() const { return {c_, h_, w_}; }
    int num_classes() const { return static_cast<int>(class_names_.size()); }
    bool has_masks() const { return !opt_.mask_root.empty(); }

    void image(index_t i, float* out) const {
        const auto t = io::read_image<float>(file(i), opt_.channels);
        require(t.dim(1) == h_ && t.dim(2) == w_, "image folder: ", relative(files_[i]),
                " changed size since the folder was opened");
        cpu::copy(t.size(), t.data(), out);
    }
    std::int64_t label(index_t i) const {
        check_index(i);
        return labels_[static_cast<std::size_t>(i)];
    }
    // Gray masks use their value; colour masks any of red, green, blue (alpha is ignored, so an
    // opaque RGBA mask is not all foreground).
    void mask(index_t i, float* out) const {
        require(has_masks(), "image folder: mask(", i, ") asked of a folder without masks");
        const std::filesystem::path m = mask_path(file(i));
        const auto t = io::read_image<float>(m);
        const index_t c = t.dim(0), plane = h_ * w_;
        require(t.dim(1) == h_ && t.dim(2) == w_, "image folder: mask ", m.string(),
                " changed size since the folder was opened");
        const index_t colours = c >= 3 ? 3 : 1;
        const float* p = t.data();
        for (index_t k = 0; k < plane; ++k) {
            bool on = false;
            for (index_t ch = 0; ch < colours; ++ch) on = on || p[ch * plane + k] != 0.0f;
            out[k] = on ? 1.0f : 0.0f;
        }
    }

    const std::vector<std::string>& class_names() const { return class_names_; }
    const std::filesystem::path& path(index_t i) const { return file(i); }

private:
    static bool is_image(const std::filesystem::path& p) { return io::is_image_path(p); }
    static void header(const std::filesystem::path& p, int& w, int& h, int& c) {
        if (!stbi_info(p.c_str(), &w, &h, &c))
            fail("image folder: cannot read ", p.string(), " (", stbi_failure_reason(), ")");
    }
    std::string relative(const std::filesystem::path& p) const {
        return p.lexically_relative(root_).string();
    }
    std::filesystem::path mask_path(const std::filesystem::path& image) const {
        std::filesystem::path rel = image.lexically_relative(root_);
        rel.replace_extension(".png");
        return std::filesystem::path(opt_.mask_root) / rel;
    }
    void check_index(index_t i) const {
        require(i >= 0 && i < size(), "image folder: index ", i, " out of range for ", size(), " images");
    }
    const std::filesystem::path& file(index_t i) const {
        check_index(i);
        return files_[static_cast<std::size_t>(i)];
    }

    std::filesystem::path root_;
    image_folder_options opt_;
    std::vector<std::string> class_names_;
    std::vector<std::filesystem::path> files_;
    std::vector<std::int64_t> labels_;
    index_t c_ = 0, h_ = 0, w_ = 0;
};

static_assert(dataset<image_folder>);

// The whole folder decoded into memory, with its class names.
inline in_memory_dataset load_image_folder(const std::string& root, image_folder_options opt = {}) {
    const image_folder f(root, std::move(opt));
    return to_in_memory(f, f.class_names());
}

}  // namespace data
SIB_END_NAMESPACE
