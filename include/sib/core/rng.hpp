// A portable, seedable generator: results are the same on every compiler and standard library
// (std::normal_distribution is not), which deterministic training and explanations rely on.
#pragma once
#include <sib/core/config.hpp>
#include <cmath>
#include <cstdint>

SIB_BEGIN_NAMESPACE

class rng {
public:
    explicit rng(std::uint64_t seed = 0) { reseed(seed); }

    void reseed(std::uint64_t seed) {
        std::uint64_t z = seed;
        for (auto& s : s_) s = splitmix(z);
        has_spare_ = false;
    }

    // xoshiro256** step.
    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

    // Uniform integer in [0, n), unbiased (Lemire's rejection).
    std::uint64_t below(std::uint64_t n) {
        if (n <= 1) return 0;
        const std::uint64_t limit = (~std::uint64_t{0} - n + 1) % n;
        std::uint64_t r;
        do r = next_u64();
        while (r < limit);
        return r % n;
    }

    // Standard normal by the Marsaglia polar method.
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2.0 * uniform() - 1.0;
            v = 2.0 * uniform() - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        const double m = std::sqrt(-2.0 * std::log(s) / s);
        spare_ = v * m;
        has_spare_ = true;
        return u * m;
    }
    double normal(double mean, double stddev) { return mean + stddev * normal(); }

    // Fisher-Yates shuffle of a random-access range.
    template <class It>
    void shuffle(It first, It last) {
        const auto n = last - first;
        for (auto i = n - 1; i > 0; --i) {
            auto j = static_cast<decltype(i)>(below(static_cast<std::uint64_t>(i + 1)));
            std::swap(first[i], first[j]);
        }
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix(std::uint64_t& z) {
        std::uint64_t r = (z += 0x9e3779b97f4a7c15ULL);
        r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ULL;
        r = (r ^ (r >> 27)) * 0x94d049bb133111ebULL;
        return r ^ (r >> 31);
    }

    std::uint64_t s_[4]{};
    double spare_ = 0.0;
    bool has_spare_ = false;
};

SIB_END_NAMESPACE
