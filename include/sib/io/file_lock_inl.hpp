// The definitions of <sib/io/file_lock.hpp>: claiming an output path with flock(2).
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/io/file_lock.hpp>
#include <sib/io/file_read.hpp>
#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

SIB_BEGIN_NAMESPACE
namespace io {

SIB_INLINE file_lock::file_lock(const std::filesystem::path& target) : path_(target) {
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

SIB_INLINE void file_lock::release() {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());
    ::close(std::exchange(fd_, -1));
}

SIB_INLINE std::string file_lock::read_holder() const {
    char buf[32] = {};
    const ::ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string s = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace io
SIB_END_NAMESPACE
