// Dropout(p): in training y = x * mask, mask_i = 1/(1-p) with probability 1-p, else 0 (all zeros
// for p = 1, as PyTorch); the identity in evaluation. The Jacobian is diag(mask), so there is no
// curvature, and vjp/jvp use the mask of the last forward, whatever happened to `training` since.
//
// The mask is drawn from the layer's own sib::rng (set it with reseed), on the host, and uploaded
// with one B::from_host per draw: one transfer per training step, and the same masks on every
// backend for a seed. A training forward draws a fresh mask, unless freeze_mask is set: then the
// mask stays until next_mask() is called (gradient checks, or a caller that runs forward several
// times on one step). A frozen mask whose shape differs from the input's (a smaller last batch) is
// redrawn, since it cannot apply.
#pragma once
#include <sib/layers/layer.hpp>
#include <cstdint>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class dropout : public layer_base<T, B>, public no_parameters, public no_curvature, public same_shape {
public:
    using tensor_type = tensor<T, B>;

    bool training = true;
    bool freeze_mask = false;

    explicit dropout(double p = 0.5, std::uint64_t seed = 0) : p_(p), rng_(seed) {
        require(p >= 0.0 && p <= 1.0, "Dropout: probability has to be between 0 and 1, but got ", p);
    }

    double p() const { return p_; }
    void reseed(std::uint64_t seed) { rng_.reseed(seed); }

    // Draws a new mask for the shape of the current one; before any mask exists the next
    // training forward draws it.
    void next_mask() {
        if (has_mask_) draw(mask_.shape());
    }
    void next_mask(const sib::shape& s) { draw(s); }

    // The mask the rules use (values 0 or 1/(1-p)); empty before the first draw.
    const tensor_type& mask() const { return mask_; }
    // Whether the last forward applied the mask (training) or was the identity.
    bool mask_applied() const { return masked_; }

    void forward(const tensor_type& x, tensor_type& y) {
        masked_ = training;
        if (!training) {
            B::copy(x.size(), x.data(), y.data());
            return;
        }
        if (!freeze_mask || !has_mask_ || !(mask_.shape() == x.shape())) draw(x.shape());
        apply(x, y);
    }

    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        if (masked_)
            apply(gy, gx);
        else
            B::copy(gy.size(), gy.data(), gx.data());
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        if (masked_)
            apply(tx, ty);
        else
            B::copy(tx.size(), tx.data(), ty.data());
    }

SIB_KERNELS:
    void draw(const sib::shape& s) {
        const index_t n = s.numel();
        host_mask_.resize(static_cast<std::size_t>(n));  // keeps its capacity
        const double keep = 1.0 - p_;
        const T scale = p_ < 1.0 ? static_cast<T>(1.0 / keep) : T(0);
        for (auto& v : host_mask_) v = rng_.uniform() < keep ? scale : T(0);
        mask_.resize(s);
        B::from_host(n, host_mask_.data(), mask_.data());
        has_mask_ = true;
    }

    void apply(const tensor_type& v, tensor_type& out) const {
        if (v.size() != mask_.size())  // the shapes' text only when failing: this runs every step
            fail("Dropout: input ", v.shape().str(), " does not match the mask of the last forward ",
                 mask_.shape().str());
        const T* pm = mask_.data();
        const T* pv = v.data();
        T* po = out.data();
        B::parallel_for(v.size(), [=] SIB_HD(index_t i) { po[i] = pv[i] * pm[i]; });
    }

private:
    double p_;
    rng rng_;
    tensor_type mask_;
    std::vector<T> host_mask_;
    bool has_mask_ = false;
    bool masked_ = false;
};

}  // namespace nn
SIB_END_NAMESPACE
