// sib::compiled: the definitions of every *_inl.hpp header, compiled once (see core/config.hpp).
// A program that links it defines SIB_COMPILED_LIB everywhere (the CMake target does), so its own
// translation units see only the declarations.
#if !defined(SIB_COMPILED_LIB)
#error "src/compiled.cpp is compiled with SIB_COMPILED_LIB defined (CMake's sib::compiled does)"
#endif
#include <sib/data/benchmarks_inl.hpp>
#include <sib/data/file_bytes_inl.hpp>
#include <sib/data/idx_inl.hpp>
#include <sib/io/file_lock_inl.hpp>
#include <sib/io/json_inl.hpp>
#include <sib/io/safetensors_inl.hpp>
#include <sib/train/progress_inl.hpp>
