// One exception type for every user-facing failure: its message is one line that names the problem.
#pragma once
#include <sib/core/config.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

SIB_BEGIN_NAMESPACE

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An allocation memory could not hold (the message names what and how many bytes).
class out_of_memory : public error {
public:
    using error::error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}
}  // namespace detail

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
    throw error(detail::concat(args...));
}

template <class... Args>
void require(bool ok, const Args&... args) {
    if (!ok) fail(args...);
}

SIB_END_NAMESPACE
