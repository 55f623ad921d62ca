// The prefetch queue's implementation: worker threads decoding the samples of batches to come, for
// datasets that decode on demand (data/loader.hpp describes when the loader uses it). A dataset with
// prefetch_batches() includes this header, as data/photo_folder.hpp does.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/data/loader.hpp>
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data::detail {

// Worker threads decoding queued jobs sample by sample, in queue order. The decode function writes
// one sample's image and mask and returns its label; it must be safe to call from several threads.
// A template (on the dataset that asks for it) only so that it exists nowhere else: a compiler that
// saw the one implementation of prefetch_queue would devirtualise into it, threads and all.
template <class Dataset>
class prefetcher final : public prefetch_queue {
public:
    static std::unique_ptr<prefetch_queue> make(int threads, const void* dataset, decode_fn decode, index_t chw,
                                                index_t hw, bool masks) {
        return std::make_unique<prefetcher>(threads, dataset, decode, chw, hw, masks);
    }

    prefetcher(int threads, const void* dataset, decode_fn decode, index_t chw, index_t hw, bool masks)
        : threads_(std::max(1, threads)), dataset_(dataset), decode_(decode), chw_(chw), hw_(hw), masks_(masks) {}
    prefetcher(const prefetcher&) = delete;
    prefetcher& operator=(const prefetcher&) = delete;
    ~prefetcher() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            for (auto& j : jobs_) j->cancelled = true;
        }
        work_.notify_all();
        for (auto& t : workers_) t.join();
    }

    void push(index_t epoch, index_t first, std::vector<index_t> indices, std::vector<std::uint64_t> keys) override {
        auto job = std::make_shared<prefetch_job>();
        job->epoch = epoch;
        job->first = first;
        job->count = static_cast<index_t>(indices.size());
        job->indices = std::move(indices);
        job->keys = std::move(keys);
        job->images.resize(static_cast<std::size_t>(job->count * chw_));
        if (masks_) job->masks.resize(static_cast<std::size_t>(job->count * hw_));
        job->labels.resize(static_cast<std::size_t>(job->count));
        {
            std::lock_guard<std::mutex> lock(mutex_);
            jobs_.push_back(std::move(job));
            if (workers_.empty())
                for (int t = 0; t < threads_; ++t) workers_.emplace_back([this] { work(); });
        }
        work_.notify_all();
    }

    std::shared_ptr<prefetch_job> take(index_t epoch, index_t first, index_t count) override {
        std::unique_lock<std::mutex> lock(mutex_);
        drop_locked([&](const prefetch_job& j) { return j.epoch != epoch || j.end() <= first; });
        for (auto& j : jobs_)
            if (j->first <= first && first + count <= j->end()) {
                std::shared_ptr<prefetch_job> found = j;
                finished_.wait(lock, [&] { return found->done == found->count; });
                if (found->error) {
                    const std::exception_ptr e = found->error;
                    drop_locked([&](const prefetch_job& x) { return &x == found.get(); });
                    std::rethrow_exception(e);
                }
                return found;
            }
        return nullptr;
    }

    void release(index_t end) override {
        std::lock_guard<std::mutex> lock(mutex_);
        drop_locked([&](const prefetch_job& j) { return j.end() <= end; });
    }
    void clear() override {
        std::lock_guard<std::mutex> lock(mutex_);
        drop_locked([](const prefetch_job&) { return true; });
    }

    index_t queued() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        index_t n = 0;
        for (const auto& j : jobs_) n += j->count;
        return n;
    }
    bool covers(index_t epoch, index_t first, index_t count) const override {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& j : jobs_)
            if (j->epoch == epoch && j->first <= first && first + count <= j->end()) return true;
        return false;
    }
    bool holds_epoch(index_t epoch) const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return !jobs_.empty() && jobs_.front()->epoch == epoch;
    }

private:
    template <class Pred>
    void drop_locked(Pred pred) {
        for (auto it = jobs_.begin(); it != jobs_.end();)
            if (pred(**it)) {
                (*it)->cancelled = true;  // workers still decoding into it keep it alive
                it = jobs_.erase(it);
            } else {
                ++it;
            }
    }

    void work() {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            std::shared_ptr<prefetch_job> job;
            work_.wait(lock, [&] {
                if (stop_) return true;
                for (auto& j : jobs_)
                    if (!j->cancelled && j->next < j->count) {
                        job = j;
                        return true;
                    }
                return false;
            });
            if (stop_) return;
            const index_t s = job->next++;
            lock.unlock();
            std::exception_ptr error;
            try {
                const std::size_t at = static_cast<std::size_t>(s);
                job->labels[at] = decode_(dataset_, job->indices[at], job->keys[at], job->images.data() + s * chw_,
                                          masks_ ? job->masks.data() + s * hw_ : nullptr);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            ++job->done;
            if (error && !job->error) {
                job->error = error;
                job->done += job->count - job->next;  // the samples no worker started are not decoded
                job->next = job->count;
            }
            if (job->done == job->count) finished_.notify_all();
        }
    }

    int threads_;
    const void* dataset_;
    decode_fn decode_;
    index_t chw_, hw_;
    bool masks_;
    mutable std::mutex mutex_;
    std::condition_variable work_, finished_;
    std::deque<std::shared_ptr<prefetch_job>> jobs_;
    std::vector<std::thread> workers_;
    bool stop_ = false;
};

}  // namespace data::detail
SIB_END_NAMESPACE
