// The golden fixtures of tests/data/golden: an independent implementation (PyTorch autograd with
// create_graph=True) in float64. Our float64 path must match every array to 1e-8 relative, the
// float32 path to 2e-3.
#include "support/golden_case.hpp"

TEST_CASE("golden: every case in float64 to 1e-8") {
    const auto cases = sibtest::golden_case_dirs(SIB_GOLDEN_DIR);
    REQUIRE(cases.size() >= 4);
    for (const auto& dir : cases) sibtest::check_golden_case<double>(dir, 1e-8);
}

TEST_CASE("golden: every case in float32 to 2e-3") {
    for (const auto& dir : sibtest::golden_case_dirs(SIB_GOLDEN_DIR)) sibtest::check_golden_case<float>(dir, 2e-3);
}
