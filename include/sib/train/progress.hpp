// Progress of long work (epochs, evaluation, explanation batches). On a terminal one line is
// redrawn in place; anywhere else (CI logs, files, pipes) a plain line is written every few
// seconds, so a log stays readable instead of filling with carriage returns.
//
//   train 120/1000 12% 40.0 it/s eta 0:22 loss=0.4132
//
// The stream and the clock are injectable, so the plain output can be tested without waiting.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

SIB_BEGIN_NAMESPACE
namespace train {

enum class progress_mode {
    automatic,  // terminal if the stream is std::cerr/std::clog/std::cout on a tty, else plain
    terminal,
    plain,
};

struct progress_options {
    std::string label{};               // printed first, e.g. "epoch 3"
    std::string unit = "it";           // counted items, e.g. "img"
    double plain_interval_s = 10.0;    // plain mode: at most one line per interval
    double redraw_interval_s = 0.1;    // terminal mode: redraw at most this often
    progress_mode mode = progress_mode::automatic;
};

// Seconds on a monotonic clock.
inline double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Whether `os` writes to an interactive terminal (only the standard streams can be told).
inline bool writes_to_terminal(const std::ostream& os) {
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

class progress {
public:
    using clock_type = std::function<double()>;

    // total <= 0: unknown, shown without percentage and ETA.
    explicit progress(index_t total, progress_options o = {}, std::ostream& os = std::cerr,
                      clock_type clock = steady_seconds)
        : opt_(std::move(o)), os_(&os), clock_(std::move(clock)), total_(total) {
        require(opt_.plain_interval_s >= 0 && opt_.redraw_interval_s >= 0,
                "progress: intervals must be non-negative");
        terminal_ = opt_.mode == progress_mode::terminal ||
                    (opt_.mode == progress_mode::automatic && writes_to_terminal(os));
        start_ = last_print_ = clock_();
    }
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;
    ~progress() {
        try {
            finish();
        } catch (...) {
            // A failing log stream must not end the program from a destructor.
        }
    }

    bool is_terminal() const { return terminal_; }
    index_t count() const { return count_; }
    index_t total() const { return total_; }

    // A user field shown after the rate, e.g. set("loss", 0.41); fields keep their first order.
    void set(std::string_view name, double value) {
        for (auto& f : fields_)
            if (f.first == name) {
                f.second = value;
                return;
            }
        fields_.emplace_back(std::string(name), value);
    }

    void advance(index_t n = 1) {
        count_ += n;
        const double now = clock_();
        const double interval = terminal_ ? opt_.redraw_interval_s : opt_.plain_interval_s;
        if (now - last_print_ >= interval) print(now, false);
    }

    // Writes the final line once (later calls do nothing); the destructor calls it too.
    void finish() {
        if (finished_) return;
        finished_ = true;
        print(clock_(), true);
    }

    // The current line, without terminal control characters.
    std::string line(double now, bool done) const {
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

    // 7 s -> "0:07", 3725 s -> "1:02:05".
    static std::string format_duration(double seconds) {
        if (!(seconds >= 0) || seconds > 1e9) return "?";
        const long long t = static_cast<long long>(seconds + 0.5);
        char buf[48];
        if (t >= 3600)
            std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
        else
            std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
        return buf;
    }

    // "40.0 it/s", or seconds per item below one item a second ("8.00 s/it"), as tqdm shows it.
    static std::string format_speed(double rate, const std::string& unit) {
        if (!(rate > 0) || std::isinf(rate)) return "? " + unit + "/s";
        const bool per_second = rate >= 1;
        const double x = per_second ? rate : 1 / rate;
        char buf[48];
        std::snprintf(buf, sizeof buf, x < 10 ? "%.2f" : x < 100 ? "%.1f" : "%.0f", x);
        return std::string(buf) + (per_second ? " " + unit + "/s" : " s/" + unit);
    }

private:
    void print(double now, bool done) {
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

    progress_options opt_;
    std::ostream* os_;
    clock_type clock_;
    index_t total_;
    index_t count_ = 0;
    double start_ = 0, last_print_ = 0;
    bool terminal_ = false;
    bool finished_ = false;
    std::vector<std::pair<std::string, double>> fields_;
};

}  // namespace train
SIB_END_NAMESPACE
