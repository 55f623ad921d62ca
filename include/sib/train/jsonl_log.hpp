// A JSON Lines log: one JSON object per line, appended and flushed line by line, so a run that
// dies mid-way leaves every completed record readable (and `tail -f` / pandas.read_json(lines=True)
// work while it runs).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/io/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace train {

class jsonl_log {
public:
    // append = false starts the file afresh.
    explicit jsonl_log(const std::filesystem::path& path, bool append = true) : path_(path) {
        out_.open(path, append ? std::ios::out | std::ios::app : std::ios::out | std::ios::trunc);
        require(out_.is_open(), "jsonl_log: cannot open '", path.string(), "' for writing");
    }

    const std::filesystem::path& path() const { return path_; }

    // NaN and infinities become null (JSON has no such numbers); invalid UTF-8 in strings is
    // replaced rather than thrown on, so a log line never ends a training run.
    void write(const io::json& record) {
        require(record.is_object(), "jsonl_log: a record must be a JSON object, got ", record.type_name());
        out_ << record.dump() << '\n';  // bytes that are not UTF-8 become U+FFFD
        out_.flush();
        require(out_.good(), "jsonl_log: writing to '", path_.string(), "' failed");
    }

private:
    std::filesystem::path path_;
    std::ofstream out_;
};

// Every record of a JSON Lines file, in order; empty lines are skipped. A line that is not a JSON
// object is an error naming the file and the line; a last line cut short (no newline after it: a
// run killed while writing it, or one still writing) is left out.
inline std::vector<io::json> read_jsonl(const std::filesystem::path& path) {
    std::ifstream in(path);
    require(in.is_open(), path.string(), ": cannot open the log");
    std::vector<io::json> records;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const bool unterminated = in.eof();  // no newline after it: still being written, or cut short
        try {
            records.push_back(io::json::parse(line));
        } catch (const io::json_error& e) {
            if (unterminated) break;
            fail(path.string(), ": line ", number, " is not JSON (", e.what(), ")");
        }
        require(records.back().is_object(), path.string(), ": line ", number, " is not a JSON object");
    }
    return records;
}

}  // namespace train
SIB_END_NAMESPACE
