// Writing a file so that a reader (or a crash) sees either the old file or the complete new one,
// never a half-written one: write "<path>.tmp.<pid>" in the same folder, fsync it, rename it over
// the target (atomic within one file system) and fsync the folder so the rename itself survives a
// power cut. POSIX only.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/io/file_read.hpp>
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

SIB_BEGIN_NAMESPACE
namespace io {

// Usage: atomic_file_writer w(path); w.write(...); ...; w.commit();
// Without commit (an exception on the way), the destructor removes the temporary file and the
// target is left as it was.
class atomic_file_writer {
public:
    explicit atomic_file_writer(std::filesystem::path target) : target_(std::move(target)) {
        temporary_ = target_;
        temporary_ += ".tmp." + std::to_string(::getpid());
        fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd_ < 0)
            fail(target_.string(), ": cannot create temporary file ", temporary_.string(), " (",
                 detail::errno_text(errno), ")");
    }
    atomic_file_writer(const atomic_file_writer&) = delete;
    atomic_file_writer& operator=(const atomic_file_writer&) = delete;
    ~atomic_file_writer() { abandon(); }

    void write(const void* data, std::size_t n) {
        require(fd_ >= 0, target_.string(), ": write after commit");
        // Past the file-size limit (ulimit -f) the kernel would send SIGXFSZ, which kills the
        // process before the temporary file can be removed: refuse the write instead.
        ::rlimit limit{};
        if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
            written_ + n > static_cast<std::size_t>(limit.rlim_cur)) {
            abandon();
            fail(target_.string(), ": write failed (the file would pass the file-size limit of ", limit.rlim_cur,
                 " bytes, ulimit -f)");
        }
        written_ += n;
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            // Linux writes at most about 2 GiB per call.
            const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
            const ::ssize_t w = ::write(fd_, p, chunk);
            if (w < 0) {
                if (errno == EINTR) continue;
                const int e = errno;
                abandon();
                fail(target_.string(), ": write failed (", detail::errno_text(e), ")");
            }
            p += w;
            n -= static_cast<std::size_t>(w);
        }
    }

    void commit() {
        require(fd_ >= 0, target_.string(), ": commit twice");
        if (::fsync(fd_) != 0) {
            const int e = errno;
            abandon();
            fail(target_.string(), ": fsync failed (", detail::errno_text(e), ")");
        }
        const int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0) {
            const int e = errno;
            ::unlink(temporary_.c_str());
            fail(target_.string(), ": close failed (", detail::errno_text(e), ")");
        }
        if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
            const int e = errno;
            ::unlink(temporary_.c_str());
            fail(target_.string(), ": cannot rename ", temporary_.string(), " into place (",
                 detail::errno_text(e), ")");
        }
        // The data is already in place; a folder that cannot be synced (some network file systems
        // refuse) is no reason to report the write as failed.
        std::filesystem::path folder = target_.parent_path();
        if (folder.empty()) folder = ".";
        const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)::fsync(dfd);
            ::close(dfd);
        }
    }

    const std::filesystem::path& target() const { return target_; }
    const std::filesystem::path& temporary_path() const { return temporary_; }

private:
    void abandon() {
        if (fd_ < 0) return;
        ::close(std::exchange(fd_, -1));
        ::unlink(temporary_.c_str());
    }

    std::filesystem::path target_, temporary_;
    int fd_ = -1;
    std::size_t written_ = 0;
};

inline void write_file_atomically(const std::filesystem::path& path, const void* data,
                                  std::size_t n) {
    atomic_file_writer w(path);
    w.write(data, n);
    w.commit();
}

}  // namespace io
SIB_END_NAMESPACE
