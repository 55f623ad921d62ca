// MaxPool2d with PyTorch's CPU semantics: padding acts as -inf, floor output size, ties go to the
// first maximum in row-major window order, and a NaN wins (it propagates). The argmax of the last
// forward is cached, so vjp and jvp are valid for the input of the latest forward call.
#pragma once
#include <sib/layers/layer.hpp>
#include <sib/layers/window2d.hpp>
#include <cmath>
#include <string>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class max_pool2d : public layer_base<T, B>, public no_parameters, public no_curvature {
public:
    using tensor_type = tensor<T, B>;
    using index_tensor = tensor<index_t, B>;

    // PyTorch's default stride is the kernel size.
    explicit max_pool2d(index_t kernel) : max_pool2d(kernel, kernel, 0) {}
    max_pool2d(index_t kernel, index_t stride, index_t padding = 0)
        : max_pool2d(window2d::square(kernel, stride, padding)) {}
    explicit max_pool2d(const window2d& win) : win_(win) {
        win_.validate(name());
        require(2 * win_.pad_h <= win_.kernel_h && 2 * win_.pad_w <= win_.kernel_w, name(),
                ": padding ", win_.pad_str(), " exceeds half the kernel ", win_.kernel_str());
    }

    const window2d& window() const { return win_; }

    // The spec spelling, e.g. "MaxPool2d(3,stride=2,padding=1)".
    std::string name() const {
        std::string s = "MaxPool2d(" + win_.kernel_str();
        if (win_.stride_h != win_.kernel_h || win_.stride_w != win_.kernel_w) s += ",stride=" + win_.stride_str();
        if (win_.pad_h != 0 || win_.pad_w != 0) s += ",padding=" + win_.pad_str();
        return s + ")";
    }

    sib::shape output_shape(const sib::shape& in) const {
        require(in.rank() == 4, name(), ": expects input [N,C,H,W], got ", in.str());
        win_.require_fits(name(), in);
        return {in[0], in[1], win_.out_h(in[2]), win_.out_w(in[3])};
    }

    // The flat index into x of each output's maximum, from the latest forward.
    const index_tensor& argmax() const { return argmax_; }

    void forward(const tensor_type& x, tensor_type& y) {
        argmax_.resize(y.shape());
        const T* px = x.data();
        T* py = y.data();
        index_t* pa = argmax_.data();
        const window2d w = win_;
        const index_t h = x.dim(2), wd = x.dim(3), oh = y.dim(2), ow = y.dim(3);
        B::parallel_for(y.size(), [=] SIB_HD(index_t i) {
            const index_t plane = i / (oh * ow);
            const index_t y0 = (i / ow) % oh * w.stride_h - w.pad_h, x0 = i % ow * w.stride_w - w.pad_w;
            const index_t ya = y0 < 0 ? 0 : y0, yb = y0 + w.kernel_h < h ? y0 + w.kernel_h : h;
            const index_t xa = x0 < 0 ? 0 : x0, xb = x0 + w.kernel_w < wd ? x0 + w.kernel_w : wd;
            const T* base = px + plane * h * wd;
            // As PyTorch: start from -inf at the first cell in the input, take strictly larger or NaN.
            index_t best = ya * wd + xa;
            T best_v = -INFINITY;
            for (index_t r = ya; r < yb; ++r)
                for (index_t c = xa; c < xb; ++c) {
                    const T v = base[r * wd + c];
                    if (v > best_v || v != v) {
                        best_v = v;
                        best = r * wd + c;
                    }
                }
            py[i] = best_v;
            pa[i] = plane * h * wd + best;
        }, win_.area());
    }

    // Gather: each input pixel sums gy over the covering windows whose argmax it is.
    void vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy, tensor_type& gx) {
        const T* pg = gy.data();
        const index_t* pa = argmax_.data();
        T* pgx = gx.data();
        const window2d w = win_;
        const index_t h = x.dim(2), wd = x.dim(3), oh = y.dim(2), ow = y.dim(3);
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) {
            const index_t plane = i / (h * wd), ih = (i / wd) % h, iw = i % wd;
            const index_t y0 = first_cover(ih, w.kernel_h, w.stride_h, w.pad_h);
            const index_t y1 = last_cover(ih, w.stride_h, w.pad_h, oh);
            const index_t x0 = first_cover(iw, w.kernel_w, w.stride_w, w.pad_w);
            const index_t x1 = last_cover(iw, w.stride_w, w.pad_w, ow);
            T s = 0;
            for (index_t r = y0; r <= y1; ++r)
                for (index_t c = x0; c <= x1; ++c) {
                    const index_t o = (plane * oh + r) * ow + c;
                    if (pa[o] == i) s += pg[o];
                }
            pgx[i] = s;
        }, win_.area());
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        const T* pt = tx.data();
        const index_t* pa = argmax_.data();
        T* py = ty.data();
        B::parallel_for(ty.size(), [=] SIB_HD(index_t i) { py[i] = pt[pa[i]]; });
    }

private:
    window2d win_;
    index_tensor argmax_;
};

}  // namespace nn
SIB_END_NAMESPACE
