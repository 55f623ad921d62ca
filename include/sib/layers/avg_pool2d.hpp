// AvgPool2d with PyTorch's semantics (floor output size; the divisor is the window area with
// count_include_pad, else the number of cells inside the input). The map is linear, so jvp is the
// pooling itself; the static pool/pool_transpose kernels serve the S-IB density mask as well.
#pragma once
#include <sib/layers/layer.hpp>
#include <sib/layers/window2d.hpp>
#include <string>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class avg_pool2d : public layer_base<T, B>, public no_parameters, public no_curvature {
public:
    using tensor_type = tensor<T, B>;

    // PyTorch's default stride is the kernel size.
    explicit avg_pool2d(index_t kernel) : avg_pool2d(kernel, kernel, 0) {}
    avg_pool2d(index_t kernel, index_t stride, index_t padding = 0, bool count_include_pad = true)
        : avg_pool2d(window2d::square(kernel, stride, padding), count_include_pad) {}
    explicit avg_pool2d(const window2d& win, bool count_include_pad = true)
        : win_(win), count_include_pad_(count_include_pad) {
        win_.validate(name());
        require(2 * win_.pad_h <= win_.kernel_h && 2 * win_.pad_w <= win_.kernel_w, name(),
                ": padding ", win_.pad_str(), " exceeds half the kernel ", win_.kernel_str());
    }

    const window2d& window() const { return win_; }
    bool count_include_pad() const { return count_include_pad_; }

    // The spec spelling, e.g. "AvgPool2d(3,stride=1,padding=1,count_include_pad=False)".
    std::string name() const {
        std::string s = "AvgPool2d(" + win_.kernel_str();
        if (win_.stride_h != win_.kernel_h || win_.stride_w != win_.kernel_w) s += ",stride=" + win_.stride_str();
        if (win_.pad_h != 0 || win_.pad_w != 0) s += ",padding=" + win_.pad_str();
        if (!count_include_pad_) s += ",count_include_pad=False";
        return s + ")";
    }

    // Runs every step: the messages are only built on failure (no allocation otherwise).
    sib::shape output_shape(const sib::shape& in) const {
        if (in.rank() != 4) fail(name(), ": expects input [N,C,H,W], got ", in.str());
        if (!win_.fits(in)) win_.require_fits(name(), in);
        return {in[0], in[1], win_.out_h(in[2]), win_.out_w(in[3])};
    }

    void forward(const tensor_type& x, tensor_type& y) { apply(win_, count_include_pad_, x, y); }
    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        apply_transpose(win_, count_include_pad_, gy, gx);
    }
    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        apply(win_, count_include_pad_, tx, ty);
    }

    // ---- kernels without a layer object (x [N,C,H,W], y sized by the caller) -------------------
    static void apply(const window2d& w, bool count_include_pad, const tensor_type& x, tensor_type& y) {
        pool(w, count_include_pad, x.dim(0) * x.dim(1), x.dim(2), x.dim(3), x.data(), y.data());
    }
    // gx = J^T gy; gx has the input's shape and is overwritten.
    static void apply_transpose(const window2d& w, bool count_include_pad, const tensor_type& gy,
                                tensor_type& gx) {
        pool_transpose(w, count_include_pad, gx.dim(0) * gx.dim(1), gx.dim(2), gx.dim(3), gy.data(),
                       gx.data());
    }

    // y[plane, oh, ow] = mean of the window over `planes` planes of h x w.
    static void pool(const window2d& w, bool count_include_pad, index_t planes, index_t h, index_t wd,
                     const T* x, T* y) {
        const index_t oh = w.out_h(h), ow = w.out_w(wd);
        B::parallel_for(planes * oh * ow, [=] SIB_HD(index_t i) {
            const index_t plane = i / (oh * ow);
            index_t ya, yb, xa, xb;
            const index_t div = window_of((i / ow) % oh, i % ow, w, h, wd, count_include_pad, ya, yb, xa, xb);
            const T* base = x + plane * h * wd;
            T s = 0;
            for (index_t r = ya; r < yb; ++r)
                for (index_t c = xa; c < xb; ++c) s += base[r * wd + c];
            y[i] = div > 0 ? s / static_cast<T>(div) : T(0);
        }, w.area());
    }

    // The transpose as a gather: gx[plane, ih, iw] = sum over covering windows of gy / divisor.
    static void pool_transpose(const window2d& w, bool count_include_pad, index_t planes, index_t h,
                               index_t wd, const T* gy, T* gx) {
        const index_t oh = w.out_h(h), ow = w.out_w(wd);
        B::parallel_for(planes * h * wd, [=] SIB_HD(index_t i) {
            const index_t plane = i / (h * wd), ih = (i / wd) % h, iw = i % wd;
            const index_t y0 = first_cover(ih, w.kernel_h, w.stride_h, w.pad_h);
            const index_t y1 = last_cover(ih, w.stride_h, w.pad_h, oh);
            const index_t x0 = first_cover(iw, w.kernel_w, w.stride_w, w.pad_w);
            const index_t x1 = last_cover(iw, w.stride_w, w.pad_w, ow);
            T s = 0;
            for (index_t r = y0; r <= y1; ++r)
                for (index_t c = x0; c <= x1; ++c) {
                    index_t ya, yb, xa, xb;
                    const index_t div = window_of(r, c, w, h, wd, count_include_pad, ya, yb, xa, xb);
                    if (div > 0) s += gy[(plane * oh + r) * ow + c] / static_cast<T>(div);
                }
            gx[i] = s;
        }, w.area());
    }

private:
    // The in-input cells [ya,yb) x [xa,xb) of window (r, c) and its divisor, as PyTorch computes
    // them (the padded extent is clipped at h + pad first, which only matters in ceil mode).
    SIB_HD static index_t window_of(index_t r, index_t c, const window2d& w, index_t h, index_t wd,
                                    bool count_include_pad, index_t& ya, index_t& yb, index_t& xa,
                                    index_t& xb) {
        ya = r * w.stride_h - w.pad_h;
        xa = c * w.stride_w - w.pad_w;
        yb = ya + w.kernel_h < h + w.pad_h ? ya + w.kernel_h : h + w.pad_h;
        xb = xa + w.kernel_w < wd + w.pad_w ? xa + w.kernel_w : wd + w.pad_w;
        const index_t padded = (yb - ya) * (xb - xa);
        ya = ya < 0 ? 0 : ya;
        xa = xa < 0 ? 0 : xa;
        yb = yb < h ? yb : h;
        xb = xb < wd ? xb : wd;
        // An empty window (possible only with a geometry no layer accepts) has divisor 0, output 0.
        if (yb <= ya || xb <= xa) return 0;
        return count_include_pad ? padded : (yb - ya) * (xb - xa);
    }

    window2d win_;
    bool count_include_pad_;
};

}  // namespace nn
SIB_END_NAMESPACE
