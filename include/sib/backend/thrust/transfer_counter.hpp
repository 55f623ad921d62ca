// Counts of host <-> backend traffic, so that a test can state what a training step moves: on a GPU
// every copy across the bus costs a synchronisation, and the design allows only the batch upload
// and scalar readbacks (loss values for logs) inside a step.
#pragma once
#include <sib/core/config.hpp>
#include <atomic>
#include <cstdint>

SIB_BEGIN_NAMESPACE

struct transfer_counts {
    std::int64_t to_host = 0;           // to_host calls (arrays read back)
    std::int64_t from_host = 0;         // from_host calls (arrays uploaded)
    std::int64_t scalar_readbacks = 0;  // reduce_sum results, one double each
    std::int64_t bytes_to_host = 0;
    std::int64_t bytes_from_host = 0;

    friend transfer_counts operator-(const transfer_counts& a, const transfer_counts& b) {
        return {a.to_host - b.to_host, a.from_host - b.from_host, a.scalar_readbacks - b.scalar_readbacks,
                a.bytes_to_host - b.bytes_to_host, a.bytes_from_host - b.bytes_from_host};
    }
};

// Relaxed atomics: the counts are read between steps, never used to order memory.
class transfer_counter {
public:
    void add_to_host(std::int64_t bytes) {
        to_host_.fetch_add(1, std::memory_order_relaxed);
        bytes_to_host_.fetch_add(bytes, std::memory_order_relaxed);
    }
    void add_from_host(std::int64_t bytes) {
        from_host_.fetch_add(1, std::memory_order_relaxed);
        bytes_from_host_.fetch_add(bytes, std::memory_order_relaxed);
    }
    void add_scalar_readback() { scalar_readbacks_.fetch_add(1, std::memory_order_relaxed); }

    transfer_counts snapshot() const {
        return {to_host_.load(std::memory_order_relaxed), from_host_.load(std::memory_order_relaxed),
                scalar_readbacks_.load(std::memory_order_relaxed),
                bytes_to_host_.load(std::memory_order_relaxed),
                bytes_from_host_.load(std::memory_order_relaxed)};
    }
    void reset() {
        for (auto* c : {&to_host_, &from_host_, &scalar_readbacks_, &bytes_to_host_, &bytes_from_host_})
            c->store(0, std::memory_order_relaxed);
    }

private:
    std::atomic<std::int64_t> to_host_{0}, from_host_{0}, scalar_readbacks_{0}, bytes_to_host_{0},
        bytes_from_host_{0};
};

SIB_END_NAMESPACE
