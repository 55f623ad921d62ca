// sib_conv_paths: one Conv2d's forward and vjp, float32, with Winograd's F(2x2,3x3) and with the
// im2col products (Conv2d::set_winograd), on the 3x3 stride-1 shapes of the benchmark's ResNets
// (ResNet-50 at 8x3x224x224: its stages at 56, 28 and 14 pixels; ResNet-18 at 32x3x64x64: 16 and 8)
// and of three_conv at batch 64. Google Benchmark; compare the two paths' times within one run.
//
//   sib_conv_paths [--threads N] [Google Benchmark's flags]
#include "bench_models.hpp"
#include <benchmark/benchmark.h>
#include <iostream>
#include <string>

namespace {

struct conv_shape {
    const char* name;
    sib::index_t n, c, h;
};

constexpr conv_shape shapes[] = {
    {"resnet50_stage1", 8, 64, 56},  {"resnet50_stage2", 8, 128, 28}, {"resnet50_stage3", 8, 256, 14},
    {"resnet18_layer1", 32, 64, 16}, {"resnet18_layer2", 32, 128, 8}, {"three_conv_conv2", 64, 32, 16},
    {"three_conv_conv3", 64, 64, 8},
};

void run(benchmark::State& state, conv_shape s, bool vjp, bool winograd) {
    sib::nn::conv2d<float> l(s.c, s.c, 3, 1, 1, !vjp);
    sib::rng r(1);
    l.reset_parameters(r);
    l.set_winograd(winograd);
    sib::tensor<float> x({s.n, s.c, s.h, s.h}), y(x.shape()), g(x.shape());
    for (auto& v : x) v = static_cast<float>(r.normal());
    l.forward(x, y);
    for (auto _ : state) {
        if (vjp)
            l.vjp(x, y, x, g);
        else
            l.forward(x, y);
        benchmark::DoNotOptimize(vjp ? g.data() : y.data());
    }
    const double flop = 2.0 * static_cast<double>(s.n * s.c * s.c * 9 * s.h * s.h);
    state.counters["im2col_gflop_per_s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace sib_bench;
    if (asks_for_help(argc, argv))
        std::cout << "usage: sib_conv_paths [--threads N] [Google Benchmark's flags, below]\n"
                     "Times one Conv2d's forward and vjp with Winograd's F(2x2,3x3) and with im2col products\n"
                     "on the 3x3 stride-1 shapes of the benchmark's ResNets and three_conv.\n\n";
    const int threads = threads_from(argc, argv);
    take_flag(argc, argv, "--threads", "");
    if (threads < 1) {
        std::cerr << "sib_conv_paths: --threads must be >= 1\n";
        return 2;
    }
    sib::set_num_threads(threads);
    for (const auto& s : shapes)
        for (bool vjp : {false, true})
            for (bool winograd : {false, true})
                benchmark::RegisterBenchmark(
                    (std::string(s.name) + (vjp ? "/vjp/" : "/forward/") + (winograd ? "winograd" : "im2col")).c_str(),
                    run, s, vjp, winograd)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
