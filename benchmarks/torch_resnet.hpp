// torchvision's ResNet-18 and ResNet-50 (torchvision/models/resnet.py, v0.14) written with LibTorch's
// C++ modules, for the LibTorch side of sib_bench's ResNet cases (LibTorch ships no torchvision
// models). Modules are registered under torchvision's attribute names, so named_parameters() and
// named_buffers() carry torchvision's state-dict keys (conv1.weight, bn1.running_mean,
// layer1.0.conv1.weight, layer2.0.downsample.0.weight, layer2.0.downsample.1.bias, fc.weight, ...)
// and the benchmark copies sib's parameters and buffers in by name (copy_state in torch_side.hpp).
//
//   stem     conv1 7x7/2 pad 3 (no bias), bn1, relu, maxpool 3x3/2 pad 1
//   stages   layer1..layer4, planes 64, 128, 256, 512, stride 1, 2, 2, 2 in a stage's first block
//            BasicBlock  conv1 3x3/stride, bn1, relu, conv2 3x3, bn2            (expansion 1)
//            Bottleneck  conv1 1x1, bn1, relu, conv2 3x3/stride, bn2, relu,
//                        conv3 1x1, bn3                                        (expansion 4)
//            out += identity (downsample(x) = 1x1/stride conv + BatchNorm2d where the stride or the
//            channel count changes), then ReLU; ReLUs in place, as torchvision's ReLU(inplace=True)
//   head     adaptive avg pool to 1x1, flatten, fc
//
// No initialisation of its own is relied on: the benchmark overwrites every parameter and buffer.
#pragma once
#include <torch/torch.h>
#include <array>
#include <cstdint>
#include <string>

namespace sib_bench {

namespace torch_resnet_detail {
inline torch::nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                              std::int64_t padding) {
    return torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}
}  // namespace torch_resnet_detail

// BasicBlock (bottleneck = false) or Bottleneck (bottleneck = true).
struct torch_resnet_blockImpl : torch::nn::Module {
    bool bottleneck;
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
    torch::nn::Sequential downsample{nullptr};

    torch_resnet_blockImpl(bool is_bottleneck, std::int64_t inplanes, std::int64_t planes, std::int64_t stride)
        : bottleneck(is_bottleneck) {
        using torch_resnet_detail::conv;
        const std::int64_t expansion = bottleneck ? 4 : 1;
        if (bottleneck) {
            const std::int64_t width = planes;  // base_width 64, groups 1
            conv1 = register_module("conv1", conv(inplanes, width, 1, 1, 0));
            bn1 = register_module("bn1", torch::nn::BatchNorm2d(width));
            conv2 = register_module("conv2", conv(width, width, 3, stride, 1));
            bn2 = register_module("bn2", torch::nn::BatchNorm2d(width));
            conv3 = register_module("conv3", conv(width, planes * expansion, 1, 1, 0));
            bn3 = register_module("bn3", torch::nn::BatchNorm2d(planes * expansion));
        } else {
            conv1 = register_module("conv1", conv(inplanes, planes, 3, stride, 1));
            bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
            conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
            bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
        }
        if (stride != 1 || inplanes != planes * expansion)
            downsample = register_module(
                "downsample", torch::nn::Sequential(conv(inplanes, planes * expansion, 1, stride, 0),
                                                    torch::nn::BatchNorm2d(planes * expansion)));
    }

    torch::Tensor forward(const torch::Tensor& x) {
        auto out = bn1(conv1(x)).relu_();
        if (bottleneck) {
            out = bn2(conv2(out)).relu_();
            out = bn3(conv3(out));
        } else {
            out = bn2(conv2(out));
        }
        out += downsample ? downsample->forward(x) : x;
        return out.relu_();
    }
};
TORCH_MODULE(torch_resnet_block);

struct torch_resnetImpl : torch::nn::Module {
    torch::nn::Conv2d conv1{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr};
    torch::nn::MaxPool2d maxpool{nullptr};
    std::array<torch::nn::Sequential, 4> layers{nullptr, nullptr, nullptr, nullptr};
    torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
    torch::nn::Linear fc{nullptr};

    // blocks: per stage (torchvision's `layers`), e.g. {2,2,2,2} for ResNet-18, {3,4,6,3} for ResNet-50.
    torch_resnetImpl(bool bottleneck, std::array<int, 4> blocks, std::int64_t num_classes) {
        const std::int64_t expansion = bottleneck ? 4 : 1;
        conv1 = register_module("conv1", torch_resnet_detail::conv(3, 64, 7, 2, 3));
        bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
        maxpool = register_module("maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
        std::int64_t inplanes = 64;
        for (int s = 0; s < 4; ++s) {
            const std::int64_t planes = std::int64_t{64} << s, stride = s == 0 ? 1 : 2;
            torch::nn::Sequential stage;
            for (int b = 0; b < blocks[static_cast<std::size_t>(s)]; ++b) {
                stage->push_back(torch_resnet_block(bottleneck, inplanes, planes, b == 0 ? stride : 1));
                inplanes = planes * expansion;
            }
            layers[static_cast<std::size_t>(s)] = register_module("layer" + std::to_string(s + 1), stage);
        }
        avgpool = register_module("avgpool", torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1})));
        fc = register_module("fc", torch::nn::Linear(512 * expansion, num_classes));
    }

    torch::Tensor forward(const torch::Tensor& input) {
        auto x = maxpool(bn1(conv1(input)).relu_());
        for (auto& stage : layers) x = stage->forward(x);
        return fc(torch::flatten(avgpool(x), 1));
    }
};
TORCH_MODULE(torch_resnet);

inline torch_resnet torch_resnet18(std::int64_t num_classes) { return torch_resnet(false, std::array{2, 2, 2, 2}, num_classes); }
inline torch_resnet torch_resnet50(std::int64_t num_classes) { return torch_resnet(true, std::array{3, 4, 6, 3}, num_classes); }

}  // namespace sib_bench
