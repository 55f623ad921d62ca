// sib: the command line, a thin layer over the library (every subcommand is a few library calls;
// examples/ shows the same in C++).
#include <sib/core/error.hpp>
#include <sib/layers/registry.hpp>
#include <sib/models/registry.hpp>
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

namespace sib_cli {
int cmd_loss(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_explain(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_plot(int argc, char** argv);
}  // namespace sib_cli

namespace {
struct command {
    const char* name;
    int (*run)(int, char**);
    const char* summary;
};
const command commands[] = {
    {"loss", sib_cli::cmd_loss, "S-IB objective and gradients of one batch"},
    {"train", sib_cli::cmd_train, "train a model with CE or S-IB on a benchmark or dataset"},
    {"bench", sib_cli::cmd_bench, "time training steps of a model"},
    {"info", sib_cli::cmd_info, "describe a checkpoint or weights file"},
#if !defined(SIB_CLI_WITHOUT_EXPLAIN)  // bin/sib-sanitized, built for the tests, leaves them out
    {"explain", sib_cli::cmd_explain, "attribution maps, overlays and a contact sheet"},
    {"eval", sib_cli::cmd_eval, "localisation metrics of explanations with bootstrap intervals"},
    {"plot", sib_cli::cmd_plot, "training curves of --log files as a PNG"},
#endif
};

void usage(std::ostream& out) {
    out << "usage: sib <command> [flags]   (sib <command> --help for its flags)\n\ncommands:\n";
    for (const auto& c : commands) out << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
    out << "\nmodel specs (--model): PyTorch layers separated by ';', e.g. \"Conv2d(1,16,3,padding=1); ReLU; "
           "Flatten; Linear(12544,10)\";\nthe layers and their arguments, in PyTorch's order:\n"
        << sib::nn::layer_help()
        << "an item may be named (\"fc: Linear(512,10)\": parameters fc.weight, fc.bias), and a block y = f(x) + g(x)\n"
           "is Residual([f's items], name: [g's items]) (without g: y = f(x) + x), e.g.\n"
           "  \"Conv2d(3,8,3,padding=1); Residual([Conv2d(8,8,3,padding=1); BatchNorm2d(8); ReLU]); ReLU; ...\"\n"
           "\nnamed models (--model \"resnet18(num_classes=10)\", torchvision's state-dict names):\n"
        << sib::models::model_help();
}
}  // namespace

int main(int argc, char** argv) {
    // A write past the file-size limit (ulimit -f) then fails with EFBIG, reported in one line with
    // the temporary file removed, instead of killing the process.
    std::signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(std::cerr);
        return 2;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        usage(std::cout);
        return 0;
    }
    for (const auto& c : commands) {
        if (name != c.name) continue;
        try {
            return c.run(argc - 2, argv + 2);
        } catch (const std::bad_alloc&) {
            std::cerr << "sib " << name << ": error: out of memory\n";
        } catch (const std::exception& e) {
            std::cerr << "sib " << name << ": error: " << e.what() << "\n";
        }
        return 1;
    }
    std::cerr << "sib: unknown command '" << name << "' (see sib --help)\n";
    return 2;
}
