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
#include <functional>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
SIB_INLINE double steady_seconds();

// Whether `os` writes to an interactive terminal (only the standard streams can be told).
SIB_INLINE bool writes_to_terminal(const std::ostream& os);

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
    void set(std::string_view name, double value);

    void advance(index_t n = 1);

    // Writes the final line once (later calls do nothing); the destructor calls it too.
    void finish();

    // The current line, without terminal control characters.
    std::string line(double now, bool done) const;

    // 7 s -> "0:07", 3725 s -> "1:02:05".
    static std::string format_duration(double seconds);

    // "40.0 it/s", or seconds per item below one item a second ("8.00 s/it"), as tqdm shows it.
    static std::string format_speed(double rate, const std::string& unit);

private:
    void print(double now, bool done);

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

#if !defined(SIB_COMPILED_LIB)
#include <sib/train/progress_inl.hpp>
#endif
