# Sourced by the benchmark scripts: both sides' BLAS and allocator at their best on this CPU.
# - One BLAS thread per caller: sib and LibTorch run their own threads (sib_bench also sets it).
# - OpenBLAS chooses its kernels by CPU model at load time, and Debian's 0.3.21 does not know recent
#   AVX-512 CPUs (AMD Zen 4 EPYC among them): it falls back to its Haswell (AVX2) kernels. Where the
#   CPU has AVX-512 (F, BW, DQ, VL) and the caller set no core type, ask for the SkylakeX kernels.
#   sib's GEMM and LibTorch's (through libblas.so.3) both gain: reports/perf.md measured 1.3x on
#   sib's ResNet-18 S-IB step and 2.4x on LibTorch's three-convolution CE step.
export OPENBLAS_NUM_THREADS=1
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  avx512=1
  for f in avx512f avx512bw avx512dq avx512vl; do [[ " $flags " == *" $f "* ]] || avx512=0; done
  if [[ $avx512 == 1 ]]; then export OPENBLAS_CORETYPE=SkylakeX; fi
  unset flags avx512 f
fi
# - glibc's malloc hands blocks above its mmap threshold back to the kernel when they are freed and
#   trims the heap's top, so a program that frees its activations every step (LibTorch) pays page
#   faults and kernel page zeroing on every step: LibTorch's ResNet-18 CE step took 372-428 ms in a
#   process of its own and 142-171 ms with the limits below (reports/perf.md). PyTorch's CPU tuning
#   guide recommends jemalloc or tcmalloc for this; these glibc tunables have the same effect and
#   need no package. sib allocates nothing in a warm step, so its side does not change.
if [[ -z ${GLIBC_TUNABLES:-} ]]; then
  export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
fi
blas_env_text="OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset, OpenBLAS chooses}, GLIBC_TUNABLES=${GLIBC_TUNABLES}"
