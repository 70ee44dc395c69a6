// SIMD binary kernels, compiled per target and picked at run time. Operands
// are "loaders" (contiguous run or broadcast scalar) so one loop serves every
// stride pattern; other strides are gathered into f32 blocks first.
#include "ops/binary/kernels.hpp"

#include <algorithm>
#include <stdexcept>

#include "hwy/cache_control.h"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/binary/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/highway.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

HWY_INLINE float ToF(float v) {
  return v;
}
HWY_INLINE float ToF(uint16_t v) {
  return bf16_to_f32(v);
}

template <class T>
struct Contig {
  const T* p;
  template <class D>
  HWY_INLINE hn::VFromD<D> Load(D d, int64_t i) const {
    return LoadF(d, p + i);
  }
  HWY_INLINE float At(int64_t i) const { return ToF(p[i]); }
};

struct Bcast {
  float v;
  template <class D>
  HWY_INLINE hn::VFromD<D> Load(D d, int64_t) const {
    return hn::Set(d, v);
  }
  HWY_INLINE float At(int64_t) const { return v; }
};

struct AddOp {
  template <class D, class V>
  HWY_INLINE V operator()(D, V a, V b) const {
    return hn::Add(a, b);
  }
};
struct SubOp {
  template <class D, class V>
  HWY_INLINE V operator()(D, V a, V b) const {
    return hn::Sub(a, b);
  }
};
// torch: fmadd(other, alpha, self), one rounding (sub passes -alpha).
struct AxpyOp {
  float alpha;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V a, V b) const {
    return hn::MulAdd(b, hn::Set(d, alpha), a);
  }
};
struct MulOp {
  template <class D, class V>
  HWY_INLINE V operator()(D, V a, V b) const {
    return hn::Mul(a, b);
  }
};
struct DivOp {
  template <class D, class V>
  HWY_INLINE V operator()(D, V a, V b) const {
    return hn::Div(a, b);
  }
};

// Fewer than Lanes elements [i, i + count) through padded stack vectors.
template <class F, class LA, class LB, class TO>
HWY_INLINE void Partial(const F& f, const LA& la, const LB& lb, TO* out, int64_t i, int64_t count) {
  const hn::ScalableTag<float> df;
  HWY_ALIGN float ta[kMaxLanesF32] = {}, tb[kMaxLanesF32] = {};
  TO to[kMaxLanesF32];
  for (int64_t j = 0; j < count; ++j) {
    ta[j] = la.At(i + j);
    tb[j] = lb.At(i + j);
  }
  StoreF(df, f(df, hn::Load(df, ta), hn::Load(df, tb)), to);
  std::copy(to, to + count, out + i);
}

// kStream: non-temporal stores for the aligned middle of `out` (the caller
// fences). Lanes are independent, so the split never changes a result.
template <bool kStream, class F, class LA, class LB, class TO>
HWY_INLINE void Loop(const F& f, const LA& la, const LB& lb, TO* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  if constexpr (kStream) {
    // Streams need each pair of vectors aligned: N f32 or 2N bf16 = N * 4 bytes.
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * sizeof(float);
    if (addr % sizeof(TO) != 0) return Loop<false>(f, la, lb, out, n);
    const int64_t head =
        std::min<int64_t>(n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / sizeof(TO)));
    for (; i < head; i += std::min(N, head - i)) Partial(f, la, lb, out, i, std::min(N, head - i));
    for (; i + 2 * N <= n; i += 2 * N)
      StoreF2<true>(df, f(df, la.Load(df, i), lb.Load(df, i)),
                    f(df, la.Load(df, i + N), lb.Load(df, i + N)), out + i);
  }
  for (; i + 2 * N <= n; i += 2 * N)
    StoreF2<false>(df, f(df, la.Load(df, i), lb.Load(df, i)),
                   f(df, la.Load(df, i + N), lb.Load(df, i + N)), out + i);
  for (; i + N <= n; i += N) StoreF(df, f(df, la.Load(df, i), lb.Load(df, i)), out + i);
  if (i < n) Partial(f, la, lb, out, i, n - i);
}

template <class F, class LA, class LB, class TO>
HWY_INLINE void Run(bool stream, const F& f, const LA& la, const LB& lb, TO* out, int64_t n) {
  if (stream) return Loop<true>(f, la, lb, out, n);
  Loop<false>(f, la, lb, out, n);
}

template <class F, class TA, class TB, class TO>
void Strided(bool stream, const F& f, const TA* a, int64_t sa, const TB* b, int64_t sb, TO* out,
             int64_t n) {
  if (sa == 1 && sb == 1) return Run(stream, f, Contig<TA>{a}, Contig<TB>{b}, out, n);
  if (sa == 1 && sb == 0) return Run(stream, f, Contig<TA>{a}, Bcast{ToF(*b)}, out, n);
  if (sa == 0 && sb == 1) return Run(stream, f, Bcast{ToF(*a)}, Contig<TB>{b}, out, n);
  if (sa == 0 && sb == 0) return Loop<false>(f, Bcast{ToF(*a)}, Bcast{ToF(*b)}, out, n);
  // General strides: gather blocks into f32, then the contiguous loop.
  constexpr int64_t kGather = 256;
  float ga[kGather], gb[kGather];
  for (int64_t i = 0; i < n; i += kGather) {
    const int64_t len = std::min(kGather, n - i);
    for (int64_t j = 0; j < len; ++j) {
      ga[j] = ToF(a[(i + j) * sa]);
      gb[j] = ToF(b[(i + j) * sb]);
    }
    Loop<false>(f, Contig<float>{ga}, Contig<float>{gb}, out + i, len);
  }
}

template <class TA, class TB, class TO>
void Typed(int op, float alpha, const void* a, int64_t sa, const void* b, int64_t sb, void* out,
           int64_t n, bool st) {
  const auto* pa = static_cast<const TA*>(a);
  const auto* pb = static_cast<const TB*>(b);
  auto* po = static_cast<TO*>(out);
  switch (static_cast<BinaryOp>(op)) {
    case BinaryOp::Add:
      if (alpha == 1.f) return Strided(st, AddOp{}, pa, sa, pb, sb, po, n);
      return Strided(st, AxpyOp{alpha}, pa, sa, pb, sb, po, n);
    case BinaryOp::Sub:
      if (alpha == 1.f) return Strided(st, SubOp{}, pa, sa, pb, sb, po, n);
      return Strided(st, AxpyOp{-alpha}, pa, sa, pb, sb, po, n);
    case BinaryOp::Mul:
      return Strided(st, MulOp{}, pa, sa, pb, sb, po, n);
    case BinaryOp::Div:
      return Strided(st, DivOp{}, pa, sa, pb, sb, po, n);
  }
}

}  // namespace

// combo: 0 f32,f32->f32; 1 bf16,bf16->bf16; 2 f32,bf16->f32; 3 bf16,f32->f32.
void BinaryRun(int combo, int op, float alpha, const void* a, int64_t sa, const void* b, int64_t sb,
               void* out, int64_t n, bool stream) {
  switch (combo) {
    case 0:
      return Typed<float, float, float>(op, alpha, a, sa, b, sb, out, n, stream);
    case 1:
      return Typed<uint16_t, uint16_t, uint16_t>(op, alpha, a, sa, b, sb, out, n, stream);
    case 2:
      return Typed<float, uint16_t, float>(op, alpha, a, sa, b, sb, out, n, stream);
    default:
      return Typed<uint16_t, float, float>(op, alpha, a, sa, b, sb, out, n, stream);
  }
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(BinaryRun);

void binary_kernel(BinaryOp op, float alpha, DType ta, const void* a, int64_t sa, DType tb,
                   const void* b, int64_t sb, DType to, void* out, int64_t n, bool stream) {
  if (n <= 0) return;
  const bool fa = ta == DType::F32, fb = tb == DType::F32;
  const int combo = fa && fb ? 0 : !fa && !fb ? 1 : fa ? 2 : 3;
  // The output dtype follows from the inputs; a mismatch is a caller bug.
  if ((combo == 1) != (to == DType::BF16)) throw std::logic_error("binary_kernel: output dtype");
  HWY_DYNAMIC_DISPATCH(BinaryRun)(combo, static_cast<int>(op), alpha, a, sa, b, sb, out, n, stream);
  if (stream) hwy::FlushStream();
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
