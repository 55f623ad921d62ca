// A dense, row-major (C order) tensor whose storage lives where its backend says.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/forward.hpp>
#include <sib/core/shape.hpp>
#include <cstddef>
#include <limits>
#include <new>
#include <vector>

SIB_BEGIN_NAMESPACE

template <class T, class Backend>
class tensor {
public:
    using value_type = T;
    using backend = Backend;
    using shape_type = sib::shape;

    // Empty ([0]), not a rank-0 scalar: size() is 0 and data() may be null.
    tensor() : shape_{0} {}
    explicit tensor(const shape_type& s) { resize(s); }
    tensor(const shape_type& s, T value) {
        resize(s);
        fill(value);
    }
    // Copies host values in; their count must match the shape.
    tensor(const shape_type& s, const std::vector<T>& values) {
        require(static_cast<index_t>(values.size()) == s.numel(), "tensor: ", values.size(),
                " values do not fill shape ", s.str());
        resize(s);
        Backend::from_host(size(), values.data(), data());
    }

    // Keeps the allocation when it is large enough: resizing to last step's shape is free. A shape
    // whose bytes overflow, or that memory cannot hold, fails in one line naming the shape and the
    // bytes (the tensor keeps its old shape and contents).
    void resize(const shape_type& s) {
        const std::size_t n = elements_of(s);
        try {
            buffer_.resize(n);
        } catch (const std::bad_alloc&) {
            throw out_of_memory(detail::concat("tensor ", s.str(), ": cannot allocate ", n * sizeof(T),
                                               " bytes (out of memory)"));
        }
        shape_ = s;
    }
    // Same element count, new shape (no data movement).
    void reshape(const shape_type& s) {
        require(s.numel() == shape_.numel(), "tensor: cannot reshape ", shape_.str(), " to ", s.str());
        shape_ = s;
    }

    const shape_type& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    index_t dim(int i) const { return shape_[i]; }
    index_t size() const { return shape_.numel(); }
    bool empty() const { return size() == 0; }

    T* data() { return buffer_.data(); }
    const T* data() const { return buffer_.data(); }

    T& operator[](index_t i)
        requires Backend::host_accessible
    {
        return buffer_.data()[i];
    }
    const T& operator[](index_t i) const
        requires Backend::host_accessible
    {
        return buffer_.data()[i];
    }
    T* begin() requires Backend::host_accessible { return data(); }
    T* end() requires Backend::host_accessible { return data() + size(); }
    const T* begin() const requires Backend::host_accessible { return data(); }
    const T* end() const requires Backend::host_accessible { return data() + size(); }

    void fill(T value) { Backend::fill(size(), data(), value); }
    void zero() { fill(T(0)); }

    std::vector<T> to_vector() const {
        std::vector<T> out(static_cast<std::size_t>(size()));
        Backend::to_host(size(), data(), out.data());
        return out;
    }

private:
    static std::size_t elements_of(const shape_type& s) {
        std::size_t n = 1;
        for (const index_t d : s)
            if (__builtin_mul_overflow(n, static_cast<std::size_t>(d), &n) ||
                n > std::numeric_limits<std::size_t>::max() / sizeof(T) ||
                n > static_cast<std::size_t>(std::numeric_limits<index_t>::max()))
                throw out_of_memory(detail::concat("tensor ", s.str(), ": more elements than memory can address"));
        return n;
    }

    shape_type shape_;
    typename Backend::template buffer<T> buffer_;
};

// Element-type conversion on the host (e.g. the float64 reference path against float32).
template <class To, class From, class B>
tensor<To, B> tensor_cast(const tensor<From, B>& t) {
    const auto v = t.to_vector();
    return tensor<To, B>(t.shape(), std::vector<To>(v.begin(), v.end()));
}

SIB_END_NAMESPACE
