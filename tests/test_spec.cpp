// The layer registry and the spec grammar: PyTorch's argument order and defaults, one-line errors
// that name the item and the argument, and the "known layers" list derived from the registry.
#include <doctest/doctest.h>
#include <sib/models/spec_model.hpp>
#include <string>

namespace {
template <class L>
const L& only_layer(sib::models::spec_model<double>& m) {
    REQUIRE(m.num_layers() == 1);
    REQUIRE(std::holds_alternative<L>(m.layer(0)));
    return std::get<L>(m.layer(0));
}
std::string error_of(const char* spec) {
    try {
        sib::models::spec_model<double> m(spec);
    } catch (const sib::error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("spec: Conv2d takes PyTorch's positional order (bias is the 8th, after dilation and groups)") {
    sib::models::spec_model<double> m("Conv2d(3, 8, (3,5), 2, (1,2), 1, 1, False)");
    const auto& c = only_layer<sib::nn::conv2d<double>>(m);
    CHECK(c.in_channels() == 3);
    CHECK(c.out_channels() == 8);
    CHECK(c.window().kernel_h == 3);
    CHECK(c.window().kernel_w == 5);
    CHECK(c.window().stride_h == 2);
    CHECK(c.window().pad_w == 2);
    CHECK(c.bias.size() == 0);
    sib::models::spec_model<double> k("nn.Conv2d(in_channels=1, out_channels=2, kernel_size=3, padding=1)");
    CHECK(only_layer<sib::nn::conv2d<double>>(k).bias.size() == 2);
    CHECK(error_of("Conv2d(1, 2, 3, 1, 0, 2)").find("only dilation=1 is supported") != std::string::npos);
    CHECK(error_of("Conv2d(1, 2, 3, groups=2)").find("only groups=1 is supported") != std::string::npos);
}

TEST_CASE("spec: pooling strides default to the kernel; ceil_mode is PyTorch's 4th AvgPool2d argument") {
    sib::models::spec_model<double> m("MaxPool2d(3); AvgPool2d(2, 1, 1, False, False)");
    const auto& mp = std::get<sib::nn::max_pool2d<double>>(m.layer(0));
    CHECK(mp.window().stride_h == 3);
    const auto& ap = std::get<sib::nn::avg_pool2d<double>>(m.layer(1));
    CHECK(ap.window().stride_h == 1);
    CHECK(ap.window().pad_h == 1);
    CHECK(!ap.count_include_pad());
    // AvgPool2d(2,2,0,True) means ceil_mode=True in PyTorch: refused, not read as another argument.
    CHECK(error_of("AvgPool2d(2, 2, 0, True)").find("only ceil_mode=False is supported") != std::string::npos);
}

TEST_CASE("spec: BatchNorm2d accepts momentum=None (a cumulative average)") {
    sib::models::spec_model<double> m("BatchNorm2d(4, momentum=None)");
    CHECK(m.num_layers() == 1);
    CHECK(error_of("BatchNorm2d(4, track_running_stats=False)").find("only track_running_stats=True") !=
          std::string::npos);
}

TEST_CASE("spec: errors are one line naming the item, the argument and what is known") {
    const auto unknown = error_of("Conv2d(1,2,3); Conv3d(1,4,3)");
    CHECK(unknown.find("unknown layer 'Conv3d'") != std::string::npos);
    CHECK(unknown.find("(known: " + sib::nn::known_layers() + ")") != std::string::npos);
    CHECK(error_of("Linear(4)") == "spec: 'Linear(4)': missing argument 'out_features'");
    CHECK(error_of("Linear(4, 2, bogus=1)").find("unknown argument 'bogus' for Linear(in_features, out_features, "
                                                 "bias=True)") != std::string::npos);
    CHECK(error_of("Linear(4, 2, in_features=3)") == "spec: 'Linear(4, 2, in_features=3)': argument 'in_features' "
                                                      "given twice");
    CHECK(error_of("Linear(4, x)") == "spec: 'Linear(4, x)': argument 'out_features' must be an integer, got 'x'");
    CHECK(error_of("Dropout(p=half)") == "spec: 'Dropout(p=half)': argument 'p' must be a number, got 'half'");
    CHECK(error_of("ReLU(1, 2)") == "spec: 'ReLU(1, 2)': ReLU takes at most 1 positional arguments, got 2");
}

TEST_CASE("spec: a layer too large for memory is named with the bytes it needs, before any allocation") {
    // 10^16 doubles: more than any machine holds, refused from the machine's memory size (so the same
    // under AddressSanitizer, whose allocator aborts instead of throwing).
    CHECK(error_of("Flatten; Linear(100000000, 100000000)") ==
          "layer 1 (Linear(100000000, 100000000)): tensor [100000000,100000000]: cannot allocate "
          "80000000000000000 bytes (out of memory)");
    try {
        sib::models::spec_model<double> m("Conv2d(1,4,3); Conv2d(100000, 100000, 100000)");
        FAIL("no error");
    } catch (const sib::out_of_memory& e) {  // a type of its own, a sib::error
        CHECK(std::string(e.what()) == "layer 1 (Conv2d(100000, 100000, 100000)): tensor [100000,100000,100000,100000]: "
                                       "more elements than memory can address");
    }
    // Geometry past any image (2^31 pixels a side) is refused before any size is computed from it:
    // padding 2^62 overflowed h + 2p (signed overflow, UBSan).
    CHECK(error_of("Conv2d(1,1,1,padding=4611686018427387904); Flatten") ==
          "Conv2d(1,1,1,padding=4611686018427387904): kernel, stride and padding must be at most 2147483648, got "
          "kernel 1, stride 1, padding 4611686018427387904");
    CHECK(error_of("AvgPool2d(2, padding=4611686018427387904)").find("must be at most 2147483648") != std::string::npos);
    CHECK(error_of("MaxPool2d(4294967296)").find("must be at most 2147483648") != std::string::npos);
    // A shape whose count passes 2^63 (AdaptiveAvgPool2d(2^62) then Flatten) is named, not wrapped.
    sib::models::spec_model<double> pool("AdaptiveAvgPool2d(4611686018427387904); Flatten");
    CHECK_THROWS_WITH_AS(pool.output_shape({1, 2, 8, 8}), doctest::Contains("more than 2^63 elements"), sib::error);
    CHECK_THROWS_WITH_AS((sib::shape{sib::index_t{1} << 32, sib::index_t{1} << 32}.numel()),
                         "shape [4294967296,4294967296]: more than 2^63 elements", sib::out_of_memory);
    // Elements past what a size_t of bytes can count: named, not wrapped around.
    CHECK(error_of("Linear(4294967296, 4294967296)") ==
          "layer 0 (Linear(4294967296, 4294967296)): tensor [4294967296,4294967296]: more elements than memory can "
          "address");
}

TEST_CASE("layer registry: every entry builds, and the names, variant and help derive from it") {
    const std::string known = sib::nn::known_layers();
    for (const char* name : {"Conv2d", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softplus",
                             "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "BatchNorm2d", "Dropout"})
        CHECK(known.find(name) != std::string::npos);
    CHECK(std::variant_size_v<sib::nn::any_layer<double>> == 14);
    CHECK(sib::nn::layer_help().find("  Conv2d(in_channels, out_channels, kernel_size, stride=1") == 0);
    sib::models::spec_model<double> m("Conv2d(1,2,3); ReLU; LeakyReLU(0.2); Tanh; Sigmoid; GELU; Softplus(2); "
                                  "MaxPool2d(2); AvgPool2d(1); AdaptiveAvgPool2d((1,1)); BatchNorm2d(2); Dropout(0.1); "
                                  "Flatten; Linear(2,3)");
    CHECK(m.num_layers() == 14);
    CHECK(m.output_shape({5, 1, 9, 9}) == sib::shape{5, 3});
}
