// NumPy .npy files (format versions 1.0, 2.0 and 3.0): float32, float64, int64, int32 and uint8,
// little-endian, C order. Files are written byte for byte as numpy.save writes them, atomically.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/io/atomic_write.hpp>
#include <sib/io/dtype.hpp>
#include <sib/io/file_read.hpp>
#include <sib/io/raw_array.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

// An .npy array in its stored dtype.
using npy_array = raw_array;

namespace detail {

inline constexpr char npy_magic[] = "\x93NUMPY";
inline constexpr std::size_t npy_magic_size = 6;

struct npy_header {
    io::dtype dtype = io::dtype::float32;
    sib::shape shape;
    std::size_t data_offset = 0;
    std::size_t data_bytes = 0;
};

// NumPy's name of a descr such as "<c16", for messages about dtypes sib does not read.
inline std::string npy_descr_name(std::string_view d) {
    if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) d.remove_prefix(1);
    if (d.size() < 2) return "";
    int bytes = 0;
    for (char c : d.substr(1)) {
        if (c < '0' || c > '9') return "";
        bytes = bytes * 10 + (c - '0');
        if (bytes > 1024) return "";
    }
    const std::string bits = std::to_string(bytes * 8);
    switch (d[0]) {
        case 'f': return "float" + bits;
        case 'i': return "int" + bits;
        case 'u': return "uint" + bits;
        case 'c': return "complex" + bits;
        case 'b': return "bool";
        case 'U': return "unicode string";
        case 'S': return "byte string";
        case 'V': return "void";
        case 'O': return "Python object";
        case 'M': return "datetime64";
        case 'm': return "timedelta64";
        default: return "";
    }
}

inline io::dtype npy_parse_descr(std::string_view descr, const std::string& path) {
    const char order = descr.empty() ? '?' : descr[0];
    const std::string_view code = (order == '<' || order == '>' || order == '|' || order == '=')
                                      ? descr.substr(1)
                                      : descr;
    io::dtype d{};
    bool known = true;
    if (code == "f4") d = dtype::float32;
    else if (code == "f8") d = dtype::float64;
    else if (code == "i8") d = dtype::int64;
    else if (code == "i4") d = dtype::int32;
    else if (code == "u1") d = dtype::uint8;
    else known = false;
    if (known && order == '>' && dtype_size(d) > 1)
        fail(path, ": big-endian dtype '", descr, "' is not supported (save it as '<",
             code, "')");
    if (!known) {
        const std::string name = npy_descr_name(descr);
        fail(path, ": unsupported dtype '", descr, "'", name.empty() ? "" : " (" + name + ")",
             "; sib reads float32, float64, int64, int32 and uint8");
    }
    return d;
}

// The header is a Python dict literal, e.g. {'descr': '<f8', 'fortran_order': False,
// 'shape': (3, 4), }. This reads exactly that grammar and nothing more.
class npy_header_parser {
public:
    npy_header_parser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

    npy_header parse() {
        npy_header h;
        bool has_descr = false, has_order = false, has_shape = false, fortran = false;
        std::string descr;
        expect('{');
        for (;;) {
            skip_space();
            if (peek() == '}') {
                ++i_;
                break;
            }
            const std::string key = string_literal();
            expect(':');
            skip_space();
            if (key == "descr") {
                if (peek() == '[') fail(path_, ": structured dtypes are not supported");
                descr = string_literal();
                has_descr = true;
            } else if (key == "fortran_order") {
                fortran = boolean();
                has_order = true;
            } else if (key == "shape") {
                h.shape = tuple();
                has_shape = true;
            } else {
                bad("unexpected key '" + key + "'");
            }
            skip_space();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect('}');
            break;
        }
        for (auto [found, key] : {std::pair{has_descr, "descr"}, std::pair{has_order, "fortran_order"},
                                  std::pair{has_shape, "shape"}})
            require(found, path_, ": header is not parseable (no '", key, "')");
        h.dtype = npy_parse_descr(descr, path_);
        // Rank 0 and 1 arrays have the same layout in both orders.
        require(!fortran || h.shape.rank() <= 1, path_,
                ": Fortran-order arrays are not supported (save np.ascontiguousarray(a))");
        return h;
    }

private:
    [[noreturn]] void bad(const std::string& what) const {
        fail(path_, ": header is not parseable (", what, " at offset ", i_, ")");
    }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void skip_space() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) bad(std::string("expected '") + c + "'");
        ++i_;
    }
    std::string string_literal() {
        skip_space();
        const char quote = peek();
        if (quote != '\'' && quote != '"') bad("expected a string");
        const std::size_t start = ++i_;
        while (i_ < s_.size() && s_[i_] != quote) ++i_;
        if (i_ >= s_.size()) bad("unterminated string");
        return std::string(s_.substr(start, i_++ - start));
    }
    bool boolean() {
        if (s_.substr(i_, 4) == "True") {
            i_ += 4;
            return true;
        }
        if (s_.substr(i_, 5) == "False") {
            i_ += 5;
            return false;
        }
        bad("expected True or False");
    }
    sib::shape tuple() {
        expect('(');
        sib::shape s;
        for (;;) {
            skip_space();
            if (peek() == ')') {
                ++i_;
                return s;
            }
            if (peek() < '0' || peek() > '9') bad("expected a dimension");
            index_t d = 0;
            while (peek() >= '0' && peek() <= '9') {
                if (d > (std::numeric_limits<index_t>::max() - 9) / 10) bad("dimension too large");
                d = d * 10 + (s_[i_++] - '0');
            }
            if (peek() == 'L') ++i_;  // Python 2 long literal
            if (s.rank() == sib::shape::max_rank)
                fail(path_, ": rank above ", sib::shape::max_rank, " is not supported");
            s.push_back(d);
            skip_space();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect(')');
            return s;
        }
    }

    std::string_view s_;
    std::string path_;
    std::size_t i_ = 0;
};

// Reads and checks everything up to the data; leaves f at the first data byte.
inline npy_header read_npy_header(std::FILE* f, std::size_t file_size, const std::string& path) {
    unsigned char pre[12] = {};
    const std::size_t got = std::fread(pre, 1, std::min<std::size_t>(file_size, 12), f);
    require(got >= npy_magic_size + 2 &&
                std::string_view(reinterpret_cast<const char*>(pre), npy_magic_size) ==
                    std::string_view(npy_magic, npy_magic_size),
            path, ": not an npy file (bad magic)");
    const int major = pre[6], minor = pre[7];
    require((major == 1 || major == 2 || major == 3) && minor == 0, path,
            ": unsupported npy version ", major, ".", minor);
    const std::size_t len_bytes = major == 1 ? 2 : 4;
    const std::size_t prefix = npy_magic_size + 2 + len_bytes;
    require(got >= prefix, path, ": truncated header: file has only ", file_size, " bytes");
    std::size_t header_len = 0;
    for (std::size_t b = 0; b < len_bytes; ++b)
        header_len |= static_cast<std::size_t>(pre[npy_magic_size + 2 + b]) << (8 * b);
    require(header_len <= file_size - prefix, path, ": truncated header: expected ", header_len,
            " bytes, found ", file_size - prefix);
    std::string text(header_len, '\0');
    std::fseek(f, static_cast<long>(prefix), SEEK_SET);
    read_exactly(f, text.data(), header_len, path);

    npy_header h = npy_header_parser(text, path).parse();
    h.data_offset = prefix + header_len;
    const std::size_t elem = dtype_size(h.dtype);
    std::size_t count = 1;
    for (index_t d : h.shape) {
        if (d != 0 && count > std::numeric_limits<std::size_t>::max() / elem / static_cast<std::size_t>(d))
            fail(path, ": shape ", h.shape.str(), " is too large");
        count *= static_cast<std::size_t>(d);
    }
    h.data_bytes = count * elem;
    const std::size_t available = file_size - h.data_offset;
    require(available >= h.data_bytes, path, ": truncated: expected ", h.data_bytes,
            " bytes of data, found ", available);
    return h;
}

// numpy.lib.format's header for (dtype, shape): keys sorted, padded with spaces so that the data
// starts at a multiple of 64 bytes, ending in '\n'. Version 2.0 only when 1.0's 16-bit length
// cannot hold it.
inline std::string npy_header_bytes(io::dtype d, const sib::shape& s) {
    std::string dict = "{'descr': '";
    switch (d) {
        case dtype::float32: dict += "<f4"; break;
        case dtype::float64: dict += "<f8"; break;
        case dtype::int64: dict += "<i8"; break;
        case dtype::int32: dict += "<i4"; break;
        case dtype::uint8: dict += "|u1"; break;
    }
    dict += "', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < s.rank(); ++i) {
        if (i) dict += ", ";
        dict += std::to_string(s[i]);
    }
    if (s.rank() == 1) dict += ",";
    dict += "), }";
    constexpr std::size_t align = 64;
    for (int major : {1, 2}) {
        const std::size_t prefix = npy_magic_size + 2 + (major == 1 ? 2 : 4);
        const std::size_t len = dict.size() + 1;
        const std::size_t pad = align - (prefix + len) % align;
        const std::size_t header_len = len + pad;
        if (major == 1 && header_len > 0xFFFF) continue;
        std::string out(npy_magic, npy_magic_size);
        out += static_cast<char>(major);
        out += '\0';
        for (std::size_t b = 0; b < prefix - npy_magic_size - 2; ++b)
            out += static_cast<char>((header_len >> (8 * b)) & 0xFF);
        out += dict;
        out.append(pad, ' ');
        out += '\n';
        return out;
    }
    fail("npy: header too long");
}

inline void write_npy_file(const std::filesystem::path& path, io::dtype d, const sib::shape& s,
                           const void* data, std::size_t bytes) {
    const std::string header = npy_header_bytes(d, s);
    atomic_file_writer w(path);
    w.write(header.data(), header.size());
    w.write(data, bytes);
    w.commit();
}

// Runs `allocate` for the data of the file `name`: memory that cannot hold it is an out_of_memory
// naming the file, its shape and dtype, not a bare std::bad_alloc.
template <class F>
void allocating(const std::string& name, const npy_header& h, F&& allocate) {
    const auto refuse = [&] {
        throw out_of_memory(sib::detail::concat(name, ": cannot hold its ", h.shape.str(), " ", dtype_name(h.dtype),
                                                " data (", h.data_bytes, " bytes) in memory (out of memory)"));
    };
    try {
        allocate();
    } catch (const std::bad_alloc&) {
        refuse();
    } catch (const out_of_memory&) {
        refuse();
    }
}

}  // namespace detail

// The array as stored.
inline npy_array read_npy(const std::filesystem::path& path) {
    const std::string name = path.string();
    auto f = detail::open_for_reading(path);
    const detail::npy_header h = detail::read_npy_header(f.get(), detail::file_size_of(path), name);
    npy_array a;
    a.dtype = h.dtype;
    a.shape = h.shape;
    detail::allocating(name, h, [&] { a.bytes.resize(h.data_bytes); });
    detail::read_exactly(f.get(), a.bytes.data(), h.data_bytes, name);
    return a;
}

// The array converted to T: integer files read into floating tensors, float64 into float32 and
// back; floating files into integer tensors are refused.
template <class T, class B = cpu>
tensor<T, B> load_npy(const std::filesystem::path& path) {
    static_assert(is_storable_v<T>, "load_npy: T must be float, double, int64_t, int32_t or uint8_t");
    const std::string name = path.string();
    auto f = detail::open_for_reading(path);
    const detail::npy_header h = detail::read_npy_header(f.get(), detail::file_size_of(path), name);
    if constexpr (std::is_integral_v<T>)
        require(!is_floating(h.dtype), name, ": cannot read ", dtype_name(h.dtype), " data as ",
                dtype_name(dtype_of<T>()));
    if constexpr (B::host_accessible) {
        // Same dtype: straight into the tensor, no second copy of a data set.
        if (h.dtype == dtype_of<T>()) {
            tensor<T, B> t;
            detail::allocating(name, h, [&] { t.resize(h.shape); });
            detail::read_exactly(f.get(), t.data(), h.data_bytes, name);
            return t;
        }
    }
    npy_array a;
    a.dtype = h.dtype;
    a.shape = h.shape;
    detail::allocating(name, h, [&] { a.bytes.resize(h.data_bytes); });
    detail::read_exactly(f.get(), a.bytes.data(), h.data_bytes, name);
    tensor<T, B> t;
    detail::allocating(name, h, [&] { t = a.to_tensor<T, B>(name); });
    return t;
}

template <class T, class B>
void save_npy(const std::filesystem::path& path, const tensor<T, B>& t) {
    static_assert(is_storable_v<T>, "save_npy: T must be float, double, int64_t, int32_t or uint8_t");
    const std::size_t bytes = static_cast<std::size_t>(t.size()) * sizeof(T);
    if constexpr (B::host_accessible) {
        detail::write_npy_file(path, dtype_of<T>(), t.shape(), t.data(), bytes);
    } else {
        const auto v = t.to_vector();
        detail::write_npy_file(path, dtype_of<T>(), t.shape(), v.data(), bytes);
    }
}

inline void save_npy(const std::filesystem::path& path, const npy_array& a) {
    a.check_consistent(path.string());
    detail::write_npy_file(path, a.dtype, a.shape, a.bytes.data(), a.bytes.size());
}

// Class labels: a 1-D array of int64, int32 or uint8.
inline std::vector<std::int64_t> load_labels(const std::filesystem::path& path) {
    const std::string name = path.string();
    const npy_array a = read_npy(path);
    require(!is_floating(a.dtype), name, ": labels must be integers, found ", dtype_name(a.dtype));
    require(a.shape.rank() == 1, name, ": labels must be 1-D, found shape ", a.shape.str());
    return a.to_vector<std::int64_t>(name);
}

}  // namespace io
SIB_END_NAMESPACE
