#include "support/gradcheck.hpp"
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/relu.hpp>

using namespace sibtest;

TEST_CASE("linear: five rules by central differences") {
    for (bool bias : {true, false}) {
        sib::nn::linear<double> l(7, 5, bias);
        sib::rng r(3);
        randomize_parameters(l, r);
        check_layer_rules(l, {3, 7});
        check_layer_rules(l, {1, 7}, 2);
    }
}

TEST_CASE("linear: rejects a wrong input width") {
    sib::nn::linear<double> l(7, 5);
    CHECK_THROWS_WITH_AS(l.output_shape({3, 6}), "Linear(7,5): expects input [N,7], got [3,6]", sib::error);
}

TEST_CASE("relu and flatten: five rules") {
    sib::nn::relu<double> a;
    check_layer_rules(a, {2, 3, 5, 5});
    sib::nn::flatten<double> f;
    check_layer_rules(f, {2, 3, 3, 5});
    CHECK(f.output_shape({2, 3, 3, 5}) == sib::shape{2, 45});
}
