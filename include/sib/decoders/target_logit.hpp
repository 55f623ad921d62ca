// phi = sum_b z_{b,y_b}: R is the plain gradient of the target logit (what saliency maps show).
// phi is linear in z, so its Hessian is zero.
#pragma once
#include <sib/decoders/decoder.hpp>

SIB_BEGIN_NAMESPACE
namespace decoders {

struct target_logit {
    template <class T, class B>
    void seed(const tensor<T, B>& z, const labels_tensor<B>& y, tensor<T, B>& s) const {
        const index_t n = z.dim(0), k = z.dim(1);
        s.resize(z.shape());
        T* ps = s.data();
        const std::int64_t* py = y.data();
        B::parallel_for(n * k, [=] SIB_HD(index_t i) { ps[i] = (i % k) == py[i / k] ? T(1) : T(0); });
    }
    template <class T, class B>
    void hvp(const tensor<T, B>&, const labels_tensor<B>&, const tensor<T, B>&, tensor<T, B>&) const {}
};

}  // namespace decoders
SIB_END_NAMESPACE
