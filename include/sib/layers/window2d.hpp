// The sliding-window geometry that Conv2d and the pooling layers share: kernel, stride and zero
// padding per axis, PyTorch's floor output size, and which windows cover an input pixel (so the
// transposed rules can be written as gathers, without atomics).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <string>

SIB_BEGIN_NAMESPACE
namespace nn {

struct window2d {
    index_t kernel_h = 1, kernel_w = 1;
    index_t stride_h = 1, stride_w = 1;
    index_t pad_h = 0, pad_w = 0;

    static window2d square(index_t kernel, index_t stride = 1, index_t padding = 0) {
        return {kernel, kernel, stride, stride, padding, padding};
    }

    index_t out_h(index_t h) const { return (h + 2 * pad_h - kernel_h) / stride_h + 1; }
    index_t out_w(index_t w) const { return (w + 2 * pad_w - kernel_w) / stride_w + 1; }
    index_t area() const { return kernel_h * kernel_w; }

    // "3" for a square value, "(3,5)" otherwise: the spelling of a PyTorch argument.
    static std::string spell(index_t a, index_t b) {
        return a == b ? std::to_string(a) : "(" + std::to_string(a) + "," + std::to_string(b) + ")";
    }
    std::string kernel_str() const { return spell(kernel_h, kernel_w); }
    std::string stride_str() const { return spell(stride_h, stride_w); }
    std::string pad_str() const { return spell(pad_h, pad_w); }

    // No image side reaches 2^31 pixels; bounding the geometry by it keeps every size computed from
    // it (h + 2 p, k_h k_w) far inside index_t (a fuzz finding: padding 2^62 overflowed).
    static constexpr index_t max_extent = index_t{1} << 31;

    // Checks the geometry itself; `who` is the layer's name for the message.
    void validate(const std::string& who) const {
        require(kernel_h > 0 && kernel_w > 0, who, ": kernel must be positive, got ", kernel_str());
        require(stride_h > 0 && stride_w > 0, who, ": stride must be positive, got ", stride_str());
        require(pad_h >= 0 && pad_w >= 0, who, ": padding must be non-negative, got ", pad_str());
        require(kernel_h <= max_extent && kernel_w <= max_extent && stride_h <= max_extent &&
                    stride_w <= max_extent && pad_h <= max_extent && pad_w <= max_extent,
                who, ": kernel, stride and padding must be at most ", max_extent, ", got kernel ", kernel_str(),
                ", stride ", stride_str(), ", padding ", pad_str());
    }

    // Whether a [N,C,H,W] input leaves at least one window (a check that builds no message, for
    // shape rules that run every step).
    bool fits(const sib::shape& in) const {
        return in[2] + 2 * pad_h >= kernel_h && in[3] + 2 * pad_w >= kernel_w;
    }

    // Checks that a [N,C,H,W] input (channel count already checked) leaves at least one window.
    void require_fits(const std::string& who, const sib::shape& in) const {
        require(fits(in), who, ": input ", in.str(), " with padding ", pad_str(),
                " is smaller than the kernel ", kernel_str());
    }
};

// Output positions o (along one axis) whose window [o*s - p, o*s - p + k) contains input position
// i are first_cover(...) .. last_cover(...), inclusive (empty when first > last).
SIB_HD inline index_t first_cover(index_t i, index_t k, index_t s, index_t p) {
    const index_t a = i + p - k + 1;
    return a <= 0 ? 0 : (a + s - 1) / s;
}
SIB_HD inline index_t last_cover(index_t i, index_t s, index_t p, index_t out) {
    const index_t b = (i + p) / s;
    return b < out - 1 ? b : out - 1;
}

}  // namespace nn
SIB_END_NAMESPACE
