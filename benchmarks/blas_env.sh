# Sourced by the benchmark scripts: both sides' BLAS at its best on this CPU.
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
blas_env_text="OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset, OpenBLAS chooses}"
