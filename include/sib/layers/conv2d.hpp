// Conv2d: NCHW cross-correlation with zero padding, PyTorch's layout (weight [out, in, kh, kw]).
// Every rule is one GEMM over an im2col matrix of a chunk of the batch: columns are
// (sample, output pixel) pairs, so a whole chunk is one large product rather than many small ones,
// and the chunk is bounded so the im2col buffer stays within workspace_limit elements.
#pragma once
#include <sib/layers/layer.hpp>
#include <sib/layers/window2d.hpp>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class conv2d : public layer_base<T, B>, public no_curvature {
public:
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = true;
    // Default bound of the im2col buffer (elements); 16 Mi elements is 64 MiB in float32.
    static constexpr index_t default_workspace_limit = index_t(1) << 24;

    tensor_type weight, bias, weight_grad, bias_grad;

    conv2d(index_t in_channels, index_t out_channels, index_t kernel_size, index_t stride = 1,
           index_t padding = 0, bool with_bias = true)
        : conv2d(in_channels, out_channels, window2d::square(kernel_size, stride, padding), with_bias) {}

    conv2d(index_t in_channels, index_t out_channels, const window2d& win, bool with_bias = true)
        : in_(in_channels), out_(out_channels), win_(win), with_bias_(with_bias) {
        require(in_ > 0 && out_ > 0, name(), ": channels must be positive");
        win_.validate(name());
        weight.resize({out_, in_, win_.kernel_h, win_.kernel_w});
        weight.zero();
        weight_grad.resize(weight.shape());
        weight_grad.zero();
        if (with_bias_) {
            bias.resize({out_});
            bias.zero();
            bias_grad.resize({out_});
            bias_grad.zero();
        }
    }

    index_t in_channels() const { return in_; }
    index_t out_channels() const { return out_; }
    const window2d& window() const { return win_; }
    bool has_bias() const { return with_bias_; }

    // The spec spelling, e.g. "Conv2d(1,16,3,stride=2,padding=1)".
    std::string name() const {
        std::string s = "Conv2d(" + std::to_string(in_) + "," + std::to_string(out_) + "," + win_.kernel_str();
        if (win_.stride_h != 1 || win_.stride_w != 1) s += ",stride=" + win_.stride_str();
        if (win_.pad_h != 0 || win_.pad_w != 0) s += ",padding=" + win_.pad_str();
        if (!with_bias_) s += ",bias=False";
        return s + ")";
    }

    sib::shape output_shape(const sib::shape& in) const {
        require(in.rank() == 4 && in[1] == in_, name(), ": expects input [N,", in_, ",H,W], got ", in.str());
        win_.require_fits(name(), in);
        return {in[0], out_, win_.out_h(in[2]), win_.out_w(in[3])};
    }

    // Bounds the im2col buffer; the batch is processed in chunks of whole samples within it.
    void set_workspace_limit(index_t elements) { workspace_limit_ = elements; }

    // PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, which is U(-b, b) with
    // b = 1/sqrt(fan_in), and the same bound for the bias.
    void reset_parameters(rng& r) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(in_ * win_.area()));
        fill_uniform(weight, r, bound);
        if (with_bias_) fill_uniform(bias, r, bound);
    }

    void forward(const tensor_type& x, tensor_type& y) { apply(x, y, with_bias_ ? bias.data() : nullptr); }

    void vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy, tensor_type& gx) {
        const geometry g = geometry_of(x.shape(), y.shape());
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            gather_rows(g, gy, n0, nc);
            // dcol [K, nc*P] = W^T [K, O] * gy [O, nc*P]
            col_.resize({g.k, nc * g.p});
            B::gemm(true, false, g.k, nc * g.p, out_, T(1), weight.data(), g.k, rows_.data(), nc * g.p,
                    T(0), col_.data(), nc * g.p);
            col2im(g, gx, n0, nc);
        }
    }

    void param_vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy) {
        accumulate_weight_grad(x, gy, y.shape());
        if (with_bias_) {
            const index_t n = gy.dim(0), o = out_, p = gy.dim(2) * gy.dim(3);
            const T* pg = gy.data();
            T* pb = bias_grad.data();
            B::parallel_for(o, [=] SIB_HD(index_t j) {
                T s = 0;
                for (index_t i = 0; i < n; ++i)
                    for (index_t q = 0; q < p; ++q) s += pg[(i * o + j) * p + q];
                pb[j] += s;
            }, n * p);
        }
    }

    // The bias does not enter J: the tangent is the convolution of tx alone.
    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        apply(tx, ty, nullptr);
    }

    // d/dW <tx, J^T gy> is the weight gradient of the pair (tx, gy).
    void mixed(const tensor_type&, const tensor_type& y, const tensor_type& tx, const tensor_type& gy) {
        accumulate_weight_grad(tx, gy, y.shape());
    }

    template <class F>
    void for_each_parameter(F&& f) {
        f("weight", weight, &weight_grad);
        if (with_bias_) f("bias", bias, &bias_grad);
    }

SIB_KERNELS:
    // Sizes of one call: K = C*kh*kw rows of im2col, P = OH*OW output pixels per sample.
    struct geometry {
        index_t n, c, h, w, oh, ow, k, p, chunk;
    };

    geometry geometry_of(const sib::shape& in, const sib::shape& out) const {
        geometry g{};
        g.n = in[0];
        g.c = in[1];
        g.h = in[2];
        g.w = in[3];
        g.oh = out[2];
        g.ow = out[3];
        g.k = g.c * win_.area();
        g.p = g.oh * g.ow;
        const index_t per_sample = std::max<index_t>(g.k * g.p, 1);
        g.chunk = std::clamp<index_t>(workspace_limit_ / per_sample, 1, std::max<index_t>(g.n, 1));
        return g;
    }

    // y = conv(x) + b, where a null b means no bias.
    void apply(const tensor_type& x, tensor_type& y, const T* b) {
        const geometry g = geometry_of(x.shape(), y.shape());
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            im2col(g, x, n0, nc);
            // rows [O, nc*P] = W [O, K] * col [K, nc*P]
            rows_.resize({out_, nc * g.p});
            B::gemm(false, false, out_, nc * g.p, g.k, T(1), weight.data(), g.k, col_.data(), nc * g.p,
                    T(0), rows_.data(), nc * g.p);
            scatter_rows(g, y, n0, nc, b);
        }
    }

    // dW [O, K] += gy [O, nc*P] * col(a)^T [nc*P, K], chunk by chunk.
    void accumulate_weight_grad(const tensor_type& a, const tensor_type& gy, const sib::shape& out) {
        const geometry g = geometry_of(a.shape(), out);
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            im2col(g, a, n0, nc);
            gather_rows(g, gy, n0, nc);
            B::gemm(false, true, out_, g.k, nc * g.p, T(1), rows_.data(), nc * g.p, col_.data(), nc * g.p,
                    T(1), weight_grad.data(), g.k);
        }
    }

    // col[r, j*P + q] = x[n0+j, c, oh*sh - ph + ki, ow*sw - pw + kj] (0 in the padding), with
    // r = (c*kh + ki)*kw + kj and q = oh*OW + ow.
    void im2col(const geometry& g, const tensor_type& x, index_t n0, index_t nc) {
        col_.resize({g.k, nc * g.p});
        const T* px = x.data() + n0 * g.c * g.h * g.w;
        T* pc = col_.data();
        const window2d w = win_;
        const index_t cols = nc * g.p, c = g.c, h = g.h, wd = g.w, ow = g.ow, p = g.p;
        B::parallel_for(g.k * cols, [=] SIB_HD(index_t i) {
            const index_t r = i / cols, col = i % cols;
            const index_t j = col / p, q = col % p;
            const index_t ch = r / (w.kernel_h * w.kernel_w);
            const index_t ki = (r / w.kernel_w) % w.kernel_h, kj = r % w.kernel_w;
            const index_t ih = (q / ow) * w.stride_h - w.pad_h + ki;
            const index_t iw = (q % ow) * w.stride_w - w.pad_w + kj;
            const bool inside = ih >= 0 && ih < h && iw >= 0 && iw < wd;
            pc[i] = inside ? px[((j * c + ch) * h + ih) * wd + iw] : T(0);
        }, 4);
    }

    // The transpose of im2col as a gather: each input pixel sums the col entries it was copied to,
    // i.e. over the windows that cover it (no two threads write one element, so no atomics).
    void col2im(const geometry& g, tensor_type& gx, index_t n0, index_t nc) {
        const T* pc = col_.data();
        T* pg = gx.data() + n0 * g.c * g.h * g.w;
        const window2d w = win_;
        const index_t cols = nc * g.p, c = g.c, h = g.h, wd = g.w, oh = g.oh, ow = g.ow, p = g.p;
        B::parallel_for(nc * c * h * wd, [=] SIB_HD(index_t i) {
            const index_t iw = i % wd, ih = (i / wd) % h, ch = (i / (h * wd)) % c, j = i / (c * h * wd);
            const index_t y0 = first_cover(ih, w.kernel_h, w.stride_h, w.pad_h);
            const index_t y1 = last_cover(ih, w.stride_h, w.pad_h, oh);
            const index_t x0 = first_cover(iw, w.kernel_w, w.stride_w, w.pad_w);
            const index_t x1 = last_cover(iw, w.stride_w, w.pad_w, ow);
            T s = 0;
            for (index_t y = y0; y <= y1; ++y) {
                const index_t ki = ih + w.pad_h - y * w.stride_h;
                for (index_t x = x0; x <= x1; ++x) {
                    const index_t kj = iw + w.pad_w - x * w.stride_w;
                    const index_t r = (ch * w.kernel_h + ki) * w.kernel_w + kj;
                    s += pc[r * cols + j * p + y * ow + x];
                }
            }
            pg[i] = s;
        }, w.kernel_h * w.kernel_w);
    }

    // rows[o, j*P + q] = t[n0+j, o, q]: the chunk of an output-shaped tensor as GEMM rows.
    void gather_rows(const geometry& g, const tensor_type& t, index_t n0, index_t nc) {
        rows_.resize({out_, nc * g.p});
        const T* pt = t.data() + n0 * out_ * g.p;
        T* pr = rows_.data();
        const index_t cols = nc * g.p, o = out_, p = g.p;
        B::parallel_for(o * cols, [=] SIB_HD(index_t i) {
            const index_t oc = i / cols, col = i % cols;
            pr[i] = pt[((col / p) * o + oc) * p + col % p];
        });
    }

    // The inverse of gather_rows, adding the bias on the way: y[n0+j, o, q] = rows[o, j*P + q] + b[o].
    void scatter_rows(const geometry& g, tensor_type& y, index_t n0, index_t nc, const T* b) {
        const T* pr = rows_.data();
        T* py = y.data() + n0 * out_ * g.p;
        const index_t cols = nc * g.p, o = out_, p = g.p;
        B::parallel_for(nc * o * p, [=] SIB_HD(index_t i) {
            const index_t q = i % p, oc = (i / p) % o, j = i / (o * p);
            py[i] = pr[oc * cols + j * p + q] + (b ? b[oc] : T(0));
        });
    }

    static void fill_uniform(tensor_type& t, rng& r, double bound) {
        std::vector<T> v(static_cast<std::size_t>(t.size()));
        for (auto& e : v) e = static_cast<T>(r.uniform(-bound, bound));
        B::from_host(t.size(), v.data(), t.data());
    }

private:
    index_t in_, out_;
    window2d win_;
    bool with_bias_;
    index_t workspace_limit_ = default_workspace_limit;
    tensor_type col_, rows_;
};

}  // namespace nn
SIB_END_NAMESPACE
