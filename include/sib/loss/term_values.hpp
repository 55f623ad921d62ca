// The named values an objective reports after its forward: each leaf term adds its own (cross
// entropy "ce", the S-IB terms "fg" and "bg", RRR's "rrr", or a user's term under its own name), so
// a progress bar, a log or `sib loss` shows what each part of a composed objective contributes.
// Fixed capacity: reporting allocates nothing in a training step.
#pragma once
#include <sib/core/error.hpp>
#include <array>
#include <cmath>
#include <cstddef>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace loss {

struct named_value {
    std::string_view name;  // names are string literals of the terms
    double value;
};

class term_values {
public:
    static constexpr std::size_t capacity = 16;

    void clear() { size_ = 0; }
    // A term that occurs twice in one expression reports twice, in order.
    void add(std::string_view name, double value) {
        require(size_ < capacity, "loss: an objective reports more than ", capacity, " named values");
        values_[size_++] = {name, value};
    }
    // The first value reported under `name`, or NaN when no term has that name.
    double operator[](std::string_view name) const {
        for (std::size_t i = 0; i < size_; ++i)
            if (values_[i].name == name) return values_[i].value;
        return std::nan("");
    }
    bool contains(std::string_view name) const {
        for (std::size_t i = 0; i < size_; ++i)
            if (values_[i].name == name) return true;
        return false;
    }
    std::size_t size() const { return size_; }
    const named_value* begin() const { return values_.data(); }
    const named_value* end() const { return values_.data() + size_; }
    named_value* begin() { return values_.data(); }
    named_value* end() { return values_.data() + size_; }

private:
    std::array<named_value, capacity> values_{};
    std::size_t size_ = 0;
};

}  // namespace loss
SIB_END_NAMESPACE
