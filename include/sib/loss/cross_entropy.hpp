// Mean cross entropy over the batch, as torch.nn.functional.cross_entropy with reduction='mean'.
#pragma once
#include <sib/decoders/decoder.hpp>
#include <sib/core/error.hpp>

SIB_BEGIN_NAMESPACE
namespace loss {

// Returns mean_b -log softmax(z_b)_{y_b}; when dz is given, dz += scale * dCE/dz.
template <class T, class B>
T cross_entropy(const tensor<T, B>& z, const labels_tensor<B>& y, tensor<T, B>* dz = nullptr,
                T scale = T(1)) {
    const index_t n = z.dim(0), k = z.dim(1);
    require(y.size() == n, "cross entropy: ", y.size(), " labels for ", n, " logits rows");
    const T* pz = z.data();
    const std::int64_t* py = y.data();
    const double total = B::reduce_sum(n, [=] SIB_HD(index_t r) {
        return -decoders::detail::row_softmax<T>(pz + r * k, k).log_p(py[r]);
    });
    if (dz) {
        T* pd = dz->data();
        const T w = scale / static_cast<T>(n);
        B::parallel_for(n, [=] SIB_HD(index_t r) {
            const decoders::detail::row_softmax<T> sm(pz + r * k, k);
            for (index_t j = 0; j < k; ++j) pd[r * k + j] += w * (sm.p(j) - (j == py[r] ? T(1) : T(0)));
        }, 4 * k);
    }
    return static_cast<T>(total / static_cast<double>(n));
}

// Labels must name a class of the logits; checked on the host before a step.
template <class B>
void check_labels(const tensor<std::int64_t, B>& y, index_t classes) {
    const auto v = y.to_vector();
    for (std::size_t i = 0; i < v.size(); ++i)
        require(v[i] >= 0 && v[i] < classes, "label ", v[i], " at index ", i, " is out of range for ",
                classes, " classes");
}

}  // namespace loss
SIB_END_NAMESPACE
