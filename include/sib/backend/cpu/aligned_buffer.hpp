// Host storage for the CPU backend: 64-byte aligned for SIMD, and growing without zero-filling, so
// that a tensor resized to the shape it had last step costs nothing.
#pragma once
#include <sib/core/config.hpp>
#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <unistd.h>

SIB_BEGIN_NAMESPACE

template <class T>
class aligned_buffer {
public:
    static constexpr std::size_t alignment = 64;

    aligned_buffer() = default;
    explicit aligned_buffer(std::size_t n) { resize(n); }
    aligned_buffer(const aligned_buffer& o) {
        resize(o.size_);
        if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
    }
    aligned_buffer(aligned_buffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)),
          capacity_(std::exchange(o.capacity_, 0)) {}
    aligned_buffer& operator=(const aligned_buffer& o) {
        if (this != &o) {
            resize(o.size_);
            if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
        }
        return *this;
    }
    aligned_buffer& operator=(aligned_buffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            capacity_ = std::exchange(o.capacity_, 0);
        }
        return *this;
    }
    ~aligned_buffer() { release(); }

    // Contents are kept up to min(old, new) size; new elements are uninitialised.
    void resize(std::size_t n) {
        if (n > capacity_) {
            // More than the machine's memory: refused without asking the allocator, which under
            // Linux's overcommit may say yes and leave the first write to the OOM killer, and under
            // AddressSanitizer aborts instead of throwing.
            if (n > physical_memory_bytes() / sizeof(T)) throw std::bad_alloc();
            T* p = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignment}));
            if (size_) std::memcpy(p, data_, size_ * sizeof(T));
            release();
            data_ = p;
            capacity_ = n;
        }
        size_ = n;
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }

private:
    static std::size_t physical_memory_bytes() {
        static const std::size_t bytes = [] {
            const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
            return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                                         : static_cast<std::size_t>(-1);
        }();
        return bytes;
    }
    void release() {
        if (data_) ::operator delete(data_, std::align_val_t{alignment});
        data_ = nullptr;
        capacity_ = 0;
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

SIB_END_NAMESPACE
