// A small fixed-capacity shape: no heap, cheap to copy, printable as PyTorch prints sizes.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <array>
#include <initializer_list>
#include <ostream>
#include <string>

SIB_BEGIN_NAMESPACE

class shape {
public:
    static constexpr int max_rank = 6;

    shape() = default;
    shape(std::initializer_list<index_t> dims) {
        require(dims.size() <= max_rank, "shape: rank ", dims.size(), " exceeds ", max_rank);
        for (index_t d : dims) push_back(d);
    }
    template <class It>
    shape(It first, It last) {
        for (; first != last; ++first) push_back(static_cast<index_t>(*first));
    }

    void push_back(index_t d) {
        require(rank_ < max_rank, "shape: rank exceeds ", max_rank);
        require(d >= 0, "shape: negative dimension ", d);
        dims_[rank_++] = d;
    }

    int rank() const { return rank_; }
    index_t operator[](int i) const { return dims_[i]; }
    index_t& operator[](int i) { return dims_[i]; }
    index_t back() const { return dims_[rank_ - 1]; }
    const index_t* begin() const { return dims_.data(); }
    const index_t* end() const { return dims_.data() + rank_; }

    // A count past index_t (2^63) is an out_of_memory naming the shape, never a wrapped number
    // (a fuzz-style finding: AdaptiveAvgPool2d(2^62) made Flatten's count overflow).
    index_t numel() const { return product_from(0); }
    // Elements per sample: everything but the leading batch dimension.
    index_t sample_numel() const { return product_from(1); }

    friend bool operator==(const shape& a, const shape& b) {
        if (a.rank_ != b.rank_) return false;
        for (int i = 0; i < a.rank_; ++i)
            if (a.dims_[i] != b.dims_[i]) return false;
        return true;
    }

    std::string str() const {
        std::string s = "[";
        for (int i = 0; i < rank_; ++i) {
            if (i) s += ",";
            s += std::to_string(dims_[i]);
        }
        return s + "]";
    }
    friend std::ostream& operator<<(std::ostream& os, const shape& s) { return os << s.str(); }

private:
    index_t product_from(int first) const {
        index_t n = 1;
        for (int i = first; i < rank_; ++i)
            if (__builtin_mul_overflow(n, dims_[i], &n)) too_many();
        return n;
    }
    [[noreturn]] void too_many() const {
        throw out_of_memory(detail::concat("shape ", str(), ": more than 2^63 elements"));
    }

    std::array<index_t, max_rank> dims_{};
    int rank_ = 0;
};

SIB_END_NAMESPACE
