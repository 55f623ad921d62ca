// The definitions of <sib/io/safetensors.hpp>: reading, checking and writing safetensors files.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/io/safetensors.hpp>

SIB_BEGIN_NAMESPACE
namespace io {
namespace detail {

SIB_INLINE std::size_t safetensors_element_size(std::string_view d) {
    if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" || d == "F8_E4M3") return 1;
    if (d == "I16" || d == "U16" || d == "F16" || d == "BF16") return 2;
    if (d == "I32" || d == "U32" || d == "F32") return 4;
    if (d == "I64" || d == "U64" || d == "F64") return 8;
    return 0;
}

SIB_INLINE std::optional<io::dtype> safetensors_to_dtype(std::string_view d) {
    if (d == "F32") return dtype::float32;
    if (d == "F64") return dtype::float64;
    if (d == "I64") return dtype::int64;
    if (d == "I32") return dtype::int32;
    if (d == "U8") return dtype::uint8;
    return std::nullopt;
}

SIB_INLINE const char* safetensors_dtype_name(io::dtype d) {
    switch (d) {
        case dtype::float32: return "F32";
        case dtype::float64: return "F64";
        case dtype::int64: return "I64";
        case dtype::int32: return "I32";
        case dtype::uint8: return "U8";
    }
    return "?";
}

SIB_INLINE int safetensors_write_rank(io::dtype d) {
    switch (d) {
        case dtype::int64: return 0;
        case dtype::float64: return 1;
        case dtype::float32: return 2;
        case dtype::int32: return 3;
        case dtype::uint8: return 4;
    }
    return 5;
}

}  // namespace detail
SIB_INLINE safetensors_file safetensors_file::load(const std::filesystem::path& path) {
    safetensors_file f;
    f.path_ = path.string();
    f.bytes_ = detail::read_file_bytes(path);
    f.parse();
    return f;
}

SIB_INLINE const safetensors_file::entry& safetensors_file::info(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) fail(path_, ": no tensor named '", name, "'");
    return it->second;
}

SIB_INLINE io::dtype safetensors_file::dtype_of_entry(const std::string& name) const {
    const entry& e = info(name);
    const auto d = detail::safetensors_to_dtype(e.dtype);
    if (!d)
        fail(path_, ": tensor '", name, "' has dtype ", e.dtype,
             ", which sib does not read (F32, F64, I64, I32, U8)");
    return *d;
}

SIB_INLINE raw_array safetensors_file::array(const std::string& name) const {
    raw_array a;
    a.dtype = dtype_of_entry(name);
    a.shape = info(name).shape;
    const auto r = raw(name);
    a.bytes.assign(r.begin(), r.end());
    return a;
}

SIB_INLINE void safetensors_file::save(const std::filesystem::path& path, const named_arrays& arrays,
                                       const std::map<std::string, std::string>& metadata) {
    const std::string where = path.string();
    std::vector<const std::pair<std::string, raw_array>*> order;
    for (const auto& a : arrays) {
        require(a.first != "__metadata__", where, ": '__metadata__' is reserved, not a tensor name");
        require(json::is_utf8(a.first), where, ": a tensor name is not UTF-8 text");
        a.second.check_consistent(where + ": tensor '" + a.first + "'");
        order.push_back(&a);
    }
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        const int ra = detail::safetensors_write_rank(a->second.dtype);
        const int rb = detail::safetensors_write_rank(b->second.dtype);
        return ra != rb ? ra < rb : a->first < b->first;
    });
    for (std::size_t i = 1; i < order.size(); ++i)
        require(order[i - 1]->first != order[i]->first, where, ": tensor name '", order[i]->first,
                "' given twice");

    for (const auto& [k, v] : metadata)
        require(json::is_utf8(k) && json::is_utf8(v), where, ": metadata '", json(k).dump(),
                "' is not UTF-8 text (a safetensors header is JSON)");
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = json(metadata);
    std::size_t offset = 0;
    for (const auto* a : order) {
        const raw_array& arr = a->second;
        std::vector<index_t> dims(arr.shape.begin(), arr.shape.end());
        header[a->first] = json{{"dtype", detail::safetensors_dtype_name(arr.dtype)},
                            {"shape", json(dims)},
                            {"data_offsets", {offset, offset + arr.bytes.size()}}};
        offset += arr.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    unsigned char len[8];
    for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>((text.size() >> (8 * b)) & 0xFF);

    atomic_file_writer w(path);
    w.write(len, 8);
    w.write(text.data(), text.size());
    for (const auto* a : order) w.write(a->second.bytes.data(), a->second.bytes.size());
    w.commit();
}

SIB_INLINE void safetensors_file::parse() {
    require(bytes_.size() >= 8, path_, ": truncated: ", bytes_.size(),
            " bytes, too short for the 8-byte header length");
    std::uint64_t n = 0;
    for (int b = 0; b < 8; ++b) n |= static_cast<std::uint64_t>(bytes_[static_cast<std::size_t>(b)]) << (8 * b);
    require(n <= bytes_.size() - 8, path_, ": header length ", n,
            " runs past the end of the file (", bytes_.size() - 8, " bytes after the length)");
    data_start_ = 8 + static_cast<std::size_t>(n);
    const std::size_t data_size = bytes_.size() - data_start_;

    json h;
    try {
        h = json::parse(std::string_view(reinterpret_cast<const char*>(bytes_.data() + 8), n));
    } catch (const json_error& e) {
        fail(path_, ": header is not valid JSON (", e.what(), ")");
    }
    require(h.is_object(), path_, ": header is not a JSON object");

    for (const auto& [name, v] : h.items()) {
        if (name == "__metadata__") {
            require(v.is_object(), path_, ": __metadata__ must map strings to strings");
            for (const auto& [k, s] : v.items()) {
                require(s.is_string(), path_, ": __metadata__ must map strings to strings ('", k,
                        "' is not a string)");
                metadata_[k] = s.get<std::string>();
            }
            continue;
        }
        if (!v.is_object()) bad_entry(name, "entry is not a JSON object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!v.contains(key)) bad_entry(name, std::string("missing '") + key + "'");
        entry e;
        const auto& dt = v.at("dtype");
        if (!dt.is_string()) bad_entry(name, "dtype is not a string");
        e.dtype = dt.get<std::string>();
        e.element_size = detail::safetensors_element_size(e.dtype);
        if (e.element_size == 0) bad_entry(name, "unknown dtype '" + e.dtype + "'");

        const auto& sh = v.at("shape");
        if (!sh.is_array() || !std::all_of(sh.elements().begin(), sh.elements().end(), is_count))
            bad_entry(name, "shape must be a list of non-negative integers, got " + sh.dump());
        if (sh.size() > static_cast<std::size_t>(sib::shape::max_rank))
            bad_entry(name, "rank " + std::to_string(sh.size()) + " exceeds " +
                                std::to_string(sib::shape::max_rank));
        std::size_t count = 1;
        for (const auto& d : sh.elements()) {
            const auto dim = d.get<std::uint64_t>();
            if (dim != 0 && count > (std::size_t{1} << 62) / e.element_size / dim)
                bad_entry(name, "shape " + sh.dump() + " is too large");
            count *= static_cast<std::size_t>(dim);
            e.shape.push_back(static_cast<index_t>(dim));
        }

        const auto& off = v.at("data_offsets");
        if (!off.is_array() || off.size() != 2 || !is_count(off[0]) || !is_count(off[1]))
            bad_entry(name, "data_offsets must be two non-negative integers [begin, end], got " + off.dump());
        const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
        const std::string range = "[" + std::to_string(begin) + "," + std::to_string(end) + "]";
        if (end < begin) bad_entry(name, "data_offsets " + range + " end before they begin");
        if (end > data_size)
            bad_entry(name, "data_offsets " + range + " out of range (data section has " +
                                std::to_string(data_size) + " bytes)");
        e.begin = static_cast<std::size_t>(begin);
        e.end = static_cast<std::size_t>(end);
        if (count * e.element_size != e.end - e.begin)
            bad_entry(name, "shape " + e.shape.str() + " of " + e.dtype + " needs " +
                                std::to_string(count * e.element_size) +
                                " bytes but data_offsets span " + std::to_string(e.end - e.begin));
        order_.push_back(name);
        entries_.emplace(name, std::move(e));
    }

    std::sort(order_.begin(), order_.end(), [&](const std::string& a, const std::string& b) {
        const entry &ea = entries_.at(a), &eb = entries_.at(b);
        return ea.begin != eb.begin ? ea.begin < eb.begin : (ea.end != eb.end ? ea.end < eb.end : a < b);
    });
    // Empty tensors occupy no bytes and cannot overlap anything.
    const std::string* previous = nullptr;
    for (const std::string& name : order_) {
        const entry& e = entries_.at(name);
        if (e.begin == e.end) continue;
        if (previous) {
            const entry& p = entries_.at(*previous);
            if (e.begin < p.end)
                fail(path_, ": tensors '", *previous, "' and '", name, "' overlap (data_offsets [",
                     p.begin, ",", p.end, "] and [", e.begin, ",", e.end, "])");
        }
        previous = &name;
    }
}

}  // namespace io
SIB_END_NAMESPACE
