// sib info: what a checkpoint or weights file holds, with a checksum of the model's tensors so two
// runs can be compared for identical weights.
#include "common.hpp"
#include <sib/io/safetensors.hpp>
#include <cstdio>

namespace sib_cli {

int cmd_info(int argc, char** argv) {
    args a("info", "Describes a .safetensors checkpoint or weights file: tensors, sib metadata, the model\n"
                   "(a checkpoint's --model string, which reopens it) and weights_fnv1a, a checksum over the\n"
                   "model tensors (not optimizer state) by name.");
    a.required("--file", "FILE", ".safetensors file");
    if (!a.parse(argc, argv, std::cout)) return 0;
    const auto f = sib::io::safetensors_file::load(a.str("--file"));
    std::vector<std::string> names = f.names();
    std::sort(names.begin(), names.end());
    std::uint64_t h = 1469598103934665603ULL;
    sib::io::json tensors = sib::io::json::object();
    std::size_t model_tensors = 0;
    for (const auto& n : names) {
        const auto& e = f.info(n);
        tensors[n] = e.shape.str();
        if (n.rfind("optim.", 0) == 0) continue;
        ++model_tensors;
        for (char c : n) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        for (std::byte b : f.raw(n)) h = (h ^ static_cast<unsigned char>(b)) * 1099511628211ULL;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    sib::io::json out = {{"file", a.str("--file")}, {"tensors", names.size()}, {"model_tensors", model_tensors},
                          {"weights_fnv1a", hex}, {"shapes", tensors}};
    const auto& md = f.metadata();
    if (auto it = md.find("sib"); it != md.end()) {
        try {
            out["sib"] = sib::io::json::parse(it->second);
        } catch (const std::exception&) {
            sib::fail(a.str("--file"), ": sib metadata is not valid JSON");
        }
        // The checkpoint's identity: the --model string that rebuilds the model reading it.
        if (const sib::io::json* id = out["sib"].find("identity"); id && id->is_string()) {
            const sib::io::json model = *id;  // a copy: adding "model" may move the members
            out["model"] = model;
        }
    }
    print_json(out);
    return 0;
}

}  // namespace sib_cli
