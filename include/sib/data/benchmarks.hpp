// The five localisation benchmarks of docs/benchmarks.md, each a train and a test split with ground-truth
// foreground masks, generated deterministically from a seed.
//
// Image i of a split depends only on (seed, benchmark, split, i) and the source images, so a
// limit gives a prefix of the full split, and the images are generated in parallel. The
// Fashion-MNIST variants take the source as an argument (any [N,1,H,W] set with masks, H,W >= 8),
// so they run on synthetic data too; at 28x28 the sizes are those of docs/benchmarks.md:
//   fmnist          the source as it is (the seed is not used).
//   fmnist-decoy    a 4x4 patch in a random corner, gray level 1 - 0.1 y in train and the level of
//                   a uniformly random class at test; the patch is cut out of the foreground mask.
//   fmnist-clutter  a 2H x 2W canvas (56x56), the object at a uniformly random place, 4 to 8 8x8
//                   fragments of other images of the split (windows with content preferred)
//                   around it, placed off the object's mask when 32 tries find such a place, and
//                   in any case drawn only off the mask, so the object stays intact; mask = the
//                   object's mask at its place.
//   fmnist-color    a (H+4) x (W+4) RGB canvas (32x32), the object at a uniformly random offset in
//                   [0,4]^2, drawn in gray (its pixel value on all three channels) where its pixel
//                   is > 0, over HSV noise whose hue is k/K for a class k: the label with
//                   probability 0.9 (else one of the other classes) in train, uniformly random at
//                   test; mask = the object's mask at its place.
//   shapes          32x32 RGB, 6 classes (circle, square, triangle, cross, ring, diamond; label
//                   i mod 6) of random size, place and colour on textured noise (a random gradient
//                   stripe pattern plus pixel noise); the mask is exactly the painted pixels.
//
// benchmark_table is the registry: one row per benchmark (name, one-line description, whether it
// reads Fashion-MNIST, generator). benchmark_names(), benchmark_list() in error messages,
// benchmarks_help() for --help, make_benchmark() and make_benchmark_split() all derive from it;
// adding a benchmark is its generator and one row.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/rng.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/idx.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

struct benchmark {
    std::string name;
    in_memory_dataset train, test;
};

SIB_INLINE const std::vector<std::string>& shapes_classes();

// The first `limit` images of `src` (all when limit <= 0), unchanged.
SIB_INLINE in_memory_dataset make_fmnist(const in_memory_dataset& src, index_t limit = 0);

SIB_INLINE in_memory_dataset make_fmnist_decoy(const in_memory_dataset& src, std::uint64_t seed,
                                               bool train, index_t limit = 0);

SIB_INLINE in_memory_dataset make_fmnist_clutter(const in_memory_dataset& src, std::uint64_t seed,
                                                 bool train, index_t limit = 0);

SIB_INLINE in_memory_dataset make_fmnist_color(const in_memory_dataset& src, std::uint64_t seed,
                                               bool train, index_t limit = 0);

// `count` images (60000 for train and 10000 for test when count <= 0).
SIB_INLINE in_memory_dataset make_shapes(std::uint64_t seed, bool train, index_t count = 0);

namespace detail {
// make_fmnist and make_shapes with the generator signature of benchmark_entry.
SIB_INLINE in_memory_dataset generate_fmnist(const in_memory_dataset& src, std::uint64_t, bool, index_t limit);
SIB_INLINE in_memory_dataset generate_shapes(const in_memory_dataset&, std::uint64_t seed, bool train, index_t limit);
}  // namespace detail

struct benchmark_entry {
    std::string_view name;          // as make_benchmark and --benchmark spell it
    std::string_view description;   // one line for --help
    bool uses_fashion_mnist;        // generated from Fashion-MNIST (else from the seed alone)
    // One split: (source split, seed, train?, limit <= 0: all); the source is unused when
    // uses_fashion_mnist is false.
    in_memory_dataset (*generate)(const in_memory_dataset& source, std::uint64_t seed, bool train, index_t limit);
};

inline constexpr std::array benchmark_table{
    benchmark_entry{"fmnist", "Fashion-MNIST as it is (28x28 gray, 10 classes)", true, detail::generate_fmnist},
    benchmark_entry{"fmnist-decoy", "a gray 4x4 patch in a corner codes the class in train, not at test", true,
                    make_fmnist_decoy},
    benchmark_entry{"fmnist-clutter", "the object anywhere on a 56x56 canvas, among fragments of other images",
                    true, make_fmnist_clutter},
    benchmark_entry{"fmnist-color", "the object on 32x32 RGB noise whose hue codes the class in train (90%)", true,
                    make_fmnist_color},
    benchmark_entry{"shapes", "6 shapes of random size, place and colour on 32x32 RGB textured noise", false,
                    detail::generate_shapes},
};

// The row of `name`, or nullptr.
constexpr const benchmark_entry* find_benchmark(std::string_view name) {
    for (const auto& e : benchmark_table)
        if (e.name == name) return &e;
    return nullptr;
}

// Every benchmark's name, in table order.
SIB_INLINE const std::vector<std::string>& benchmark_names();

// "fmnist, fmnist-decoy, ...", for messages.
SIB_INLINE std::string benchmark_list();

// A title, then one line per benchmark (name, description), for --help; no newline after the last.
SIB_INLINE std::string benchmarks_help();

// The row of `name`; an unknown name fails as "benchmark: unknown name '<name>'; known: ...".
SIB_INLINE const benchmark_entry& benchmark_by_name(std::string_view name);

// The benchmark `name` from given Fashion-MNIST splits (unused by "shapes"). A limit <= 0 keeps
// the whole split.
SIB_INLINE benchmark make_benchmark(const std::string& name, std::uint64_t seed, index_t train_limit,
                                    index_t test_limit, const in_memory_dataset& fmnist_train,
                                    const in_memory_dataset& fmnist_test);

// The benchmark `name`, reading Fashion-MNIST from `fmnist_dir` unless it is "shapes".
SIB_INLINE benchmark make_benchmark(const std::string& name, std::uint64_t seed, index_t train_limit = 0,
                                    index_t test_limit = 0,
                                    const std::string& fmnist_dir = fashion_mnist_default_dir);

// One split of the benchmark `name` (the first `limit` images; all when limit <= 0), as
// make_benchmark generates it, without generating (or reading) the other split.
SIB_INLINE in_memory_dataset make_benchmark_split(const std::string& name, std::uint64_t seed, bool train,
                                                  index_t limit = 0,
                                                  const std::string& fmnist_dir = fashion_mnist_default_dir);

}  // namespace data
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/data/benchmarks_inl.hpp>
#endif
