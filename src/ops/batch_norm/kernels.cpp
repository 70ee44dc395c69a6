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

template <class T>
void Columns(const T* x, int64_t rows, int64_t rs, int64_t cols, double* mean, double* m2) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  std::fill(mean, mean + cols, 0.0);
  std::fill(m2, m2 + cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * rs;
    int64_t c = 0;
    for (; c + N <= cols; c += N)
      hn::StoreU(hn::Add(hn::LoadU(dd, mean + c), LoadD(dd, row + c)), dd, mean + c);
    for (; c < cols; ++c) mean[c] += ToD(row[c]);
  }
  const double inv = 1.0 / static_cast<double>(rows);
  for (int64_t c = 0; c < cols; ++c) mean[c] *= inv;
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * rs;
    int64_t c = 0;
    for (; c + N <= cols; c += N) {
      const VD d = hn::Sub(LoadD(dd, row + c), hn::LoadU(dd, mean + c));
      hn::StoreU(hn::MulAdd(d, d, hn::LoadU(dd, m2 + c)), dd, m2 + c);
    }
    for (; c < cols; ++c) m2[c] += (ToD(row[c]) - mean[c]) * (ToD(row[c]) - mean[c]);
  }
}

struct Affine {
  float a, b;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::Add(hn::Mul(x, hn::Set(d, a)), hn::Set(d, b));
  }
};

template <class T>
void ApplyColumns(const T* x, T* out, int64_t rows, int64_t cols, const float* a, const float* b) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = out + r * cols;
    int64_t c = 0;
    for (; c + N <= cols; c += N) {
      const auto v = LoadF(df, xr + c);
      StoreF(df, hn::Add(hn::Mul(v, hn::LoadU(df, a + c)), hn::LoadU(df, b + c)), yr + c);
    }
    for (; c < cols; ++c) {
      const float y = static_cast<float>(ToD(xr[c])) * a[c] + b[c];  // f32, like the lanes
      if constexpr (sizeof(T) == 2)
        yr[c] = f32_to_bf16(y);
      else
        yr[c] = y;
    }
  }
}

}  // namespace

Moments BnMoments(int bf16, const void* x, int64_t len, int64_t count, int64_t stride) {
  if (bf16) return Block(static_cast<const uint16_t*>(x), len, count, stride);
  return Block(static_cast<const float*>(x), len, count, stride);
}

void BnColumns(int bf16, const void* x, int64_t rows, int64_t rs, int64_t cols, double* mean,
               double* m2) {
  if (bf16) return Columns(static_cast<const uint16_t*>(x), rows, rs, cols, mean, m2);
  Columns(static_cast<const float*>(x), rows, rs, cols, mean, m2);
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

void BnApplyColumns(int bf16, const void* x, void* out, int64_t rows, int64_t cols, const float* a,
                    const float* b) {
  if (bf16)
    return ApplyColumns(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(out), rows, cols, a,
                        b);
  ApplyColumns(static_cast<const float*>(x), static_cast<float*>(out), rows, cols, a, b);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(BnMoments);
HWY_EXPORT(BnColumns);
HWY_EXPORT(BnApply);
HWY_EXPORT(BnApplyColumns);

Moments moments_block(DType t, const void* x, int64_t len, int64_t count, int64_t stride) {
  return HWY_DYNAMIC_DISPATCH(BnMoments)(t == DType::BF16, x, len, count, stride);
}

void moments_columns(DType t, const void* x, int64_t rows, int64_t row_stride, int64_t cols,
                     double* mean, double* m2) {
  HWY_DYNAMIC_DISPATCH(BnColumns)(t == DType::BF16, x, rows, row_stride, cols, mean, m2);
}

void batch_norm_apply(DType t, const void* x, void* out, int64_t n, float a, float b, bool stream) {
  if (n <= 0) return;
  HWY_DYNAMIC_DISPATCH(BnApply)(t == DType::BF16, x, out, n, a, b, stream);
  if (stream) hwy::FlushStream();
}

void batch_norm_apply_columns(DType t, const void* x, void* out, int64_t rows, int64_t cols,
                              const float* a, const float* b) {
  if (rows > 0 && cols > 0)
    HWY_DYNAMIC_DISPATCH(BnApplyColumns)(t == DType::BF16, x, out, rows, cols, a, b);
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
