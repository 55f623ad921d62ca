// A small flag parser for the sib command line: every subcommand declares its flags with help
// text, so --help is generated and an unknown or malformed flag is one clear line.
#pragma once
#include <sib/core/error.hpp>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sib_cli {

class args {
public:
    args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

    // A flag taking a value; `fallback` empty means required unless `optional`.
    args& flag(const std::string& name, const std::string& value_name, const std::string& help,
               std::optional<std::string> fallback = std::nullopt, bool required = false) {
        flags_.push_back({name, value_name, help, std::move(fallback), required, false});
        return *this;
    }
    args& required(const std::string& name, const std::string& value_name, const std::string& help) {
        return flag(name, value_name, help, std::nullopt, true);
    }
    args& option(const std::string& name, const std::string& help) {
        flags_.push_back({name, "", help, std::nullopt, false, true});
        return *this;
    }

    // Parses argv after the subcommand. Returns false when --help was printed.
    bool parse(int argc, char** argv, std::ostream& out) {
        for (int i = 0; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--help" || a == "-h") {
                usage(out);
                return false;
            }
            sib::require(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (see sib ", command_, " --help)");
            std::string value;
            bool has_value = false;
            if (auto eq = a.find('='); eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
                has_value = true;
            }
            const spec* s = find(a);
            sib::require(s != nullptr, "unknown flag '", a, "' (see sib ", command_, " --help)");
            if (s->boolean) {
                sib::require(!has_value, "flag ", a, " takes no value");
                values_[a] = "1";
                continue;
            }
            if (!has_value) {
                sib::require(i + 1 < argc, "flag ", a, " needs a value ", s->value_name);
                value = argv[++i];
            }
            sib::require(!values_.count(a), "flag ", a, " given twice");
            values_[a] = value;
        }
        for (const auto& s : flags_)
            sib::require(!s.required || values_.count(s.name), "missing required flag ", s.name,
                         " ", s.value_name, " (see sib ", command_, " --help)");
        return true;
    }

    bool has(const std::string& name) const { return values_.count(name) || (find(name) && find(name)->fallback); }
    bool set(const std::string& name) const { return values_.count(name) > 0; }

    std::string str(const std::string& name) const {
        if (auto it = values_.find(name); it != values_.end()) return it->second;
        const spec* s = find(name);
        sib::require(s && s->fallback, "missing flag ", name);
        return *s->fallback;
    }
    long long integer(const std::string& name) const {
        const std::string v = str(name);
        try {
            std::size_t used = 0;
            long long out = std::stoll(v, &used);
            if (used == v.size()) return out;
        } catch (...) {
        }
        sib::fail(name, " must be an integer, got '", v, "'");
    }
    double real(const std::string& name) const {
        const std::string v = str(name);
        try {
            std::size_t used = 0;
            double out = std::stod(v, &used);
            if (used == v.size()) return out;
        } catch (...) {
        }
        sib::fail(name, " must be a number, got '", v, "'");
    }
    // One of the allowed words (a braced list or a registry's array of names).
    std::string choice(const std::string& name, std::initializer_list<std::string_view> allowed) const {
        return choice<std::initializer_list<std::string_view>>(name, allowed);
    }
    template <class Names>
    std::string choice(const std::string& name, const Names& allowed) const {
        const std::string v = str(name);
        std::string list;
        for (std::string_view a : allowed) {
            if (v == a) return v;
            list += (list.empty() ? "" : "|") + std::string(a);
        }
        sib::fail(name, " must be one of ", list, ", got '", v, "'");
    }

    void usage(std::ostream& out) const {
        out << "usage: sib " << command_;
        for (const auto& s : flags_)
            if (s.required) out << " " << s.name << " " << s.value_name;
        out << " [options]\n\n" << summary_ << "\n\n";
        for (const auto& s : flags_) {
            std::string left = "  " + s.name + (s.boolean ? "" : " " + s.value_name);
            if (left.size() < 30) left.resize(30, ' ');
            else left += "\n" + std::string(30, ' ');
            out << left << s.help;
            if (s.required) out << " (required)";
            else if (s.fallback) out << " (default: " << *s.fallback << ")";
            out << "\n";
        }
        out << "  --help                      show this help\n";
    }

private:
    struct spec {
        std::string name, value_name, help;
        std::optional<std::string> fallback;
        bool required, boolean;
    };
    const spec* find(const std::string& name) const {
        for (const auto& s : flags_)
            if (s.name == name) return &s;
        return nullptr;
    }
    std::string command_, summary_;
    std::vector<spec> flags_;
    std::map<std::string, std::string> values_;
};

}  // namespace sib_cli
