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

    // Runs every step: the messages are only built on failure (no allocation otherwise).
    sib::shape output_shape(const sib::shape& in) const {
        if (in.rank() != 4) fail(name(), ": expects input [N,C,H,W], got ", in.str());
        if (!win_.fits(in)) win_.require_fits(name(), in);
        return {in[0], in[1], win_.out_h(in[2]), win_.out_w(in[3])};
    }

    // The flat index into x of each output's maximum, from the latest forward.
    const index_tensor& argmax() const { return argmax_; }

    // One work item per (n, c) plane, its windows walked in row-major order. The common 2x2 and
    // 3x3 kernels get loops of a compile-time length (same comparisons, same order).
    void forward(const tensor_type& x, tensor_type& y) {
        argmax_.resize(y.shape());
        const T* px = x.data();
        T* py = y.data();
        index_t* pa = argmax_.data();
        const window2d w = win_;
        const index_t h = x.dim(2), wd = x.dim(3), oh = y.dim(2), ow = y.dim(3);
        const index_t planes = x.dim(0) * x.dim(1), cost = oh * ow * win_.area();
        if (w.kernel_h == 2 && w.kernel_w == 2 && w.stride_h == 2 && w.stride_w == 2 && w.pad_h == 0 && w.pad_w == 0)
            B::parallel_for(planes, [=] SIB_HD(index_t plane) { pool_plane_2x2(plane, px, py, pa, h, wd, oh, ow); }, cost);
        else if (w.kernel_h == 2 && w.kernel_w == 2)
            B::parallel_for(planes, [=] SIB_HD(index_t plane) { pool_plane<2>(plane, px, py, pa, w, h, wd, oh, ow); }, cost);
        else if (w.kernel_h == 3 && w.kernel_w == 3)
            B::parallel_for(planes, [=] SIB_HD(index_t plane) { pool_plane<3>(plane, px, py, pa, w, h, wd, oh, ow); }, cost);
        else
            B::parallel_for(planes, [=] SIB_HD(index_t plane) { pool_plane<0>(plane, px, py, pa, w, h, wd, oh, ow); }, cost);
    }

    // A scatter through the cached argmax, one work item per (n, c) plane, so no two items write
    // one element: the plane is zeroed and each output adds its gradient at its argmax, in output
    // order (where windows overlap, a pixel sums its windows in that order).
    void vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy, tensor_type& gx) {
        const T* pg = gy.data();
        const index_t* pa = argmax_.data();
        T* pgx = gx.data();
        const index_t hw = x.dim(2) * x.dim(3), ohw = y.dim(2) * y.dim(3);
        B::parallel_for(x.dim(0) * x.dim(1), [=] SIB_HD(index_t plane) {
            T* dst = pgx + plane * hw;
            for (index_t i = 0; i < hw; ++i) dst[i] = T(0);
            for (index_t o = plane * ohw; o < (plane + 1) * ohw; ++o) pgx[pa[o]] += pg[o];
        }, hw + ohw);
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        const T* pt = tx.data();
        const index_t* pa = argmax_.data();
        T* py = ty.data();
        B::parallel_for(ty.size(), [=] SIB_HD(index_t i) { py[i] = pt[pa[i]]; });
    }

private:
    // MaxPool2d(2) of one plane: windows tile the input and are never clipped, so every window
    // starts from its first cell (which -inf cannot beat), and the three comparisons are selects
    // over a row of windows, a loop the compiler vectorises.
    SIB_HD static void pool_plane_2x2(index_t plane, const T* px, T* py, index_t* pa, index_t h,
                                      index_t wd, index_t oh, index_t ow) {
        const index_t at = plane * h * wd;
        for (index_t oy = 0; oy < oh; ++oy) {
            const T* r0 = px + at + 2 * oy * wd;
            const T* r1 = r0 + wd;
            T* yo = py + (plane * oh + oy) * ow;
            index_t* ao = pa + (plane * oh + oy) * ow;
            const index_t row = at + 2 * oy * wd;
            for (index_t ox = 0; ox < ow; ++ox) {
                T best_v = r0[2 * ox];
                index_t best = 0;
                const T v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
                bool take = v1 > best_v || v1 != v1;
                best_v = take ? v1 : best_v;
                best = take ? 1 : best;
                take = v2 > best_v || v2 != v2;
                best_v = take ? v2 : best_v;
                best = take ? wd : best;
                take = v3 > best_v || v3 != v3;
                best_v = take ? v3 : best_v;
                best = take ? wd + 1 : best;
                yo[ox] = best_v;
                ao[ox] = row + 2 * ox + best;
            }
        }
    }

    // The windows of one plane. K > 0 is the (square) kernel size known at compile time: windows
    // wholly inside the input then run fixed-length loops; clipped windows take the general loops.
    template <int K>
    SIB_HD static void pool_plane(index_t plane, const T* px, T* py, index_t* pa, const window2d& w,
                                  index_t h, index_t wd, index_t oh, index_t ow) {
        const T* base = px + plane * h * wd;
        for (index_t oy = 0; oy < oh; ++oy) {
            const index_t y0 = oy * w.stride_h - w.pad_h;
            const index_t ya = y0 < 0 ? 0 : y0, yb = y0 + w.kernel_h < h ? y0 + w.kernel_h : h;
            // Windows wholly inside the input, columns [lo, hi): with K = 3 and stride 2 (a ResNet's
            // stem pool) one loop of selects over the row, which the compiler vectorises; the tap
            // that wins is kept as its offset in the window, so the selects are 32-bit like the
            // values.
            index_t lo = ow, hi = ow;
            if constexpr (K == 3) {
                if (w.stride_w == 2 && yb - ya == K) {
                    lo = (w.pad_w + 1) / 2;
                    hi = wd >= K - w.pad_w ? (wd - K + w.pad_w) / 2 + 1 : 0;
                    hi = hi < ow ? hi : ow;
                    lo = lo < hi ? lo : hi;
                    const T* r0 = base + ya * wd - w.pad_w;
                    const T* r1 = r0 + wd;
                    const T* r2 = r1 + wd;
                    const int row = static_cast<int>(wd);
                    T* yo = py + (plane * oh + oy) * ow;
                    index_t* ao = pa + (plane * oh + oy) * ow;
                    const index_t at = plane * h * wd + ya * wd - w.pad_w;
                    for (index_t ox = lo; ox < hi; ++ox) {
                        const index_t c = 2 * ox;
                        T best_v = r0[c];
                        int best = 0;
                        auto visit = [&](T v, int offset) {
                            const bool take = v > best_v || v != v;
                            best_v = take ? v : best_v;
                            best = take ? offset : best;
                        };
                        visit(r0[c + 1], 1);
                        visit(r0[c + 2], 2);
                        visit(r1[c], row);
                        visit(r1[c + 1], row + 1);
                        visit(r1[c + 2], row + 2);
                        visit(r2[c], 2 * row);
                        visit(r2[c + 1], 2 * row + 1);
                        visit(r2[c + 2], 2 * row + 2);
                        yo[ox] = best_v;
                        ao[ox] = at + c + best;
                    }
                }
            }
            for (index_t ox = 0; ox < ow; ++ox) {
                if (ox == lo) ox = hi;
                if (ox >= ow) break;
                const index_t x0 = ox * w.stride_w - w.pad_w;
                const index_t xa = x0 < 0 ? 0 : x0, xb = x0 + w.kernel_w < wd ? x0 + w.kernel_w : wd;
                // As PyTorch: start from -inf at the first cell in the input, take strictly larger
                // or NaN.
                index_t best = ya * wd + xa;
                T best_v = -INFINITY;
                auto visit = [&](index_t at) {  // selects, not branches: random data mispredicts
                    const T v = base[at];
                    const bool take = v > best_v || v != v;
                    best_v = take ? v : best_v;
                    best = take ? at : best;
                };
                if (K > 0 && yb - ya == K && xb - xa == K) {
                    for (int r = 0; r < K; ++r)
                        for (int c = 0; c < K; ++c) visit((ya + r) * wd + xa + c);
                } else {
                    for (index_t r = ya; r < yb; ++r)
                        for (index_t c = xa; c < xb; ++c) visit(r * wd + c);
                }
                const index_t o = (plane * oh + oy) * ow + ox;
                py[o] = best_v;
                pa[o] = plane * h * wd + best;
            }
        }
    }

    window2d win_;
    index_tensor argmax_;
};

}  // namespace nn
SIB_END_NAMESPACE
