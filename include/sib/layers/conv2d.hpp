// Conv2d: NCHW cross-correlation with zero padding, PyTorch's layout (weight [out, in, kh, kw]).
// Every rule is GEMMs over im2col matrices of a chunk of the batch, the chunk bounded so that the
// im2col buffer stays within workspace_limit elements. forward, jvp and vjp make one product per
// sample ([O,K] x [K,P]), which reads and writes NCHW directly; im2col and col2im copy shifted spans
// of input rows (no per-element index arithmetic). A 1x1 convolution with stride 1 and no padding
// (a ResNet bottleneck's) needs no im2col at all: a sample's [C, H*W] planes are its im2col matrix.
// On host threads, forward, jvp and vjp of a 3x3 convolution with stride 1 and padding 1 (most of a
// ResNet's or a VGG's) use Winograd's F(2x2,3x3) instead (sib/layers/winograd.hpp): 16 products of
// 4 multiplications per output pixel where im2col takes 9.
#pragma once
#include <sib/backend/gemm_batched.hpp>
#include <sib/layers/layer.hpp>
#include <sib/layers/window2d.hpp>
#include <sib/layers/winograd.hpp>
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
    static constexpr bool vjp_is_product = true;  // core/concepts.hpp
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

    // Runs every step: the messages are only built on failure (no allocation otherwise).
    sib::shape output_shape(const sib::shape& in) const {
        if (in.rank() != 4 || in[1] != in_) fail(name(), ": expects input [N,", in_, ",H,W], got ", in.str());
        if (!win_.fits(in)) win_.require_fits(name(), in);
        return {in[0], out_, win_.out_h(in[2]), win_.out_w(in[3])};
    }

    // Bounds the im2col buffer; the batch is processed in chunks of whole samples within it.
    void set_workspace_limit(index_t elements) { workspace_limit_ = elements; }

    // Whether forward, jvp and vjp may use Winograd's F(2x2,3x3) where it applies (on by default;
    // off, every rule is an im2col product, as on the device backends).
    void set_winograd(bool on) { winograd_ = on; }
    bool winograd() const { return winograd_; }

    // PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, which is U(-b, b) with
    // b = 1/sqrt(fan_in), and the same bound for the bias.
    void reset_parameters(rng& r) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(in_ * win_.area()));
        this->fill_uniform(weight, r, bound);
        if (with_bias_) this->fill_uniform(bias, r, bound);
    }

    void forward(const tensor_type& x, tensor_type& y) { apply(x, y, with_bias_ ? bias.data() : nullptr); }

    void vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy, tensor_type& gx) {
        const geometry g = geometry_of(x.shape(), y.shape());
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            // dcol [K, P] = W^T [K, O] * gy [O, P] for a sample (or the gathered gy of a group of
            // samples side by side), then summed back onto the planes of gx.
            const T* pw = weight.data();
            const T* pgy = gy.data() + n0 * out_ * g.p;
            T* pgx = gx.data() + n0 * g.c * g.h * g.w;
            const index_t o = out_, k = g.k, p = g.p, c = g.c, hw = g.h * g.w, taps = win_.area();
            const plane_geometry pg = plane_geometry_of(g);
            const bool direct = direct_columns();
            if constexpr (fused) {
                if (winograd_products(pgy, o, c, true, nullptr, pgx, nc, g.h, g.w)) continue;
                for_each_product(nc, k, p, [=](T* slot, T* rows, index_t j0, index_t count) {
                    const index_t cols = count * p;
                    const T* gyi = pgy + j0 * o * p;
                    if (direct && count == 1) {  // col2im is the identity: write gx's planes
                        B::gemm(true, false, k, p, o, T(1), pw, k, gyi, p, T(0), pgx + j0 * c * hw, p);
                        return;
                    }
                    if (count > 1) {
                        gather_samples(gyi, rows, o, p, count);
                        gyi = rows;
                    }
                    B::gemm(true, false, k, cols, o, T(1), pw, k, gyi, cols, T(0), slot, cols);
                    for (index_t j = 0; j < count; ++j)
                        for (index_t ch = 0; ch < c; ++ch)
                            col2im_plane(pg, slot + ch * taps * cols + j * p, pgx + ((j0 + j) * c + ch) * hw, cols);
                });
            } else if (direct) {
                gemm_batched<B>(true, false, k, p, o, T(1), pw, k, 0, pgy, p, o * p, T(0), pgx, p, k * p, nc);
            } else {
                tensor_type& col = work().col;
                col.resize({nc, g.k, g.p});
                T* pc = col.data();
                gemm_batched<B>(true, false, k, p, o, T(1), pw, k, 0, pgy, p, o * p, T(0), pc, p, k * p, nc);
                B::parallel_for(nc * c, [=] SIB_HD(index_t plane) {
                    const index_t j = plane / c, ch = plane % c;
                    col2im_plane(pg, pc + j * k * p + ch * taps * p, pgx + plane * hw, p);
                }, taps * p);
            }
        }
    }

    void param_vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy) {
        accumulate_weight_grad(x, gy, y.shape(), with_bias_);
    }

    // The bias does not enter J: the tangent is the convolution of tx alone.
    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        apply(tx, ty, nullptr);
    }

    // d/dW <tx, J^T gy> is the weight gradient of the pair (tx, gy).
    void mixed(const tensor_type&, const tensor_type& y, const tensor_type& tx, const tensor_type& gy) {
        accumulate_weight_grad(tx, gy, y.shape(), false);
    }

    template <class F>
    void for_each_parameter(F&& f) {
        f("weight", weight, &weight_grad);
        if (with_bias_) f("bias", bias, &bias_grad);
    }

SIB_KERNELS:
    // Whether B's parallel_for items run on host threads that may call B's primitives (sib::cpu).
    // Then every rule is one parallel loop over as many items as run at once, each with one
    // im2col matrix that it reuses for its samples: a sample's im2col, GEMM and col2im run back to
    // back on one thread while that matrix is in the core's cache. Otherwise each step is one
    // batched primitive over the chunk (a device backend launches a few large kernels rather than
    // many small ones). The fused loops are host lambdas (not SIB_HD): they call B::gemm.
    static constexpr bool fused = requires { requires B::nested_primitives; };

    // A rule's im2col matrices, gathered rows and partial weight gradients, dead once it returns.
    struct scratch {
        tensor_type col, rows, partial, transformed;
    };

    // On host threads one scratch per calling thread and element type, shared by every Conv2d:
    // a network needs the largest layer's room instead of the sum of all of them (on ResNet-50
    // that sum was hundreds of MiB). A device backend keeps its buffers per layer.
    scratch& work() {
        if constexpr (fused) {
            static thread_local scratch shared;
            return shared;
        } else {
            return own_;
        }
    }

    // A 1x1 window with stride 1 and no padding: im2col and col2im are the identity on a sample.
    bool direct_columns() const {
        return win_.area() == 1 && win_.stride_h == 1 && win_.stride_w == 1 && win_.pad_h == 0 && win_.pad_w == 0;
    }

    // Sizes of one call: K = C*kh*kw rows of im2col, P = OH*OW output pixels per sample.
    struct geometry {
        index_t n, c, h, w, oh, ow, k, p, chunk;
    };

    // What the plane kernels need, copyable into a kernel.
    struct plane_geometry {
        window2d win;
        index_t h, w, oh, ow;
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
    plane_geometry plane_geometry_of(const geometry& g) const { return {win_, g.h, g.w, g.oh, g.ow}; }

    // y = conv(x) + b, where a null b means no bias: y_j [O, P] = W [O, K] * col_j [K, P] per sample,
    // added onto the bias rows (which replaces the zeroing a product with beta = 0 does anyway).
    void apply(const tensor_type& x, tensor_type& y, const T* b) {
        const geometry g = geometry_of(x.shape(), y.shape());
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            const T* pw = weight.data();
            const T* px = x.data() + n0 * g.c * g.h * g.w;
            T* py = y.data() + n0 * out_ * g.p;
            const index_t o = out_, k = g.k, p = g.p, c = g.c, hw = g.h * g.w, taps = win_.area();
            const plane_geometry pg = plane_geometry_of(g);
            const T beta = b ? T(1) : T(0);
            const bool direct = direct_columns();
            if constexpr (fused) {
                if (winograd_products(px, c, o, false, b, py, nc, g.h, g.w)) continue;
                for_each_product(nc, k, p, [=](T* slot, T* rows, index_t j0, index_t count) {
                    const index_t cols = count * p;
                    const T* col = columns(pg, px, slot, c, j0, count, direct);
                    T* out = count > 1 ? rows : py + j0 * o * p;
                    if (b) fill_rows(out, b, o, cols);
                    B::gemm(false, false, o, cols, k, T(1), pw, k, col, cols, beta, out, cols);
                    if (count > 1) scatter_samples(rows, py + j0 * o * p, o, p, count);
                });
            } else {
                const T* pc = px;  // a direct convolution's im2col matrices are x's samples
                if (!direct) {
                    tensor_type& room = work().col;
                    room.resize({nc, g.k, g.p});
                    T* col = room.data();
                    B::parallel_for(nc * c, [=] SIB_HD(index_t plane) {
                        const index_t j = plane / c, ch = plane % c;
                        im2col_plane(pg, px + plane * hw, col + j * k * p + ch * taps * p, p);
                    }, taps * p);
                    pc = col;
                }
                if (b) B::parallel_for(nc, [=] SIB_HD(index_t j) { fill_rows(py + j * o * p, b, o, p); }, o * p);
                gemm_batched<B>(false, false, o, p, k, T(1), pw, k, 0, pc, p, k * p, beta, py, p, o * p, nc);
            }
        }
    }

    // dW [O, K] += sum over samples of gy_j [O, P] * col_j^T [P, K]; with_bias also adds the sums
    // of gy over samples and pixels to the bias.
    void accumulate_weight_grad(const tensor_type& a, const tensor_type& gy, const sib::shape& out,
                                bool with_bias) {
        const geometry g = geometry_of(a.shape(), out);
        for (index_t n0 = 0; n0 < g.n; n0 += g.chunk) {
            const index_t nc = std::min(g.chunk, g.n - n0);
            const T* pa = a.data() + n0 * g.c * g.h * g.w;
            const T* pgy = gy.data() + n0 * out_ * g.p;
            T* pdw = weight_grad.data();
            const index_t o = out_, k = g.k, p = g.p, c = g.c, hw = g.h * g.w, taps = win_.area();
            const plane_geometry pg = plane_geometry_of(g);
            const bool direct = direct_columns();
            bool whole = true;
            if constexpr (fused) {
                // Fixed groups of consecutive samples, each one product over its samples' pixels side
                // by side into its own partial gradient (into dW itself when there is one group), then
                // the partials summed in group order: a group's im2col, gather and product back to
                // back on one thread, its matrix in that core's cache. Where the partials would be
                // larger than the chunk's im2col rows (a layer of many weights and few pixels, a
                // ResNet's last stages), the whole-chunk product below is cheaper. Either way the
                // choice follows the shapes alone: the same numbers whatever the thread count.
                const index_t groups = weight_grad_groups(nc, o * k, p), most = (nc + groups - 1) / groups;
                if (groups * o <= nc * p) {
                    whole = false;
                    const bool single = groups == 1;
                    const index_t slots = std::min(groups, B::concurrency());
                    scratch& ws = work();
                    ws.partial.resize({single ? 0 : groups, o, k});
                    ws.col.resize({slots, k, most * p});
                    ws.rows.resize({most > 1 ? slots : 0, o, most * p});
                    T* pp = single ? pdw : ws.partial.data();
                    const T beta = single ? T(1) : T(0);
                    T* pc = ws.col.data();
                    T* pr = ws.rows.data();
                    B::parallel_for(slots, [=](index_t item) {
                        T* slot = pc + item * k * most * p;
                        T* rows = pr + item * o * most * p;
                        for (index_t gi = item * groups / slots; gi < (item + 1) * groups / slots; ++gi) {
                            const index_t j0 = gi * nc / groups, count = (gi + 1) * nc / groups - j0, cols = count * p;
                            const T* col = columns(pg, pa, slot, c, j0, count, direct);
                            const T* gyi = pgy + j0 * o * p;
                            if (count > 1) {
                                gather_samples(gyi, rows, o, p, count);
                                gyi = rows;
                            }
                            B::gemm(false, true, o, k, cols, T(1), gyi, cols, col, cols, beta, pp + gi * o * k, k);
                        }
                    }, (nc / slots) * o * k * p);
                    if (!single)
                        B::parallel_for(o * k, [=] SIB_HD(index_t e) {
                            T s = pp[e];
                            for (index_t gi = 1; gi < groups; ++gi) s += pp[gi * o * k + e];
                            pdw[e] += s;
                        }, groups);
                    if (with_bias) {
                        T* pb = bias_grad.data();
                        B::parallel_for(o, [=] SIB_HD(index_t oc) {
                            T s = 0;
                            for (index_t j = 0; j < nc; ++j) s += row_sum(pgy + (j * o + oc) * p, p);
                            pb[oc] += s;
                        }, nc * p);
                    }
                }
            }
            if (whole) {
                // One product whose inner dimension runs over samples and pixels: the im2col rows
                // of all samples side by side ([K][nc*P]) against gy gathered to [O][nc*P]. On the
                // host cpu::gemm splits it between the threads by blocks of dW; no partials.
                scratch& ws = work();
                ws.col.resize({nc, g.k, g.p});
                T* pc = ws.col.data();
                const index_t cols = nc * p;
                B::parallel_for(nc * c, [=] SIB_HD(index_t plane) {
                    const index_t j = plane / c, ch = plane % c;
                    im2col_plane(pg, pa + plane * hw, pc + ch * taps * cols + j * p, cols);
                }, taps * p);
                ws.rows.resize({o, cols});
                T* pr = ws.rows.data();
                B::parallel_for(o * nc, [=] SIB_HD(index_t item) {
                    const index_t oc = item / nc, j = item % nc;
                    const T* src = pgy + (j * o + oc) * p;
                    T* dst = pr + item * p;
                    for (index_t q = 0; q < p; ++q) dst[q] = src[q];
                }, p);
                B::gemm(false, true, o, k, cols, T(1), pr, cols, pc, cols, T(1), pdw, k);
                if (with_bias) {
                    T* pb = bias_grad.data();
                    B::parallel_for(o, [=] SIB_HD(index_t oc) { pb[oc] += row_sum(pr + oc * cols, cols); }, cols);
                }
            }
        }
    }

    // Partial weight gradients of the fused path: up to 16 (enough to keep 16 threads busy), fewer
    // when the chunk is small, when the partials would outgrow the workspace limit, or when a group
    // would hold fewer than 128 pixels: a product with an inner dimension of a few pixels reads and
    // writes the whole partial gradient for little arithmetic (a ResNet's 2x2 stage: 512 x 4608
    // values for 4 pixels per sample).
    index_t weight_grad_groups(index_t samples, index_t weight_size, index_t pixels) const {
        const index_t by_memory = std::max<index_t>(workspace_limit_ / std::max<index_t>(weight_size, 1), 1);
        const index_t by_width = samples * pixels / 128;
        return std::max<index_t>(std::min({samples, index_t(16), by_memory, by_width}), 1);
    }

    // Samples whose im2col matrices sit side by side in one product in forward, jvp and vjp: enough
    // for 256 columns, so that a layer of few output pixels does not pack the whole weight matrix for
    // a product a few columns wide, but at most a quarter of the chunk, leaving products for the
    // threads. Fixed by the shapes alone: the numbers do not depend on the thread count.
    static index_t samples_per_product(index_t pixels, index_t samples) {
        return std::clamp<index_t>((256 + pixels - 1) / pixels, 1, std::max<index_t>(samples / 4, 1));
    }

    // The fused loop of forward, jvp and vjp over a chunk of nc samples: products of
    // samples_per_product samples each, spread over the threads. body(slot, rows, j0, count) gets
    // samples j0 .. j0 + count - 1, its thread's im2col matrix [K, count*P] and [O, count*P] rows
    // to gather gy into or scatter y from (when count > 1).
    // A direct convolution needs no im2col matrix for single samples.
    template <class Body>
    void for_each_product(index_t nc, index_t k, index_t p, Body body) {
        const index_t per = samples_per_product(p, nc), products = (nc + per - 1) / per;
        const index_t slots = std::min(products, B::concurrency()), o = out_;
        scratch& ws = work();
        ws.col.resize({direct_columns() && per == 1 ? 0 : slots, k, per * p});
        ws.rows.resize({per > 1 ? slots : 0, o, per * p});
        T* pc = ws.col.data();
        T* pr = ws.rows.data();
        B::parallel_for(slots, [=](index_t item) {
            for (index_t i = item * products / slots; i < (item + 1) * products / slots; ++i)
                body(pc + item * k * per * p, pr + item * o * per * p, i * per, std::min(per, nc - i * per));
        }, (nc / slots) * o * k * p);
    }

    // Winograd's F(2x2,3x3) for nc samples in [nc][cin][h][w] (x, or gy for the vjp) to out
    // [nc][cout][h][w], plus bias where there is one: the weights' transforms U [16][cout][cin] (for
    // the vjp, cin = O and cout = C: the transposed convolution's), then per product its
    // input transforms V [16][cin][tiles], the 16 products U V and their output transforms, back to
    // back on one thread. A product is a block of tile rows of one sample, or whole samples side
    // by side where a sample has few tiles, as many tiles as keep V and U V within a core's cache
    // (fixed by the shapes: the numbers do not depend on the thread count). False, doing nothing,
    // where it does not apply: a window other than 3x3 with stride 1 and padding 1, other backends,
    // under 16 channels (products a few rows deep) or over 128, or products under 64 tiles wide.
    bool winograd_products(const T* in, index_t cin, index_t cout, bool adjoint, const T* bias, T* out,
                           index_t nc, index_t h, index_t w) {
        if constexpr (!fused) {
            return false;
        } else {
            const window2d& wn = win_;
            if (!(winograd_ && wn.kernel_h == 3 && wn.kernel_w == 3 && wn.stride_h == 1 && wn.stride_w == 1 &&
                  wn.pad_h == 1 && wn.pad_w == 1 && std::min(in_, out_) >= min_winograd_channels &&
                  std::max(in_, out_) <= max_winograd_channels))
                return false;
            const index_t th = winograd::tiles_along(h), tw = winograd::tiles_along(w), tiles = th * tw;
            // Tiles per product: up to winograd_tiles, fewer where V or U V would pass
            // winograd_block_bytes (measured on ResNet shapes: 128 tiles were faster than 64, 256
            // or 512, with 32 to 256 channels, on 2 threads).
            const index_t room = std::clamp<index_t>(
                static_cast<index_t>(winograd_block_bytes / sizeof(T)) / (winograd::positions * std::max(cin, cout)), 1,
                winograd_tiles);
            index_t per = 1, rows = th;  // samples per product, tile rows per product
            if (tiles <= room)
                per = std::max<index_t>(std::min(room / tiles, nc), 1);
            else
                rows = std::max<index_t>(room / tw, 1);
            const index_t width = per > 1 ? per * tiles : rows * tw;
            if (width < min_winograd_tiles) return false;
            const index_t blocks = (th + rows - 1) / rows;  // per sample, when per == 1
            const index_t products = per > 1 ? (nc + per - 1) / per : nc * blocks;
            constexpr index_t xi = winograd::positions;
            // Each position's matrix a cache line past a multiple of the previous one's size: the 16
            // positions an input transform writes at once would otherwise often lie a multiple of
            // 4 KiB apart, in the same sets of the L1 cache.
            constexpr index_t skew = 64 / sizeof(T);
            const index_t slots = std::min(products, B::concurrency()), hw = h * w;
            scratch& ws = work();
            ws.transformed.resize({xi, cout, cin});
            {
                const T* pw = weight.data();
                T* pu = ws.transformed.data();
                const index_t o = out_, c = in_;
                B::parallel_for(cout, [=](index_t row) { winograd::transform_kernels(pw, o, c, row, adjoint, pu); },
                                cin * 9);
            }
            const index_t staging = winograd::staging_size(per > 1 ? th : rows, w);
            ws.col.resize({slots, xi * (cin * width + skew) + staging});
            ws.rows.resize({slots, xi, cout * width + skew});
            const T* pu = ws.transformed.data();
            T* pv = ws.col.data();
            T* pm = ws.rows.data();
            B::parallel_for(slots, [=](index_t item) {
                T* v = pv + item * (xi * (cin * width + skew) + staging);
                T* room_for_rows = v + xi * (cin * width + skew);
                T* m = pm + item * xi * (cout * width + skew);
                for (index_t i = item * products / slots; i < (item + 1) * products / slots; ++i) {
                    // Samples j0 .. j0 + count - 1, tile rows ty0 .. ty1 - 1 of each.
                    const index_t j0 = per > 1 ? i * per : i / blocks, count = per > 1 ? std::min(per, nc - j0) : 1;
                    const index_t ty0 = per > 1 ? 0 : (i % blocks) * rows, ty1 = per > 1 ? th : std::min(th, ty0 + rows);
                    const index_t each = (ty1 - ty0) * tw, t = count * each;
                    const index_t vs = cin * t + skew, ms = cout * t + skew;  // between positions
                    for (index_t j = 0; j < count; ++j)
                        for (index_t ch = 0; ch < cin; ++ch)
                            winograd::transform_plane(in + ((j0 + j) * cin + ch) * hw, h, w, ty0, ty1, v + ch * t, vs,
                                                      j * each, room_for_rows);
                    for (index_t x = 0; x < xi; ++x)
                        B::gemm(false, false, cout, t, cin, T(1), pu + x * cout * cin, cin, v + x * vs, t, T(0),
                                m + x * ms, t);
                    for (index_t j = 0; j < count; ++j)
                        for (index_t oc = 0; oc < cout; ++oc)
                            winograd::untransform_plane(m + oc * t, ms, j * each, bias ? bias[oc] : T(0),
                                                        out + ((j0 + j) * cout + oc) * hw, h, w, ty0, ty1);
                }
            }, (nc / slots) * xi * cout * cin * tiles);
            return true;
        }
    }
    // Measured (sib_conv_paths, 2 threads): with 256 channels (ResNet-50's 14x14 stage) the 16
    // products, 256 deep and about 100 tiles wide, were 3-13% slower than im2col's.
    static constexpr index_t min_winograd_channels = 16, max_winograd_channels = 128, min_winograd_tiles = 64,
                             winograd_tiles = 128;
    static constexpr std::size_t winograd_block_bytes = std::size_t(2) << 20;

    // The im2col matrix [K, count*P] of samples j0 .. j0 + count - 1 of x ([N, C, H, W]) side by side,
    // built in slot; for a single sample of a direct convolution, that sample itself.
    static const T* columns(const plane_geometry& g, const T* x, T* slot, index_t c, index_t j0, index_t count,
                            bool direct) {
        const index_t hw = g.h * g.w, p = g.oh * g.ow, cols = count * p, taps = g.win.area();
        if (direct && count == 1) return x + j0 * c * hw;
        for (index_t j = 0; j < count; ++j)
            for (index_t ch = 0; ch < c; ++ch)
                im2col_plane(g, x + ((j0 + j) * c + ch) * hw, slot + ch * taps * cols + j * p, cols);
        return slot;
    }

    // rows [O, count*P] <- count samples [count][O][P] side by side, and back.
    static void gather_samples(const T* samples, T* rows, index_t o, index_t p, index_t count) {
        for (index_t oc = 0; oc < o; ++oc)
            for (index_t j = 0; j < count; ++j)
                std::copy_n(samples + (j * o + oc) * p, p, rows + (oc * count + j) * p);
    }
    static void scatter_samples(const T* rows, T* samples, index_t o, index_t p, index_t count) {
        for (index_t oc = 0; oc < o; ++oc)
            for (index_t j = 0; j < count; ++j)
                std::copy_n(rows + (oc * count + j) * p, p, samples + (j * o + oc) * p);
    }

    // a / s for a >= 0, s >= 1: the strides networks use without a 64-bit division, which costs
    // tens of cycles and ran 24 times per plane (a 2x2 plane has only 36 values to copy).
    SIB_HD static index_t quotient(index_t a, index_t s) { return s == 1 ? a : s == 2 ? a >> 1 : a / s; }

    // Output positions [lo, hi) along one axis whose tap `k` lands inside an input of size `in`
    // (ix = o*s - p + k), so the rest are padding.
    SIB_HD static void inside_span(index_t k, index_t s, index_t p, index_t in, index_t out, index_t& lo,
                                   index_t& hi) {
        const index_t first = p - k;  // o*s >= first
        lo = first <= 0 ? 0 : quotient(first + s - 1, s);
        const index_t last = in - 1 + p - k;  // o*s <= last
        hi = last < 0 ? 0 : quotient(last, s) + 1;
        hi = hi < out ? hi : out;
        lo = lo < hi ? lo : hi;
    }

    // Output planes of at most this many pixels (a ResNet's 4x4 and 2x2 stages) are copied into
    // im2col rows a cell at a time, not in spans; col2im sums a cell at a time up to 2x2 (measured:
    // at 4x4 its flat spans are faster).
    static constexpr index_t tiny_plane = 16, tiny_sum_plane = 4;

    // With stride 1 and an output as wide as the input (same padding), a tap maps the flat output
    // index q to the flat input index q + shift: one contiguous span per tap, whose cells that wrap
    // around a row edge (ox < xlo or ox >= xhi) lie in the padding.
    SIB_HD static bool flat_taps(const plane_geometry& g) {
        return g.win.stride_h == 1 && g.win.stride_w == 1 && g.ow == g.w;
    }

    // The kh*kw im2col rows of one input plane: row (ki, kj) at dst + (ki*kw + kj)*row_stride holds
    // x[oh*sh - ph + ki, ow*sw - pw + kj] at q = oh*OW + ow (0 in the padding). An output row is a
    // shifted (strided) span of one input row: plain copies, the padding written at the ends.
    SIB_HD static void im2col_plane(const plane_geometry& g, const T* src, T* dst0, index_t row_stride) {
        const window2d& w = g.win;
        const index_t h = g.h, wd = g.w, oh = g.oh, ow = g.ow, p = oh * ow;
        if (p <= tiny_plane) {  // a cell at a time: spans of one or two cells cost more than they save
            for (index_t ki = 0; ki < w.kernel_h; ++ki)
                for (index_t kj = 0; kj < w.kernel_w; ++kj) {
                    T* dst = dst0 + (ki * w.kernel_w + kj) * row_stride;
                    for (index_t oy = 0; oy < oh; ++oy) {
                        const index_t iy = oy * w.stride_h - w.pad_h + ki;
                        const bool row_inside = iy >= 0 && iy < h;
                        const T* s = src + (row_inside ? iy * wd : 0);
                        for (index_t ox = 0; ox < ow; ++ox) {
                            const index_t ix = ox * w.stride_w - w.pad_w + kj;
                            dst[oy * ow + ox] = row_inside && ix >= 0 && ix < wd ? s[ix] : T(0);
                        }
                    }
                }
            return;
        }
        const bool flat = flat_taps(g);
        for (index_t ki = 0; ki < w.kernel_h; ++ki) {
            index_t ylo, yhi;
            inside_span(ki, w.stride_h, w.pad_h, h, oh, ylo, yhi);
            for (index_t kj = 0; kj < w.kernel_w; ++kj) {
                index_t xlo, xhi;
                inside_span(kj, w.stride_w, w.pad_w, wd, ow, xlo, xhi);
                T* dst = dst0 + (ki * w.kernel_w + kj) * row_stride;
                if (flat) {
                    const index_t shift = (ki - w.pad_h) * wd + (kj - w.pad_w);
                    const bool any = ylo < yhi && xlo < xhi;
                    const index_t a = any ? ylo * ow + xlo : p, b = any ? (yhi - 1) * ow + xhi : p;
                    for (index_t q = 0; q < a; ++q) dst[q] = T(0);
                    for (index_t q = a; q < b; ++q) dst[q] = src[q + shift];
                    for (index_t q = b; q < p; ++q) dst[q] = T(0);
                    for (index_t oy = ylo; any && oy < yhi; ++oy) {
                        for (index_t ox = 0; ox < xlo; ++ox) dst[oy * ow + ox] = T(0);
                        for (index_t ox = xhi; ox < ow; ++ox) dst[oy * ow + ox] = T(0);
                    }
                    continue;
                }
                for (index_t q = 0; q < ylo * ow; ++q) dst[q] = T(0);
                for (index_t oy = ylo; oy < yhi; ++oy) {
                    T* d = dst + oy * ow;
                    const T* s = src + (oy * w.stride_h - w.pad_h + ki) * wd;
                    const index_t shift = kj - w.pad_w;
                    for (index_t ox = 0; ox < xlo; ++ox) d[ox] = T(0);
                    if (w.stride_w == 1)
                        for (index_t ox = xlo; ox < xhi; ++ox) d[ox] = s[ox + shift];
                    else
                        for (index_t ox = xlo; ox < xhi; ++ox) d[ox] = s[ox * w.stride_w + shift];
                    for (index_t ox = xhi; ox < ow; ++ox) d[ox] = T(0);
                }
                for (index_t q = yhi * ow; q < p; ++q) dst[q] = T(0);
            }
        }
    }

    // The transpose of im2col_plane: the plane dst (overwritten) sums the shifted spans of its kh*kw
    // rows, P-long rows row_stride apart from src. On the flat path the padding cells of src
    // (scratch by then) are zeroed first, so that one contiguous span per tap adds exactly 0 where
    // it wraps around a row edge.
    SIB_HD static void col2im_plane(const plane_geometry& g, T* src0, T* dst, index_t row_stride) {
        const window2d& w = g.win;
        const index_t h = g.h, wd = g.w, oh = g.oh, ow = g.ow;
        const bool flat = flat_taps(g);
        for (index_t i = 0; i < h * wd; ++i) dst[i] = T(0);
        if (oh * ow <= tiny_sum_plane) {
            for (index_t ki = 0; ki < w.kernel_h; ++ki)
                for (index_t kj = 0; kj < w.kernel_w; ++kj) {
                    const T* src = src0 + (ki * w.kernel_w + kj) * row_stride;
                    for (index_t oy = 0; oy < oh; ++oy) {
                        const index_t iy = oy * w.stride_h - w.pad_h + ki;
                        if (iy < 0 || iy >= h) continue;
                        for (index_t ox = 0; ox < ow; ++ox) {
                            const index_t ix = ox * w.stride_w - w.pad_w + kj;
                            if (ix >= 0 && ix < wd) dst[iy * wd + ix] += src[oy * ow + ox];
                        }
                    }
                }
            return;
        }
        for (index_t ki = 0; ki < w.kernel_h; ++ki) {
            index_t ylo, yhi;
            inside_span(ki, w.stride_h, w.pad_h, h, oh, ylo, yhi);
            for (index_t kj = 0; kj < w.kernel_w; ++kj) {
                index_t xlo, xhi;
                inside_span(kj, w.stride_w, w.pad_w, wd, ow, xlo, xhi);
                T* src = src0 + (ki * w.kernel_w + kj) * row_stride;
                if (flat) {
                    if (ylo >= yhi || xlo >= xhi) continue;
                    const index_t shift = (ki - w.pad_h) * wd + (kj - w.pad_w);
                    for (index_t oy = ylo; oy < yhi; ++oy) {
                        for (index_t ox = 0; ox < xlo; ++ox) src[oy * ow + ox] = T(0);
                        for (index_t ox = xhi; ox < ow; ++ox) src[oy * ow + ox] = T(0);
                    }
                    const index_t a = ylo * ow + xlo, b = (yhi - 1) * ow + xhi;
                    for (index_t q = a; q < b; ++q) dst[q + shift] += src[q];
                    continue;
                }
                for (index_t oy = ylo; oy < yhi; ++oy) {
                    const T* s = src + oy * ow;
                    T* d = dst + (oy * w.stride_h - w.pad_h + ki) * wd;
                    const index_t shift = kj - w.pad_w;
                    if (w.stride_w == 1)
                        for (index_t ox = xlo; ox < xhi; ++ox) d[ox + shift] += s[ox];
                    else
                        for (index_t ox = xlo; ox < xhi; ++ox) d[ox * w.stride_w + shift] += s[ox];
                }
            }
        }
    }

    // rows [o, p] = b[o], the bias under an output sample.
    SIB_HD static void fill_rows(T* rows, const T* b, index_t o, index_t p) {
        for (index_t oc = 0; oc < o; ++oc)
            for (index_t q = 0; q < p; ++q) rows[oc * p + q] = b[oc];
    }

    // Sum of n values in eight interleaved partial sums (one SIMD register of floats), so the
    // loop vectorises; the order is fixed, so the result does not depend on the thread count.
    SIB_HD static T row_sum(const T* v, index_t n) {
        T part[8] = {};
        index_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; ++l) part[l] += v[i + l];
        T s = 0;
        for (int l = 0; l < 8; ++l) s += part[l];
        for (; i < n; ++i) s += v[i];
        return s;
    }


private:
    index_t in_, out_;
    window2d win_;
    bool with_bias_;
    index_t workspace_limit_ = default_workspace_limit;
    bool winograd_ = true;
    scratch own_;  // used where the rules' items are not host threads
};

}  // namespace nn
SIB_END_NAMESPACE
