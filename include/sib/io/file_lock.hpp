// An exclusive claim on an output path, so that two runs writing the same checkpoint are refused
// instead of interleaved: an flock(2) on "<path>.lock", held while the object lives. The kernel
// drops the lock when the process ends in any way (SIGKILL included), so a crash never leaves a
// stale claim; the lock file itself is removed on a clean release. POSIX only.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/io/file_read.hpp>
#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

SIB_BEGIN_NAMESPACE
namespace io {

class file_lock {
public:
    file_lock() = default;
    // Claims `target` (e.g. a checkpoint) or fails in one line naming the process that holds it.
    explicit file_lock(const std::filesystem::path& target) : path_(target) {
        path_ += ".lock";
        for (;;) {
            fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
            if (fd_ < 0)
                fail(target.string(), ": cannot create the lock file ", path_.string(), " (",
                     detail::errno_text(errno), ")");
            if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
                const int e = errno;
                const std::string holder = read_holder();
                ::close(std::exchange(fd_, -1));
                if (e == EWOULDBLOCK)
                    fail(target.string(), " is being written by another run",
                         holder.empty() ? "" : " (process " + holder + ")", "; give another output path");
                fail(target.string(), ": cannot lock ", path_.string(), " (", detail::errno_text(e), ")");
            }
            // The file we locked may have been removed by its previous holder's release between our
            // open and our flock; then lock the file that is there now.
            struct stat opened {}, named {};
            if (::fstat(fd_, &opened) == 0 && ::stat(path_.c_str(), &named) == 0 && opened.st_ino == named.st_ino &&
                opened.st_dev == named.st_dev)
                break;
            ::close(std::exchange(fd_, -1));
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd_, 0) == 0) (void)!::write(fd_, pid.data(), pid.size());
    }
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
    void release() {
        if (fd_ < 0) return;
        ::unlink(path_.c_str());
        ::close(std::exchange(fd_, -1));
    }
    std::string read_holder() const {
        char buf[32] = {};
        const ::ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string s = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        return s;
    }

    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace io
SIB_END_NAMESPACE
