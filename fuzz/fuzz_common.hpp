// Shared by the libFuzzer harnesses (fuzz/README.md): the readers that take a path get the input
// written to a temporary file of this process; sib::error is the expected, clean rejection.
#pragma once
#include <sib/backend/cpu/threading.hpp>
#include <sib/core/error.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace sib_fuzz {

// A file in the temporary folder, unique to this process and `name`, removed at exit.
inline std::string temp_path(const std::string& name) {
    static std::vector<std::string> made;
    static const struct cleanup {
        ~cleanup() {
            for (const auto& p : made) std::remove(p.c_str());
        }
    } at_exit;
    (void)at_exit;
    std::string p = (std::filesystem::temp_directory_path() /
                     ("sib-fuzz-" + std::to_string(::getpid()) + "-" + name)).string();
    if (std::find(made.begin(), made.end(), p) == made.end()) made.push_back(p);
    return p;
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
}

// One thread: the harness is about parsing, and threads only add noise to libFuzzer's runs.
inline void init_once() {
    static const bool done = [] {
        sib::set_num_threads(1);
        return true;
    }();
    (void)done;
}

}  // namespace sib_fuzz
