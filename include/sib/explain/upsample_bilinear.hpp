// Bilinear resampling of the last two dimensions, PyTorch's F.interpolate(mode='bilinear') given an
// output size, without antialiasing. align_corners=false (half-pixel centres): the source of output
// index o is (o + 0.5) * in/out - 0.5, clamped below at 0; align_corners=true:
// o * (in-1)/(out-1) (0 for out = 1), as nn.UpsamplingBilinear2d. Neighbours i0 = floor(src) and
// i0+1 (i0 at the last index), weights src - i0 and its complement, computed in T as PyTorch does.
#pragma once
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

namespace detail {
// The lower neighbour, its step to the upper one (0 or 1) and the upper weight, for output o.
template <class T>
SIB_HD inline void bilinear_source(index_t o, index_t in, index_t out, bool align_corners, index_t& i0,
                                   index_t& step, T& w1) {
    T src;
    if (align_corners) {
        const T scale = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
        src = scale * static_cast<T>(o);
    } else {
        const T scale = static_cast<T>(in) / static_cast<T>(out);
        src = scale * (static_cast<T>(o) + T(0.5)) - T(0.5);
        src = src < T(0) ? T(0) : src;
    }
    i0 = static_cast<index_t>(src);
    if (i0 > in - 1) i0 = in - 1;
    step = i0 < in - 1 ? 1 : 0;
    w1 = src - static_cast<T>(i0);
    w1 = w1 < T(0) ? T(0) : (w1 > T(1) ? T(1) : w1);
}
}  // namespace detail

// out[..., oh, ow] from in[..., h, w] (rank >= 2); out must not be in.
template <class T, class B>
void upsample_bilinear(const tensor<T, B>& in, index_t out_h, index_t out_w, tensor<T, B>& out,
                       bool align_corners = false) {
    require(in.rank() >= 2, "upsample_bilinear: expects [..., H, W], got ", in.shape().str());
    require(out_h > 0 && out_w > 0, "upsample_bilinear: output size must be positive, got ", out_h, "x", out_w);
    require(&in != &out, "upsample_bilinear: input and output must differ");
    const int r = in.rank();
    const index_t h = in.dim(r - 2), w = in.dim(r - 1);
    require(h > 0 && w > 0, "upsample_bilinear: empty input ", in.shape().str());
    sib::shape s = in.shape();
    s[r - 2] = out_h;
    s[r - 1] = out_w;
    out.resize(s);
    const index_t planes = in.size() / (h * w), ohw = out_h * out_w;
    const T* pi = in.data();
    T* po = out.data();
    B::parallel_for(planes * ohw, [=] SIB_HD(index_t i) {
        const index_t p = i / ohw, oy = (i % ohw) / out_w, ox = i % out_w;
        index_t y0, dy, x0, dx;
        T wy, wx;
        detail::bilinear_source(oy, h, out_h, align_corners, y0, dy, wy);
        detail::bilinear_source(ox, w, out_w, align_corners, x0, dx, wx);
        const T* v = pi + p * h * w + y0 * w + x0;
        po[i] = (T(1) - wy) * ((T(1) - wx) * v[0] + wx * v[dx]) + wy * ((T(1) - wx) * v[dy * w] + wx * v[dy * w + dx]);
    }, 8);
}

}  // namespace explain
SIB_END_NAMESPACE
