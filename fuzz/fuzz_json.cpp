// io/json.hpp, the parser under every safetensors header, checkpoint metadata and golden meta.json:
// what parse() accepts must come back as the same value through dump() (compact and indented), and
// dump() must write JSON that parse() accepts (non-UTF-8 text replaced, never refused).
#include "fuzz_common.hpp"
#include <sib/io/json.hpp>
#include <optional>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::optional<sib::io::json> j;
    try {
        j = sib::io::json::parse(text);
    } catch (const sib::io::json_error&) {
    }
    const auto check = [](bool ok, const char* what, const std::string& shown) {
        if (ok) return;
        std::fprintf(stderr, "finding: %s: %s\n", what, shown.c_str());
        std::abort();
    };
    if (j) {
        check(sib::io::json::parse(j->dump()) == *j, "a value does not survive dump() and parse()", j->dump());
        check(sib::io::json::parse(j->dump(2)) == *j, "a value does not survive dump(2) and parse()", j->dump());
    }
    // Any bytes as a string: written as valid JSON, read back as the bytes where they were UTF-8.
    const sib::io::json s{std::string(text)};
    std::optional<sib::io::json> back;
    try {
        back = sib::io::json::parse(s.dump());
    } catch (const sib::io::json_error& e) {
        check(false, "dump() of a string wrote what parse() refuses", e.what());
    }
    if (sib::io::json::is_utf8(text)) check(*back == s, "a UTF-8 string does not survive dump() and parse()", s.dump());
    return 0;
}
