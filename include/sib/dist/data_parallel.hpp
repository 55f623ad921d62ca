// Data parallelism over any communicator, in the few calls a training loop needs (examples/
// data_parallel.cpp shows a loop of its own): the same initial weights everywhere, each process's
// shard of every global batch, and gradients averaged over every micro-batch of every process by
// one all-reduce of one flat buffer per step. Gradient accumulation over K micro-batches on one
// process is the same computation as K processes, bit for bit (docs/distributed.md says why).
#pragma once
#include <sib/core/concepts.hpp>
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/dist/communicator.hpp>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace dist {

namespace detail {
// A tensor through the communicator: in place where the backend's memory is the host's or the
// communicator takes device memory (NCCL), else staged through host memory.
template <class T, class B, class F>
void on_host(tensor<T, B>& t, F&& f, bool device_memory = false) {
    if (B::host_accessible || device_memory) {
        f(t.data(), t.size());
    } else {
        std::vector<T> host = t.to_vector();
        f(host.data(), t.size());
        B::from_host(t.size(), host.data(), t.data());
    }
}
}  // namespace detail

// Every parameter and buffer (BatchNorm's running statistics) from process `root`, so that every
// process starts from the same weights whatever its seed.
template <model M>
void broadcast_parameters(M& m, comm_ref comm, int root = 0) {
    if (comm.size() == 1) return;
    m.for_each_parameter([&](std::string_view, auto& v, auto*) {
        detail::on_host(v, [&](auto* p, index_t n) { comm.broadcast(p, n, root); }, comm.device_memory());
    });
}

// The buffers only (tensors without a gradient): PyTorch's DistributedDataParallel broadcasts them
// from rank 0 before every forward pass, so BatchNorm's running statistics are rank 0's.
template <model M>
void broadcast_buffers(M& m, comm_ref comm, int root = 0) {
    if (comm.size() == 1) return;
    m.for_each_parameter([&](std::string_view, auto& v, auto* g) {
        if (!g) detail::on_host(v, [&](auto* p, index_t n) { comm.broadcast(p, n, root); }, comm.device_memory());
    });
}

// Positions [begin, end) of part `i` of `n` items cut into `parts` equal parts (n divisible).
inline std::pair<index_t, index_t> shard(index_t n, index_t parts, index_t i) {
    return {n / parts * i, n / parts * (i + 1)};
}

// The mean gradient over micro-batches and processes. Per step: after each micro-batch's backward
// sweep (into zeroed gradients), add(m); after the last, reduce(m, comm, count) leaves in every
// gradient the sum over all micro-batches of all processes divided by `count` (their number).
// The sum is formed the same way however the micro-batches are split between processes: each
// process adds its own in order, then one all-reduce sums the processes' partial sums; for two
// micro-batches in all (one process accumulating 2, or 2 processes) it is g0 + g1 either way.
template <class T, class B>
class gradient_accumulator {
public:
    template <model M>
    void add(M& m) {
        index_t at = 0, total = 0;
        m.for_each_parameter([&](std::string_view, tensor<T, B>&, tensor<T, B>* g) {
            if (g) total += g->size();
        });
        if (sum_.size() != total) {
            sum_.resize({total});
            added_ = 0;
        }
        T* s = sum_.data();
        const bool first = added_ == 0;
        m.for_each_parameter([&](std::string_view, tensor<T, B>&, tensor<T, B>* g) {
            if (!g) return;
            const T* p = g->data();
            T* dst = s + at;
            if (first)
                B::copy(g->size(), p, dst);
            else
                B::parallel_for(g->size(), [=] SIB_HD(index_t i) { dst[i] += p[i]; });
            g->zero();
            at += g->size();
        });
        ++added_;
    }

    // All-reduces the sums and writes sum / count into the gradients; count 1 leaves them exact.
    template <model M>
    void reduce(M& m, comm_ref comm, index_t count) {
        require(added_ > 0, "gradient_accumulator: reduce before any add");
        if (comm.size() > 1)  // one process: its sum is the sum
            detail::on_host(sum_, [&](T* p, index_t n) { comm.all_reduce_sum(p, n); }, comm.device_memory());
        const T scale = T(1) / static_cast<T>(count);
        const T* s = sum_.data();
        index_t at = 0;
        m.for_each_parameter([&](std::string_view, tensor<T, B>&, tensor<T, B>* g) {
            if (!g) return;
            T* dst = g->data();
            const T* src = s + at;
            if (count == 1)
                B::copy(g->size(), src, dst);
            else
                B::parallel_for(g->size(), [=] SIB_HD(index_t i) { dst[i] = src[i] * scale; });
            at += g->size();
        });
        added_ = 0;
    }

    // Bytes all-reduced per step (the gradients, in T).
    index_t bytes() const { return sum_.size() * static_cast<index_t>(sizeof(T)); }

private:
    tensor<T, B> sum_;
    index_t added_ = 0;
};

// A 64-bit FNV-1a digest of a dataset's images, labels and masks, so that processes can check they
// read the same data (a different folder on one machine is a silent disaster otherwise). A dataset
// that decodes on demand (photo folders) gives its own digest() of what identifies it instead.
template <data::dataset D>
std::int64_t dataset_digest(const D& d) {
    if constexpr (requires { { d.digest() } -> std::convertible_to<std::int64_t>; }) return d.digest();
    std::uint64_t h = 0xcbf29ce484222325ULL;
    const auto mix = [&h](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
    };
    const sib::shape s = d.image_shape();
    std::vector<float> one(static_cast<std::size_t>(s.numel())), mask(static_cast<std::size_t>(s[1] * s[2]));
    const index_t n = d.size();
    mix(&n, sizeof n);
    for (index_t i = 0; i < n; ++i) {
        d.image(i, one.data());
        mix(one.data(), one.size() * sizeof(float));
        const std::int64_t y = d.label(i);
        mix(&y, sizeof y);
        if (d.has_masks()) {
            d.mask(i, mask.data());
            mix(mask.data(), mask.size() * sizeof(float));
        }
    }
    return static_cast<std::int64_t>(h);
}

}  // namespace dist
SIB_END_NAMESPACE
