// bf16 stores by vcvtne2ps2bf16 (avx512_bf16: round to nearest even in one
// instruction, where Highway 1.0.3's DemoteTo truncates and simd_io's integer
// rounding takes ~8 ops a vector) and the map loop that uses them (include
// inside a foreach_target TU). On AVX-512 targets the loop is one function
// compiled with avx512bf16 (called, not inlined: it runs only where the CPU
// has the extension; everything it inlines stays of the base target).
#ifndef OOMLESS_BF16_CVT_ONCE
#define OOMLESS_BF16_CVT_ONCE
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define OOMLESS_GCC_X86 1
#else
#define OOMLESS_GCC_X86 0
#endif
#endif

#if defined(OOMLESS_OPS_BF16_STORE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OOMLESS_OPS_BF16_STORE_INL_H_
#undef OOMLESS_OPS_BF16_STORE_INL_H_
#else
#define OOMLESS_OPS_BF16_STORE_INL_H_
#endif

#include "hwy/highway.h"
#include "ops/unary/simd_io-inl.h"

#undef OOMLESS_BF16_CVT_TARGET
#if OOMLESS_GCC_X86 && (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
#define OOMLESS_BF16_CVT_TARGET 1
#else
#define OOMLESS_BF16_CVT_TARGET 0
#endif

#if OOMLESS_BF16_CVT_TARGET
#define OOMLESS_ATTR_BF16 __attribute__((target("avx512bf16")))
#endif

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {

#if OOMLESS_BF16_CVT_TARGET
// The CPU has avx512_bf16 (checked once).
inline bool HasBf16Cvt() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

// a, b to p[0, 32) rounded to nearest even. The instruction flushes subnormal
// inputs to zero: a pair with one takes the integer rounding (same bits for
// every other value, NaN included).
template <bool kStream, class DF>
OOMLESS_ATTR_BF16 HWY_INLINE void StoreF2Cvt(DF df, hn::VFromD<DF> a, hn::VFromD<DF> b, uint16_t* p) {
  if (HWY_UNLIKELY((_mm512_fpclass_ps_mask(a.raw, 0x20) | _mm512_fpclass_ps_mask(b.raw, 0x20)) !=
                   0))
    return StoreF2<kStream>(df, a, b, p);
  const __m512i v = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b.raw, a.raw));
  if constexpr (kStream)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
  else
    _mm512_storeu_si512(p, v);
}

// MapF32 to bf16 with the instruction's stores; identical results.
template <bool kStream, class TI, class F>
OOMLESS_ATTR_BF16 HWY_NOINLINE void MapBF16Cvt(const TI* in, uint16_t* out, int64_t n, const F& f) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  if constexpr (kStream) {
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * sizeof(float);
    if (addr % sizeof(uint16_t) != 0) return MapBF16Cvt<false>(in, out, n, f);
    const int64_t head = std::min<int64_t>(
        n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / sizeof(uint16_t)));
    for (; i < head; i += std::min(N, head - i))
      MapPartial(in + i, out + i, std::min(N, head - i), f);
    for (; i + 2 * N <= n; i += 2 * N)
      StoreF2Cvt<true>(df, f(df, LoadF(df, in + i)), f(df, LoadF(df, in + i + N)), out + i);
  }
  for (; i + 2 * N <= n; i += 2 * N)
    StoreF2Cvt<false>(df, f(df, LoadF(df, in + i)), f(df, LoadF(df, in + i + N)), out + i);
  for (; i + N <= n; i += N) StoreF(df, f(df, LoadF(df, in + i)), out + i);
  if (i < n) MapPartial(in + i, out + i, n - i, f);
}
#undef OOMLESS_ATTR_BF16
#endif

// bf16 map: the instruction's stores where the CPU has them, else MapF32.
template <bool kStream, class TI, class F>
HWY_INLINE void MapBF16(const TI* in, uint16_t* out, int64_t n, const F& f) {
#if OOMLESS_BF16_CVT_TARGET
  if (HasBf16Cvt()) return MapBF16Cvt<kStream>(in, out, n, f);
#endif
  MapF32<kStream>(in, out, n, f);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_BF16_STORE_INL_H_
