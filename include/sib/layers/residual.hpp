// residual<Ls...>: y = x + f(x), f a Sequential of Ls..., as a layer (a ResNet block's skip
// connection): branch_sum with the identity shortcut (layers/branch_sum.hpp has the rules). Its
// parameters keep the inner chain's names ("0.weight").
#pragma once
#include <sib/layers/branch_sum.hpp>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class... Ls>
class residual : public branch_sum<sequential<Ls...>> {
public:
    using inner_type = sequential<Ls...>;

    explicit residual(Ls... layers) : branch_sum<inner_type>(inner_type(std::move(layers)...)) {}

    inner_type& inner() { return this->main(); }
};

template <class... Ls>
residual(Ls...) -> residual<Ls...>;

}  // namespace nn
SIB_END_NAMESPACE
