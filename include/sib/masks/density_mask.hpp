// The differentiable density mask M [B,1,H,W] of a decoded map R [B,C,H,W] (docs/objective.md, "Density
// mask"): the channel-mean magnitude, normalised between its soft 5% and 95% quantiles,
// softly thresholded at its soft 80% quantile, box-averaged so that isolated pixels fade and dense
// regions stay, and softly thresholded again. Every quantile depends on the values, so the VJP
// runs through all of them (no stop-gradient).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/masks/soft_quantile.hpp>
#include <algorithm>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace masks {

struct density_mask_options {
    index_t window = 0;  // 0: 2*floor(15*min(H,W)/224)+1 (31 at 224 px, 3 at 28 px)
    double temperature = 0.1;
    double slope = 10;
    double q_low = 0.05, q_high = 0.95, q_intensity = 0.8, q_density = 0.8;
};

template <class T, class B = cpu>
class density_mask {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit density_mask(const density_mask_options& o = {})
        : opt_(o),
          sq_low_(o.q_low, o.temperature),
          sq_high_(o.q_high, o.temperature),
          sq_intensity_(o.q_intensity, o.temperature),
          sq_density_(o.q_density, o.temperature) {
        require(o.window == 0 || (o.window > 0 && o.window % 2 == 1),
                "density mask: window must be odd and positive, got ", o.window);
        require(o.slope > 0, "density mask: slope must be positive, got ", o.slope);
    }

    const density_mask_options& options() const { return opt_; }

    // The window used for an image of h x w pixels.
    index_t window_for(index_t h, index_t w) const {
        return opt_.window != 0 ? opt_.window : 2 * ((15 * std::min(h, w)) / 224) + 1;
    }

    sib::shape output_shape(const sib::shape& r) const {
        require(r.rank() == 4, "density mask: expects R [B,C,H,W], got ", r.str());
        return {r[0], 1, r[2], r[3]};
    }

    // R [B,C,H,W] -> M [B,1,H,W] (M is resized). Keeps what vjp needs.
    void forward(const tensor_type& r, tensor_type& m) {
        const sib::shape ms = output_shape(r.shape());
        batch_ = r.dim(0);
        channels_ = r.dim(1);
        height_ = r.dim(2);
        width_ = r.dim(3);
        k_ = window_for(height_, width_);
        require(channels_ > 0 && height_ > 0 && width_ > 0, "density mask: empty image ",
                r.shape().str());
        const sib::shape rows{batch_, height_ * width_};
        for (tensor_type* t : {&mean_, &g_, &gn_, &h_, &d_, &m_, &pool_tmp_, &bar_a_, &bar_b_})
            t->resize(rows);
        const index_t n = height_ * width_, total = batch_ * n, c = channels_;
        const T slope = static_cast<T>(opt_.slope);

        // g = |mean_c R|; the signed mean is kept for the sign in vjp.
        {
            const T* pr = r.data();
            T* pmean = mean_.data();
            T* pg = g_.data();
            B::parallel_for(total, [=] SIB_HD(index_t e) {
                const index_t b = e / n, p = e - b * n;
                const T* src = pr + b * c * n + p;
                T s = 0;
                for (index_t ch = 0; ch < c; ++ch) s += src[ch * n];
                const T mean = s / static_cast<T>(c);
                pmean[e] = mean;
                pg[e] = mean < T(0) ? -mean : mean;
            }, c);
        }
        // gn = (g - lo) / (hi - lo + 1e-8)
        sq_low_.forward(g_, lo_);
        sq_high_.forward(g_, hi_);
        {
            const T* pg = g_.data();
            const T* plo = lo_.data();
            const T* phi = hi_.data();
            T* pgn = gn_.data();
            B::parallel_for(total, [=] SIB_HD(index_t e) {
                const index_t b = e / n;
                pgn[e] = (pg[e] - plo[b]) / (phi[b] - plo[b] + T(1e-8));
            });
        }
        // h = sigmoid(slope (gn - sq(gn, q_intensity)))
        sq_intensity_.forward(gn_, q_intensity_value_);
        soft_threshold(gn_, q_intensity_value_, slope, h_);
        // d = box mean of h; M = sigmoid(slope (d - sq(d, q_density)))
        box_mean(h_, d_);
        sq_density_.forward(d_, q_density_value_);
        soft_threshold(d_, q_density_value_, slope, m_);
        m.resize(ms);
        B::copy(total, m_.data(), m.data());
    }

    // Rbar += (dM/dR)^T Mbar, at the R of the last forward. Adds, because the foreground term also
    // sends gradient to R directly.
    void vjp(const tensor_type& mbar, tensor_type& rbar) {
        const sib::shape rs{batch_, channels_, height_, width_};
        require(mbar.size() == batch_ * height_ * width_ && mbar.rank() == 4 &&
                    mbar.dim(0) == batch_ && mbar.dim(2) == height_ && mbar.dim(3) == width_,
                "density mask: vjp expects Mbar [", batch_, ",1,", height_, ",", width_,
                "] as the last forward, got ", mbar.shape().str());
        require(rbar.shape() == rs, "density mask: vjp expects Rbar ", rs.str(), ", got ",
                rbar.shape().str());
        const index_t n = height_ * width_, total = batch_ * n;
        const T slope = static_cast<T>(opt_.slope);
        row_bar_.resize({batch_});
        row_bar2_.resize({batch_});

        // Through M = sigmoid(slope (d - qd)): bar_a = dbar.
        soft_threshold_vjp(mbar, m_, slope, bar_a_, row_bar_);
        sq_density_.vjp(row_bar_, bar_a_);
        // Through the box mean, which is its own adjoint (symmetric window, zero padding counted).
        box_mean(bar_a_, bar_b_);
        // Through h = sigmoid(slope (gn - qi)): bar_a = gnbar.
        soft_threshold_vjp(bar_b_, h_, slope, bar_a_, row_bar_);
        sq_intensity_.vjp(row_bar_, bar_a_);
        // Through gn = (g - lo) / den, den = hi - lo + 1e-8: bar_b = gbar.
        {
            const T* pgnbar = bar_a_.data();
            const T* pgn = gn_.data();
            const T* plo = lo_.data();
            const T* phi = hi_.data();
            T* pgbar = bar_b_.data();
            T* plobar = row_bar_.data();
            T* phibar = row_bar2_.data();
            B::parallel_for(batch_, [=] SIB_HD(index_t b) {
                const T den = phi[b] - plo[b] + T(1e-8);
                T lo_bar = 0, hi_bar = 0;
                for (index_t p = b * n; p < (b + 1) * n; ++p) {
                    pgbar[p] = pgnbar[p] / den;
                    lo_bar += pgnbar[p] * (pgn[p] - T(1));
                    hi_bar -= pgnbar[p] * pgn[p];
                }
                plobar[b] = lo_bar / den;
                phibar[b] = hi_bar / den;
            }, n);
        }
        sq_low_.vjp(row_bar_, bar_b_);
        sq_high_.vjp(row_bar2_, bar_b_);
        // Through g = |mean_c R|, with sign(0) = 0 as torch.
        {
            const T* pgbar = bar_b_.data();
            const T* pmean = mean_.data();
            T* pr = rbar.data();
            const index_t c = channels_;
            const T inv_c = T(1) / static_cast<T>(c);
            B::parallel_for(total * c, [=] SIB_HD(index_t e) {
                const index_t b = e / (c * n), p = e % n;
                const T mean = pmean[b * n + p];
                const T sign = mean > T(0) ? T(1) : (mean < T(0) ? T(-1) : T(0));
                pr[e] += pgbar[b * n + p] * sign * inv_c;
            });
        }
    }

    // The window of the last forward.
    index_t window() const { return k_; }

SIB_KERNELS:
    // y = sigmoid(slope (x - q_row)).
    void soft_threshold(const tensor_type& x, const tensor_type& q, T slope, tensor_type& y) const {
        const index_t n = x.dim(1);
        const T* px = x.data();
        const T* pq = q.data();
        T* py = y.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t e) {
            py[e] = T(1) / (T(1) + std::exp(-slope * (px[e] - pq[e / n])));
        });
    }

    // For y = sigmoid(slope (x - q_row)): xbar = ybar slope y (1 - y) (overwritten), and
    // qbar_row = -sum_row xbar.
    void soft_threshold_vjp(const tensor_type& ybar, const tensor_type& y, T slope, tensor_type& xbar,
                            tensor_type& qbar) const {
        const index_t n = y.dim(1);
        const T* pyb = ybar.data();
        const T* py = y.data();
        T* pxb = xbar.data();
        T* pqb = qbar.data();
        B::parallel_for(y.dim(0), [=] SIB_HD(index_t b) {
            T s = 0;
            for (index_t p = b * n; p < (b + 1) * n; ++p) {
                pxb[p] = pyb[p] * slope * py[p] * (T(1) - py[p]);
                s += pxb[p];
            }
            pqb[b] = -s;
        }, n);
    }

    // k x k mean, stride 1, zero padding k/2 counted in the mean, as two 1-D box sums (rows, then
    // columns): 2k instead of k^2 operations per pixel, which matters at k = 31.
    void box_mean(const tensor_type& x, tensor_type& y) {
        const index_t hh = height_, ww = width_, half = k_ / 2, n = hh * ww;
        const T scale = T(1) / static_cast<T>(k_ * k_);
        const T* px = x.data();
        T* pt = pool_tmp_.data();
        T* py = y.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t e) {
            const index_t row = e / ww, col = e - row * ww;
            const index_t lo = col - half < 0 ? 0 : col - half;
            const index_t hi = col + half >= ww ? ww - 1 : col + half;
            const T* src = px + row * ww;
            T s = 0;
            for (index_t j = lo; j <= hi; ++j) s += src[j];
            pt[e] = s;
        }, k_);
        B::parallel_for(x.size(), [=] SIB_HD(index_t e) {
            const index_t b = e / n, p = e - b * n, row = p / ww, col = p - row * ww;
            const index_t lo = row - half < 0 ? 0 : row - half;
            const index_t hi = row + half >= hh ? hh - 1 : row + half;
            const T* src = pt + b * n + col;
            T s = 0;
            for (index_t i = lo; i <= hi; ++i) s += src[i * ww];
            py[e] = s * scale;
        }, k_);
    }

private:
    density_mask_options opt_;
    soft_quantile<T, B> sq_low_, sq_high_, sq_intensity_, sq_density_;
    index_t batch_ = 0, channels_ = 0, height_ = 0, width_ = 0, k_ = 0;
    // Per pixel [B, H*W]: signed channel mean, g, gn, h, d, M, and workspace.
    tensor_type mean_, g_, gn_, h_, d_, m_, pool_tmp_, bar_a_, bar_b_;
    // Per sample [B].
    tensor_type lo_, hi_, q_intensity_value_, q_density_value_, row_bar_, row_bar2_;
};

}  // namespace masks
SIB_END_NAMESPACE
