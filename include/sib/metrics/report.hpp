// A table of (method, metric) summaries - mean, 95% bootstrap interval, image counts - rendered as
// JSON for machines and as a Markdown table for people. Rows and columns keep the order in which
// methods and metrics were first added.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/metrics/bootstrap.hpp>
#include <sib/io/json.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace metrics {

// {mean, lo, hi, count, nan_count} of one metric over images.
using metric_summary = bootstrap_interval;

// As bootstrap(), but a metric defined on fewer than 2 images does not throw: its mean is the one
// value (or NaN when there is none) and lo = hi = NaN, so one undefined metric (e.g. auroc on
// full masks) does not abort a whole evaluation.
inline metric_summary summarize(std::span<const double> values, const bootstrap_options& opt = {}) {
    index_t defined = 0;
    double last = std::numeric_limits<double>::quiet_NaN();
    for (double v : values)
        if (!std::isnan(v)) {
            ++defined;
            last = v;
        }
    if (defined >= 2) return bootstrap(values, opt);
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    return {last, nan, nan, defined, static_cast<index_t>(values.size()) - defined};
}

class report {
public:
    struct entry {
        std::string method;
        std::string metric;
        metric_summary summary;
    };

    void add(const std::string& method, const std::string& metric, const metric_summary& s) {
        require(find(method, metric) == nullptr, "report: (", method, ", ", metric, ") added twice");
        entries_.push_back({method, metric, s});
        remember(methods_, method);
        remember(metrics_, metric);
    }
    // Summarises per-image values (NaN = undefined) with summarize().
    void add(const std::string& method, const std::string& metric, std::span<const double> values,
             const bootstrap_options& opt = {}) {
        add(method, metric, summarize(values, opt));
    }

    const metric_summary* find(const std::string& method, const std::string& metric) const {
        for (const auto& e : entries_)
            if (e.method == method && e.metric == metric) return &e.summary;
        return nullptr;
    }
    const std::vector<entry>& entries() const { return entries_; }
    const std::vector<std::string>& methods() const { return methods_; }
    const std::vector<std::string>& metrics() const { return metrics_; }

    // {"<method>": {"<metric>": {"mean", "lo", "hi", "count", "nan_count"}}}; undefined numbers
    // (NaN) are null, since JSON has no NaN.
    io::json to_json() const {
        io::json j = io::json::object();
        for (const auto& m : methods_) j[m] = io::json::object();
        for (const auto& e : entries_) {
            const auto& s = e.summary;
            j[e.method][e.metric] = {{"mean", number(s.mean)},
                                     {"lo", number(s.lo)},
                                     {"hi", number(s.hi)},
                                     {"count", s.count},
                                     {"nan_count", s.nan_count}};
        }
        return j;
    }

    // One row per method, one column per metric; a cell reads "mean [lo, hi]" with `digits`
    // decimals, "(k NaN)" appended when k images were left out, "n/a" when undefined, "-" when
    // the pair was never added.
    std::string to_markdown(int digits = 3) const {
        std::string out = "| method |";
        for (const auto& m : metrics_) out += " " + escape(m) + " |";
        out += "\n| --- |";
        for (std::size_t i = 0; i < metrics_.size(); ++i) out += " --- |";
        out += "\n";
        for (const auto& method : methods_) {
            out += "| " + escape(method) + " |";
            for (const auto& metric : metrics_) {
                const metric_summary* s = find(method, metric);
                out += " " + (s ? cell(*s, digits) : std::string("-")) + " |";
            }
            out += "\n";
        }
        return out;
    }

private:
    static void remember(std::vector<std::string>& list, const std::string& name) {
        for (const auto& n : list)
            if (n == name) return;
        list.push_back(name);
    }
    static io::json number(double v) {
        if (std::isnan(v)) return nullptr;
        return v;
    }
    static std::string fixed(double v, int digits) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*f", digits, v);
        return buf;
    }
    static std::string cell(const metric_summary& s, int digits) {
        std::string c;
        if (std::isnan(s.mean))
            c = "n/a";
        else if (std::isnan(s.lo) || std::isnan(s.hi))
            c = fixed(s.mean, digits);
        else
            c = fixed(s.mean, digits) + " [" + fixed(s.lo, digits) + ", " + fixed(s.hi, digits) + "]";
        if (s.nan_count > 0) c += " (" + std::to_string(s.nan_count) + " NaN)";
        return c;
    }
    // A '|' would end the cell.
    static std::string escape(const std::string& s) {
        std::string out;
        for (char ch : s) {
            if (ch == '|') out += '\\';
            out += ch;
        }
        return out;
    }

    std::vector<entry> entries_;
    std::vector<std::string> methods_;
    std::vector<std::string> metrics_;
};

}  // namespace metrics
SIB_END_NAMESPACE
