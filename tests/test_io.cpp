// I/O: .npy and .safetensors against files written by numpy and by a reference writer
// (tests/fixtures/gen_io.py), every refusal with its one-line message, atomic writes, xtensor
// interop, PNG round trips, colormaps, and every golden file.
#include "fixtures/io_fixtures.hpp"
#include <doctest/doctest.h>
#include <sib/core/rng.hpp>
#include <sib/io/atomic_write.hpp>
#include <sib/io/colormap.hpp>
#include <sib/io/file_lock.hpp>
#include <sib/io/npy.hpp>
#include <sib/io/png.hpp>
#include <sib/io/safetensors.hpp>
#include <sib/io/weights.hpp>
#include <sib/models/spec_model.hpp>
#include <sib/optim/adamw.hpp>
#include <sib/train/checkpoint.hpp>
#include <sib/io/json.hpp>
// The xtensor interop cases are compiled where the build has xtensor (sib::xtensor):
// tests/CMakeLists.txt defines SIB_HAS_XTENSOR as 1 or 0.
#if !defined(SIB_HAS_XTENSOR)
#error "SIB_HAS_XTENSOR must be defined as 1 or 0 (tests/CMakeLists.txt does)"
#endif
#if SIB_HAS_XTENSOR
#include <sib/io/xtensor.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <type_traits>
#include <sys/resource.h>
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

TEST_CASE("file lock: a second claim on an output is refused naming the holder; released, it goes away") {
    temp_folder dir;
    const std::string target = dir / "ck.safetensors";
    {
        io::file_lock first(target);
        CHECK(first.held());
        CHECK(fs::exists(target + ".lock"));
        CHECK(error_of([&] { io::file_lock second(target); }) ==
              target + " is being written by another run (process " + std::to_string(::getpid()) +
                  "); give another output path");
        // The refused claim left the holder's lock as it was.
        CHECK(error_of([&] { io::file_lock third(target); }).find("is being written by another run") != std::string::npos);
        io::file_lock moved = std::move(first);
        CHECK(moved.held());
        CHECK_FALSE(first.held());
    }
    CHECK(dir.entries().empty());
    io::file_lock again(target);
    CHECK(again.held());
    const std::string nowhere = dir / "no/such/folder/x";
    CHECK(error_of([&] { io::file_lock l(nowhere); }) ==
          nowhere + ": cannot create the lock file " + nowhere + ".lock (No such file or directory)");
}

TEST_CASE("atomic write: a write past the file-size limit fails in one line, the old file kept, no temporary") {
    temp_folder dir;
    const std::string target = dir / "a.bin";
    io::write_file_atomically(target, "old", 3);
    ::rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    ::rlimit small = saved;
    small.rlim_cur = 100;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::vector<char> big(101, 'x');
    const std::string message = error_of([&] { io::write_file_atomically(target, big.data(), big.size()); });
    const std::string at_limit_message = error_of([&] { io::write_file_atomically(target, big.data(), 100); });
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
    CHECK(message == target + ": write failed (the file would pass the file-size limit of 100 bytes, ulimit -f)");
    CHECK(at_limit_message == "(no error)");  // exactly the limit is allowed
    CHECK(file_bytes(target).size() == 100);
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
}

TEST_CASE("tensor: a shape memory cannot hold is an out_of_memory naming the shape and bytes; the tensor is kept") {
    sib::tensor<double> t({2, 3}, 1.5);
    CHECK_THROWS_WITH_AS(t.resize({100000000, 100000000}),
                         "tensor [100000000,100000000]: cannot allocate 80000000000000000 bytes (out of memory)",
                         sib::out_of_memory);
    CHECK_THROWS_WITH_AS(t.resize({1 << 30, 1 << 30, 1 << 30}),
                         "tensor [1073741824,1073741824,1073741824]: more elements than memory can address",
                         sib::out_of_memory);
    CHECK(t.shape() == sib::shape{2, 3});
    for (sib::index_t i = 0; i < t.size(); ++i) CHECK(t[i] == 1.5);
}

TEST_CASE("weights: a NaN or infinity in a weights file or checkpoint names the parameter and its index") {
    temp_folder dir;
    sib::models::spec_model<float> m("Linear(3,2); ReLU; Linear(2,2)");
    sib::tensor<float> w({2, 3}, 0.5f), b({2}, 0.0f);
    w[5] = std::numeric_limits<float>::quiet_NaN();
    io::save_npy(dir / "param.0.weight.npy", w);
    io::save_npy(dir / "param.0.bias.npy", b);
    io::save_npy(dir / "param.2.weight.npy", sib::tensor<float>({2, 2}, 0.25f));
    io::save_npy(dir / "param.2.bias.npy", b);
    CHECK(error_of([&] { io::load_weights(m, dir.path); }) ==
          "weights: parameter 0.weight in " + (dir / "param.0.weight.npy") + " holds nan at [1,2]");
    // -inf in the second layer's bias, in a weights folder and in a checkpoint.
    sib::tensor<float> bad_bias({2}, 0.0f);
    bad_bias[1] = -std::numeric_limits<float>::infinity();
    io::save_npy(dir / "param.0.weight.npy", sib::tensor<float>({2, 3}, 0.5f));
    io::save_npy(dir / "param.2.bias.npy", bad_bias);
    CHECK(error_of([&] { io::load_weights(m, dir.path); }) ==
          "weights: parameter 2.bias in " + (dir / "param.2.bias.npy") + " holds -inf at [1]");
    m.for_each_parameter([&](std::string_view name, sib::tensor<float>& v, sib::tensor<float>*) {
        if (name == "2.bias") v = bad_bias;
    });
    const std::string ck = dir / "ck.safetensors";
    sib::optim::adamw<float>* none = nullptr;
    sib::train::save_checkpoint(ck, m, none, {{"step", 0u}});
    CHECK(error_of([&] { sib::train::load_checkpoint(ck, m, none); }) == ck + ": parameter 2.bias holds -inf at [1]");
}

// ---- safetensors --------------------------------------------------------------------------------

namespace {
io::safetensors_file::named_arrays model_arrays() {
    return {{"0.weight", io::raw_array::from_tensor(formula_tensor<float>({2, 3, 2, 2}))},
            {"0.bias", io::raw_array::from_tensor(formula_tensor<double>({4}))},
            {"steps", io::raw_array::from_tensor(formula_tensor<std::int64_t>({}))},
            {"counts", io::raw_array::from_tensor(formula_tensor<std::int32_t>({2, 3}))},
            {"pixels", io::raw_array::from_tensor(formula_tensor<std::uint8_t>({3, 1, 2}))},
            {"empty", io::raw_array::from_tensor(formula_tensor<float>({0, 4}))}};
}
const std::map<std::string, std::string> model_metadata{{"format", "pt"}, {"epoch", "7"}};

void check_model_file(const io::safetensors_file& f) {
    CHECK(f.metadata() == model_metadata);
    for (const auto& [name, array] : model_arrays()) {
        CAPTURE(name);
        REQUIRE(f.contains(name));
        const io::raw_array got = f.array(name);
        CHECK(got.dtype == array.dtype);
        CHECK(got.shape == array.shape);
        CHECK(got.bytes == array.bytes);
    }
    CHECK(f.get<float>("0.weight").to_vector() == formula_tensor<float>({2, 3, 2, 2}).to_vector());
    CHECK(f.get<double>("0.bias").to_vector() == formula_tensor<double>({4}).to_vector());
    const auto steps = f.get<std::int64_t>("steps");
    CHECK(steps.shape() == sib::shape{});
    CHECK(steps.to_vector() == std::vector<std::int64_t>{-7});
    CHECK(f.get<std::int32_t>("counts").to_vector() == formula_tensor<std::int32_t>({2, 3}).to_vector());
    CHECK(f.get<std::uint8_t>("pixels").to_vector() == formula_tensor<std::uint8_t>({3, 1, 2}).to_vector());
    CHECK(f.get<float>("empty").shape() == sib::shape{0, 4});
}
}  // namespace

TEST_CASE("safetensors: reads the reference writer's file, every dtype and rank 0 to 4") {
    const auto f = io::safetensors_file::load(data_file("model.safetensors"));
    check_model_file(f);
    // names() follows the data order of the file.
    CHECK(f.names() == std::vector<std::string>{"0.weight", "0.bias", "steps", "counts", "pixels", "empty"});
    CHECK(f.info("0.weight").dtype == "F32");
    CHECK(f.info("0.weight").begin == 0);
    CHECK(f.info("0.weight").end == 96);
    CHECK(f.raw("counts").size() == 24);
    CHECK(f.info("pixels").dtype == "U8");
    // Conversions as load_npy's.
    CHECK(f.get<double>("0.weight").to_vector() == formula_tensor<double>({2, 3, 2, 2}).to_vector());
    CHECK(f.get<float>("0.bias").to_vector() == formula_tensor<float>({4}).to_vector());
    CHECK(f.get<double>("counts").to_vector() == sib::tensor_cast<double>(formula_tensor<std::int32_t>({2, 3})).to_vector());
    const std::string p = data_file("model.safetensors");
    CHECK(error_of([&] { f.get<std::int64_t>("0.weight"); }) == p + ": tensor '0.weight': cannot read float32 data as int64");
    CHECK(error_of([&] { f.get<float>("1.weight"); }) == p + ": no tensor named '1.weight'");
    CHECK(error_of([&] { f.raw("1.weight"); }) == p + ": no tensor named '1.weight'");

    const auto plain = io::safetensors_file::load(data_file("nometa.safetensors"));
    CHECK(plain.metadata().empty());
    CHECK(plain.get<double>("w").to_vector() == formula_tensor<double>({2, 3}).to_vector());
}

TEST_CASE("safetensors: writes the reference layout byte for byte, and reads it back") {
    temp_folder dir;
    io::safetensors_file::save(dir / "m.safetensors", model_arrays(), model_metadata);
    CHECK(file_bytes(dir / "m.safetensors") == file_bytes(data_file("model_sorted.safetensors")));
    check_model_file(io::safetensors_file::load(dir / "m.safetensors"));
    // Without metadata the key is left out, as the reference writer does.
    io::safetensors_file::save(dir / "n.safetensors", {{"w", io::raw_array::from_tensor(formula_tensor<double>({2, 3}))}});
    CHECK(file_bytes(dir / "n.safetensors") == file_bytes(data_file("nometa.safetensors")));
    for (const auto& e : dir.entries()) CHECK_MESSAGE(e.find(".tmp.") == std::string::npos, e);
}

TEST_CASE("safetensors: tensors round trip exactly through save and load") {
    temp_folder dir;
    sib::rng r(11);
    sib::tensor<double> a({3, 4, 1, 2});
    for (auto& v : a) v = r.normal();
    sib::tensor<float> b({5});
    for (auto& v : b) v = static_cast<float>(r.normal());
    sib::tensor<double> c(sib::shape{});
    c[0] = 0.125;
    io::safetensors_file::save(dir / "t.safetensors",
                               std::vector<std::pair<std::string, const sib::tensor<double>*>>{{"a", &a}, {"c", &c}},
                               {{"note", "x"}});
    io::safetensors_file::save(dir / "u.safetensors", std::vector<std::pair<std::string, const sib::tensor<float>*>>{{"b", &b}});
    const auto t = io::safetensors_file::load(dir / "t.safetensors");
    CHECK(t.get<double>("a").to_vector() == a.to_vector());
    CHECK(t.get<double>("a").shape() == a.shape());
    CHECK(t.get<double>("c").to_vector() == c.to_vector());
    CHECK(t.get<double>("c").shape() == sib::shape{});
    CHECK(t.metadata() == std::map<std::string, std::string>{{"note", "x"}});
    CHECK(io::safetensors_file::load(dir / "u.safetensors").get<float>("b").to_vector() == b.to_vector());

    // The data section starts at a multiple of 8 bytes, so every tensor is aligned for its dtype.
    const auto bytes = file_bytes(dir / "t.safetensors");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])) << (8 * i);
    CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: save refuses reserved and repeated names") {
    temp_folder dir;
    const std::string p = dir / "bad.safetensors";
    const auto one = io::raw_array::from_tensor(formula_tensor<double>({2}));
    CHECK(error_of([&] { io::safetensors_file::save(p, {{"__metadata__", one}}); }) ==
          p + ": '__metadata__' is reserved, not a tensor name");
    CHECK(error_of([&] { io::safetensors_file::save(p, {{"w", one}, {"w", one}}); }) == p + ": tensor name 'w' given twice");
    io::raw_array broken = one;
    broken.bytes.pop_back();
    CHECK(error_of([&] { io::safetensors_file::save(p, {{"w", broken}}); }) ==
          p + ": tensor 'w': 15 bytes do not hold float64 data of shape [2]");
    CHECK(dir.entries().empty());
}

TEST_CASE("safetensors: each corrupt file fails at load with one line naming the problem") {
    auto msg = [](const std::string& name) {
        return error_of([&] { io::safetensors_file::load(data_file(name)); });
    };
    auto f = [](const std::string& name) { return data_file(name); };
    const auto after_length = fs::file_size(f("st_header_past_end.safetensors")) - 8;
    CHECK(msg("st_header_past_end.safetensors") ==
          f("st_header_past_end.safetensors") + ": header length 4096 runs past the end of the file (" +
              std::to_string(after_length) + " bytes after the length)");
    CHECK(msg("st_too_short.safetensors") ==
          f("st_too_short.safetensors") + ": truncated: 3 bytes, too short for the 8-byte header length");
    CHECK(msg("st_bad_json.safetensors").rfind(f("st_bad_json.safetensors") + ": header is not valid JSON (JSON: at byte ", 0) == 0);
    CHECK(msg("st_not_object.safetensors") == f("st_not_object.safetensors") + ": header is not a JSON object");
    CHECK(msg("st_offsets_out_of_range.safetensors") ==
          f("st_offsets_out_of_range.safetensors") + ": tensor 'w': data_offsets [0,48] out of range (data section has 24 bytes)");
    CHECK(msg("st_offsets_reversed.safetensors") ==
          f("st_offsets_reversed.safetensors") + ": tensor 'w': data_offsets [24,0] end before they begin");
    CHECK(msg("st_shape_mismatch.safetensors") ==
          f("st_shape_mismatch.safetensors") + ": tensor 'w': shape [2,2] of F32 needs 16 bytes but data_offsets span 24");
    CHECK(msg("st_dtype_mismatch.safetensors") ==
          f("st_dtype_mismatch.safetensors") + ": tensor 'w': shape [2,3] of F64 needs 48 bytes but data_offsets span 24");
    CHECK(msg("st_missing_key.safetensors") == f("st_missing_key.safetensors") + ": tensor 'w': missing 'data_offsets'");
    CHECK(msg("st_overlap.safetensors") ==
          f("st_overlap.safetensors") + ": tensors 'a' and 'b' overlap (data_offsets [0,16] and [8,24])");
    CHECK(msg("st_bad_metadata.safetensors") ==
          f("st_bad_metadata.safetensors") + ": __metadata__ must map strings to strings ('epoch' is not a string)");
    CHECK(msg("st_negative_dim.safetensors") ==
          f("st_negative_dim.safetensors") + ": tensor 'w': shape must be a list of non-negative integers, got [-2,3]");
    CHECK(msg("missing.safetensors") == f("missing.safetensors") + ": cannot open (No such file or directory)");
    for (const char* name : {"st_bad_json.safetensors", "st_overlap.safetensors", "st_header_past_end.safetensors"})
        CHECK(msg(name).find('\n') == std::string::npos);
}

TEST_CASE("safetensors: a dtype sib does not compute in loads, reads raw, and is refused on get") {
    const std::string p = data_file("st_unsupported_dtype.safetensors");
    const auto f = io::safetensors_file::load(p);
    CHECK(f.info("w").dtype == "F16");
    CHECK(f.info("w").shape == sib::shape{3, 4});
    CHECK(f.raw("w").size() == 24);
    CHECK(error_of([&] { f.get<float>("w"); }) ==
          p + ": tensor 'w' has dtype F16, which sib does not read (F32, F64, I64, I32, U8)");
}

// ---- xtensor ------------------------------------------------------------------------------------
#if SIB_HAS_XTENSOR

TEST_CASE("xtensor: as_xtensor is a view of the tensor's storage with its shape") {
    auto t = formula_tensor<double>({2, 3, 4});
    auto v = sib::io::as_xtensor(t);
    CHECK(v.dimension() == 3);
    CHECK(v.shape()[0] == 2);
    CHECK(v.shape()[1] == 3);
    CHECK(v.shape()[2] == 4);
    CHECK(v.data() == t.data());
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 3; ++j)
            for (std::size_t k = 0; k < 4; ++k) CHECK(v(i, j, k) == t[static_cast<sib::index_t>(12 * i + 4 * j + k)]);
    v(1, 2, 3) = 42.0;
    CHECK(t[23] == 42.0);
    xt::view(v, 0, xt::all(), xt::all()) *= 2.0;
    CHECK(t[5] == 2 * formula<double>(5));
    CHECK(t[12] == formula<double>(12));
    const auto& ct = t;
    const auto cv = sib::io::as_xtensor(ct);
    CHECK(cv(1, 0, 0) == formula<double>(12));
    CHECK(xt::sum(cv)() == doctest::Approx(std::accumulate(t.begin(), t.end(), 0.0)));
    // Rank 0.
    sib::tensor<float> s({}, 2.5f);
    CHECK(sib::io::as_xtensor(s)() == 2.5f);
}

TEST_CASE("xtensor: from_xexpression copies any expression in row-major order") {
    const xt::xarray<double> a = {{1, 2, 3}, {4, 5, 6}};
    const auto t = sib::io::from_xexpression(a * 2.0 + 1.0);
    static_assert(std::is_same_v<std::decay_t<decltype(t)>, sib::tensor<double>>);
    CHECK(t.shape() == sib::shape{2, 3});
    CHECK(t.to_vector() == std::vector<double>{3, 5, 7, 9, 11, 13});
    // A transposed (strided) view and a column-major array both come out in row-major order.
    const auto tt = sib::io::from_xexpression<float>(xt::transpose(a));
    static_assert(std::is_same_v<std::decay_t<decltype(tt)>, sib::tensor<float>>);
    CHECK(tt.shape() == sib::shape{3, 2});
    CHECK(tt.to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
    xt::xarray<double, xt::layout_type::column_major> cm = a;
    CHECK(sib::io::from_xexpression(cm).to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
    // Broadcasting and generators.
    const xt::xarray<double> row = {10, 20, 30};
    CHECK(sib::io::from_xexpression(a + row).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
    const auto r = sib::io::from_xexpression<std::int64_t>(xt::arange<std::int64_t>(5));
    CHECK(r.shape() == sib::shape{5});
    CHECK(r.to_vector() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
    // Through a view and back.
    auto x = formula_tensor<double>({2, 1, 3, 2});
    const auto back = sib::io::from_xexpression(sib::io::as_xtensor(x));
    CHECK(back.shape() == x.shape());
    CHECK(back.to_vector() == x.to_vector());
}
#endif  // SIB_HAS_XTENSOR

// ---- images -------------------------------------------------------------------------------------

TEST_CASE("png: write then read returns the bytes, for 1 to 4 channels") {
    temp_folder dir;
    for (int c = 1; c <= 4; ++c) {
        CAPTURE(c);
        const int w = 5, h = 3;
        std::vector<std::uint8_t> pixels(static_cast<std::size_t>(w * h * c));
        for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((37 * i + 11) % 256);
        const std::string p = dir / ("img" + std::to_string(c) + ".png");
        io::write_png(p, pixels.data(), w, h, c);
        const auto t = io::read_image(p);
        REQUIRE(t.shape() == sib::shape{c, h, w});
        for (int ch = 0; ch < c; ++ch)
            for (int q = 0; q < w * h; ++q)
                CHECK(t[ch * w * h + q] == static_cast<float>(pixels[static_cast<std::size_t>(q * c + ch)] / 255.0));
        const auto d = io::read_image<double>(p);
        CHECK(d[w * h * c - 1] == pixels[static_cast<std::size_t>(w * h * c - 1)] / 255.0);
    }
    for (const auto& e : dir.entries()) CHECK_MESSAGE(e.find(".tmp.") == std::string::npos, e);
}

TEST_CASE("png: write_image clips to [0,1] and rounds to 8 bits") {
    temp_folder dir;
    sib::rng r(2);
    sib::tensor<double> img({3, 4, 6});
    for (auto& v : img) v = r.uniform(-0.2, 1.2);
    io::write_image(dir / "i.png", img);
    const auto back = io::read_image<double>(dir / "i.png");
    REQUIRE(back.shape() == img.shape());
    for (sib::index_t i = 0; i < img.size(); ++i) {
        const double want = std::round(std::clamp(img[i], 0.0, 1.0) * 255.0) / 255.0;
        CHECK(back[i] == want);
    }
    CHECK(error_of([&] { io::write_image(dir / "j.png", sib::tensor<float>({4, 4})); }) ==
          (dir / "j.png") + ": image must be [C,H,W], got [4,4]");
}

TEST_CASE("png: an image whose header declares a huge canvas fails before decoding (fuzz finding)") {
    // 74 bytes of GIF declaring 14849 x 30240 pixels: stb would allocate gigabytes.
    const std::string p = data_file("huge_canvas.gif");
    std::string message;
    try {
        io::read_image(p);
    } catch (const sib::error& e) {
        message = e.what();
    }
    CHECK(message.find(p + ": the image declares ") == 0);
    CHECK(message.find("pixels, more than the limit of 67108864") != std::string::npos);
}

namespace {
// Little-endian helpers for the hand-built raw images below (written byte by byte, not by stb).
void put16(std::vector<std::uint8_t>& v, unsigned x) { v.push_back(x & 0xff); v.push_back(x >> 8 & 0xff); }
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) { put16(v, x & 0xffff); put16(v, x >> 16); }
void write_bytes(const std::string& p, const std::vector<std::uint8_t>& v) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
}
std::string read_error(const std::string& p) {
    try {
        io::read_image(p);
    } catch (const sib::error& e) {
        return e.what();
    }
    return "";
}
// Pixel (x, y) of the 3x2 test pattern, channel c.
int pattern(int x, int y, int c) { return 40 * x + 90 * y + 7 * c + 1; }
}  // namespace

TEST_CASE("png: BMP, PPM and TGA read as stored; one declaring more pixels than it holds fails first (fuzz finding)") {
    temp_folder dir;
    // 24-bit BMP, 3x2, bottom-up rows padded to 4 bytes, BGR.
    std::vector<std::uint8_t> bmp = {'B', 'M'};
    const std::uint32_t row = 12, data = 2 * row;
    put32(bmp, 54 + data); put32(bmp, 0); put32(bmp, 54);
    put32(bmp, 40); put32(bmp, 3); put32(bmp, 2); put16(bmp, 1); put16(bmp, 24); put32(bmp, 0);
    put32(bmp, data); put32(bmp, 2835); put32(bmp, 2835); put32(bmp, 0); put32(bmp, 0);
    for (int y = 1; y >= 0; --y) {
        for (int x = 0; x < 3; ++x)
            for (int c = 2; c >= 0; --c) bmp.push_back(static_cast<std::uint8_t>(pattern(x, y, c)));
        for (int pad = 0; pad < 3; ++pad) bmp.push_back(0);
    }
    // Binary PPM, 3x2, RGB.
    const std::string ppm_header = "P6\n3 2\n255\n";
    std::vector<std::uint8_t> ppm(ppm_header.begin(), ppm_header.end());
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            for (int c = 0; c < 3; ++c) ppm.push_back(static_cast<std::uint8_t>(pattern(x, y, c)));
    // Uncompressed true-colour TGA, 3x2, top-left origin (descriptor bit 5), BGR.
    std::vector<std::uint8_t> tga = {0, 0, 2, 0, 0, 0, 0, 0};
    put16(tga, 0); put16(tga, 0); put16(tga, 3); put16(tga, 2); tga.push_back(24); tga.push_back(0x20);
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            for (int c = 2; c >= 0; --c) tga.push_back(static_cast<std::uint8_t>(pattern(x, y, c)));
    for (const auto& [name, bytes] : {std::pair{"i.bmp", bmp}, std::pair{"i.ppm", ppm}, std::pair{"i.tga", tga}}) {
        CAPTURE(name);
        write_bytes(dir / name, bytes);
        const auto img = io::read_image<double>(dir / name);
        REQUIRE(img.shape() == sib::shape{3, 2, 3});
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 3; ++x) CHECK(img[c * 6 + y * 3 + x] == pattern(x, y, c) / 255.0);
        // The same file without its last byte: refused before stb pads it with zeros.
        const std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 1);
        write_bytes(dir / ("cut_" + std::string(name)), cut);
        const std::string message = read_error(dir / ("cut_" + std::string(name)));
        CHECK(message.find(dir / ("cut_" + std::string(name)) + ": the ") == 0);
        CHECK(message.find(" header declares 3x2 pixels, which need at least ") != std::string::npos);
    }
    // The fuzzer's input: 90 bytes of BMP declaring 14221315 x 2 pixels of 24 bits.
    const std::string tall = data_file("bmp_tall_short.bmp");
    CHECK(read_error(tall) == tall + ": the BMP header declares 14221315x2 pixels, which need at least 85327950 bytes, "
                                     "but the file holds 90");
}

namespace {
// A baseline JPEG of one gray component whose Huffman tables hold one 1-bit code each (DC
// difference 0, end of block), followed by `data` zero bytes: every 8x8 block decodes to 128.
std::vector<std::uint8_t> flat_jpeg(unsigned width, unsigned height, std::size_t data) {
    std::vector<std::uint8_t> j = {0xff, 0xd8};
    const auto segment = [&](std::uint8_t marker, std::vector<std::uint8_t> payload) {
        const std::size_t length = payload.size() + 2;
        j.insert(j.end(), {0xff, marker, static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)});
        j.insert(j.end(), payload.begin(), payload.end());
    };
    std::vector<std::uint8_t> quant(65, 1);
    quant[0] = 0;
    segment(0xdb, quant);
    segment(0xc0, {8, static_cast<std::uint8_t>(height >> 8), static_cast<std::uint8_t>(height),
                   static_cast<std::uint8_t>(width >> 8), static_cast<std::uint8_t>(width), 1, 1, 0x11, 0});
    for (std::uint8_t table : {0x00, 0x10}) {
        std::vector<std::uint8_t> huffman(18, 0);
        huffman[0] = table;
        huffman[1] = 1;  // one code of length 1, for symbol 0
        segment(0xc4, huffman);
    }
    segment(0xda, {1, 1, 0x00, 0, 63, 0});
    j.insert(j.end(), data, 0);
    j.insert(j.end(), {0xff, 0xd9});
    return j;
}
}  // namespace

TEST_CASE("png: a JPEG shorter than one bit per 8x8 block is refused as truncated (fuzz finding)") {
    temp_folder dir;
    // 24x16 pixels are 6 blocks: one byte of data holds them, and every pixel decodes to 128.
    write_bytes(dir / "flat.jpg", flat_jpeg(24, 16, 1));
    const auto flat = io::read_image<double>(dir / "flat.jpg");
    REQUIRE(flat.shape() == sib::shape{1, 16, 24});
    for (sib::index_t i = 0; i < flat.size(); ++i) CHECK(flat[i] == 128.0 / 255.0);
    // 64x64 pixels are 64 blocks, 8 bytes after the scan's header (the end marker's 2 included);
    // with 7 stb would decode the rest of the image as zeros.
    const std::vector<std::uint8_t> whole = flat_jpeg(64, 64, 6), cut = flat_jpeg(64, 64, 5);
    write_bytes(dir / "whole.jpg", whole);
    CHECK(io::read_image(dir / "whole.jpg").shape() == sib::shape{1, 64, 64});
    write_bytes(dir / "cut.jpg", cut);
    CHECK(read_error(dir / "cut.jpg") == (dir / "cut.jpg") + ": the JPEG header declares 64x64 pixels, which need at least " +
                                             std::to_string(whole.size()) + " bytes, but the file holds " +
                                             std::to_string(cut.size()));
    // The fuzzer's input: 156 bytes declaring 8192x8192 pixels, which took 20 s and 2 GB to decode.
    const std::string p = data_file("jpeg_truncated.jpg");
    CHECK(read_error(p) == p + ": the JPEG header declares 8192x8192 pixels, which need at least 131210 bytes, "
                               "but the file holds 156");
}

TEST_CASE("png: the pixel limit is the readers' last argument") {
    const std::string p = data_file("rgb_4x3.png");
    CHECK(error_of([&] { io::read_image(p, 0, 11); }) == p + ": the image declares 4x3 pixels, more than the limit of 11");
    CHECK(error_of([&] { io::read_image_8bit(p, 3, 11); }) ==
          p + ": the image declares 4x3 pixels, more than the limit of 11");
    CHECK(io::read_image(p, 0, 12).shape() == sib::shape{3, 3, 4});
    CHECK(io::read_image_8bit(p, 3, 12).pixels.size() == 36);
    // The image fuzzer's limit: 35 bytes of valid GIF, a 8192x8192 canvas around a one-pixel frame,
    // which decode at the default limit (slowly, into a gigabyte of floats).
    const std::string gif = data_file("gif_canvas_one_pixel.gif");
    CHECK(error_of([&] { io::read_image(gif, 3, std::uint64_t{1} << 20); }) ==
          gif + ": the image declares 8192x8192 pixels, more than the limit of 1048576");
}

TEST_CASE("png: a PNG chunk longer than the file is refused before stb allocates it (fuzz finding)") {
    // The fuzzer's input: 76 bytes whose IDAT declares 973078547 bytes, which stb allocated.
    const std::string p = data_file("png_idat_past_end.png");
    CHECK(read_error(p) == p + ": the PNG chunk IDAT at byte 33 declares 973078547 bytes, but the file holds 76");
    CHECK(error_of([&] { io::read_image_8bit(p); }) == read_error(p));
    // A good PNG cut inside its image data.
    temp_folder dir;
    std::ifstream in(data_file("rgb_4x3.png"), std::ios::binary);
    std::vector<std::uint8_t> png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(png.size() > 40);
    const std::size_t idat = std::search(png.begin(), png.end(), std::begin("IDAT"), std::end("IDAT") - 1) - png.begin() - 4;
    png.resize(idat + 12);
    write_bytes(dir / "cut.png", png);
    CHECK(read_error(dir / "cut.png").rfind((dir / "cut.png") + ": the PNG chunk IDAT at byte " + std::to_string(idat) +
                                                 " declares ", 0) == 0);
}

TEST_CASE("png: a header stb cannot read is refused before its loader runs (fuzz finding)") {
    // A Softimage PIC declaring 23000x23000 pixels whose one packet is not 8 bits: stbi_info rejects
    // it, but stb's loader allocated and filled the 2 GB canvas before reading the packets.
    temp_folder dir;
    const auto pic = [](int width, int height) {
        std::vector<std::uint8_t> b = {0x53, 0x80, 0xf6, 0x34};
        b.resize(88, 0);
        for (char c : std::string("PICT")) b.push_back(static_cast<std::uint8_t>(c));
        for (int v : {width, height}) {
            b.push_back(static_cast<std::uint8_t>(v >> 8));
            b.push_back(static_cast<std::uint8_t>(v));
        }
        b.resize(b.size() + 8, 0);                     // ratio, fields, pad
        b.insert(b.end(), {0, 7, 0, 0xe0});           // the last packet, of 7 bits
        return b;
    };
    for (int side : {23000, 40}) {
        const std::string p = dir / ("bad_packet_" + std::to_string(side) + ".pic");
        write_bytes(p, pic(side, side));
        CHECK(read_error(p) == p + ": cannot decode image (unknown image type)");
        CHECK(error_of([&] { io::read_image_8bit(p, 3); }) == read_error(p));
    }
}

TEST_CASE("png: a 16-bit PNM is refused before stb decodes it (stb reads past its buffer; fuzz finding)") {
    const std::string p = data_file("pnm16_short.pgm");
    std::string message;
    try {
        io::read_image(p);
    } catch (const sib::error& e) {
        message = e.what();
    }
    CHECK(message == p + ": 16-bit images are read from PNG files only");
}

TEST_CASE("png: reads files from an independent encoder, 8 and 16 bits, with channel conversion") {
    const auto rgb = io::read_image(data_file("rgb_4x3.png"));
    REQUIRE(rgb.shape() == sib::shape{3, 3, 4});
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) {
            const int want[3] = {20 * x + 1, 60 * y + 2, 255 - 20 * (x + y)};
            for (int c = 0; c < 3; ++c) CHECK(rgb[c * 12 + y * 4 + x] == static_cast<float>(want[c] / 255.0));
        }
    // Gray from RGB by stb's integer luminance, (77 r + 150 g + 29 b) >> 8; RGBA adds opaque alpha.
    const auto gray = io::read_image(data_file("rgb_4x3.png"), 1);
    REQUIRE(gray.shape() == sib::shape{1, 3, 4});
    const int r0 = 20 * 3 + 1, g0 = 60 * 2 + 2, b0 = 255 - 20 * 5;
    CHECK(gray[2 * 4 + 3] == static_cast<float>(((77 * r0 + 150 * g0 + 29 * b0) >> 8) / 255.0));
    const auto rgba = io::read_image(data_file("rgb_4x3.png"), 4);
    REQUIRE(rgba.shape() == sib::shape{4, 3, 4});
    for (int q = 0; q < 12; ++q) CHECK(rgba[3 * 12 + q] == 1.0f);

    const auto g16 = io::read_image<double>(data_file("gray16_3x2.png"));
    REQUIRE(g16.shape() == sib::shape{1, 2, 3});
    for (int i = 0; i < 6; ++i) CHECK(g16[i] == (10000.0 * i + 7) / 65535.0);
}

TEST_CASE("png: refusals name the file and the problem") {
    temp_folder dir;
    const std::uint8_t px[4] = {0, 1, 2, 3};
    CHECK(error_of([&] { io::write_png(dir / "a.png", px, 2, 2, 5); }) == (dir / "a.png") + ": PNG channels must be 1 to 4, got 5");
    CHECK(error_of([&] { io::write_png(dir / "a.png", px, 0, 2, 1); }) == (dir / "a.png") + ": PNG size must be positive, got 0x2");
    CHECK(error_of([&] { io::read_image(data_file("missing.png")); }) ==
          data_file("missing.png") + ": cannot open (No such file or directory)");
    // Text that starts "GIF89a": its "header" declares a canvas, refused before decoding.
    CHECK(error_of([&] { io::read_image(data_file("not_an_image.png")); }) ==
          data_file("not_an_image.png") + ": the image declares 8255x28526 pixels, more than the limit of 67108864");
    // A file stb cannot even read a header from.
    const std::string text = dir / "text.png";
    {
        std::ofstream f(text);
        f << "just text, no image";
    }
    CHECK(error_of([&] { io::read_image(text); }).rfind(text + ": cannot decode image (", 0) == 0);
    std::filesystem::remove(text);
    CHECK(error_of([&] { io::read_image(data_file("rgb_4x3.png"), 7); }) ==
          data_file("rgb_4x3.png") + ": channels must be 0 (as stored) or 1 to 4, got 7");
    CHECK(dir.entries().empty());
}

// ---- colormaps ---------------------------------------------------------------------------------

TEST_CASE("colormap: jet and viridis equal matplotlib's tables and lookups exactly") {
    for (const auto c : {io::colormap::jet, io::colormap::viridis}) {
        const bool jet = c == io::colormap::jet;
        CAPTURE(io::colormap_name(c));
        const auto& lut = jet ? io_fixtures::jet_lut : io_fixtures::viridis_lut;
        const auto& at = jet ? io_fixtures::jet_at_x : io_fixtures::viridis_at_x;
        const auto& bytes = jet ? io_fixtures::jet_bytes_at_x : io_fixtures::viridis_bytes_at_x;
        const auto& table = io::table_of(c);
        for (std::size_t i = 0; i < 256; ++i)
            for (std::size_t k = 0; k < 3; ++k) {
                CAPTURE(i);
                CHECK(table[i][k] == lut[i][k]);
            }
        for (std::size_t j = 0; j < std::size(io_fixtures::colormap_x); ++j) {
            const double x = io_fixtures::colormap_x[j];
            CAPTURE(x);
            const auto v = io::colormap_rgb(c, x);
            const auto b = io::colormap_rgb8(c, x);
            for (std::size_t k = 0; k < 3; ++k) {
                CHECK(v[k] == at[j][k]);
                CHECK(b[k] == bytes[j][k]);
            }
        }
        // NaN is matplotlib's "bad" colour, transparent black; sib draws it black.
        CHECK(io::colormap_rgb(c, std::nan("")) == io::rgb{0, 0, 0});
    }
    // The table is built at compile time.
    static_assert(io::colormap_rgb(io::colormap::jet, 0.0)[2] == 0.5);
    CHECK(io::colormap_from_name("viridis") == io::colormap::viridis);
    CHECK(io::colormap_from_name("jet") == io::colormap::jet);
    CHECK(error_of([] { io::colormap_from_name("hot"); }) == "colormap: unknown 'hot' (jet, viridis)");
}

// ---- golden fixtures ----------------------------------------------------------------------------

namespace {
// Parameter shapes of the layers in a spec, as PyTorch lays them out, for the layers the golden
// cases use.
std::map<std::string, sib::shape> expected_parameter_shapes(const std::string& spec) {
    std::map<std::string, sib::shape> out;
    std::stringstream layers(spec);
    std::string layer;
    for (int index = 0; std::getline(layers, layer, ';'); ++index) {
        layer.erase(0, layer.find_first_not_of(' '));
        const auto open = layer.find('('), close = layer.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        const std::string kind = layer.substr(0, open);
        std::vector<sib::index_t> positional;
        std::stringstream args(layer.substr(open + 1, close - open - 1));
        std::string a;
        while (std::getline(args, a, ','))
            if (a.find('=') == std::string::npos) positional.push_back(std::stoll(a));
        const std::string i = std::to_string(index);
        if (kind == "Conv2d" && positional.size() >= 3) {
            out[i + ".weight"] = {positional[1], positional[0], positional[2], positional[2]};
            out[i + ".bias"] = {positional[1]};
        } else if (kind == "Linear" && positional.size() == 2) {
            out[i + ".weight"] = {positional[1], positional[0]};
            out[i + ".bias"] = {positional[1]};
        }
    }
    return out;
}
}  // namespace

TEST_CASE("golden: every file reads, with the shapes meta.json implies") {
    const fs::path root = SIB_GOLDEN_DIR;
    REQUIRE(fs::is_directory(root));
    int cases = 0;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (!entry.is_directory()) continue;
        const fs::path dir = entry.path();
        CAPTURE(dir.string());
        std::ifstream mf(dir / "meta.json");
        REQUIRE(mf.good());
        const auto meta = io::json::parse(mf);
        const auto dim = [&](const char* key) { return meta.at(key).get<sib::index_t>(); };
        const sib::index_t b = dim("batch"), c = dim("channels"), h = dim("height"), w = dim("width"), k = dim("classes");
        const auto x = io::load_npy<double>(dir / "x.npy");
        CHECK(io::read_npy(dir / "x.npy").dtype == io::dtype::float64);
        CHECK(x.shape() == sib::shape{b, c, h, w});
        CHECK(io::load_npy<float>(dir / "x.npy").to_vector() == sib::tensor_cast<float>(x).to_vector());
        const auto y = io::load_labels(dir / "y.npy");
        CHECK(io::read_npy(dir / "y.npy").dtype == io::dtype::int64);
        CHECK(static_cast<sib::index_t>(y.size()) == b);
        for (auto label : y) CHECK((label >= 0 && label < k));
        CHECK(io::load_npy<double>(dir / "logits.npy").shape() == sib::shape{b, k});
        CHECK(io::load_npy<double>(dir / "R.npy").shape() == sib::shape{b, c, h, w});
        const auto m = io::load_npy<double>(dir / "M.npy");
        CHECK(m.shape() == sib::shape{b, 1, h, w});
        for (double v : m) CHECK((v >= 0.0 && v <= 1.0));

        const auto shapes = expected_parameter_shapes(meta.at("spec").get<std::string>());
        for (const auto& name : meta.at("params").elements()) {
            const std::string n = name.get<std::string>();
            CAPTURE(n);
            const auto param = io::load_npy<double>(dir / ("param." + n + ".npy"));
            const auto grad = io::load_npy<double>(dir / ("grad." + n + ".npy"));
            CHECK(grad.shape() == param.shape());
            // Layers this parser knows (Conv2d, Linear) are checked against the spec.
            if (shapes.count(n)) CHECK(param.shape() == shapes.at(n));
            for (double v : grad) CHECK(std::isfinite(v));
        }
        // Every .npy in the folder reads.
        for (const auto& file : fs::directory_iterator(dir))
            if (file.path().extension() == ".npy") {
                CAPTURE(file.path().string());
                const io::npy_array a = io::read_npy(file.path());
                CHECK(a.bytes.size() == a.byte_size());
            }
        const auto number = [&](const char* key) { return meta.at(key).get<double>(); };
        const double ce = number("ce"), fg = number("fg"), bg = number("bg"), total = number("total");
        CHECK(std::isfinite(ce + fg + bg + total));
        ++cases;
    }
    CHECK(cases >= 4);
}

// ---- checkpoints: regressions found by fuzz/fuzz_checkpoint*.cpp ------------------------------------

TEST_CASE("checkpoint: malformed metadata and counters are one-line errors, not library exceptions") {
    temp_folder dir;
    const char* spec = "Conv2d(1,2,3); BatchNorm2d(2); ReLU; Flatten; Linear(8,3)";
    sib::models::spec_model<float> model(spec);
    io::safetensors_file::named_arrays params;
    model.for_each_parameter([&](std::string_view name, sib::tensor<float>& v, sib::tensor<float>*) {
        params.emplace_back(std::string(name), io::raw_array::from_tensor(v));
    });
    const auto load = [&](const io::safetensors_file::named_arrays& arrays, const std::string& sib_json) {
        const std::string path = dir / "ck.safetensors";
        io::safetensors_file::save(path, arrays, {{"format", sib::train::checkpoint_format}, {"sib", sib_json}});
        return error_of([&] {
            sib::optim::adamw<float> opt;
            sib::train::load_checkpoint(path, model, &opt);
        });
    };
    // fuzz/regressions/checkpoint_json/metadata-not-an-object: was nlohmann's type_error 306.
    CHECK(load(params, "[1, 2, 3]").find("checkpoint metadata is not a JSON object") != std::string::npos);
    // fuzz/regressions/checkpoint_json/epoch-not-an-integer: reached trainer::resume's get<index_t>,
    // a float-to-integer conversion out of range.
    CHECK(load(params, R"({"epoch":1e300})").find("'epoch' must be a non-negative integer, got 1e+300") !=
          std::string::npos);
    CHECK(load(params, R"({"optimizer_steps":"3"})").find("'optimizer_steps' must be a non-negative integer") !=
          std::string::npos);
    CHECK(load(params, R"({"identity":7})").find("'identity' must be a string") != std::string::npos);
    CHECK(load(params, R"({"step":1,"epoch":0,"seconds":null})") == "(no error)");
    // fuzz/regressions/checkpoint/counter-without-element: num_batches_tracked of shape [0] was read
    // with .at(0), std::out_of_range.
    auto arrays = params;
    arrays.emplace_back("1.num_batches_tracked", io::raw_array::from_tensor(sib::tensor<std::int64_t>(sib::shape{0})));
    CHECK(load(arrays, "{}").find("counter 1.num_batches_tracked must be one integer, found shape [0]") !=
          std::string::npos);
}

// ---- io::json: the JSON of safetensors headers, checkpoint metadata and logs -------------------

TEST_CASE("json: builds, dumps and parses back every kind of value") {
    using io::json;
    json j = {{"event", "step"}, {"epoch", 3}, {"loss", 0.5}, {"neg", -4}, {"flag", true}, {"none", nullptr},
              {"list", json::array({1, "two", 3.25})}, {"empty_list", json::array()}, {"empty", json::object()}};
    j["nested"]["k"] = std::vector<int>{1, 2};
    const std::string text = j.dump();
    CHECK(text == R"({"event":"step","epoch":3,"loss":0.5,"neg":-4,"flag":true,"none":null,"list":[1,"two",3.25],)"
                  R"("empty_list":[],"empty":{},"nested":{"k":[1,2]}})");
    CHECK(json::parse(text) == j);
    CHECK(json::parse(j.dump(2)) == j);
    CHECK(json{{"a", json::array({1})}}.dump(2) == "{\n  \"a\": [\n    1\n  ]\n}");
    // A one-level list of pairs is an object; anything else an array.
    CHECK(json{{"a", 1}, {"b", 2}}.is_object());
    CHECK(json{1, 2}.is_array());
    CHECK(json{{"a", 1}, {2, 3}}.is_array());
    // Objects compare without regard to order, numbers by value.
    CHECK(json::parse(R"({"a":1,"b":2})") == json::parse(R"({"b":2.0,"a":1})"));
    CHECK_FALSE(json::parse(R"({"a":1})") == json::parse(R"({"a":1,"b":2})"));
    CHECK_FALSE(json(1) == json("1"));
    CHECK(j.at("list").at(std::size_t{1}).get<std::string>() == "two");
    CHECK(j.value("missing", 7) == 7);
    CHECK(j.value("epoch", 7) == 3);
    CHECK(j.at("nested").at("k").get<std::vector<int>>() == std::vector<int>{1, 2});
}

TEST_CASE("json: numbers are written shortest and read back exactly") {
    using io::json;
    CHECK(json(0.1).dump() == "0.1");
    CHECK(json(1e-7).dump() == "1e-07");
    CHECK(json(1000.0).dump() == "1000.0");  // stays a floating-point number
    CHECK(json(-0.0).dump() == "-0.0");
    CHECK(json(1e300).dump() == "1e+300");
    CHECK(json(0.1f).dump() == "0.10000000149011612");  // the float's exact value
    CHECK(json(std::nan("")).dump() == "null");
    CHECK(json(-std::numeric_limits<double>::infinity()).dump() == "null");
    CHECK(json(std::numeric_limits<std::uint64_t>::max()).dump() == "18446744073709551615");
    CHECK(json(std::numeric_limits<std::int64_t>::min()).dump() == "-9223372036854775808");
    sib::rng r(5);
    for (int i = 0; i < 1000; ++i) {
        const double v = std::ldexp(r.uniform() - 0.5, static_cast<int>(r.uniform() * 200) - 100);
        CHECK(json::parse(json(v).dump()).get<double>() == v);
    }
    CHECK(json::parse("18446744073709551615").get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
    CHECK(json::parse("-9223372036854775808").get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
    CHECK(json::parse("18446744073709551616").is_number_float());  // past uint64: a double
    CHECK(json::parse("7").is_number_unsigned());
    CHECK(json::parse("-7").is_number_integer());
    CHECK_FALSE(json::parse("-7").is_number_unsigned());
    CHECK(json::parse("1.5e3").is_number_float());
    CHECK(json::parse("1.5e3").get<int>() == 1500);  // whole and in range
    CHECK(json::parse("1e-400").get<double>() == 0.0);  // underflow reads as zero
    CHECK_THROWS_WITH_AS(json::parse("2.5").get<int>(), "JSON: 2.5 is not an integer in the range of the requested type",
                         io::json_error);
    CHECK_THROWS_WITH_AS(json::parse("-1").get<std::uint32_t>(),
                         "JSON: -1 is not an integer in the range of the requested type", io::json_error);
    CHECK_THROWS_WITH_AS(json::parse("4294967296").get<std::int32_t>(),
                         "JSON: 4294967296 is not an integer in the range of the requested type", io::json_error);
    CHECK_THROWS_WITH_AS(json::parse("1e300").get<std::int64_t>(),
                         "JSON: 1e+300 is not an integer in the range of the requested type", io::json_error);
}

TEST_CASE("json: strings are UTF-8 in and out") {
    using io::json;
    CHECK(json::parse(R"("\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t")").get<std::string>() ==
          "\xc3\xa9\xf0\x9f\x98\x80/\"\\\b\f\n\r\t");
    CHECK(json("\xc3\xa9\x01\"\\").dump() == "\"\xc3\xa9\\u0001\\\"\\\\\"");
    // What is not UTF-8 is written as U+FFFD, so dump() always writes JSON.
    CHECK(json(std::string("a\xff" "b\xc0\x80" "c\xed\xa0\x80")).dump() == R"("a\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffd")");
    CHECK(json::is_utf8("\xf4\x8f\xbf\xbf"));
    CHECK_FALSE(json::is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
    CHECK_FALSE(json::is_utf8("\xe2\x82"));           // cut short
}

TEST_CASE("json: parse refuses what RFC 8259 does not allow, with the byte offset") {
    using io::json;
    const auto error = [](const std::string& text) {
        try {
            (void)json::parse(text);
        } catch (const io::json_error& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    CHECK(error("") == "JSON: at byte 0: unexpected end of input");
    CHECK(error("[1,]") == "JSON: at byte 3: unexpected ']'");
    CHECK(error(R"({"a":1,})") == "JSON: at byte 7: expected a string key, found '}'");
    CHECK(error("[1 2]") == "JSON: at byte 3: expected ',' or ']', found '2'");
    CHECK(error(R"({"a" 1})") == "JSON: at byte 5: expected ':', found '1'");
    CHECK(error("1 2") == "JSON: at byte 2: unexpected '2' after the JSON value");
    CHECK(error("01") == "JSON: at byte 1: unexpected '1' after the JSON value");
    CHECK(error("+1") == "JSON: at byte 0: unexpected '+'");
    CHECK(error(".5") == "JSON: at byte 0: unexpected '.'");
    CHECK(error("1.") == "JSON: at byte 2: a number needs a digit after '.'");
    CHECK(error("1e") == "JSON: at byte 2: a number needs a digit in its exponent");
    CHECK(error("-") == "JSON: at byte 1: a number needs a digit after '-'");
    CHECK(error("NaN") == "JSON: at byte 0: unexpected 'N'");
    CHECK(error("nul") == "JSON: at byte 0: unexpected 'n'");
    CHECK(error("1e400") == "JSON: at byte 0: the number 1e400 is out of the range of a double");
    CHECK(error(R"("abc)") == "JSON: at byte 4: a string is not closed");
    CHECK(error("\"a\nb\"") == "JSON: at byte 2: a control character (byte 0x0a) in a string must be escaped");
    CHECK(error(R"("\x")") == "JSON: at byte 2: '\\x' is not a JSON escape");
    CHECK(error(R"("\u12")") == "JSON: at byte 3: a \\u escape needs four hexadecimal digits");
    CHECK(error(R"("\ud800")") == "JSON: at byte 7: a high surrogate escape is not followed by a low one");
    CHECK(error(R"("\udc00")") == "JSON: at byte 7: a \\u escape holds a lone low surrogate");
    CHECK(error("\"\xc0\x80\"") == "JSON: at byte 1: a string holds bytes that are not UTF-8 (byte 0xc0)");
    CHECK(error(R"({"a":1,"b":2,"a":3})") == "JSON: at byte 19: the key 'a' appears twice in one object");
    CHECK(error(std::string(256, '[') + std::string(256, ']')) == "(no error)");
    CHECK(error(std::string(257, '[') + std::string(257, ']')) == "JSON: at byte 256: nesting deeper than 256 levels");
    CHECK(error(std::string(100000, '[')) == "JSON: at byte 256: nesting deeper than 256 levels");  // no stack overflow
    CHECK(error(" \t\r\n[ 1 , { \"a\" : null } ]\n") == "(no error)");
}

TEST_CASE("json: a value of the wrong kind is a one-line error naming both kinds") {
    using io::json;
    const json j = {{"a", 1}};
    CHECK_THROWS_WITH_AS(j.at("b"), "JSON: no key 'b' in the object", io::json_error);
    CHECK_THROWS_WITH_AS(j.at("a").get<std::string>(), "JSON: get<std::string>() needs a string, got a number",
                         io::json_error);
    CHECK_THROWS_WITH_AS(j.elements(), "JSON: elements() needs an array, got an object", io::json_error);
    CHECK_THROWS_WITH_AS(json::array({1}).at(std::size_t{1}), "JSON: index 1 past the end of an array of 1",
                         io::json_error);
    json k = 5;
    CHECK_THROWS_WITH_AS(k["x"], "JSON: operator[](\"x\") needs an object, got a number", io::json_error);
}
