// sib plot: a training run's curves from its --log file as one PNG (train/curves.hpp); several logs
// overlay, one colour per run.
#include "common.hpp"
#include <sib/core/split.hpp>
#include <sib/io/png.hpp>
#include <sib/train/curves.hpp>
#include <filesystem>

namespace sib_cli {

int cmd_plot(int argc, char** argv) {
    args a("plot", "Draws the curves of training logs (sib train --log FILE) into one PNG: every number\n"
                   "of the epoch records (train loss, test accuracy, each term of the objective) against\n"
                   "the epoch, and of the step records against the step. Several logs overlay, named by\n"
                   "their file names.");
    a.required("--log", "FILE[,FILE...]", "JSON-lines logs written by sib train --log")
        .required("--out", "PNG", "picture to write")
        .flag("--columns", "N", "panels per row", "3");
    if (!a.parse(argc, argv, std::cout)) return 0;
    std::vector<sib::train::log_run> runs;
    for (const auto& file : sib::split_list(a.str("--log")))
        runs.push_back({std::filesystem::path(file).stem().string(), sib::train::read_jsonl(file)});
    const auto panels = sib::train::training_curves(runs);
    const auto columns = a.integer("--columns");
    sib::require(columns >= 1, "--columns: must be at least 1, got ", columns);
    sib::io::write_png(a.str("--out"), sib::io::tile(panels, static_cast<int>(columns)));
    print_json({{"out", a.str("--out")}, {"runs", runs.size()}, {"panels", panels.size()}});
    return 0;
}

}  // namespace sib_cli
