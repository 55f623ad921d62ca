// Storage for the Thrust backends: a Thrust vector of the system (device memory on CUDA, host
// memory on OMP/CPP) whose logical size can shrink without releasing memory, as aligned_buffer, so
// that a tensor resized to last step's shape costs nothing.
#pragma once
#include <sib/backend/thrust/system_traits.hpp>
#include <sib/core/config.hpp>
#include <thrust/copy.h>
#include <cstddef>
#include <utility>

SIB_BEGIN_NAMESPACE

template <class T, class System>
class thrust_buffer {
public:
    thrust_buffer() = default;
    explicit thrust_buffer(std::size_t n) { resize(n); }
    thrust_buffer(const thrust_buffer& o) { *this = o; }
    thrust_buffer(thrust_buffer&& o) noexcept
        : storage_(std::move(o.storage_)), size_(std::exchange(o.size_, 0)) {}
    thrust_buffer& operator=(const thrust_buffer& o) {
        if (this != &o) {
            resize(o.size_);
            if (size_) thrust::copy(System{}, o.data(), o.data() + size_, data());
        }
        return *this;
    }
    thrust_buffer& operator=(thrust_buffer&& o) noexcept {
        if (this != &o) {
            storage_ = std::move(o.storage_);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }

    // Contents are kept up to min(old, new) size. Growing value-initialises the new tail (Thrust
    // vectors always do), which happens only when a tensor outgrows every earlier shape.
    void resize(std::size_t n) {
        if (n > storage_.size()) storage_.resize(n);
        size_ = n;
    }

    T* data() { return storage_.empty() ? nullptr : thrust::raw_pointer_cast(storage_.data()); }
    const T* data() const {
        return storage_.empty() ? nullptr : thrust::raw_pointer_cast(storage_.data());
    }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return storage_.size(); }

private:
    typename thrust_system_traits<System>::template vector<T> storage_;
    std::size_t size_ = 0;
};

SIB_END_NAMESPACE
