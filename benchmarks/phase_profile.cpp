// sib_phase_profile: where sib's training step spends its time, phase by phase. It runs the body of
// sib::objective_step (include/sib/autodiff/step.hpp) with a clock read between the phases, and first
// proves that this copy still is that body: one step of each gives bitwise the same loss and
// gradients, else it stops (the copy must then follow step.hpp again).
//
//   sib_phase_profile [--model small|three_conv|resnet18|resnet50] [--objective sib|ce] [--steps N]
//                     [--warmup N] [--threads N] [--winograd on|off]
//
// Prints a table and, last, one JSON line {"phase": ms per step, ...}.
//
// Under `perf record -D -1 --control fifo:CTL,ACK` with SIB_PERF_CTL=CTL and SIB_PERF_ACK=ACK in
// the environment, sampling is switched on for the timed steps only (not the set-up, the check or
// the warm-up, whose first touches of fresh memory would otherwise show as page faults); with
// SIB_PERF_PHASE=<phase name> as well, for that phase of them alone.
#include "bench_models.hpp"
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace sib_bench {
namespace {

using clock_type = std::chrono::steady_clock;

const char* const phase_names[] = {"zero_grad", "forward", "decoder_sweep", "mask_forward", "terms",
                                   "mask_vjp",  "tangent_sweep", "decoder_hvp", "backward_sweep", "optimizer"};
constexpr int phase_count = sizeof(phase_names) / sizeof(phase_names[0]);

void perf_control(const char* command);

// Laps the phases. With `sampled` set to a phase, perf samples that phase alone (the laps around it
// then include perf's hand-shake, so read the times of a run without it).
struct phase_clock {
    std::vector<double> ms = std::vector<double>(phase_count, 0.0);
    clock_type::time_point last = clock_type::now();
    int sampled = -1;
    void start() {
        if (sampled == 0) perf_control("enable");
        last = clock_type::now();
    }
    void lap(int phase, bool ran = true) {
        const auto now = clock_type::now();
        if (ran) ms[static_cast<std::size_t>(phase)] += std::chrono::duration<double, std::milli>(now - last).count();
        if (phase == sampled) perf_control("disable");
        if (sampled >= 0 && phase + 1 == sampled) perf_control("enable");
        last = clock_type::now();
    }
};

// sib::objective_step's body with laps; Expression is sib's S-IB objective or CE alone.
template <class Trainer, class E>
auto timed_step(Trainer& t, E& expression, phase_clock& c) {
    using T = typename Trainer::value_type;
    auto& sw = t.ws.sweeps;
    sw.relu_in_place = true;  // as objective_step
    auto& ctx = t.ws.context;
    const sib::decoders::softmax_energy decoder{};
    c.start();
    t.opt.zero_grad(t.model);
    c.lap(0);
    const auto& z = sib::autodiff::forward_sweep(t.model, sw, t.x);
    ctx.begin(sw.input(), z, t.y);
    ctx.zbar.resize(z.shape());
    ctx.zbar.zero();
    c.lap(1);
    if constexpr (E::needs_explanation) {
        sw.seed().resize(z.shape());
        decoder.seed(z, t.y, sw.seed());
        const auto& r = sib::autodiff::decoder_sweep(t.model, sw);
        c.lap(2);
        t.mask.forward(r, t.ws.mask);
        ctx.R = &r;
        ctx.M = &t.ws.mask;
        ctx.Rbar.resize(r.shape());
        ctx.Rbar.zero();
        ctx.Mbar.resize(t.ws.mask.shape());
        ctx.Mbar.zero();
        c.lap(3);
    } else {
        c.lap(2, false);  // a phase the step skips still passes perf's switch-on to the next one
        c.lap(3, false);
    }
    const T total = static_cast<T>(expression.forward(ctx));
    expression.backward(ctx, 1.0);
    c.lap(4);
    if constexpr (E::needs_explanation) {
        t.mask.vjp(ctx.Mbar, ctx.Rbar);
        c.lap(5);
        const auto& tz = sib::autodiff::tangent_sweep(t.model, sw, ctx.Rbar);
        c.lap(6);
        decoder.hvp(z, t.y, tz, ctx.zbar);
        c.lap(7);
    } else {
        c.lap(5, false);
        c.lap(6, false);
        c.lap(7, false);
    }
    sib::autodiff::backward_sweep(t.model, sw, ctx.zbar);
    c.lap(8);
    t.opt.step(t.model);
    c.lap(9);
    sib::autodiff::step_values<T> out{total, {}};
    expression.report(out.terms);
    return out;
}

// Sends "enable" or "disable" to perf's control fifo and waits for its ack (no-op without one).
void perf_control(const char* command) {
    const char* ctl = std::getenv("SIB_PERF_CTL");
    if (!ctl) return;
    const int fd = open(ctl, O_WRONLY);
    if (fd < 0) return;
    const std::string line = std::string(command) + "\n";
    const bool sent = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(fd);
    const char* ack = std::getenv("SIB_PERF_ACK");
    if (!sent || !ack) return;
    const int afd = open(ack, O_RDONLY);
    if (afd < 0) return;
    char buf[8];
    (void)!read(afd, buf, sizeof buf);
    close(afd);
}

template <class Model>
std::vector<float> gradients(Model& m) {
    std::vector<float> out;
    m.for_each_parameter([&](std::string_view, auto&, auto* g) {
        if (g) out.insert(out.end(), g->begin(), g->end());  // running statistics have no gradient
    });
    return out;
}

// make_trainer() builds a fresh trainer of the model (the same initial state every time).
template <class MakeTrainer, class E>
int profile(const std::string& name, MakeTrainer make_trainer, E& expression, objective_kind o, int steps,
            int warmup, bool winograd) {
    // The copy against the library: one step each from the same state, before any update.
    {
        auto lib = make_trainer();
        auto copy = make_trainer();
        set_winograd(lib.model, winograd);
        set_winograd(copy.model, winograd);
        const auto a = lib.objective(o);
        lib.opt.step(lib.model);
        phase_clock unused;
        const auto b = timed_step(copy, expression, unused);
        const auto ga = gradients(lib.model), gb = gradients(copy.model);
        const bool same = std::memcmp(&a.total, &b.total, sizeof(float)) == 0 &&
                          std::memcmp(ga.data(), gb.data(), ga.size() * sizeof(float)) == 0;
        if (!same) {
            std::cerr << "sib_phase_profile: the timed copy no longer matches sib::objective_step (total "
                      << a.total << " vs " << b.total << "); update it from include/sib/autodiff/step.hpp\n";
            return 1;
        }
    }
    auto t = make_trainer();
    set_winograd(t.model, winograd);
    phase_clock c;
    for (int i = 0; i < warmup; ++i) timed_step(t, expression, c);
    c = phase_clock{};
    if (const char* p = std::getenv("SIB_PERF_PHASE"))
        for (int i = 0; i < phase_count; ++i)
            if (std::string(p) == phase_names[i]) c.sampled = i;
    if (c.sampled < 0) perf_control("enable");
    const auto t0 = clock_type::now();
    for (int i = 0; i < steps; ++i) timed_step(t, expression, c);
    const double wall = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count() / steps;
    if (c.sampled < 0) perf_control("disable");
    double sum = 0;
    for (double v : c.ms) sum += v / steps;
    std::cout << name << " " << objective_name(o) << ", batch " << t.x.shape()[0] << ", " << sib::num_threads()
              << " threads, " << steps << " steps: " << std::fixed << std::setprecision(2) << wall
              << " ms per step\n";
    std::cout << "json {\"model\":\"" << name << "\",\"objective\":\"" << objective_name(o)
              << "\",\"threads\":" << sib::num_threads() << ",\"steps\":" << steps << ",\"ms_per_step\":" << wall;
    std::ostringstream table;
    for (int p = 0; p < phase_count; ++p) {
        const double ms = c.ms[static_cast<std::size_t>(p)] / steps;
        if (ms == 0) continue;
        table << "  " << std::left << std::setw(16) << phase_names[p] << std::right << std::setw(9)
              << std::fixed << std::setprecision(3) << ms << " ms " << std::setw(6) << std::setprecision(1)
              << 100.0 * ms / sum << " %\n";
        std::cout << ",\"" << phase_names[p] << "\":" << ms;
    }
    std::cout << "}\n" << table.str();
    return 0;
}

constexpr const char* usage =
    "usage: sib_phase_profile [--model small|three_conv|resnet18|resnet50] [--objective sib|ce] [--steps N]\n"
    "                         [--warmup N] [--threads N] [--winograd on|off]\n"
    "Times sib's training step phase by phase (forward, decoder, mask, terms, tangent, backward, optimizer)\n"
    "after checking that its copy of the step gives the library's bits.\n";

}  // namespace
}  // namespace sib_bench

int main(int argc, char** argv) {
    using namespace sib_bench;
    if (asks_for_help(argc, argv)) {
        std::cout << usage;
        return 0;
    }
    try {
        const std::string model = flag(argc, argv, "--model", "three_conv");
        const std::string objective = flag(argc, argv, "--objective", "sib");
        const int steps = int_flag(argc, argv, "--steps", 20);
        const int warmup = int_flag(argc, argv, "--warmup", 3);
        const std::string winograd = flag(argc, argv, "--winograd", "on");
        sib::require(winograd == "on" || winograd == "off", "--winograd must be on or off, got '", winograd, "'");
        sib::set_num_threads(threads_from(argc, argv));
        sib::require(objective == "sib" || objective == "ce", "--objective must be sib or ce, got '", objective, "'");
        sib::require(steps >= 1 && warmup >= 0, "--steps must be >= 1 and --warmup >= 0");
        const auto o = objective == "sib" ? objective_kind::sib : objective_kind::ce;
        auto sib_expression = sib::loss::sib_objective<float>();
        auto ce_expression = sib::loss::ce();
        const auto run = [&, winograd = winograd == "on"](auto make_trainer) {
            if (o == objective_kind::sib) return profile(model, make_trainer, sib_expression, o, steps, warmup, winograd);
            return profile(model, make_trainer, ce_expression, o, steps, warmup, winograd);
        };
        return with_model(model, run);
    } catch (const std::exception& e) {
        std::cerr << "sib_phase_profile: " << e.what() << "\n";
        return 1;
    }
}
