// The definitions of <sib/train/progress.hpp>: progress lines.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/train/progress.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

SIB_BEGIN_NAMESPACE
namespace train {

SIB_INLINE double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

SIB_INLINE bool writes_to_terminal(const std::ostream& os) {
    const char* term = std::getenv("TERM");
    if (term && std::strcmp(term, "dumb") == 0) return false;
#if defined(_WIN32)
    if (&os == &std::cerr || &os == &std::clog) return _isatty(2) != 0;
    if (&os == &std::cout) return _isatty(1) != 0;
#else
    if (&os == &std::cerr || &os == &std::clog) return isatty(STDERR_FILENO) != 0;
    if (&os == &std::cout) return isatty(STDOUT_FILENO) != 0;
#endif
    return false;
}

SIB_INLINE void progress::set(std::string_view name, double value) {
    for (auto& f : fields_)
        if (f.first == name) {
            f.second = value;
            return;
        }
    fields_.emplace_back(std::string(name), value);
}

SIB_INLINE void progress::advance(index_t n) {
    count_ += n;
    const double now = clock_();
    const double interval = terminal_ ? opt_.redraw_interval_s : opt_.plain_interval_s;
    if (now - last_print_ >= interval) print(now, false);
}

SIB_INLINE void progress::finish() {
    if (finished_) return;
    finished_ = true;
    print(clock_(), true);
}

SIB_INLINE std::string progress::line(double now, bool done) const {
    std::string s = opt_.label;
    auto add = [&s](const std::string& part) {
        if (!s.empty()) s += ' ';
        s += part;
    };
    char buf[96];
    if (total_ > 0) {
        std::snprintf(buf, sizeof buf, "%lld/%lld %d%%", static_cast<long long>(count_),
                      static_cast<long long>(total_),
                      static_cast<int>(100.0 * static_cast<double>(count_) / static_cast<double>(total_)));
    } else {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(count_));
    }
    add(buf);
    const double elapsed = now - start_;
    const double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
    add(format_speed(rate, opt_.unit));
    if (done)
        add("in " + format_duration(elapsed));
    else if (total_ > 0)
        add("eta " + (rate > 0 ? format_duration(static_cast<double>(total_ - count_) / rate)
                               : std::string("?")));
    for (const auto& f : fields_) {
        std::snprintf(buf, sizeof buf, "%.4g", f.second);
        add(f.first + "=" + buf);
    }
    return s;
}

SIB_INLINE std::string progress::format_duration(double seconds) {
    if (!(seconds >= 0) || seconds > 1e9) return "?";
    const long long t = static_cast<long long>(seconds + 0.5);
    char buf[48];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
    return buf;
}

SIB_INLINE std::string progress::format_speed(double rate, const std::string& unit) {
    if (!(rate > 0) || std::isinf(rate)) return "? " + unit + "/s";
    const bool per_second = rate >= 1;
    const double x = per_second ? rate : 1 / rate;
    char buf[48];
    std::snprintf(buf, sizeof buf, x < 10 ? "%.2f" : x < 100 ? "%.1f" : "%.0f", x);
    return std::string(buf) + (per_second ? " " + unit + "/s" : " s/" + unit);
}

SIB_INLINE void progress::print(double now, bool done) {
    last_print_ = now;
    const std::string s = line(now, done);
    if (terminal_) {
        // Carriage return, the line, then clear whatever a longer previous line left behind.
        *os_ << '\r' << s << "\x1b[K";
        if (done) *os_ << '\n';
    } else {
        *os_ << s << '\n';
    }
    os_->flush();
}

}  // namespace train
SIB_END_NAMESPACE
