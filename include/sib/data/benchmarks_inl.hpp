// The definitions of <sib/data/benchmarks.hpp>: the benchmark generators and the registry's lookups.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/data/benchmarks.hpp>
#include <sib/core/rng.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <algorithm>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace data {

SIB_INLINE const std::vector<std::string>& shapes_classes() {
    static const std::vector<std::string> names{"circle", "square", "triangle",
                                                "cross",  "ring",   "diamond"};
    return names;
}

namespace detail {

// A seed per image from (seed, benchmark, split, index): splitmix over the four, so neighbouring
// seeds or indices give unrelated streams.
SIB_INLINE std::uint64_t image_seed(std::uint64_t seed, std::uint64_t bench, bool train, index_t i) {
    auto mix = [](std::uint64_t z) {
        z += 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    };
    return mix(mix(mix(mix(seed) ^ bench) ^ (train ? 1u : 2u)) ^ static_cast<std::uint64_t>(i));
}

SIB_INLINE index_t resolve_limit(index_t limit, index_t available) {
    return limit <= 0 || limit > available ? available : limit;
}

SIB_INLINE void check_source(const in_memory_dataset& src, const char* who) {
    const sib::shape s = src.image_shape();
    require(src.size() > 0 && s.rank() == 3 && s[0] == 1 && s[1] >= 8 && s[2] >= 8, who,
            ": source must be non-empty gray images [N,1,H,W] with H,W >= 8, got ",
            src.images().shape().str());
    require(src.has_masks(), who, ": source images need foreground masks");
}

SIB_INLINE void hsv_to_rgb(double h, double s, double v, float* rgb) {
    h = (h - std::floor(h)) * 6.0;
    const int sector = std::min(static_cast<int>(h), 5);
    const double f = h - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector) {
        case 0: r = v, g = t, b = p; break;
        case 1: r = q, g = v, b = p; break;
        case 2: r = p, g = v, b = t; break;
        case 3: r = p, g = q, b = v; break;
        case 4: r = t, g = p, b = v; break;
        default: r = v, g = p, b = q; break;
    }
    rgb[0] = static_cast<float>(r);
    rgb[1] = static_cast<float>(g);
    rgb[2] = static_cast<float>(b);
}

SIB_INLINE float clamp01(double v) { return static_cast<float>(std::clamp(v, 0.0, 1.0)); }
                         
                         // Output tensors for n images [C,H,W] with masks, labels copied from the source's prefix.
                         struct split_buffers {
    in_memory_dataset::image_tensor images, masks;
    in_memory_dataset::label_tensor labels;
    split_buffers(index_t n, index_t c, index_t h, index_t w)
        : images({n, c, h, w}), masks({n, 1, h, w}), labels({n}) {}
};

}  // namespace detail

SIB_INLINE in_memory_dataset make_fmnist(const in_memory_dataset& src, index_t limit) {
    detail::check_source(src, "fmnist");
    const index_t n = detail::resolve_limit(limit, src.size());
    const sib::shape s = src.image_shape();
    detail::split_buffers out(n, s[0], s[1], s[2]);
    cpu::copy(out.images.size(), src.images().data(), out.images.data());
    cpu::copy(out.masks.size(), src.masks().data(), out.masks.data());
    cpu::copy(n, src.labels().data(), out.labels.data());
    return in_memory_dataset(std::move(out.images), std::move(out.labels), src.num_classes(),
                             std::move(out.masks), src.class_names());
}

SIB_INLINE in_memory_dataset make_fmnist_decoy(const in_memory_dataset& src, std::uint64_t seed,
                                               bool train, index_t limit) {
    detail::check_source(src, "fmnist-decoy");
    require(src.num_classes() <= 10, "fmnist-decoy: the gray code 1 - 0.1 y needs at most 10 classes, the source has ",
            src.num_classes());
    const index_t n = detail::resolve_limit(limit, src.size());
    const index_t h = src.image_shape()[1], w = src.image_shape()[2], hw = h * w;
    constexpr index_t patch = 4;
    detail::split_buffers out(n, 1, h, w);
    float* pi = out.images.data();
    float* pm = out.masks.data();
    std::int64_t* pl = out.labels.data();
    const int k = src.num_classes();
    cpu::parallel_for(n, [&](index_t i) {
        rng r(detail::image_seed(seed, 2, train, i));
        const std::int64_t y = src.label(i);
        pl[i] = y;
        cpu::copy(hw, src.image_data(i), pi + i * hw);
        cpu::copy(hw, src.mask_data(i), pm + i * hw);
        const std::uint64_t corner = r.below(4);
        const std::int64_t code = train ? y : static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(k)));
        const float level = static_cast<float>(1.0 - 0.1 * static_cast<double>(code));
        const index_t y0 = corner / 2 ? h - patch : 0, x0 = corner % 2 ? w - patch : 0;
        for (index_t yy = y0; yy < y0 + patch; ++yy)
            for (index_t xx = x0; xx < x0 + patch; ++xx) {
                pi[i * hw + yy * w + xx] = level;
                pm[i * hw + yy * w + xx] = 0.0f;
            }
    }, hw * 4);
    return in_memory_dataset(std::move(out.images), std::move(out.labels), k, std::move(out.masks),
                             src.class_names());
}

SIB_INLINE in_memory_dataset make_fmnist_clutter(const in_memory_dataset& src, std::uint64_t seed,
                                                 bool train, index_t limit) {
    detail::check_source(src, "fmnist-clutter");
    require(src.size() >= 2, "fmnist-clutter: fragments come from other images, the source has only one");
    const index_t n = detail::resolve_limit(limit, src.size()), total = src.size();
    const index_t h = src.image_shape()[1], w = src.image_shape()[2];
    const index_t ch = 2 * h, cw = 2 * w, canvas = ch * cw;
    constexpr index_t frag = 8;
    detail::split_buffers out(n, 1, ch, cw);
    float* pi = out.images.data();
    float* pm = out.masks.data();
    std::int64_t* pl = out.labels.data();
    cpu::parallel_for(n, [&](index_t i) {
        rng r(detail::image_seed(seed, 3, train, i));
        pl[i] = src.label(i);
        float* img = pi + i * canvas;
        float* m = pm + i * canvas;
        std::fill(img, img + canvas, 0.0f);
        std::fill(m, m + canvas, 0.0f);
        const index_t oy = static_cast<index_t>(r.below(static_cast<std::uint64_t>(h + 1)));
        const index_t ox = static_cast<index_t>(r.below(static_cast<std::uint64_t>(w + 1)));
        const float* so = src.image_data(i);
        const float* sm = src.mask_data(i);
        for (index_t y = 0; y < h; ++y)
            for (index_t x = 0; x < w; ++x) {
                img[(oy + y) * cw + ox + x] = so[y * w + x];
                m[(oy + y) * cw + ox + x] = sm[y * w + x];
            }
        // Summed-area table of the placed mask: an 8x8 overlap test in four reads.
        std::vector<int> sat(static_cast<std::size_t>((ch + 1) * (cw + 1)), 0);
        for (index_t y = 0; y < ch; ++y)
            for (index_t x = 0; x < cw; ++x)
                sat[(y + 1) * (cw + 1) + x + 1] = (m[y * cw + x] > 0.0f) + sat[y * (cw + 1) + x + 1] +
                                                  sat[(y + 1) * (cw + 1) + x] - sat[y * (cw + 1) + x];
        auto mask_pixels = [&](index_t y, index_t x) {
            return sat[(y + frag) * (cw + 1) + x + frag] - sat[y * (cw + 1) + x + frag] -
                   sat[(y + frag) * (cw + 1) + x] + sat[y * (cw + 1) + x];
        };
        const int fragments = 4 + static_cast<int>(r.below(5));
        for (int f = 0; f < fragments; ++f) {
            index_t j = static_cast<index_t>(r.below(static_cast<std::uint64_t>(total - 1)));
            if (j >= i) ++j;
            const float* sj = src.image_data(j);
            // A window that is at least a quarter object, so fragments are not blank squares.
            index_t fy = 0, fx = 0;
            for (int t = 0; t < 8; ++t) {
                fy = static_cast<index_t>(r.below(static_cast<std::uint64_t>(h - frag + 1)));
                fx = static_cast<index_t>(r.below(static_cast<std::uint64_t>(w - frag + 1)));
                int on = 0;
                for (index_t yy = 0; yy < frag; ++yy)
                    for (index_t xx = 0; xx < frag; ++xx) on += sj[(fy + yy) * w + fx + xx] > 0.0f;
                if (on >= frag * frag / 4) break;
            }
            index_t py = 0, px = 0;
            for (int t = 0; t < 32; ++t) {
                py = static_cast<index_t>(r.below(static_cast<std::uint64_t>(ch - frag + 1)));
                px = static_cast<index_t>(r.below(static_cast<std::uint64_t>(cw - frag + 1)));
                if (mask_pixels(py, px) == 0) break;
            }
            for (index_t yy = 0; yy < frag; ++yy)
                for (index_t xx = 0; xx < frag; ++xx) {
                    const index_t k = (py + yy) * cw + px + xx;
                    if (m[k] == 0.0f) img[k] = std::max(img[k], sj[(fy + yy) * w + fx + xx]);
                }
        }
    }, canvas * 4);
    return in_memory_dataset(std::move(out.images), std::move(out.labels), src.num_classes(),
                             std::move(out.masks), src.class_names());
}

SIB_INLINE in_memory_dataset make_fmnist_color(const in_memory_dataset& src, std::uint64_t seed,
                                               bool train, index_t limit) {
    detail::check_source(src, "fmnist-color");
    const int k = src.num_classes();
    require(k >= 2, "fmnist-color: needs at least 2 classes, the source has ", k);
    const index_t n = detail::resolve_limit(limit, src.size());
    const index_t h = src.image_shape()[1], w = src.image_shape()[2];
    constexpr index_t margin = 4;
    const index_t ch = h + margin, cw = w + margin, plane = ch * cw;
    detail::split_buffers out(n, 3, ch, cw);
    float* pi = out.images.data();
    float* pm = out.masks.data();
    std::int64_t* pl = out.labels.data();
    cpu::parallel_for(n, [&](index_t i) {
        rng r(detail::image_seed(seed, 4, train, i));
        const std::int64_t y = src.label(i);
        pl[i] = y;
        float* img = pi + i * 3 * plane;
        float* m = pm + i * plane;
        std::int64_t hue_class;
        if (train) {
            if (r.uniform() < 0.9) {
                hue_class = y;
            } else {
                hue_class = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(k - 1)));
                if (hue_class >= y) ++hue_class;
            }
        } else {
            hue_class = static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(k)));
        }
        const double hue = static_cast<double>(hue_class) / k;
        // Jitter below half the spacing of class hues keeps the hue a clean class code.
        const double jitter = 0.3 / k;
        for (index_t p = 0; p < plane; ++p) {
            float rgb[3];
            detail::hsv_to_rgb(hue + r.uniform(-jitter, jitter), r.uniform(0.6, 1.0),
                               r.uniform(0.3, 0.8), rgb);
            for (int c = 0; c < 3; ++c) img[c * plane + p] = rgb[c];
        }
        std::fill(m, m + plane, 0.0f);
        const index_t oy = static_cast<index_t>(r.below(margin + 1));
        const index_t ox = static_cast<index_t>(r.below(margin + 1));
        const float* so = src.image_data(i);
        const float* sm = src.mask_data(i);
        for (index_t yy = 0; yy < h; ++yy)
            for (index_t xx = 0; xx < w; ++xx) {
                const index_t p = (oy + yy) * cw + ox + xx;
                const float v = so[yy * w + xx];
                if (v > 0.0f)
                    for (int c = 0; c < 3; ++c) img[c * plane + p] = v;
                m[p] = sm[yy * w + xx];
            }
    }, plane * 64);
    return in_memory_dataset(std::move(out.images), std::move(out.labels), k, std::move(out.masks),
                             src.class_names());
}

SIB_INLINE in_memory_dataset make_shapes(std::uint64_t seed, bool train, index_t count) {
    const index_t n = count > 0 ? count : (train ? 60000 : 10000);
    constexpr index_t size = 32, plane = size * size;
    constexpr int classes = 6;
    detail::split_buffers out(n, 3, size, size);
    float* pi = out.images.data();
    float* pm = out.masks.data();
    std::int64_t* pl = out.labels.data();
    cpu::parallel_for(n, [&](index_t i) {
        rng r(detail::image_seed(seed, 5, train, i));
        const int y = static_cast<int>(i % classes);
        pl[i] = y;
        float* img = pi + i * 3 * plane;
        float* m = pm + i * plane;
        // Background: a random base colour, modulated by a stripe pattern of random direction and
        // frequency, plus pixel noise.
        float base[3];
        detail::hsv_to_rgb(r.uniform(), r.uniform(0.0, 0.6), r.uniform(0.15, 0.45), base);
        const double angle = r.uniform(0.0, 6.283185307179586), freq = r.uniform(0.3, 1.2);
        const double fx = freq * std::cos(angle), fy = freq * std::sin(angle);
        const double phase = r.uniform(0.0, 6.283185307179586), amp = r.uniform(0.05, 0.15);
        // Shape: a saturated, bright colour, so that it stands out of any background.
        float colour[3];
        detail::hsv_to_rgb(r.uniform(), r.uniform(0.6, 1.0), r.uniform(0.75, 1.0), colour);
        const double rad = r.uniform(5.0, 12.0);
        const double cx = r.uniform(rad + 1, size - rad - 1), cy = r.uniform(rad + 1, size - rad - 1);
        // sin(fx x + fy y + phase) from per-row and per-column tables: 64 sines, not 1024.
        double sin_x[size], cos_x[size], sin_y[size], cos_y[size];
        for (index_t k = 0; k < size; ++k) {
            sin_x[k] = std::sin(fx * k);
            cos_x[k] = std::cos(fx * k);
            sin_y[k] = std::sin(fy * k + phase);
            cos_y[k] = std::cos(fy * k + phase);
        }
        for (index_t py = 0; py < size; ++py)
            for (index_t px = 0; px < size; ++px) {
                const index_t p = py * size + px;
                const double dx = px + 0.5 - cx, dy = py + 0.5 - cy;
                const double ax = std::abs(dx), ay = std::abs(dy), d2 = dx * dx + dy * dy;
                bool inside = false;
                switch (y) {
                    case 0: inside = d2 <= rad * rad; break;
                    case 1: inside = std::max(ax, ay) <= 0.85 * rad; break;
                    case 2: inside = dy >= -rad && dy <= 0.8 * rad && ax <= 0.5 * (dy + rad); break;
                    case 3: inside = (ax <= rad / 3 && ay <= rad) || (ay <= rad / 3 && ax <= rad); break;
                    case 4: inside = d2 <= rad * rad && d2 >= 0.3 * rad * rad; break;
                    default: inside = ax + ay <= rad; break;
                }
                m[p] = inside ? 1.0f : 0.0f;
                const double stripe = amp * (sin_x[px] * cos_y[py] + cos_x[px] * sin_y[py]);
                for (int c = 0; c < 3; ++c) {
                    // Uniform noise (sd 0.03 on the shape, 0.05 around it): cheaper than normal.
                    const double v = inside ? colour[c] + r.uniform(-0.052, 0.052)
                                            : base[c] + stripe + r.uniform(-0.087, 0.087);
                    img[c * plane + p] = detail::clamp01(v);
                }
            }
    }, plane * 64);
    return in_memory_dataset(std::move(out.images), std::move(out.labels), classes,
                             std::move(out.masks), shapes_classes());
}

namespace detail {

SIB_INLINE in_memory_dataset generate_fmnist(const in_memory_dataset& src, std::uint64_t, bool, index_t limit) {
    return make_fmnist(src, limit);
}

SIB_INLINE in_memory_dataset generate_shapes(const in_memory_dataset&, std::uint64_t seed, bool train, index_t limit) {
    return make_shapes(seed, train, limit);
}

}  // namespace detail
SIB_INLINE const std::vector<std::string>& benchmark_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& e : benchmark_table) v.emplace_back(e.name);
        return v;
    }();
    return names;
}

SIB_INLINE std::string benchmark_list() {
    std::string s;
    for (const auto& e : benchmark_table) s += (s.empty() ? "" : ", ") + std::string(e.name);
    return s;
}

SIB_INLINE std::string benchmarks_help() {
    std::string out = "Benchmarks (--benchmark):";
    for (const auto& e : benchmark_table) {
        std::string line = "  " + std::string(e.name) + " ";
        line.resize(std::max<std::size_t>(line.size(), 18), ' ');
        out += "\n" + line + std::string(e.description);
    }
    return out;
}

SIB_INLINE const benchmark_entry& benchmark_by_name(std::string_view name) {
    const benchmark_entry* e = find_benchmark(name);
    require(e != nullptr, "benchmark: unknown name '", name, "'; known: ", benchmark_list());
    return *e;
}

SIB_INLINE benchmark make_benchmark(const std::string& name, std::uint64_t seed, index_t train_limit,
                                    index_t test_limit, const in_memory_dataset& fmnist_train,
                                    const in_memory_dataset& fmnist_test) {
    const benchmark_entry& e = benchmark_by_name(name);
    benchmark b{name, {}, {}};
    b.train = e.generate(fmnist_train, seed, true, train_limit);
    b.test = e.generate(fmnist_test, seed, false, test_limit);
    return b;
}

SIB_INLINE benchmark make_benchmark(const std::string& name, std::uint64_t seed, index_t train_limit,
                                    index_t test_limit,
                                    const std::string& fmnist_dir) {
    if (!benchmark_by_name(name).uses_fashion_mnist) return make_benchmark(name, seed, train_limit, test_limit, {}, {});
    // In this order, so that a missing folder is reported by its train file.
    const in_memory_dataset train = load_fashion_mnist(fmnist_dir, true);
    const in_memory_dataset test = load_fashion_mnist(fmnist_dir, false);
    return make_benchmark(name, seed, train_limit, test_limit, train, test);
}

SIB_INLINE in_memory_dataset make_benchmark_split(const std::string& name, std::uint64_t seed, bool train,
                                                  index_t limit,
                                                  const std::string& fmnist_dir) {
    const benchmark_entry& e = benchmark_by_name(name);
    return e.generate(e.uses_fashion_mnist ? load_fashion_mnist(fmnist_dir, train) : in_memory_dataset{}, seed,
                      train, limit);
}

}  // namespace data
SIB_END_NAMESPACE
