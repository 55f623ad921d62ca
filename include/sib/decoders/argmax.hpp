// The predicted class of each row of logits: argmax_k z_k, the first maximum as torch.argmax
// returns it (a NaN never wins a comparison, so it is skipped unless it sits in column 0). The one
// implementation behind explanations' target=prediction, the accuracy of a model and the
// predictions `sib eval` reports.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/error.hpp>
#include <sib/core/tensor.hpp>
#include <cstdint>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace decoders {

// The index of the first maximum of row[0..k).
template <class T>
SIB_HD index_t argmax_row(const T* row, index_t k) {
    index_t best = 0;
    for (index_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
    return best;
}

// out[r] = argmax_k z[r, k] for logits z [N,K], on z's backend.
template <class T, class B>
void argmax_rows(const tensor<T, B>& z, labels_tensor<B>& out) {
    require(z.rank() == 2, "argmax_rows: expects logits [N,K], got ", z.shape().str());
    const index_t n = z.dim(0), k = z.dim(1);
    out.resize({n});
    const T* pz = z.data();
    std::int64_t* po = out.data();
    B::parallel_for(n, [=] SIB_HD(index_t r) { po[r] = static_cast<std::int64_t>(argmax_row(pz + r * k, k)); }, k);
}

// The same, returned on the host.
template <class T, class B>
std::vector<std::int64_t> argmax_rows(const tensor<T, B>& z) {
    labels_tensor<B> out;
    argmax_rows(z, out);
    return out.to_vector();
}

}  // namespace decoders
SIB_END_NAMESPACE
