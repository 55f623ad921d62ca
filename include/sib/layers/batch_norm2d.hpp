// BatchNorm2d(num_features, eps, momentum, affine) with PyTorch's semantics on [N,C,H,W].
//
// Per channel c over its m = N*H*W values: mu = mean(x), var = mean((x-mu)^2) (biased),
// istd = 1/sqrt(var+eps), xhat = (x-mu) istd, y = gamma xhat + beta. In training the statistics
// are the batch's, so the batch couples samples and every rule below is the full batch-norm
// Jacobian, which is symmetric:
//   J^T g = J g = gamma istd (g - mean(g) - xhat mean(g xhat)).
// Its second-order terms (docs/second-order.md table), with a_v = mean(v xhat):
//   mixed      d/dgamma <t, J^T g> = istd (sum(t g) - m mean(t) mean(g) - m a_t a_g)
//   curvature  d/dx <t, J^T g> = gamma istd^2 (3 xhat a_t a_g - xhat (mean(t g) - mean(t) mean(g))
//                                               - (t - mean(t)) a_g - (g - mean(g)) a_t)
// (beta does not enter J). In evaluation the running statistics make the layer affine per channel:
// J = gamma istd, no curvature (has_curvature stays true, a compile-time constant, and the rule
// adds zero).
//
// The rules differentiate the last forward call: they use the statistics and the mode it cached
// (mean, istd) and rebuild xhat from x, which every rule receives, instead of keeping an
// activation-sized copy of it. So call forward(x) before the rules on x, as the S-IB sweep does.
// Running statistics change only in a training forward: running_mean, running_var (unbiased) move
// by `momentum`, or by the cumulative average 1/num_batches_tracked when momentum is nullopt
// (PyTorch's momentum=None).
#pragma once
#include <sib/layers/layer.hpp>
#include <cmath>
#include <optional>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class batch_norm2d : public layer_base<T, B> {
public:
    using tensor_type = tensor<T, B>;
    static constexpr bool rules_ignore_output = true;  // they read x, gy and tx (core/concepts.hpp)
    static constexpr bool has_mixed = true;
    static constexpr bool has_curvature = true;

    tensor_type weight, bias, weight_grad, bias_grad;
    tensor_type running_mean, running_var;
    index_t num_batches_tracked = 0;
    bool training = true;

    explicit batch_norm2d(index_t num_features, double eps = 1e-5,
                          std::optional<double> momentum = 0.1, bool affine = true)
        : c_(num_features), eps_(eps), momentum_(momentum), affine_(affine) {
        require(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
        require(eps > 0, "BatchNorm2d: eps must be positive, got ", eps);
        if (affine_) {
            weight.resize({c_});
            bias.resize({c_});
            weight_grad.resize({c_});
            bias_grad.resize({c_});
            weight_grad.zero();
            bias_grad.zero();
        }
        running_mean.resize({c_});
        running_var.resize({c_});
        mean_.resize({c_});
        istd_.resize({c_});
        sums_.resize({num_sums * c_});
        reset_parameters();
    }

    index_t num_features() const { return c_; }
    double eps() const { return eps_; }
    std::optional<double> momentum() const { return momentum_; }
    bool affine() const { return affine_; }

    // PyTorch's initialisation: gamma 1, beta 0, running mean 0, running variance 1, count 0.
    void reset_running_stats() {
        running_mean.zero();
        running_var.fill(T(1));
        num_batches_tracked = 0;
    }
    void reset_parameters() {
        reset_running_stats();
        if (affine_) {
            weight.fill(T(1));
            bias.zero();
        }
    }

    sib::shape output_shape(const sib::shape& in) const {
        require(in.rank() == 4 && in[1] == c_, "BatchNorm2d(", c_, "): expects input [N,", c_,
                ",H,W], got ", in.str());
        return in;
    }

    void forward(const tensor_type& x, tensor_type& y) {
        const sib::shape& s = x.shape();
        output_shape(s);
        const index_t c = c_, hw = s[2] * s[3], n = s[0], m = n * hw;
        T* mean = mean_.data();
        T* istd = istd_.data();
        const double eps = eps_;
        trained_ = training;
        if (training) {
            require(m > 1, "BatchNorm2d: expected more than 1 value per channel when training, got input ",
                    s.str());
            ++num_batches_tracked;
            const double factor = momentum_ ? *momentum_ : 1.0 / static_cast<double>(num_batches_tracked);
            const T* px = x.data();
            T* rm = running_mean.data();
            T* rv = running_var.data();
            // In double, two passes over each plane while it is in cache (its sum, then its squared
            // deviations from its own mean), the planes merged as they come (Chan, Golub and
            // LeVeque: the spread of a plane's mean from the mean of the planes before it adds to
            // the squared deviations). The variance of data far from zero keeps its digits, and x
            // is read from memory once.
            B::parallel_for(
                c,
                [=] SIB_HD(index_t ch) {
                    double total = 0, squared = 0;
                    for (index_t b = 0; b < n; ++b) {
                        const T* plane = px + (b * c + ch) * hw;
                        double sum[1];
                        lane_sums(1, 1, 0, hw, sum, [=](index_t i, double* acc) {
                            acc[0] = static_cast<double>(plane[i]);
                        });
                        const double plane_mean = sum[0] / static_cast<double>(hw);
                        double sq[1];
                        lane_sums(1, 1, 0, hw, sq, [=](index_t i, double* acc) {
                            const double d = static_cast<double>(plane[i]) - plane_mean;
                            acc[0] = d * d;
                        });
                        const double seen = static_cast<double>(b * hw), count = static_cast<double>((b + 1) * hw);
                        const double delta = b > 0 ? plane_mean - total / seen : 0.0;  // from the planes before
                        squared += sq[0] + delta * delta * seen * static_cast<double>(hw) / count;
                        total += sum[0];
                    }
                    const double mu = total / static_cast<double>(m);
                    const double var = squared / static_cast<double>(m);
                    mean[ch] = static_cast<T>(mu);
                    istd[ch] = static_cast<T>(1.0 / std::sqrt(var + eps));
                    const double unbiased = squared / static_cast<double>(m - 1);
                    rm[ch] = static_cast<T>((1.0 - factor) * static_cast<double>(rm[ch]) + factor * mu);
                    rv[ch] = static_cast<T>((1.0 - factor) * static_cast<double>(rv[ch]) + factor * unbiased);
                },
                2 * m);
        } else {
            const T* rm = running_mean.data();
            const T* rv = running_var.data();
            B::parallel_for(c, [=] SIB_HD(index_t ch) {
                mean[ch] = rm[ch];
                istd[ch] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[ch]) + eps));
            });
        }
        const T* px = x.data();
        const T* pw = affine_ ? weight.data() : nullptr;
        const T* pb = affine_ ? bias.data() : nullptr;
        T* py = y.data();
        for_each_element(
            x,
            [=] SIB_HD(index_t ch) {
                return forward_constants{mean[ch], istd[ch], pw ? pw[ch] : T(1), pw ? pb[ch] : T(0)};
            },
            [=] SIB_HD(index_t i, const forward_constants& k) {
                const T xhat = (px[i] - k.mean) * k.istd;
                py[i] = pw ? k.weight * xhat + k.bias : xhat;
            });
    }

    void vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        apply_jacobian(x, gy, gx);
    }

    void param_vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy) {
        if (!affine_) return;
        channel_sums(x, gy);
        add_parameter_gradients();
    }

    // param_vjp and vjp from one pass of sums: both need sum(gy) and sum(gy xhat) per channel.
    void fused_backward(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        if (affine_ || trained_) channel_sums(x, gy);
        if (affine_) add_parameter_gradients();
        jacobian_from_sums(x, gy, gx);
    }

    // J is symmetric, so J tx is the vjp's formula applied to tx.
    void jvp(const tensor_type& x, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        apply_jacobian(x, tx, ty);
    }

    void mixed(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy) {
        if (!affine_) return;
        channel_sums(x, tx, gy);
        add_mixed(x);
    }

    void curvature(const tensor_type& x, const tensor_type&, const tensor_type& tx,
                   const tensor_type& gy, tensor_type& ax) {
        if (!trained_) return;
        channel_sums(x, tx, gy);
        add_curvature(x, tx, gy, ax);
    }

    // jvp, mixed and curvature from one pass of the five sums (the first two rows are the ones jvp
    // needs), instead of two passes of five and one of two.
    void fused_tangent(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                       tensor_type& ty, tensor_type* ax, bool parameters) {
        const bool mixed_term = parameters && affine_, curvature_term = ax && trained_;
        if (mixed_term || curvature_term)
            channel_sums(x, tx, gy);
        else if (trained_)
            channel_sums(x, tx);
        if (mixed_term) add_mixed(x);
        if (curvature_term) add_curvature(x, tx, gy, *ax);
        jacobian_from_sums(x, tx, ty);
    }

    template <class F>
    void for_each_parameter(F&& f) {
        if (affine_) {
            f("weight", weight, &weight_grad);
            f("bias", bias, &bias_grad);
        }
        f("running_mean", running_mean, static_cast<tensor_type*>(nullptr));
        f("running_var", running_var, static_cast<tensor_type*>(nullptr));
    }

    // PyTorch keeps this buffer as int64, so it travels apart from the T-valued ones.
    template <class F>
    void for_each_counter(F&& f) {
        f(std::string_view("num_batches_tracked"), num_batches_tracked);
    }

SIB_KERNELS:
    // Whether B's parallel_for items run on host threads (sib::cpu), as in conv2d.
    static constexpr bool host_items = requires { requires B::nested_primitives; };

    // f(i, k) for every element i of x ([N,C,H,W]), with k = per_channel(ch) of its channel ch (the
    // channel's constants: statistics, sums, weights). On host threads one item is one plane: its
    // channel is known without dividing each index (a 64-bit division per element was most of
    // these loops' time), and its constants are values the compiler keeps in registers, so the
    // plane's loop vectorises (read through pointers, they could alias the output and were loaded
    // again for every element). Elsewhere one item is one element.
    template <class PerChannel, class F>
    static void for_each_element(const tensor_type& x, PerChannel per_channel, F f) {
        const index_t c = x.dim(1), hw = x.dim(2) * x.dim(3);
        if constexpr (host_items) {
            B::parallel_for(x.dim(0) * c, [=](index_t plane) {
                const auto k = per_channel(plane % c);
                for (index_t i = plane * hw; i < (plane + 1) * hw; ++i) f(i, k);
            }, hw);
        } else {
            B::parallel_for(x.size(), [=] SIB_HD(index_t i) { f(i, per_channel((i / hw) % c)); });
        }
    }

    // Per-channel constants of the elementwise passes (class types: nvcc's extended lambdas take no
    // local ones).
    struct forward_constants {
        T mean, istd, weight, bias;
    };
    struct curvature_constants {
        T mean, istd, scale, mt, mg, at, ag, xhat_coefficient;
    };
    struct jacobian_constants {
        T mean, istd, scale, mv, av;
    };

    // (The terms are plain lambdas: nvcc allows no extended __host__ __device__ lambda inside
    // another, and a lambda inside one takes its execution space.)
    // out[k] = the sum over channel ch's planes (n of them, hw values each, [N,C,H,W]) of the k-th
    // value term(i, acc) writes into acc[k] for element i. In double, in eight interleaved partial
    // sums per value, so the loop vectorises instead of waiting on one addition chain per value;
    // the order is fixed by the shape alone, so any thread count gives the same bits.
    template <int S, class F>
    SIB_HD static void lane_sums(index_t n, index_t c, index_t ch, index_t hw, double (&out)[S], F term) {
        constexpr int lanes = 8;
        double part[S][lanes] = {};
        double v[S];
        for (index_t b = 0; b < n; ++b) {
            const index_t base = (b * c + ch) * hw;
            index_t j = 0;
            for (; j + lanes <= hw; j += lanes) {
                // All lanes' terms first, then the sums: lane l's values lie side by side, so the
                // terms and the additions vectorise across the lanes.
                double w[S][lanes];
                for (int l = 0; l < lanes; ++l) {
                    term(base + j + l, v);
                    for (int k = 0; k < S; ++k) w[k][l] = v[k];
                }
                for (int k = 0; k < S; ++k)
                    for (int l = 0; l < lanes; ++l) part[k][l] += w[k][l];
            }
            for (; j < hw; ++j) {
                term(base + j, v);
                for (int k = 0; k < S; ++k) part[k][j % lanes] += v[k];
            }
        }
        for (int k = 0; k < S; ++k) {
            out[k] = 0;
            for (int l = 0; l < lanes; ++l) out[k] += part[k][l];
        }
    }

    // Rows of sums_, each [C]: sum(a), sum(b), sum(a b), sum(a xhat), sum(b xhat).
    static constexpr index_t sum_a = 0, sum_b = 1, sum_ab = 2, sum_a_xhat = 3, sum_b_xhat = 4,
                             num_sums = 5;

    // Rows sum_a and sum_a_xhat of sums_ for a alone: all that J a and the affine parameters'
    // gradients need (vjp, jvp and param_vjp), in the same order as the five sums, so the same bits.
    void channel_sums(const tensor_type& x, const tensor_type& a) {
        const index_t c = c_, hw = x.dim(2) * x.dim(3), n = x.dim(0);
        const T* px = x.data();
        const T* pa = a.data();
        const T* mean = mean_.data();
        const T* istd = istd_.data();
        T* sums = sums_.data();
        B::parallel_for(
            c,
            [=] SIB_HD(index_t ch) {
                const double mu = static_cast<double>(mean[ch]), is = static_cast<double>(istd[ch]);
                double s[2];
                lane_sums(n, c, ch, hw, s, [=](index_t i, double* acc) {
                    const double va = static_cast<double>(pa[i]);
                    acc[0] = va;
                    acc[1] = va * ((static_cast<double>(px[i]) - mu) * is);
                });
                sums[sum_a * c + ch] = static_cast<T>(s[0]);
                sums[sum_a_xhat * c + ch] = static_cast<T>(s[1]);
            },
            4 * n * hw);
    }

    // All five rows of sums_ (mixed and curvature), over (N,H,W) in double; xhat from the last
    // forward's mean and istd.
    void channel_sums(const tensor_type& x, const tensor_type& a, const tensor_type& b) {
        const index_t c = c_, hw = x.dim(2) * x.dim(3), n = x.dim(0);
        const T* px = x.data();
        const T* pa = a.data();
        const T* pb = b.data();
        const T* mean = mean_.data();
        const T* istd = istd_.data();
        T* sums = sums_.data();
        B::parallel_for(
            c,
            [=] SIB_HD(index_t ch) {
                const double mu = static_cast<double>(mean[ch]), is = static_cast<double>(istd[ch]);
                double s[num_sums];
                lane_sums(n, c, ch, hw, s, [=](index_t i, double* acc) {
                    const double va = static_cast<double>(pa[i]), vb = static_cast<double>(pb[i]);
                    const double xhat = (static_cast<double>(px[i]) - mu) * is;
                    acc[sum_a] = va;
                    acc[sum_b] = vb;
                    acc[sum_ab] = va * vb;
                    acc[sum_a_xhat] = va * xhat;
                    acc[sum_b_xhat] = vb * xhat;
                });
                for (index_t k = 0; k < num_sums; ++k) sums[k * c + ch] = static_cast<T>(s[k]);
            },
            8 * n * hw);
    }

    // weight_grad += the mixed term, from the sums of channel_sums(x, tx, gy).
    void add_mixed(const tensor_type& x) {
        const T* sums = sums_.data();
        const T* istd = istd_.data();
        T* gw = weight_grad.data();
        const index_t c = c_;
        const T m = static_cast<T>(x.size() / c);
        const bool batch_stats = trained_;
        B::parallel_for(c, [=] SIB_HD(index_t ch) {
            const T st = sums[sum_a * c + ch], sg = sums[sum_b * c + ch];
            const T stg = sums[sum_ab * c + ch];
            const T stx = sums[sum_a_xhat * c + ch], sgx = sums[sum_b_xhat * c + ch];
            gw[ch] += batch_stats ? istd[ch] * (stg - (st * sg + stx * sgx) / m) : istd[ch] * stg;
        });
    }

    // ax += the curvature term (batch statistics), from the sums of channel_sums(x, tx, gy).
    void add_curvature(const tensor_type& x, const tensor_type& tx, const tensor_type& gy, tensor_type& ax) {
        const T* sums = sums_.data();
        const T* mean = mean_.data();
        const T* istd = istd_.data();
        const T* pw = affine_ ? weight.data() : nullptr;
        const T* px = x.data();
        const T* pt = tx.data();
        const T* pg = gy.data();
        T* pa = ax.data();
        const index_t c = c_;
        const T inv_m = T(1) / static_cast<T>(x.size() / c);
        for_each_element(
            x,
            [=] SIB_HD(index_t ch) {
                const T mt = sums[sum_a * c + ch] * inv_m, mg = sums[sum_b * c + ch] * inv_m;
                const T cov_tg = sums[sum_ab * c + ch] * inv_m - mt * mg;
                const T at = sums[sum_a_xhat * c + ch] * inv_m, ag = sums[sum_b_xhat * c + ch] * inv_m;
                const T is = istd[ch];
                const T gamma = pw ? pw[ch] : T(1);
                return curvature_constants{mean[ch], is, gamma * is * is, mt, mg, at, ag, T(3) * at * ag - cov_tg};
            },
            [=] SIB_HD(index_t i, const curvature_constants& k) {
                const T xhat = (px[i] - k.mean) * k.istd;
                pa[i] += k.scale * (xhat * k.xhat_coefficient - (pt[i] - k.mt) * k.ag - (pg[i] - k.mg) * k.at);
            });
    }

    // weight_grad += sum(gy xhat), bias_grad += sum(gy), from the sums of channel_sums(x, gy).
    void add_parameter_gradients() {
        const T* sums = sums_.data();
        T* gw = weight_grad.data();
        T* gb = bias_grad.data();
        const index_t c = c_;
        B::parallel_for(c, [=] SIB_HD(index_t ch) {
            gw[ch] += sums[sum_a_xhat * c + ch];
            gb[ch] += sums[sum_a * c + ch];
        });
    }

    // out = J v: gamma istd (v - mean(v) - xhat mean(v xhat)) with batch statistics, gamma istd v
    // with running ones.
    void apply_jacobian(const tensor_type& x, const tensor_type& v, tensor_type& out) {
        if (trained_) channel_sums(x, v);
        jacobian_from_sums(x, v, out);
    }

    // apply_jacobian once channel_sums(x, v) has run (with batch statistics; running ones need none).
    void jacobian_from_sums(const tensor_type& x, const tensor_type& v, tensor_type& out) {
        const index_t c = c_;
        const T* mean = mean_.data();
        const T* istd = istd_.data();
        const T* pw = affine_ ? weight.data() : nullptr;
        const T* px = x.data();
        const T* pv = v.data();
        T* po = out.data();
        if (!trained_) {
            for_each_element(
                x, [=] SIB_HD(index_t ch) { return (pw ? pw[ch] : T(1)) * istd[ch]; },
                [=] SIB_HD(index_t i, T scale) { po[i] = scale * pv[i]; });
            return;
        }
        const T* sums = sums_.data();
        const T inv_m = T(1) / static_cast<T>(x.size() / c);
        for_each_element(
            x,
            [=] SIB_HD(index_t ch) {
                return jacobian_constants{mean[ch], istd[ch], (pw ? pw[ch] : T(1)) * istd[ch], sums[sum_a * c + ch] * inv_m,
                                 sums[sum_a_xhat * c + ch] * inv_m};
            },
            [=] SIB_HD(index_t i, const jacobian_constants& k) {
                const T xhat = (px[i] - k.mean) * k.istd;
                po[i] = k.scale * (pv[i] - k.mv - xhat * k.av);
            });
    }

private:
    index_t c_;
    double eps_;
    std::optional<double> momentum_;
    bool affine_;
    bool trained_ = true;  // mode of the last forward, which the rules differentiate
    tensor_type mean_, istd_, sums_;
};

}  // namespace nn
SIB_END_NAMESPACE
