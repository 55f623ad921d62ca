// A user's program: a compile-time model and the S-IB objective through the umbrella header,
// whichever way the project got sib (find_package, add_subdirectory, FetchContent), built against
// sib::sib and sib::compiled; JSON and the benchmark registry are code sib::compiled holds. Exits
// non-zero unless the objective is finite and the JSON reads back.
#include <sib/sib.hpp>
#include <sib/data/benchmarks.hpp>
#include <sib/io/json.hpp>
#include <cmath>
#include <iostream>

int main() {
    using namespace sib::nn;
    sequential model(flatten<double>{}, linear<double>(36, 8), relu<double>{}, linear<double>(8, 3));
    sib::rng r(1);
    model.for_each_parameter([&](std::string_view, auto& v, auto*) { for (auto& e : v) e = r.normal() * 0.5; });
    sib::tensor<double> x({4, 1, 6, 6});
    for (auto& e : x) e = r.uniform();
    sib::tensor<std::int64_t> y({4}, {0, 1, 2, 1});
    sib::masks::density_mask<double> mask({.window = 3});
    auto objective = sib::loss::sib_objective<double>();
    sib::autodiff::step_workspace<double> ws;
    const auto v = sib::autodiff::objective_step(model, ws, x, y, objective, mask);
    const sib::io::json record = {{"total", static_cast<double>(v.total)}, {"benchmarks", sib::data::benchmark_list()}};
    std::cout << record.dump() << "\n";
    return std::isfinite(v.total) && sib::io::json::parse(record.dump()) == record ? 0 : 1;
}
