// AdaptiveAvgPool2d: output cell i along an axis of input size H averages the rows
// [floor(i*H/out), ceil((i+1)*H/out)), as PyTorch. With output 1x1 this is the global average
// pool that ends most CNNs. Linear, so jvp is the pooling itself.
#pragma once
#include <sib/layers/layer.hpp>
#include <string>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class adaptive_avg_pool2d : public layer_base<T, B>, public no_parameters, public no_curvature {
public:
    using tensor_type = tensor<T, B>;

    explicit adaptive_avg_pool2d(index_t output_size = 1) : adaptive_avg_pool2d(output_size, output_size) {}
    adaptive_avg_pool2d(index_t out_h, index_t out_w) : out_h_(out_h), out_w_(out_w) {
        require(out_h > 0 && out_w > 0, name(), ": output size must be positive");
    }

    index_t out_h() const { return out_h_; }
    index_t out_w() const { return out_w_; }

    // The spec spelling: "AdaptiveAvgPool2d(1)" or "AdaptiveAvgPool2d((2,3))".
    std::string name() const {
        const std::string s = out_h_ == out_w_ ? std::to_string(out_h_)
                                               : "(" + std::to_string(out_h_) + "," + std::to_string(out_w_) + ")";
        return "AdaptiveAvgPool2d(" + s + ")";
    }

    sib::shape output_shape(const sib::shape& in) const {
        // Checked before the message is built: output_shape runs every step, and must not allocate.
        if (!(in.rank() == 4 && in[2] > 0 && in[3] > 0))
            fail(name(), ": expects input [N,C,H,W] with H,W > 0, got ", in.str());
        return {in[0], in[1], out_h_, out_w_};
    }

    void forward(const tensor_type& x, tensor_type& y) { pool(x, y); }
    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) { pool(tx, ty); }

    // Gather: input row r lies in the windows floor(r*out/H) .. ceil((r+1)*out/H) - 1.
    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        const T* pg = gy.data();
        T* px = gx.data();
        const index_t h = gx.dim(2), w = gx.dim(3), oh = out_h_, ow = out_w_;
        if (oh == 1 && ow == 1) {
            // The global pool (most CNNs' last): one item per plane spreads its one value, the same
            // sum as the general gather's (0 + g / area), without its divisions per element.
            const index_t hw = h * w;
            B::parallel_for(gx.dim(0) * gx.dim(1), [=] SIB_HD(index_t plane) {
                T s = 0;
                s += pg[plane] / static_cast<T>(hw);
                for (index_t i = plane * hw; i < (plane + 1) * hw; ++i) px[i] = s;
            }, hw);
            return;
        }
        B::parallel_for(gx.size(), [=] SIB_HD(index_t i) {
            const index_t plane = i / (h * w), r = (i / w) % h, c = i % w;
            const index_t r0 = r * oh / h, r1 = ((r + 1) * oh + h - 1) / h;
            const index_t c0 = c * ow / w, c1 = ((c + 1) * ow + w - 1) / w;
            T s = 0;
            for (index_t a = r0; a < r1; ++a)
                for (index_t b = c0; b < c1; ++b) {
                    const index_t area = (end(a, h, oh) - start(a, h, oh)) * (end(b, w, ow) - start(b, w, ow));
                    s += pg[(plane * oh + a) * ow + b] / static_cast<T>(area);
                }
            px[i] = s;
        }, (h / oh + 2) * (w / ow + 2));
    }

SIB_KERNELS:
    SIB_HD static index_t start(index_t i, index_t in, index_t out) { return i * in / out; }
    SIB_HD static index_t end(index_t i, index_t in, index_t out) { return ((i + 1) * in + out - 1) / out; }

    void pool(const tensor_type& x, tensor_type& y) const {
        const T* px = x.data();
        T* py = y.data();
        const index_t h = x.dim(2), w = x.dim(3), oh = out_h_, ow = out_w_;
        B::parallel_for(y.size(), [=] SIB_HD(index_t i) {
            const index_t plane = i / (oh * ow), a = (i / ow) % oh, b = i % ow;
            const index_t r0 = start(a, h, oh), r1 = end(a, h, oh);
            const index_t c0 = start(b, w, ow), c1 = end(b, w, ow);
            const T* base = px + plane * h * w;
            T s = 0;
            for (index_t r = r0; r < r1; ++r)
                for (index_t c = c0; c < c1; ++c) s += base[r * w + c];
            py[i] = s / static_cast<T>((r1 - r0) * (c1 - c0));
        }, (h / oh + 1) * (w / ow + 1));
    }

private:
    index_t out_h_, out_w_;
};

}  // namespace nn
SIB_END_NAMESPACE
