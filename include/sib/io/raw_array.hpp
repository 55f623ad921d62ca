// An array as a file stores it: dtype tag, shape and packed little-endian C-order bytes. Callers
// that need the stored type (labels as int64, a checkpoint copied unchanged) keep it; everyone else
// converts to a tensor.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/io/dtype.hpp>
#include <cstddef>
#include <string_view>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {

struct raw_array {
    io::dtype dtype = io::dtype::float32;
    sib::shape shape;
    std::vector<std::byte> bytes;

    index_t size() const { return shape.numel(); }
    std::size_t byte_size() const { return static_cast<std::size_t>(size()) * dtype_size(dtype); }

    // Elements converted to T (see convert_elements for what is allowed); `context` starts the
    // message of any error.
    template <class T, class B = cpu>
    tensor<T, B> to_tensor(std::string_view context = "raw_array") const {
        check_consistent(context);
        tensor<T, B> t(shape);
        if constexpr (B::host_accessible) {
            convert_elements(dtype, bytes.data(), static_cast<std::size_t>(size()), t.data(), context);
        } else {
            const auto v = to_vector<T>(context);
            B::from_host(t.size(), v.data(), t.data());
        }
        return t;
    }

    template <class T>
    std::vector<T> to_vector(std::string_view context = "raw_array") const {
        check_consistent(context);
        std::vector<T> v(static_cast<std::size_t>(size()));
        convert_elements(dtype, bytes.data(), v.size(), v.data(), context);
        return v;
    }

    template <class T, class B>
    static raw_array from_tensor(const tensor<T, B>& t) {
        raw_array a;
        a.dtype = dtype_of<T>();
        a.shape = t.shape();
        a.bytes.resize(static_cast<std::size_t>(t.size()) * sizeof(T));
        if (t.size()) B::to_host(t.size(), t.data(), reinterpret_cast<T*>(a.bytes.data()));
        return a;
    }

    void check_consistent(std::string_view context) const {
        require(bytes.size() == byte_size(), context, ": ", bytes.size(), " bytes do not hold ",
                dtype_name(dtype), " data of shape ", shape.str());
    }
};

}  // namespace io
SIB_END_NAMESPACE
