// A training run's curves from its JSON-lines log (--log, train/jsonl_log.hpp), as charts: one
// panel per quantity the epoch records hold (train_loss, test_accuracy, train_<term> for every term
// of the objective, and any other number a user's own log adds), epochs on x; then, where the log
// has step records (log_every), the loss and each term against the step. Several runs overlay,
// one colour each, so CE and S-IB read side by side. What `sib plot` draws:
//
//   std::vector<sib::train::log_run> runs{{"sib", sib::train::read_jsonl("sib.jsonl")}};
//   sib::io::write_png("curves.png", sib::io::tile(sib::train::training_curves(runs), 3));
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/io/chart.hpp>
#include <sib/io/json.hpp>
#include <sib/train/jsonl_log.hpp>
#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace train {

struct log_run {
    std::string name;               // the legend's name of this run
    std::vector<io::json> records;  // read_jsonl(path)
};

struct curves_options {
    int panel_width = 420, panel_height = 280;
};

namespace detail {
// The numeric keys of records with this event, in order of first appearance; `skip` are the x.
inline std::vector<std::string> curve_keys(std::span<const log_run> runs, std::string_view event,
                                           std::initializer_list<std::string_view> skip) {
    std::vector<std::string> keys;
    for (const auto& run : runs)
        for (const auto& r : run.records) {
            const io::json* e = r.find("event");
            if (!e || !e->is_string() || e->get_ref_string() != event) continue;
            for (const auto& [k, v] : r.items()) {
                if (!(v.is_number() || v.is_null()) || std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
                if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
            }
        }
    return keys;
}
}  // namespace detail

inline std::vector<io::canvas> training_curves(std::span<const log_run> runs, const curves_options& o = {}) {
    require(!runs.empty(), "training_curves: no run to draw");
    std::vector<io::canvas> panels;
    const auto panel = [&](std::string_view event, const char* x_key, const std::string& key, const char* x_label) {
        std::vector<io::chart_series> series;
        for (const auto& run : runs) {
            io::chart_series s{run.name};
            for (const auto& r : run.records) {
                const io::json *e = r.find("event"), *x = r.find(x_key), *y = r.find(key);
                if (!e || !e->is_string() || e->get_ref_string() != event || !x || !x->is_number() || !y) continue;
                s.x.push_back(x->get<double>());
                s.y.push_back(y->is_number() ? y->get<double>() : NAN);  // null: not measured
            }
            series.push_back(std::move(s));
        }
        std::string title = key;
        std::replace(title.begin(), title.end(), '_', ' ');
        panels.push_back(io::render_chart(series, {.title = title, .x_label = x_label,
                                                   .width = o.panel_width, .height = o.panel_height,
                                                   .markers = event == "epoch"}));
    };
    for (const auto& key : detail::curve_keys(runs, "epoch", {"epoch", "step", "seconds"})) panel("epoch", "epoch", key, "epoch");
    for (const auto& key : detail::curve_keys(runs, "step", {"epoch", "step"})) panel("step", "step", key, "step");
    require(!panels.empty(), "training_curves: the log has no epoch or step records with numbers (was it written by sib train --log?)");
    return panels;
}

}  // namespace train
SIB_END_NAMESPACE
