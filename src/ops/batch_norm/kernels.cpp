// SIMD batch-norm kernels, compiled per target and picked at run time.
// Statistics widen to double; the apply stays in f32 (bf16 rounds on store).
#include "ops/batch_norm/kernels.hpp"

#include <algorithm>

#include "hwy/cache_control.h"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/batch_norm/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/highway.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

using DD = hn::ScalableTag<double>;
using VD = hn::VFromD<DD>;

HWY_INLINE VD LoadD(DD dd, const float* p) {
  return hn::PromoteTo(dd, hn::LoadU(hn::Rebind<float, DD>(), p));
}
HWY_INLINE VD LoadD(DD dd, const uint16_t* p) {
  const hn::Rebind<uint16_t, DD> du16;
  const hn::Rebind<uint32_t, DD> du32;
  const auto bits = hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p)));
  return hn::PromoteTo(dd, hn::BitCast(hn::Rebind<float, DD>(), bits));
}
HWY_INLINE double ToD(float v) {
  return v;
}
HWY_INLINE double ToD(uint16_t v) {
  return bf16_to_f32(v);
}

HWY_INLINE double SumLanes(DD dd, VD v) {
  HWY_ALIGN double lanes[HWY_MAX_BYTES / sizeof(double)];
  hn::Store(v, dd, lanes);
  double s = 0;
  for (size_t j = 0; j < hn::Lanes(dd); ++j) s += lanes[j];
  return s;
}

// Sum over one segment of f(x) with two vector accumulators; f maps a
// double vector (and the scalar tail) to the summand.
template <class T, class FV, class FS>
HWY_INLINE double SegmentSum(const T* x, int64_t len, const FV& fv, const FS& fs) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  VD a0 = hn::Zero(dd), a1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * N <= len; i += 2 * N) {
    a0 = fv(dd, a0, LoadD(dd, x + i));
    a1 = fv(dd, a1, LoadD(dd, x + i + N));
  }
  for (; i + N <= len; i += N) a0 = fv(dd, a0, LoadD(dd, x + i));
  double s = SumLanes(dd, hn::Add(a0, a1));
  for (; i < len; ++i) s += fs(ToD(x[i]));
  return s;
}

template <class T>
Moments Block(const T* x, int64_t len, int64_t count, int64_t stride) {
  Moments m;
  m.n = static_cast<double>(len * count);
  if (m.n == 0) return m;
  double sum = 0;
  for (int64_t s = 0; s < count; ++s)
    sum += SegmentSum(
        x + s * stride, len, [](DD, VD acc, VD v) { return hn::Add(acc, v); },
        [](double v) { return v; });
  m.mean = sum / m.n;
  const double mean = m.mean;
  for (int64_t s = 0; s < count; ++s)
    m.m2 += SegmentSum(
        x + s * stride, len,
        [mean](DD dd, VD acc, VD v) {
          const VD d = hn::Sub(v, hn::Set(dd, mean));
          return hn::MulAdd(d, d, acc);
        },
        [mean](double v) { return (v - mean) * (v - mean); });
  return m;
}

// Column sums of a contiguous rows x cols block about a per-column shift:
// s1[c] = sum_r (x[r, c] - shift[c]), s2[c] = sum_r (x[r, c] - shift[c])^2, in
// double, one pass. Rows go in groups of kGroup; within a group, strips of
// kStrip vectors add the group's rows to accumulators held in registers (and
// in s1/s2 between groups, which is exact), so memory is read nearly in
// order while each lane still adds its rows in row order: the result does not
// depend on kGroup.
constexpr int64_t kGroup = 8;
// Software prefetch distance: a core keeps too few lines in flight from the
// arithmetic loop alone (measured: 2x faster from DRAM with it).
constexpr int64_t kPrefetchBytes = 16384;

template <int kStrip, class T>
HWY_INLINE void SumsStrip(const T* x, int64_t rows, int64_t cols, const double* shift, double* s1,
                          double* s2) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  VD sh[kStrip], a1[kStrip], a2[kStrip];
  for (int k = 0; k < kStrip; ++k) {
    sh[k] = hn::LoadU(dd, shift + k * N);
    a1[k] = hn::LoadU(dd, s1 + k * N);
    a2[k] = hn::LoadU(dd, s2 + k * N);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * cols;
    for (int k = 0; k < kStrip; ++k) {
      const VD d = hn::Sub(LoadD(dd, row + k * N), sh[k]);
      a1[k] = hn::Add(a1[k], d);
      a2[k] = hn::MulAdd(d, d, a2[k]);
    }
  }
  for (int k = 0; k < kStrip; ++k) {
    hn::StoreU(a1[k], dd, s1 + k * N);
    hn::StoreU(a2[k], dd, s2 + k * N);
  }
}

template <class T>
void ShiftedSums(const T* x, int64_t rows, int64_t cols, const double* shift, double* s1,
                 double* s2) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  std::fill(s1, s1 + cols, 0.0);
  std::fill(s2, s2 + cols, 0.0);
  for (int64_t r0 = 0; r0 < rows; r0 += kGroup) {
    const T* xg = x + r0 * cols;
    const int64_t g = std::min(kGroup, rows - r0);
    // Prefetches never fault, so reading ahead past the block is harmless
    // (the address is formed as an integer: no out-of-range pointer).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(xg) + kPrefetchBytes;
    for (int64_t off = 0; off < g * cols * static_cast<int64_t>(sizeof(T)); off += 64)
      hwy::Prefetch(reinterpret_cast<const char*>(ahead + static_cast<uintptr_t>(off)));
    int64_t c = 0;
    for (; c + 4 * N <= cols; c += 4 * N) SumsStrip<4>(xg + c, g, cols, shift + c, s1 + c, s2 + c);
    for (; c + N <= cols; c += N) SumsStrip<1>(xg + c, g, cols, shift + c, s1 + c, s2 + c);
    for (; c < cols; ++c)
      for (int64_t r = 0; r < g; ++r) {
        const double d = ToD(xg[r * cols + c]) - shift[c];
        s1[c] += d;
        s2[c] += d * d;
      }
  }
}

struct Affine {
  float a, b;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::Add(hn::Mul(x, hn::Set(d, a)), hn::Set(d, b));
  }
};

// out[i] = x[i] * a[j] + b[j], j = i mod P, for n contiguous elements that
// start at phase 0. a and b hold P + 64 values (periodic) so whole vectors
// load at any phase; P >= 64 >= 2N (x86 vectors have at most 16 f32 lanes),
// so one subtraction wraps the phase. Same f32 arithmetic as Affine.
template <bool kStream, class T>
void ApplyPeriodic(const T* x, T* out, int64_t n, const float* a, const float* b, int64_t P) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0, j = 0;
  auto scalar = [&](int64_t k) {
    const float y = static_cast<float>(ToD(x[k])) * a[j] + b[j];  // f32, like the lanes
    if constexpr (sizeof(T) == 2)
      out[k] = f32_to_bf16(y);
    else
      out[k] = y;
    if (++j == P) j = 0;
  };
  if constexpr (kStream) {
    // Streams need each pair of vectors aligned: N * 4 bytes (N f32, 2N bf16).
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * sizeof(float);
    if (addr % sizeof(T) != 0) return ApplyPeriodic<false>(x, out, n, a, b, P);
    const int64_t head =
        std::min<int64_t>(n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / sizeof(T)));
    for (; i < head; ++i) scalar(i);
  }
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto y0 = hn::Add(hn::Mul(LoadF(df, x + i), hn::LoadU(df, a + j)), hn::LoadU(df, b + j));
    const auto y1 =
        hn::Add(hn::Mul(LoadF(df, x + i + N), hn::LoadU(df, a + j + N)), hn::LoadU(df, b + j + N));
    StoreF2<kStream>(df, y0, y1, out + i);
    j += 2 * N;
    if (j >= P) j -= P;
  }
  for (; i < n; ++i) scalar(i);
}

}  // namespace

Moments BnMoments(int bf16, const void* x, int64_t len, int64_t count, int64_t stride) {
  if (bf16) return Block(static_cast<const uint16_t*>(x), len, count, stride);
  return Block(static_cast<const float*>(x), len, count, stride);
}

void BnShiftedSums(int bf16, const void* x, int64_t rows, int64_t cols, const double* shift,
                   double* s1, double* s2) {
  if (bf16) return ShiftedSums(static_cast<const uint16_t*>(x), rows, cols, shift, s1, s2);
  ShiftedSums(static_cast<const float*>(x), rows, cols, shift, s1, s2);
}

template <bool kStream>
void ApplyT(int bf16, const void* x, void* out, int64_t n, float a, float b) {
  if (bf16)
    return MapF32<kStream>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(out), n,
                           Affine{a, b});
  MapF32<kStream>(static_cast<const float*>(x), static_cast<float*>(out), n, Affine{a, b});
}

void BnApply(int bf16, const void* x, void* out, int64_t n, float a, float b, bool stream) {
  if (stream) return ApplyT<true>(bf16, x, out, n, a, b);
  ApplyT<false>(bf16, x, out, n, a, b);
}

template <bool kStream>
void PeriodicT(int bf16, const void* x, void* out, int64_t n, const float* a, const float* b,
               int64_t P) {
  if (bf16)
    return ApplyPeriodic<kStream>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(out), n,
                                  a, b, P);
  ApplyPeriodic<kStream>(static_cast<const float*>(x), static_cast<float*>(out), n, a, b, P);
}

void BnApplyPeriodic(int bf16, const void* x, void* out, int64_t n, const float* a, const float* b,
                     int64_t P, bool stream) {
  if (stream) return PeriodicT<true>(bf16, x, out, n, a, b, P);
  PeriodicT<false>(bf16, x, out, n, a, b, P);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(BnMoments);
HWY_EXPORT(BnShiftedSums);
HWY_EXPORT(BnApply);
HWY_EXPORT(BnApplyPeriodic);

Moments moments_block(DType t, const void* x, int64_t len, int64_t count, int64_t stride) {
  return HWY_DYNAMIC_DISPATCH(BnMoments)(t == DType::BF16, x, len, count, stride);
}

void shifted_sums_columns(DType t, const void* x, int64_t rows, int64_t cols, const double* shift,
                          double* s1, double* s2) {
  HWY_DYNAMIC_DISPATCH(BnShiftedSums)(t == DType::BF16, x, rows, cols, shift, s1, s2);
}

void batch_norm_apply(DType t, const void* x, void* out, int64_t n, float a, float b, bool stream) {
  if (n <= 0) return;
  HWY_DYNAMIC_DISPATCH(BnApply)(t == DType::BF16, x, out, n, a, b, stream);
  if (stream) hwy::FlushStream();
}

void batch_norm_apply_periodic(DType t, const void* x, void* out, int64_t n, const float* a,
                               const float* b, int64_t period, bool stream) {
  if (n <= 0) return;
  HWY_DYNAMIC_DISPATCH(BnApplyPeriodic)(t == DType::BF16, x, out, n, a, b, period, stream);
  if (stream) hwy::FlushStream();
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
