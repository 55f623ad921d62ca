// Batches from any dataset: shuffled per epoch, augmented (random crop with zero padding,
// horizontal flip; the mask moves with its image) and normalised per channel, as torchvision's
// DataLoader with RandomCrop, RandomHorizontalFlip, ToTensor and Normalize would give them.
// Everything random is a function of (seed, epoch), so a run can be repeated or resumed exactly.
//
// Datasets that decode files (photo folders) meet the loader through two extensions of the dataset
// concept, both optional, so that every other dataset loads exactly as before:
//   - augmenting_dataset (sample(i, key, image, mask)): the dataset draws its own augmentation from
//     the stream sample_key(seed, epoch, i) the loader gives it, so a sample is a function of
//     (seed, epoch, index) and batches are the same whatever the thread count;
//   - prefetch_batches() / decode_threads(): the loader decodes that many batches ahead of the one
//     asked for on its own worker threads (loader_options can override both; datasets without
//     prefetch_batches() are in memory, and the loader compiles no threads for them; a dataset with
//     it includes data/prefetcher.hpp, where the threads are). After load(k) (or
//     load_part / load_positions) the loader predicts the same slice of the next global batches and
//     queues them; the caller's training step runs while the workers decode. At most
//     prefetch_batches x batch_size decoded samples wait in memory, plus the batch being filled; a
//     request that was not predicted (the first of a resumed epoch) is decoded at once, as without
//     prefetching. Prefetched samples are the ones a direct decode gives (same keys), so prefetching
//     never changes a batch.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/rng.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <numeric>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

struct loader_options {
    index_t batch_size = 64;
    bool shuffle = true;
    // Without it the last batch of an epoch may be smaller than batch_size.
    bool drop_last = false;
    std::uint64_t seed = 0;
    // Per channel, or one value for every channel; empty means mean 0 and std 1.
    std::vector<double> mean, std_dev;
    // > 0: pad by this many zero pixels on every side, then crop the image size at a random place.
    // The padding is 0 before normalisation (as RandomCrop before Normalize), so -mean/std after.
    index_t crop_padding = 0;
    // Mirror left-right with probability 0.5.
    bool horizontal_flip = false;
    // Batches decoded ahead on worker threads: -1 takes the dataset's prefetch_batches(), 0 decodes
    // each batch when asked for. A dataset without prefetch_batches() is in memory and never
    // prefetched (more than 0 is an error there).
    index_t prefetch_batches = -1;
    // Threads decoding ahead: 0 takes the dataset's decode_threads(), and when that is 0 too
    // sib::num_threads().
    int decode_threads = 0;
};

// Batches of `batch_size` in dataset order, no augmentation (evaluation, probes).
inline loader_options in_order(index_t batch_size) {
    loader_options o;
    o.batch_size = batch_size;
    o.shuffle = false;
    return o;
}

namespace detail {

// Samples of positions first .. first + count - 1 of one epoch, decoded by the prefetcher's workers.
struct prefetch_job {
    index_t epoch = 0, first = 0, count = 0;
    std::vector<index_t> indices;      // dataset index of each position
    std::vector<std::uint64_t> keys;   // its random stream
    std::vector<float> images, masks;  // count x C*H*W, count x H*W
    std::vector<std::int64_t> labels;
    index_t next = 0, done = 0;        // handed to a worker; finished (under the prefetcher's lock)
    bool cancelled = false;
    std::exception_ptr error;          // the first sample's failure, rethrown to the loader
    index_t end() const { return first + count; }
};

// Samples decoded ahead of the loader: what the loader asks of them. The one implementation,
// prefetcher, runs worker threads; the loader makes one only for a dataset that decodes on demand
// (one with prefetch_batches(), as photo folders), so a program on in-memory data never compiles
// the threads.
class prefetch_queue {
public:
    using decode_fn = std::int64_t (*)(const void* dataset, index_t index, std::uint64_t key, float* image, float* mask);
    virtual ~prefetch_queue() = default;
    // Queues the samples at positions first, first + 1, ... of `epoch` (dataset indices and random
    // streams given); the workers start on the first job.
    virtual void push(index_t epoch, index_t first, std::vector<index_t> indices, std::vector<std::uint64_t> keys) = 0;
    // The queued job of `epoch` holding positions first .. first + count - 1, waited for (its error
    // rethrown); null when none holds them. Jobs of other epochs, and jobs wholly before `first`, are
    // dropped first.
    virtual std::shared_ptr<prefetch_job> take(index_t epoch, index_t first, index_t count) = 0;
    // Drops the jobs ending at or before `end` (consumed), or every job.
    virtual void release(index_t end) = 0;
    virtual void clear() = 0;
    // Samples queued, whether a queued job of `epoch` already covers first .. first + count - 1, and
    // whether the queue holds jobs of `epoch`.
    virtual index_t queued() const = 0;
    virtual bool covers(index_t epoch, index_t first, index_t count) const = 0;
    virtual bool holds_epoch(index_t epoch) const = 0;
};

// Worker threads decoding queued jobs (data/prefetcher.hpp): the loader makes one for a dataset
// with prefetch_batches(), whose header includes that file. Its own header keeps the threads out of
// every program on in-memory data.
template <class Dataset>
class prefetcher;

}  // namespace detail

template <class T, class B = cpu>
struct batch {
    tensor<T, B> images;               // [b,C,H,W], normalised
    tensor<std::int64_t, B> labels;    // [b]
    tensor<T, B> masks;                // [b,1,H,W], 0/1; empty when the dataset has none
    std::vector<index_t> indices;      // dataset index of each sample
    index_t size() const { return static_cast<index_t>(indices.size()); }
};

// Holds a reference to the dataset, which must outlive the loader.
template <class T, class B = cpu>
class batch_loader {
public:
    using batch_type = batch<T, B>;

    template <dataset D>
    explicit batch_loader(const D& d, loader_options opt = {}) : ds_(&d), opt_(std::move(opt)) {
        image_fn_ = [](const void* p, index_t i, float* out) { static_cast<const D*>(p)->image(i, out); };
        label_fn_ = [](const void* p, index_t i) { return static_cast<std::int64_t>(static_cast<const D*>(p)->label(i)); };
        mask_fn_ = [](const void* p, index_t i, float* out) { static_cast<const D*>(p)->mask(i, out); };
        if constexpr (augmenting_dataset<D>)
            sample_fn_ = [](const void* p, index_t i, std::uint64_t key, float* image, float* mask) {
                return static_cast<std::int64_t>(static_cast<const D*>(p)->sample(i, key, image, mask));
            };
        index_t ahead = 0;
        int threads = 0;
        if constexpr (requires { d.prefetch_batches(); }) {
            ahead = static_cast<index_t>(d.prefetch_batches());
            make_prefetcher_ = &detail::prefetcher<D>::make;
        }
        if constexpr (requires { d.decode_threads(); }) threads = static_cast<int>(d.decode_threads());
        require(opt_.prefetch_batches <= 0 || make_prefetcher_ != nullptr, "batch_loader: prefetch_batches ",
                opt_.prefetch_batches, " asks to decode ahead, but this dataset is in memory (only datasets with "
                "prefetch_batches(), as photo folders, decode on demand)");
        if (opt_.prefetch_batches >= 0) ahead = opt_.prefetch_batches;
        if (opt_.decode_threads > 0) threads = opt_.decode_threads;
        prefetch_batches_ = ahead;
        decode_threads_ = threads > 0 ? threads : static_cast<int>(cpu::concurrency());
        n_ = d.size();
        has_masks_ = d.has_masks();
        const sib::shape s = d.image_shape();
        require(s.rank() == 3, "batch_loader: dataset image_shape must be [C,H,W], got ", s.str());
        c_ = s[0];
        h_ = s[1];
        w_ = s[2];
        require(opt_.batch_size > 0, "batch_loader: batch_size must be positive, got ", opt_.batch_size);
        require(opt_.crop_padding >= 0, "batch_loader: crop_padding must be >= 0, got ", opt_.crop_padding);
        scale_.assign(static_cast<std::size_t>(c_), T(1));
        shift_.assign(static_cast<std::size_t>(c_), T(0));
        auto per_channel = [&](const std::vector<double>& v, const char* name) {
            require(v.empty() || v.size() == 1 || static_cast<index_t>(v.size()) == c_,
                    "batch_loader: ", name, " has ", v.size(), " values, images have ", c_,
                    " channels");
        };
        per_channel(opt_.mean, "mean");
        per_channel(opt_.std_dev, "std_dev");
        for (index_t c = 0; c < c_; ++c) {
            const auto at = [c](const std::vector<double>& v) { return v.size() == 1 ? v[0] : v[c]; };
            const double sd = opt_.std_dev.empty() ? 1.0 : at(opt_.std_dev);
            const double mu = opt_.mean.empty() ? 0.0 : at(opt_.mean);
            require(sd > 0, "batch_loader: std_dev of channel ", c, " must be positive, got ", sd);
            // (v - mu) / sd as one fused multiply-add per element.
            scale_[c] = static_cast<T>(1.0 / sd);
            shift_[c] = static_cast<T>(-mu / sd);
        }
        set_epoch(0);
    }
    template <dataset D>
    batch_loader(const D&&, loader_options = {}) = delete;  // would dangle
    batch_loader(const batch_loader&) = delete;  // its workers point at it
    batch_loader& operator=(const batch_loader&) = delete;

    index_t size() const { return n_; }
    index_t batch_size() const { return opt_.batch_size; }
    index_t num_batches() const {
        return opt_.drop_last ? n_ / opt_.batch_size : (n_ + opt_.batch_size - 1) / opt_.batch_size;
    }
    index_t epoch() const { return epoch_; }
    // Dataset index at each position of the current epoch.
    const std::vector<index_t>& order() const { return order_; }

    // Draws the order and the augmentation of every position for `epoch`.
    void set_epoch(index_t epoch) {
        epoch_ = epoch;
        next_ = 0;
        rng r(mix(opt_.seed, static_cast<std::uint64_t>(epoch)));
        order_.resize(static_cast<std::size_t>(n_));
        std::iota(order_.begin(), order_.end(), index_t{0});
        if (opt_.shuffle) r.shuffle(order_.begin(), order_.end());
        const index_t span = 2 * opt_.crop_padding + 1;
        crop_y_.resize(order_.size());
        crop_x_.resize(order_.size());
        flip_.resize(order_.size());
        for (std::size_t i = 0; i < order_.size(); ++i) {
            crop_y_[i] = opt_.crop_padding > 0 ? static_cast<index_t>(r.below(span)) : opt_.crop_padding;
            crop_x_[i] = opt_.crop_padding > 0 ? static_cast<index_t>(r.below(span)) : opt_.crop_padding;
            flip_[i] = opt_.horizontal_flip && r.below(2) == 1;
        }
        if (prefetch_) {
            if (!prefetch_->holds_epoch(epoch_)) prefetch_->clear();
        }
        if (prefetch_batches_ > 0 && n_ > 0) queue(0, std::min(opt_.batch_size, n_));
    }

    index_t prefetch_batches() const { return prefetch_batches_; }
    int decode_threads() const { return decode_threads_; }
    // Samples decoded or being decoded ahead (at most prefetch_batches() x batch_size()).
    index_t samples_in_flight() const { return prefetch_ ? prefetch_->queued() : 0; }
    // Requests served from samples decoded ahead, since the loader was made.
    index_t prefetched_loads() const { return prefetched_loads_; }

    // Batch k of the current epoch; reuses out's storage.
    void load(index_t k, batch_type& out) {
        require(k >= 0 && k < num_batches(), "batch_loader: batch ", k, " out of range for ",
                num_batches(), " batches");
        const index_t first = k * opt_.batch_size;
        load_positions(first, std::min(opt_.batch_size, n_ - first), out);
    }

    // Images offset .. offset + count - 1 of batch k: one process's shard, or one micro-batch, of a
    // global batch, with the order and augmentation the whole batch has.
    void load_part(index_t k, index_t offset, index_t count, batch_type& out) {
        require(k >= 0 && k < num_batches(), "batch_loader: batch ", k, " out of range for ",
                num_batches(), " batches");
        const index_t first = k * opt_.batch_size, b = std::min(opt_.batch_size, n_ - first);
        require(offset >= 0 && count > 0 && offset + count <= b, "batch_loader: images ", offset, "..",
                offset + count - 1, " are not in batch ", k, " of ", b);
        load_positions(first + offset, count, out);
    }

    // Positions first .. first + b - 1 of the current epoch's order.
    void load_positions(index_t first, index_t b, batch_type& out) {
        require(first >= 0 && b > 0 && first + b <= n_, "batch_loader: positions ", first, "..", first + b - 1,
                " out of range for ", n_, " images");
        const index_t chw = c_ * h_ * w_, hw = h_ * w_;
        out.indices.resize(static_cast<std::size_t>(b));
        for (index_t s = 0; s < b; ++s) out.indices[s] = order_[first + s];
        raw_.resize(static_cast<std::size_t>(b * chw));
        if (has_masks_) raw_mask_.resize(static_cast<std::size_t>(b * hw));
        out.images.resize({b, c_, h_, w_});
        out.labels.resize({b});
        if (has_masks_)
            out.masks.resize({b, 1, h_, w_});
        else
            out.masks.resize({0});

        T* img;
        T* msk;
        std::int64_t* lab;
        if constexpr (B::host_accessible) {
            img = out.images.data();
            msk = out.masks.data();
            lab = out.labels.data();
        } else {
            host_images_.resize(static_cast<std::size_t>(b * chw));
            host_masks_.resize(has_masks_ ? static_cast<std::size_t>(b * hw) : 0);
            host_labels_.resize(static_cast<std::size_t>(b));
            img = host_images_.data();
            msk = host_masks_.data();
            lab = host_labels_.data();
        }
        // Decoded ahead by the workers (then only the crop, flip and normalisation are left here), or now.
        std::shared_ptr<detail::prefetch_job> job;
        if (prefetch_) job = prefetch_->take(epoch_, first, b);
        const detail::prefetch_job* ready = job.get();
        prefetched_loads_ += ready != nullptr;
        // Host work per sample (decoding may call into the dataset), so the CPU backend's loop. An
        // exception must not leave an OpenMP region: the first one is carried out and rethrown.
        std::atomic<bool> failed{false};
        std::exception_ptr error;
        cpu::parallel_for(
            b,
            [&](index_t s) {
                if (failed.load()) return;
                try {
                    fill_sample(first + s, s, img, msk, lab, ready);
                } catch (...) {
                    if (!failed.exchange(true)) error = std::current_exception();
                }
            },
            chw * 4);
        if (prefetch_) prefetch_->release(first + b);
        if (error) std::rethrow_exception(error);
        // The same slice of the following global batches, decoded while the caller computes.
        if (prefetch_batches_ > 0)
            for (index_t k = 1; k <= prefetch_batches_; ++k) {
                const index_t next = first + k * opt_.batch_size;
                if (next >= n_) break;
                queue(next, std::min(b, n_ - next));
            }
        if constexpr (!B::host_accessible) {
            B::from_host(b * chw, img, out.images.data());
            B::from_host(b, lab, out.labels.data());
            if (has_masks_) B::from_host(b * hw, msk, out.masks.data());
        }
    }

    // The next batch of the current epoch; false when the epoch is over, after which the next
    // call starts the following epoch (so `while (loader.next(b))` is one epoch).
    bool next(batch_type& out) {
        if (next_ >= num_batches()) {
            set_epoch(epoch_ + 1);
            return false;
        }
        load(next_++, out);
        return true;
    }

private:
    static std::uint64_t mix(std::uint64_t seed, std::uint64_t epoch) {
        std::uint64_t z = seed ^ (0x9e3779b97f4a7c15ULL * (epoch + 1));
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    // Queues positions first .. first + count - 1 of this epoch for the workers, unless queued, or
    // more than prefetch_batches x batch_size samples would then wait.
    void queue(index_t first, index_t count) {
        if (!prefetch_)
            prefetch_ = make_prefetcher_(decode_threads_, this, &decode_for_prefetch, c_ * h_ * w_, h_ * w_, has_masks_);
        if (prefetch_->covers(epoch_, first, count) || prefetch_->queued() + count > prefetch_batches_ * opt_.batch_size)
            return;
        std::vector<index_t> indices(order_.begin() + first, order_.begin() + first + count);
        std::vector<std::uint64_t> keys;
        keys.reserve(indices.size());
        for (const index_t idx : indices) keys.push_back(key_of(idx));
        prefetch_->push(epoch_, first, std::move(indices), std::move(keys));
    }

    std::uint64_t key_of(index_t idx) const {
        return sample_key(opt_.seed, static_cast<std::uint64_t>(epoch_), static_cast<std::uint64_t>(idx));
    }

    // One sample for the prefetcher's workers, which hold the loader (not the dataset): the dataset's
    // sample(), or image, label and mask.
    static std::int64_t decode_for_prefetch(const void* self, index_t idx, std::uint64_t key, float* image, float* mask) {
        const auto* l = static_cast<const batch_loader*>(self);
        if (l->sample_fn_) return l->sample_fn_(l->ds_, idx, key, image, mask);
        l->image_fn_(l->ds_, idx, image);
        if (mask) l->mask_fn_(l->ds_, idx, mask);
        return l->label_fn_(l->ds_, idx);
    }

    void fill_sample(index_t pos, index_t s, T* img, T* msk, std::int64_t* lab, const detail::prefetch_job* ready) const {
        const index_t idx = order_[pos];
        const index_t chw = c_ * h_ * w_, hw = h_ * w_;
        const float* raw;
        const float* rm = nullptr;
        if (ready) {
            const index_t at = pos - ready->first;
            raw = ready->images.data() + at * chw;
            if (has_masks_) rm = ready->masks.data() + at * hw;
            lab[s] = ready->labels[static_cast<std::size_t>(at)];
        } else if (sample_fn_) {
            float* to = raw_.data() + s * chw;
            float* tm = has_masks_ ? raw_mask_.data() + s * hw : nullptr;
            lab[s] = sample_fn_(ds_, idx, key_of(idx), to, tm);
            raw = to;
            rm = tm;
        } else {
            float* to = raw_.data() + s * chw;
            image_fn_(ds_, idx, to);
            lab[s] = label_fn_(ds_, idx);
            raw = to;
        }
        // out(y,x) = padded(y + oy, x' + ox) with x' = x or W-1-x (crop, then flip, as torchvision),
        // row by row so that rows wholly in the padding cost a fill.
        const index_t oy = crop_y_[pos] - opt_.crop_padding, ox = crop_x_[pos] - opt_.crop_padding;
        const bool flip = flip_[pos];
        const index_t h = h_, w = w_;
        auto warp_row = [=](const float* src, index_t y, T a, T b, T* dst) {
            const index_t sy = y + oy;
            if (sy < 0 || sy >= h) {
                for (index_t x = 0; x < w; ++x) dst[x] = b;
                return;
            }
            const float* row = src + sy * w;
            for (index_t x = 0; x < w; ++x) {
                const index_t sx = (flip ? w - 1 - x : x) + ox;
                dst[x] = sx >= 0 && sx < w ? a * static_cast<T>(row[sx]) + b : b;
            }
        };
        for (index_t c = 0; c < c_; ++c)
            for (index_t y = 0; y < h; ++y)
                warp_row(raw + c * hw, y, scale_[c], shift_[c], img + s * chw + c * hw + y * w);
        if (has_masks_) {
            if (!rm) {
                float* to = raw_mask_.data() + s * hw;
                mask_fn_(ds_, idx, to);
                rm = to;
            }
            for (index_t y = 0; y < h; ++y) warp_row(rm, y, T(1), T(0), msk + s * hw + y * w);
        }
    }

    const void* ds_;
    void (*image_fn_)(const void*, index_t, float*) = nullptr;
    std::int64_t (*label_fn_)(const void*, index_t) = nullptr;
    void (*mask_fn_)(const void*, index_t, float*) = nullptr;
    std::int64_t (*sample_fn_)(const void*, index_t, std::uint64_t, float*, float*) = nullptr;
    loader_options opt_;
    index_t n_ = 0, c_ = 0, h_ = 0, w_ = 0;
    bool has_masks_ = false;
    index_t epoch_ = 0, next_ = 0;
    std::vector<T> scale_, shift_;
    std::vector<index_t> order_, crop_y_, crop_x_;
    std::vector<bool> flip_;
    // Per-batch staging, resized (never shrunk) so steady-state batches allocate nothing.
    mutable std::vector<float> raw_, raw_mask_;
    std::vector<T> host_images_, host_masks_;
    std::vector<std::int64_t> host_labels_;
    index_t prefetch_batches_ = 0, prefetched_loads_ = 0;
    int decode_threads_ = 1;
    // Made by the constructor of a dataset that decodes on demand.
    std::unique_ptr<detail::prefetch_queue> (*make_prefetcher_)(int, const void*, detail::prefetch_queue::decode_fn,
                                                                index_t, index_t, bool) = nullptr;
    std::unique_ptr<detail::prefetch_queue> prefetch_;  // last: its workers stop before the rest goes
};

}  // namespace data
SIB_END_NAMESPACE
