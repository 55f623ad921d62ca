// "Right for the right reasons" (Ross, Hughes & Doshi-Velez 2017): penalise the explanation's
// energy outside the annotated foreground,
//   rrr = mean_b sum_i ((1 - S_b,i) R_b,i)^2,
// with S the dataset's foreground mask [B,1,H,W] broadcast over channels and R the gradient of
// sum_k log p_k (decoder sum_log_prob). Ross et al. sum both their cross entropy and this term over
// the batch; sib's cross entropy is a mean, so this term is a mean too and lambda keeps their ratio.
#pragma once
#include <sib/loss/context.hpp>

SIB_BEGIN_NAMESPACE
namespace loss {

template <class T, class B = cpu>
struct right_reasons_term {
    static constexpr bool needs_explanation = true;
    static constexpr bool reads_mask = false;  // it reads the data's masks, not S-IB's soft mask
    static constexpr bool needs_annotation = true;
    using context_type = loss_context<T, B>;

    T forward(loss_context<T, B>& c) {
        require(c.annotation != nullptr, "right for the right reasons: needs foreground masks (the data has none)");
        const auto& r = *c.R;
        const auto& s = *c.annotation;
        require(s.rank() == 4 && s.dim(0) == r.dim(0) && s.dim(1) == 1 && s.dim(2) == r.dim(2) && s.dim(3) == r.dim(3),
                "right for the right reasons: masks ", s.shape().str(), " do not match explanations ", r.shape().str());
        const index_t plane = s.shape().sample_numel(), per_sample = r.shape().sample_numel();
        const T* pr = r.data();
        const T* ps = s.data();
        const double total = B::reduce_sum(r.size(), [=] SIB_HD(index_t i) {
            const index_t b = i / per_sample, p = i % plane;
            const T v = (T(1) - ps[b * plane + p]) * pr[i];
            return v * v;
        });
        value_ = total / static_cast<double>(r.dim(0));
        return static_cast<T>(value_);
    }
    void report(term_values& out) const { out.add("rrr", value_); }
    void backward(loss_context<T, B>& c, double w) {
        const auto& r = *c.R;
        const index_t plane = c.annotation->shape().sample_numel(), per_sample = r.shape().sample_numel();
        const T* pr = r.data();
        const T* ps = c.annotation->data();
        T* pg = c.Rbar.data();
        const T scale = static_cast<T>(2.0 * w / static_cast<double>(r.dim(0)));
        B::parallel_for(r.size(), [=] SIB_HD(index_t i) {
            const T o = T(1) - ps[(i / per_sample) * plane + i % plane];
            pg[i] += scale * o * o * pr[i];
        });
    }

private:
    double value_ = 0;
};

template <class T, class B = cpu>
right_reasons_term<T, B> right_reasons() {
    return {};
}

}  // namespace loss
SIB_END_NAMESPACE
