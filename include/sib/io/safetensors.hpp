// The safetensors format (github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {string: string}}, then the data, offsets counted from its start. Loading validates every entry,
// so a corrupt file fails at load with a message that names the tensor, not later with garbage.
// Entries of dtypes sib does not compute in (F16, BF16, ...) are validated and reachable as raw
// bytes; only converting them fails.
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
#include <sib/io/json.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

namespace detail {

// Every dtype of the format, with its element size: all can be validated, five converted.
SIB_INLINE std::size_t safetensors_element_size(std::string_view d);

SIB_INLINE std::optional<io::dtype> safetensors_to_dtype(std::string_view d);

SIB_INLINE const char* safetensors_dtype_name(io::dtype d);

// The reference writer's data order (dtype descending in its enum, then name): it places every
// tensor at a multiple of its element size without padding between tensors.
SIB_INLINE int safetensors_write_rank(io::dtype d);

}  // namespace detail

class safetensors_file {
public:
    struct entry {
        std::string dtype;  // as in the file: "F32", "BF16", ...
        std::size_t element_size = 0;
        sib::shape shape;
        std::size_t begin = 0, end = 0;  // offsets into the data section
    };
    using named_arrays = std::vector<std::pair<std::string, raw_array>>;

    static safetensors_file load(const std::filesystem::path& path);

    const std::string& path() const { return path_; }
    // In the order of their data in the file.
    const std::vector<std::string>& names() const { return order_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return entries_.count(name) != 0; }

    const entry& info(const std::string& name) const;

    // The stored bytes, whatever the dtype.
    std::span<const std::byte> raw(const std::string& name) const {
        const entry& e = info(name);
        return {bytes_.data() + data_start_ + e.begin, e.end - e.begin};
    }

    io::dtype dtype_of_entry(const std::string& name) const;

    raw_array array(const std::string& name) const;

    // Converted as load_npy converts: float64 <-> float32, integers into floats; floats into
    // integers are refused.
    template <class T, class B = cpu>
    tensor<T, B> get(const std::string& name) const {
        const io::dtype d = dtype_of_entry(name);
        const std::string context = path_ + ": tensor '" + name + "'";
        const auto r = raw(name);
        tensor<T, B> t(info(name).shape);
        if constexpr (B::host_accessible) {
            convert_elements(d, r.data(), static_cast<std::size_t>(t.size()), t.data(), context);
        } else {
            std::vector<T> v(static_cast<std::size_t>(t.size()));
            convert_elements(d, r.data(), v.size(), v.data(), context);
            B::from_host(t.size(), v.data(), t.data());
        }
        return t;
    }

    // Written as the reference implementation writes: header padded with spaces to a multiple of
    // 8 bytes, "__metadata__" first (omitted when empty), data contiguous in the reference order.
    static void save(const std::filesystem::path& path, const named_arrays& arrays,
                     const std::map<std::string, std::string>& metadata = {});

    // Convenience for tensors: save(path, {{"0.weight", w}, ...}).
    template <class T, class B>
    static void save(const std::filesystem::path& path,
                     const std::vector<std::pair<std::string, const tensor<T, B>*>>& tensors,
                     const std::map<std::string, std::string>& metadata = {}) {
        named_arrays arrays;
        for (const auto& [name, t] : tensors) arrays.emplace_back(name, raw_array::from_tensor(*t));
        save(path, arrays, metadata);
    }

private:
    [[noreturn]] void bad_entry(const std::string& name, const std::string& what) const {
        fail(path_, ": tensor '", name, "': ", what);
    }

    static bool is_count(const json& v) { return v.is_number_unsigned(); }

    void parse();

    std::string path_;
    std::vector<std::byte> bytes_;
    std::size_t data_start_ = 0;
    std::map<std::string, entry> entries_;
    std::vector<std::string> order_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace io
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/io/safetensors_inl.hpp>
#endif
