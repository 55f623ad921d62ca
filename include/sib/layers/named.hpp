// named<L>: a layer under a name of its own, so that the container holding it names its parameters
// "<name>.weight" instead of "<index>.weight". PyTorch modules other than nn.Sequential name their
// children by attribute (torchvision's ResNet: conv1, bn1, layer1, fc); a flat sib chain spells the
// nested attribute path in one name ("layer1.0.conv1"), so the state dict comes out under
// torchvision's keys while the chain stays flat (one fold per sweep, no nested models).
//
// named<L> is L itself (it derives from it): every rule, flag and member (weight, training, inner())
// is L's; only the name is added, read by sequential through module_name().
#pragma once
#include <sib/layers/layer.hpp>
#include <string>
#include <string_view>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class L>
class named : public L {
public:
    named(std::string name, L layer) : L(std::move(layer)), name_(std::move(name)) {
        require(!name_.empty() && name_.front() != '.' && name_.back() != '.',
                "named: a layer name must be non-empty and neither start nor end with '.', got '", name_, "'");
    }

    const std::string& module_name() const { return name_; }
    L& layer() { return *this; }
    const L& layer() const { return *this; }

private:
    std::string name_;
};

template <class L>
named(std::string, L) -> named<L>;
template <class L>
named(const char*, L) -> named<L>;

}  // namespace nn
SIB_END_NAMESPACE
