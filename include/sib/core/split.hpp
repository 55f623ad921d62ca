// The one parser of comma-separated lists of names (explanation methods, metrics, the command
// line's and the examples' lists).
#pragma once
#include <sib/core/config.hpp>
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE

// "a,b,c" -> {"a", "b", "c"}. Items are kept as
// written; an empty text or item is an empty name, which the caller's lookup rejects.
inline std::vector<std::string> split_list(std::string_view text, char separator = ',') {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(separator, start), text.size());
        out.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

SIB_END_NAMESPACE
