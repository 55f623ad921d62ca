// The float64 central-difference checks of gradcheck.hpp for a layer on any backend. on_host<L>
// presents a layer of backend B as a CPU layer: every rule uploads its arguments, runs on B and
// reads its results back, and the parameters are mirrored on the host, where the difference
// quotients perturb them (pushed to B before every rule, gradients read back after the parameter
// rules). So the checks exercise B's kernels while the reference arithmetic stays on the host.
#pragma once
#include "gradcheck.hpp"
#include <sib/core/tensor.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sibtest {

// A host tensor's values in a tensor of backend B (and back).
template <class B, class T>
sib::tensor<T, B> to_backend(const sib::tensor<T>& t) {
    return sib::tensor<T, B>(t.shape(), t.to_vector());
}
template <class T, class B>
sib::tensor<T> to_cpu(const sib::tensor<T, B>& t) {
    return sib::tensor<T>(t.shape(), t.to_vector());
}

template <class L>
class on_host : public sib::nn::layer_base<double, sib::cpu> {
    static_assert(std::is_same_v<typename L::value_type, double>, "on_host checks float64 layers");

public:
    using inner_tensor = typename L::tensor_type;
    using B = typename L::backend;
    static constexpr bool has_mixed = L::has_mixed;
    static constexpr bool has_curvature = L::has_curvature;

    explicit on_host(L& layer) : inner_(layer) {
        inner_.for_each_parameter([&](std::string_view name, inner_tensor& v, inner_tensor* g) {
            mirror m;
            m.name = std::string(name);
            m.value = to_cpu(v);
            m.trainable = g != nullptr;
            if (g) m.grad = to_cpu(*g);
            mirrors_.push_back(std::move(m));
        });
    }

    L& inner() { return inner_; }

    sib::shape output_shape(const sib::shape& s) const { return inner_.output_shape(s); }

    void forward(const dtensor& x, dtensor& y) {
        push();
        up(x, x_);
        y_.resize(y.shape());
        inner_.forward(x_, y_);
        down(y_, y);
    }
    void vjp(const dtensor& x, const dtensor& y, const dtensor& gy, dtensor& gx) {
        push();
        up(x, x_), up(y, y_), up(gy, g_);
        out_.resize(gx.shape());
        inner_.vjp(x_, y_, g_, out_);
        down(out_, gx);
    }
    void param_vjp(const dtensor& x, const dtensor& y, const dtensor& gy) {
        push();
        up(x, x_), up(y, y_), up(gy, g_);
        inner_.param_vjp(x_, y_, g_);
        pull_gradients();
    }
    void jvp(const dtensor& x, const dtensor& y, const dtensor& tx, dtensor& ty) {
        push();
        up(x, x_), up(y, y_), up(tx, t_);
        out_.resize(ty.shape());
        inner_.jvp(x_, y_, t_, out_);
        down(out_, ty);
    }
    void mixed(const dtensor& x, const dtensor& y, const dtensor& tx, const dtensor& gy) {
        push();
        up(x, x_), up(y, y_), up(tx, t_), up(gy, g_);
        inner_.mixed(x_, y_, t_, g_);
        pull_gradients();
    }
    // Adds into ax, so ax goes up as well.
    void curvature(const dtensor& x, const dtensor& y, const dtensor& tx, const dtensor& gy, dtensor& ax) {
        push();
        up(x, x_), up(y, y_), up(tx, t_), up(gy, g_), up(ax, out_);
        inner_.curvature(x_, y_, t_, g_, out_);
        down(out_, ax);
    }

    template <class F>
    void for_each_parameter(F&& f) {
        for (auto& m : mirrors_) f(std::string_view(m.name), m.value, m.trainable ? &m.grad : nullptr);
    }

private:
    struct mirror {
        std::string name;
        dtensor value, grad;
        bool trainable = false;
    };

    static void up(const dtensor& h, inner_tensor& d) {
        d.resize(h.shape());
        B::from_host(h.size(), h.data(), d.data());
    }
    static void down(const inner_tensor& d, dtensor& h) {
        sib::require(h.shape() == d.shape(), "on_host: result ", d.shape().str(), " for a host tensor ",
                     h.shape().str());
        B::to_host(d.size(), d.data(), h.data());
    }
    void push() {
        std::size_t k = 0;
        inner_.for_each_parameter([&](std::string_view, inner_tensor& v, inner_tensor* g) {
            mirror& m = mirrors_[k++];
            up(m.value, v);
            if (g) up(m.grad, *g);
        });
    }
    void pull_gradients() {
        std::size_t k = 0;
        inner_.for_each_parameter([&](std::string_view, inner_tensor&, inner_tensor* g) {
            mirror& m = mirrors_[k++];
            if (g) down(*g, m.grad);
        });
    }

    L& inner_;
    std::vector<mirror> mirrors_;
    inner_tensor x_, y_, g_, t_, out_;
};

// check_layer_rules (gradcheck.hpp) on a layer of any backend.
template <class L>
void check_layer_rules_on_backend(L& layer, const sib::shape& in, std::uint64_t seed = 1,
                                  gradcheck_options opt = {}) {
    on_host<L> host(layer);
    check_layer_rules(host, in, seed, opt);
}

}  // namespace sibtest
