// Runtime choice of the micro-kernels: AVX-512 (F/BW/VL/DQ) for f32 and the packer,
// vdpbf16ps (AVX512_BF16) for bf16, the portable kernels otherwise. The portable
// bf16 kernel reproduces vdpbf16ps exactly, so the choice changes speed, not bits.
#include <atomic>

#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::gemm::detail {

namespace {

std::atomic<bool> forced_generic{false};

Isa detect() {
  Isa r{"generic", generic_ukernel_f32, generic_ukernel_bf16, generic_pack};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    r = {"avx512", avx512_ukernel_f32, generic_ukernel_bf16, avx512_pack};
    if (__builtin_cpu_supports("avx512bf16")) {
      r.name = "avx512+bf16";
      r.bf16 = avx512bf16_ukernel_bf16;
    }
  }
#endif
  return r;
}

}  // namespace

const Isa& isa() {
  static const Isa generic{"generic", generic_ukernel_f32, generic_ukernel_bf16, generic_pack};
  static const Isa best = detect();
  return forced_generic.load(std::memory_order_relaxed) ? generic : best;
}

void force_generic_isa(bool on) {
  forced_generic.store(on);
}

}  // namespace oomless::ops::gemm::detail
