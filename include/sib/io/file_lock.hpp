// An exclusive claim on an output path, so that two runs writing the same checkpoint are refused
// instead of interleaved: an flock(2) on "<path>.lock", held while the object lives. The kernel
// drops the lock when the process ends in any way (SIGKILL included), so a crash never leaves a
// stale claim; the lock file itself is removed on a clean release. POSIX only.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <filesystem>
#include <string>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace io {

class file_lock {
public:
    file_lock() = default;
    // Claims `target` (e.g. a checkpoint) or fails in one line naming the process that holds it.
    explicit file_lock(const std::filesystem::path& target);
    file_lock(file_lock&& o) noexcept : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)) {}
    file_lock& operator=(file_lock&& o) noexcept {
        if (this != &o) {
            release();
            path_ = std::move(o.path_);
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;
    ~file_lock() { release(); }

    bool held() const { return fd_ >= 0; }
    const std::filesystem::path& path() const { return path_; }

private:
    // Unlink while still holding the lock, so a waiting process never locks a file about to vanish.
    void release();
    std::string read_holder() const;

    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace io
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/io/file_lock_inl.hpp>
#endif
