// I/O: .npy and .safetensors against files written by numpy and by a reference writer
// (tests/fixtures/gen_io.py), every refusal with its one-line message, atomic writes, xtensor
// interop, PNG round trips, colormaps, and every golden file.
#include <doctest/doctest.h>
#include <sib/io/atomic_write.hpp>
#include <sib/io/npy.hpp>
#include <sib/core/rng.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <vector>

#ifndef SIB_TEST_DATA_DIR
#define SIB_TEST_DATA_DIR "tests/data"
#endif

namespace fs = std::filesystem;
namespace io = sib::io;

namespace {

std::string data_file(const std::string& name) { return std::string(SIB_TEST_DATA_DIR) + "/io/" + name; }

// A fresh folder per test case, removed afterwards.
struct temp_folder {
    fs::path path;
    temp_folder() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("sib_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_folder() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
        return out;
    }
};

std::vector<char> file_bytes(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open ", p);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The formula of gen_io.py's values().
template <class T>
T formula(std::int64_t i) {
    if constexpr (std::is_floating_point_v<T>) return static_cast<T>(0.5 * static_cast<double>(i) - 3.0);
    else if constexpr (std::is_same_v<T, std::uint8_t>) return static_cast<T>((7 * i + 1) % 256);
    else return static_cast<T>(3 * i - 7);
}

template <class T>
sib::tensor<T> formula_tensor(const sib::shape& s) {
    sib::tensor<T> t(s);
    for (sib::index_t i = 0; i < t.size(); ++i) t[i] = formula<T>(i);
    return t;
}

const sib::shape rank_shapes[] = {{}, {5}, {2, 3}, {2, 3, 4}, {2, 1, 3, 2}};

template <class T>
const char* code_of() {
    if constexpr (std::is_same_v<T, float>) return "f4";
    else if constexpr (std::is_same_v<T, double>) return "f8";
    else if constexpr (std::is_same_v<T, std::int64_t>) return "i8";
    else if constexpr (std::is_same_v<T, std::int32_t>) return "i4";
    else return "u1";
}

template <class T>
void check_numpy_files_of_type() {
    for (int rank = 0; rank <= 4; ++rank) {
        const std::string name = data_file(std::string(code_of<T>()) + "_r" + std::to_string(rank) + ".npy");
        CAPTURE(name);
        const auto t = io::load_npy<T>(name);
        CHECK(t.shape() == rank_shapes[rank]);
        const auto want = formula_tensor<T>(rank_shapes[rank]);
        CHECK(t.to_vector() == want.to_vector());
        const io::npy_array a = io::read_npy(name);
        CHECK(a.dtype == io::dtype_of<T>());
        CHECK(a.shape == rank_shapes[rank]);
        CHECK(a.to_vector<T>() == want.to_vector());
    }
    const auto e = io::load_npy<T>(data_file(std::string(code_of<T>()) + "_empty.npy"));
    CHECK(e.shape() == sib::shape{0, 3});
}

// save_npy must reproduce numpy.save byte for byte (header padding included).
template <class T>
void check_writes_numpy_bytes(const temp_folder& dir) {
    for (int rank = 0; rank <= 4; ++rank) {
        const std::string stem = std::string(code_of<T>()) + "_r" + std::to_string(rank) + ".npy";
        CAPTURE(stem);
        io::save_npy(dir / stem, formula_tensor<T>(rank_shapes[rank]));
        CHECK(file_bytes(dir / stem) == file_bytes(data_file(stem)));
    }
    const std::string stem = std::string(code_of<T>()) + "_empty.npy";
    io::save_npy(dir / stem, formula_tensor<T>({0, 3}));
    CHECK(file_bytes(dir / stem) == file_bytes(data_file(stem)));
}

template <class T>
void check_round_trip(const temp_folder& dir, sib::rng& r) {
    for (const sib::shape& s : {sib::shape{}, sib::shape{1}, sib::shape{7}, sib::shape{3, 5},
                                sib::shape{2, 3, 5}, sib::shape{1, 3, 4, 5}, sib::shape{4, 0, 2},
                                sib::shape{2, 3, 1, 1, 2}}) {
        CAPTURE(s.str());
        sib::tensor<T> t(s);
        for (auto& v : t) {
            if constexpr (std::is_floating_point_v<T>) v = static_cast<T>(r.normal());
            else v = static_cast<T>(r.below(200));
        }
        const std::string p = dir / "rt.npy";
        io::save_npy(p, t);
        const auto back = io::load_npy<T>(p);
        CHECK(back.shape() == s);
        CHECK(back.to_vector() == t.to_vector());
    }
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const sib::error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

// ---- npy ----------------------------------------------------------------------------------------

TEST_CASE("npy: reads numpy's files of every dtype, rank 0 to 4 and empty") {
    check_numpy_files_of_type<float>();
    check_numpy_files_of_type<double>();
    check_numpy_files_of_type<std::int64_t>();
    check_numpy_files_of_type<std::int32_t>();
    check_numpy_files_of_type<std::uint8_t>();
}

TEST_CASE("npy: writes the bytes numpy.save writes") {
    temp_folder dir;
    check_writes_numpy_bytes<float>(dir);
    check_writes_numpy_bytes<double>(dir);
    check_writes_numpy_bytes<std::int64_t>(dir);
    check_writes_numpy_bytes<std::int32_t>(dir);
    check_writes_numpy_bytes<std::uint8_t>(dir);
}

TEST_CASE("npy: save then load is exact for every dtype and rank") {
    temp_folder dir;
    sib::rng r(5);
    check_round_trip<float>(dir, r);
    check_round_trip<double>(dir, r);
    check_round_trip<std::int64_t>(dir, r);
    check_round_trip<std::int32_t>(dir, r);
    check_round_trip<std::uint8_t>(dir, r);
    // Raw arrays keep their dtype.
    const io::npy_array a = io::read_npy(data_file("i8_big.npy"));
    io::save_npy(dir / "raw.npy", a);
    CHECK(file_bytes(dir / "raw.npy") == file_bytes(data_file("i8_big.npy")));
    // No temporary file is left behind.
    for (const auto& e : dir.entries()) CHECK_MESSAGE(e.find(".tmp.") == std::string::npos, e);
}

TEST_CASE("npy: header versions 2.0 and 3.0") {
    for (const char* name : {"f8_v2.npy", "f8_v3.npy"}) {
        const auto t = io::load_npy<double>(data_file(name));
        CHECK(t.shape() == sib::shape{2, 3});
        CHECK(t.to_vector() == formula_tensor<double>({2, 3}).to_vector());
    }
}

TEST_CASE("npy: converts integers to floats and between float widths, checks integer narrowing") {
    const auto from_i8 = io::load_npy<float>(data_file("i8_r2.npy"));
    CHECK(from_i8.to_vector() == std::vector<float>{-7, -4, -1, 2, 5, 8});
    const auto from_u1 = io::load_npy<double>(data_file("u1_r1.npy"));
    CHECK(from_u1.to_vector() == std::vector<double>{1, 8, 15, 22, 29});
    CHECK(io::load_npy<double>(data_file("f4_r3.npy")).to_vector() == formula_tensor<double>({2, 3, 4}).to_vector());
    CHECK(io::load_npy<float>(data_file("f8_r3.npy")).to_vector() == formula_tensor<float>({2, 3, 4}).to_vector());
    CHECK(io::load_npy<std::int64_t>(data_file("i4_r2.npy")).to_vector() ==
          std::vector<std::int64_t>{-7, -4, -1, 2, 5, 8});
    CHECK(io::load_npy<std::int32_t>(data_file("u1_r1.npy")).to_vector() ==
          std::vector<std::int32_t>{1, 8, 15, 22, 29});
    // int64 values beyond 2^53 survive an int64 read exactly.
    CHECK(io::load_npy<std::int64_t>(data_file("i8_big.npy")).to_vector() ==
          std::vector<std::int64_t>{(std::int64_t{1} << 40) + 1, -(std::int64_t{1} << 53) - 1,
                                    std::int64_t{1} << 62});

    const std::string f4 = data_file("f4_r2.npy");
    CHECK(error_of([&] { io::load_npy<std::int64_t>(f4); }) == f4 + ": cannot read float32 data as int64");
    CHECK(error_of([&] { io::load_npy<std::uint8_t>(data_file("f8_r1.npy")); }) ==
          data_file("f8_r1.npy") + ": cannot read float64 data as uint8");
    const std::string big = data_file("i8_300.npy");
    CHECK(error_of([&] { io::load_npy<std::uint8_t>(big); }) == big + ": value 300 does not fit in uint8");
    CHECK(io::load_npy<std::int32_t>(big).to_vector() == std::vector<std::int32_t>{1, 300});
    const std::string huge = data_file("i8_big.npy");
    CHECK(error_of([&] { io::load_npy<std::int32_t>(huge); }) ==
          huge + ": value 1099511627777 does not fit in int32");
}

TEST_CASE("npy: each refusal is one line that names the file and the problem") {
    auto msg = [](const std::string& name) {
        return error_of([&] { io::load_npy<double>(data_file(name)); });
    };
    auto f = [](const std::string& name) { return data_file(name); };
    CHECK(msg("missing.npy") == f("missing.npy") + ": cannot open (No such file or directory)");
    CHECK(msg("bad_magic.npy") == f("bad_magic.npy") + ": not an npy file (bad magic)");
    CHECK(msg("short.npy") == f("short.npy") + ": not an npy file (bad magic)");
    CHECK(msg("version4.npy") == f("version4.npy") + ": unsupported npy version 4.0");
    CHECK(msg("fortran.npy") ==
          f("fortran.npy") + ": Fortran-order arrays are not supported (save np.ascontiguousarray(a))");
    CHECK(msg("big_endian.npy") ==
          f("big_endian.npy") + ": big-endian dtype '>f8' is not supported (save it as '<f8')");
    CHECK(msg("complex.npy") == f("complex.npy") +
                                    ": unsupported dtype '<c16' (complex128); sib reads float32, "
                                    "float64, int64, int32 and uint8");
    CHECK(msg("float16.npy") == f("float16.npy") +
                                    ": unsupported dtype '<f2' (float16); sib reads float32, "
                                    "float64, int64, int32 and uint8");
    CHECK(msg("bool.npy") == f("bool.npy") +
                                 ": unsupported dtype '|b1' (bool); sib reads float32, float64, "
                                 "int64, int32 and uint8");
    CHECK(msg("structured.npy") == f("structured.npy") + ": structured dtypes are not supported");
    CHECK(msg("truncated.npy") == f("truncated.npy") + ": truncated: expected 288 bytes of data, found 100");
    CHECK(msg("truncated_header.npy") ==
          f("truncated_header.npy") + ": truncated header: expected 118 bytes, found 30");
    CHECK(msg("bad_header.npy") == f("bad_header.npy") + ": header is not parseable (expected '(' at offset 50)");
    CHECK(msg("missing_key.npy") == f("missing_key.npy") + ": header is not parseable (no 'fortran_order')");
    // A folder is not a file.
    CHECK(error_of([&] { io::load_npy<double>(SIB_TEST_DATA_DIR); }).rfind(SIB_TEST_DATA_DIR ": ", 0) == 0);
    // Every message is one line.
    for (const char* name : {"bad_magic.npy", "truncated.npy", "complex.npy", "bad_header.npy"})
        CHECK(msg(name).find('\n') == std::string::npos);
}

TEST_CASE("npy: Fortran order is accepted where it equals C order (rank 1)") {
    CHECK(io::load_npy<double>(data_file("fortran_1d.npy")).to_vector() == formula_tensor<double>({5}).to_vector());
}

TEST_CASE("npy: labels from int64, int32 and uint8; floats and 2-D refused") {
    const std::vector<std::int64_t> want{0, 3, 9, 1};
    CHECK(io::load_labels(data_file("labels_i8.npy")) == want);
    CHECK(io::load_labels(data_file("labels_i4.npy")) == want);
    CHECK(io::load_labels(data_file("labels_u1.npy")) == want);
    CHECK(error_of([] { io::load_labels(data_file("labels_f4.npy")); }) ==
          data_file("labels_f4.npy") + ": labels must be integers, found float32");
    CHECK(error_of([] { io::load_labels(data_file("labels_2d.npy")); }) ==
          data_file("labels_2d.npy") + ": labels must be 1-D, found shape [2,2]");
}

// ---- atomic writes ------------------------------------------------------------------------------

TEST_CASE("atomic write: replaces the target whole, or leaves it untouched") {
    temp_folder dir;
    const std::string target = dir / "a.bin";
    io::write_file_atomically(target, "old", 3);
    {
        io::atomic_file_writer w(target);
        w.write("new contents", 12);
        // Before commit the old file is intact and the data sits in the temporary file.
        CHECK(file_bytes(target) == std::vector<char>{'o', 'l', 'd'});
        CHECK(fs::exists(w.temporary_path()));
        CHECK(w.temporary_path().string() == target + ".tmp." + std::to_string(::getpid()));
        // Destroyed without commit, as when an exception leaves the writing function.
    }
    CHECK(file_bytes(target) == std::vector<char>{'o', 'l', 'd'});
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
    io::write_file_atomically(target, "new", 3);
    CHECK(file_bytes(target) == std::vector<char>{'n', 'e', 'w'});
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});

    const std::string nowhere = dir / "no/such/folder/x.npy";
    CHECK(error_of([&] { io::save_npy(nowhere, sib::tensor<double>({2}, 1.0)); }) ==
          nowhere + ": cannot create temporary file " + nowhere + ".tmp." + std::to_string(::getpid()) +
              " (No such file or directory)");
}
