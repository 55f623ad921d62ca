// The two S-IB terms of docs/objective.md. The soft mask M splits the explanation R:
//   foreground = Estimator(normalize(R*M), normalize(x*M))   (dependence to raise)
//   background = Estimator(R*(1-M), x*(1-M))                  (by default the variance proxy)
// Both send gradient to R directly and through M (no stop-gradient), via ctx.Rbar and ctx.Mbar.
#pragma once
#include <sib/loss/context.hpp>
#include <sib/mi/hsic_linear.hpp>
#include <sib/mi/normalize_rows.hpp>
#include <sib/mi/variance_proxy.hpp>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace loss {
namespace detail {

// dst = src * m (or src * (1-m)), m [B,1,H,W] broadcast over the channels of src [B,C,H,W].
template <class T, class B>
void apply_mask(const tensor<T, B>& src, const tensor<T, B>& m, bool complement, tensor<T, B>& dst) {
    dst.resize(src.shape());
    const index_t plane = m.shape().sample_numel(), channels = src.shape().sample_numel() / plane;
    const T* ps = src.data();
    const T* pm = m.data();
    T* pd = dst.data();
    B::parallel_for(src.size(), [=] SIB_HD(index_t i) {
        const index_t b = i / (channels * plane), p = i % plane;
        const T w = complement ? T(1) - pm[b * plane + p] : pm[b * plane + p];
        pd[i] = ps[i] * w;
    });
}

// For products P = R*w(M) and Q = x*w(M), w(M) = M or 1-M: Rbar += dP * w(M) and
// Mbar += sign * sum_c (dP*R + dQ*x), sign = -1 for the complement. dq may be null (zero).
template <class T, class B>
void accumulate_mask_adjoints(const tensor<T, B>& r, const tensor<T, B>& x, const tensor<T, B>& m,
                              const tensor<T, B>& dp, const tensor<T, B>* dq, bool complement,
                              tensor<T, B>& rbar, tensor<T, B>& mbar) {
    const index_t plane = m.shape().sample_numel(), channels = r.shape().sample_numel() / plane;
    const index_t batch = r.dim(0);
    const T* pr = r.data();
    const T* px = x.data();
    const T* pm = m.data();
    const T* pdp = dp.data();
    const T* pdq = dq ? dq->data() : nullptr;
    T* prb = rbar.data();
    T* pmb = mbar.data();
    const T sign = complement ? T(-1) : T(1);
    B::parallel_for(batch * plane, [=] SIB_HD(index_t j) {
        const index_t b = j / plane, p = j % plane;
        const T w = complement ? T(1) - pm[j] : pm[j];
        T acc = 0;
        for (index_t c = 0; c < channels; ++c) {
            const index_t i = (b * channels + c) * plane + p;
            prb[i] += pdp[i] * w;
            acc += pdp[i] * pr[i];
            if (pdq) acc += pdq[i] * px[i];
        }
        pmb[j] += sign * acc;
    }, channels);
}

}  // namespace detail

template <class T, class B = cpu, template <class, class> class Estimator = mi::hsic_linear>
struct foreground_term {
    static constexpr bool needs_explanation = true;
    // A dependence between rows needs two of them; an estimator may need more (unbiased HSIC: 4).
    static constexpr index_t min_batch = [] {
        if constexpr (requires { Estimator<T, B>::min_rows; }) return static_cast<index_t>(Estimator<T, B>::min_rows);
        else return index_t{2};
    }();
    using context_type = loss_context<T, B>;
    Estimator<T, B> estimator;

    T forward(loss_context<T, B>& c) {
        detail::apply_mask(*c.R, *c.M, false, r_masked_);
        detail::apply_mask(*c.x, *c.M, false, x_masked_);
        normalize_.forward(r_masked_, u_);
        normalize_.forward(x_masked_, v_);
        const T v = estimator.value(u_, v_);
        value_ = static_cast<double>(v);
        return v;
    }
    void report(term_values& out) const { out.add("fg", value_); }
    void backward(loss_context<T, B>& c, double w) {
        estimator.vjp(u_, v_, static_cast<T>(w), du_, dv_);
        normalize_.vjp(r_masked_, u_, du_, dr_masked_);
        normalize_.vjp(x_masked_, v_, dv_, dx_masked_);
        detail::accumulate_mask_adjoints(*c.R, *c.x, *c.M, dr_masked_, &dx_masked_, false, c.Rbar, c.Mbar);
    }

private:
    double value_ = 0;
    mi::normalize_rows<T, B> normalize_;
    tensor<T, B> r_masked_, x_masked_, u_, v_, du_, dv_, dr_masked_, dx_masked_;
};

template <class T, class B = cpu, template <class, class> class Estimator = mi::variance_proxy>
struct background_term {
    static constexpr bool needs_explanation = true;
    using context_type = loss_context<T, B>;
    Estimator<T, B> estimator;

    T forward(loss_context<T, B>& c) {
        detail::apply_mask(*c.R, *c.M, true, r_masked_);
        detail::apply_mask(*c.x, *c.M, true, x_masked_);
        const T v = estimator.value(r_masked_, x_masked_);
        value_ = static_cast<double>(v);
        return v;
    }
    void report(term_values& out) const { out.add("bg", value_); }
    void backward(loss_context<T, B>& c, double w) {
        // The variance proxy does not read x: skip its (zero) gradient.
        constexpr bool reads_x = !std::is_same_v<Estimator<T, B>, mi::variance_proxy<T, B>>;
        if constexpr (reads_x)
            estimator.vjp(r_masked_, x_masked_, static_cast<T>(w), dr_masked_, dx_masked_);
        else
            estimator.vjp(r_masked_, x_masked_, static_cast<T>(w), dr_masked_);
        detail::accumulate_mask_adjoints(*c.R, *c.x, *c.M, dr_masked_, reads_x ? &dx_masked_ : nullptr,
                                         true, c.Rbar, c.Mbar);
    }

private:
    double value_ = 0;
    tensor<T, B> r_masked_, x_masked_, dr_masked_, dx_masked_;
};

template <class T, class B = cpu, template <class, class> class Estimator = mi::hsic_linear>
foreground_term<T, B, Estimator> foreground() {
    return {};
}
template <class T, class B = cpu, template <class, class> class Estimator = mi::variance_proxy>
background_term<T, B, Estimator> background() {
    return {};
}

}  // namespace loss
SIB_END_NAMESPACE
