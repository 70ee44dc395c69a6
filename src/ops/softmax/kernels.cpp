// SIMD softmax kernels, compiled per target and picked at run time.
// Last-dim rows: one read for the max, exp(x - max) kept in an f32 scratch row
// (L1-resident: <= kSoftmaxBlock floats) while summing, then one scaled write,
// so each element costs one exp. Other dims: lanes run along the contiguous
// inner axis and each lane owns one softmax row.
#include "ops/softmax/kernels.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "hwy/cache_control.h"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/softmax/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/unary/bf16_math-inl.h"
#include "ops/unary/bf16_store-inl.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

// The exp of last-dim rows: f32 outputs FastExp (1 ulp); bf16 outputs ExpB
// (2^-17.2, see the numerics in kernels.hpp), FastExp below its range (keeps
// subnormal terms).
struct ExpF32 {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V t) const {
    return FastExp(d, t);
  }
};
struct ExpBF16 {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V t) const {
    const V lo = hn::Set(d, -86.5f);
    return WithTail(d, t, ExpB(d, hn::Max(t, lo)), hn::Ge(t, lo),
                    [](D d2, V v) { return FastExp(d2, v); });
  }
};
template <class TO>
using ExpFor = std::conditional_t<std::is_same_v<TO, uint16_t>, ExpBF16, ExpF32>;

// MapF32, with the avx512_bf16 stores for bf16 outputs.
template <bool kStream = false, class TI, class TO, class F>
HWY_INLINE void Map(const TI* in, TO* out, int64_t n, const F& f) {
  if constexpr (std::is_same_v<TO, uint16_t>)
    MapBF16<kStream>(in, out, n, f);
  else
    MapF32<kStream>(in, out, n, f);
}

using DF = hn::ScalableTag<float>;
using VF = hn::VFromD<DF>;

HWY_INLINE float ToF(float v) {
  return v;
}
HWY_INLINE float ToF(uint16_t v) {
  return bf16_to_f32(v);
}

// Loads up to Lanes elements; missing lanes get `pad`.
template <class T>
HWY_INLINE VF LoadPadded(DF df, const T* p, int64_t count, float pad) {
  if (count == static_cast<int64_t>(hn::Lanes(df))) return LoadF(df, p);
  HWY_ALIGN float buf[kMaxLanesF32];
  for (size_t j = 0; j < kMaxLanesF32; ++j) buf[j] = pad;
  for (int64_t j = 0; j < count; ++j) buf[j] = ToF(p[j]);
  return hn::Load(df, buf);
}

template <class T>
HWY_INLINE void StorePartial(DF df, VF v, T* p, int64_t count) {
  if (count == static_cast<int64_t>(hn::Lanes(df))) return StoreF(df, v, p);
  T buf[kMaxLanesF32];
  StoreF(df, v, buf);
  std::copy(buf, buf + count, p);
}

// Stats of one block (<= kSoftmaxBlock elements); stores exp(x - max) into
// `scratch` when given. The lane of each element depends only on its offset.
template <class Exp, class T>
SoftmaxStats BlockStats(const T* x, int64_t n, float* scratch, const T* next = nullptr) {
  const Exp exp;
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VF ninf = hn::Set(df, -INFINITY);
  VF m = ninf;
  auto nanm = hn::Ne(m, m);
  for (int64_t i = 0; i < n; i += N) {
    // The next row streams in from DRAM while this one is computed.
    if (next) hwy::Prefetch(next + i);
    const VF v = LoadPadded(df, x + i, std::min(N, n - i), -INFINITY);
    m = hn::Max(m, v);
    nanm = hn::Or(nanm, hn::IsNaN(v));
  }
  SoftmaxStats st;
  st.max = hn::GetLane(hn::MaxOfLanes(df, m));
  st.nan = !hn::AllFalse(df, nanm);
  if (st.nan || !std::isfinite(st.max)) return st;
  const VF vm = hn::Set(df, st.max);
  VF s0 = hn::Zero(df), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const VF e0 = exp(df, hn::Sub(LoadF(df, x + i), vm));
    const VF e1 = exp(df, hn::Sub(LoadF(df, x + i + N), vm));
    const VF e2 = exp(df, hn::Sub(LoadF(df, x + i + 2 * N), vm));
    const VF e3 = exp(df, hn::Sub(LoadF(df, x + i + 3 * N), vm));
    if (scratch) {
      hn::StoreU(e0, df, scratch + i);
      hn::StoreU(e1, df, scratch + i + N);
      hn::StoreU(e2, df, scratch + i + 2 * N);
      hn::StoreU(e3, df, scratch + i + 3 * N);
    }
    s0 = hn::Add(s0, e0);
    s1 = hn::Add(s1, e1);
    s2 = hn::Add(s2, e2);
    s3 = hn::Add(s3, e3);
  }
  for (; i < n; i += N) {
    const int64_t cnt = std::min(N, n - i);
    const VF e = exp(df, hn::Sub(LoadPadded(df, x + i, cnt, -INFINITY), vm));
    if (scratch) StorePartial(df, e, scratch + i, cnt);
    s0 = hn::Add(s0, e);
  }
  st.sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  return st;
}

template <class Exp, class T>
SoftmaxStats RowStats(const T* x, int64_t len, SoftmaxStats st = {}) {
  for (int64_t b = 0; b < len; b += kSoftmaxBlock)
    st = softmax_merge(st, BlockStats<Exp>(x + b, std::min(kSoftmaxBlock, len - b), nullptr));
  return st;
}

struct Scale {
  float inv;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V e) const {
    return hn::Mul(e, hn::Set(d, inv));
  }
};
struct Same {
  template <class D, class V>
  HWY_INLINE V operator()(D, V v) const {
    return v;
  }
};
template <class Exp>
struct ExpScale {
  float max, inv;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::Mul(Exp()(d, hn::Sub(x, hn::Set(d, max))), hn::Set(d, inv));
  }
};
struct FillNaN {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V) const {
    return hn::Set(d, NAN);
  }
};

HWY_INLINE bool Bad(const SoftmaxStats& st) {
  return st.nan || !std::isfinite(st.max);
}

template <class TI, class TO>
void RowApply(const TI* x, TO* out, int64_t len, const SoftmaxStats& st) {
  if (Bad(st)) return Map(x, out, len, FillNaN{});
  Map(x, out, len, ExpScale<ExpFor<TO>>{st.max, 1.f / st.sum});
}

template <bool kStream, class TI, class TO>
void LastDimRow(const TI* x, TO* out, int64_t len, float* scratch, const TI* next) {
  if (len > kSoftmaxBlock) return RowApply(x, out, len, RowStats<ExpFor<TO>>(x, len));
  // Same stats as RowStats (one block), and exp values already in scratch.
  const SoftmaxStats st = BlockStats<ExpFor<TO>>(x, len, scratch, next);
  if (Bad(st)) return Map(x, out, len, FillNaN{});
  Map<kStream>(scratch, out, len, Scale{1.f / st.sum});
}

// Softmax down `len` rows for `count` (<= Lanes) adjacent inner positions.
template <class TI, class TO>
void InnerLanes(const TI* x, TO* out, int64_t len, int64_t ls, int64_t count) {
  const DF df;
  VF m = hn::Set(df, -INFINITY);
  auto nanm = hn::Ne(m, m);
  for (int64_t k = 0; k < len; ++k) {
    const VF v = LoadPadded(df, x + k * ls, count, 0.f);
    m = hn::Max(m, v);
    nanm = hn::Or(nanm, hn::IsNaN(v));
  }
  VF s = hn::Zero(df);
  for (int64_t k = 0; k < len; ++k)
    s = hn::Add(s, FastExp(df, hn::Sub(LoadPadded(df, x + k * ls, count, 0.f), m)));
  const VF inv = hn::Div(hn::Set(df, 1.f), s);
  const auto bad = hn::Or(nanm, hn::Eq(hn::Abs(m), hn::Set(df, INFINITY)));
  for (int64_t k = 0; k < len; ++k) {
    const VF e = FastExp(df, hn::Sub(LoadPadded(df, x + k * ls, count, 0.f), m));
    StorePartial(df, hn::IfThenElse(bad, hn::Set(df, NAN), hn::Mul(e, inv)), out + k * ls, count);
  }
}

// Short last-dim rows (ShortRow()): one lane per row, so a vector handles N
// rows at once instead of padding a row's tail into a vector (measured per
// element, 1 thread: 1.2 ns here against 2.8-3.3 ns padded for 33-40 long rows;
// whole-vector rows of 48+ stay faster the row-wise way, 0.6 ns). A block of
// rows is widened into an L1 scratch, each group of N rows is gathered column by
// column (element j of N rows), reduced and scaled per lane, and scattered back;
// the block is then stored contiguously. Each lane runs the same operations on
// its own row, so a row's bits never depend on its group, block or thread.
constexpr int64_t kShortRow = 128;
constexpr int64_t kShortScratch = 4096;  // floats: 16 KB, stays in L1

HWY_INLINE bool ShortRow(int64_t len) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  return len < N || (len <= kShortRow && len % N != 0);
}

template <bool kStream, class TI, class TO>
void ShortRows(const TI* x, TO* y, const SoftmaxGeom& g) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df)), len = g.len;
  const int64_t rows_per_block = std::max<int64_t>(N, kShortScratch / len / N * N);
  HWY_ALIGN float buf[kShortScratch + kShortRow * kMaxLanesF32];
  HWY_ALIGN float e[kShortRow * kMaxLanesF32];
  const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(len)));
  const VF inf = hn::Set(df, INFINITY), nan = hn::Set(df, NAN);
  for (int64_t r0 = 0; r0 < g.outer; r0 += rows_per_block) {
    const int64_t rows = std::min(rows_per_block, g.outer - r0);
    const int64_t groups = (rows + N - 1) / N;
    // Widen the block; rows past the end of the last group are zeros (computed, not stored).
    if (g.outer_stride == len) {
      MapF32(x + r0 * len, buf, rows * len, Same{});
    } else {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < len; ++j) buf[r * len + j] = ToF(x[(r0 + r) * g.outer_stride + j]);
    }
    std::fill(buf + rows * len, buf + groups * N * len, 0.f);
    for (int64_t grp = 0; grp < groups; ++grp) {
      float* b = buf + grp * N * len;
      VF m = hn::Set(df, -INFINITY);
      auto nanm = hn::Ne(m, m);
      for (int64_t j = 0; j < len; ++j) {
        const VF v = hn::GatherIndex(df, b + j, idx);
        hn::Store(v, df, e + j * N);
        m = hn::Max(m, v);
        nanm = hn::Or(nanm, hn::IsNaN(v));
      }
      VF s = hn::Zero(df);
      for (int64_t j = 0; j < len; ++j) {
        const VF ej = FastExp(df, hn::Sub(hn::Load(df, e + j * N), m));
        hn::Store(ej, df, e + j * N);
        s = hn::Add(s, ej);
      }
      const VF inv = hn::Div(hn::Set(df, 1.f), s);
      const auto bad = hn::Or(nanm, hn::Eq(hn::Abs(m), inf));
      for (int64_t j = 0; j < len; ++j)
        hn::ScatterIndex(hn::IfThenElse(bad, nan, hn::Mul(hn::Load(df, e + j * N), inv)), df, b + j,
                         idx);
    }
    if (g.outer_stride == len) {
      MapF32<kStream>(buf, y + r0 * len, rows * len, Same{});
    } else {
      for (int64_t r = 0; r < rows; ++r)
        MapF32(buf + r * len, y + (r0 + r) * g.outer_stride, len, Same{});
    }
  }
}

template <class TI, class TO>
void Run(const void* in, void* out, const SoftmaxGeom& g) {
  const auto* x = static_cast<const TI*>(in);
  auto* y = static_cast<TO*>(out);
  if (g.inner == 1 && g.len_stride == 1 && ShortRow(g.len)) {
    if (g.stream) {
      ShortRows<true>(x, y, g);
      hwy::FlushStream();
    } else {
      ShortRows<false>(x, y, g);
    }
    return;
  }
  if (g.inner == 1 && g.len_stride == 1) {
    HWY_ALIGN float scratch[kSoftmaxBlock];
    for (int64_t o = 0; o < g.outer; ++o) {
      const TI* next = o + 1 < g.outer ? x + (o + 1) * g.outer_stride : nullptr;
      if (g.stream)
        LastDimRow<true>(x + o * g.outer_stride, y + o * g.outer_stride, g.len, scratch, next);
      else
        LastDimRow<false>(x + o * g.outer_stride, y + o * g.outer_stride, g.len, scratch, next);
    }
    if (g.stream) hwy::FlushStream();
    return;
  }
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t j = 0; j < g.inner; j += N)
      InnerLanes(x + o * g.outer_stride + j, y + o * g.outer_stride + j, g.len, g.len_stride,
                 std::min(N, g.inner - j));
}

}  // namespace

// combo: 0 f32->f32, 1 bf16->bf16, 2 bf16->f32.
void SoftmaxRun(int combo, const void* in, void* out, const SoftmaxGeom& g) {
  if (combo == 0) return Run<float, float>(in, out, g);
  if (combo == 1) return Run<uint16_t, uint16_t>(in, out, g);
  Run<uint16_t, float>(in, out, g);
}

// combo as SoftmaxRun: the output dtype picks the exp.
SoftmaxStats SoftmaxRowStats(int combo, const void* x, int64_t len, const SoftmaxStats& carry) {
  if (combo == 1) return RowStats<ExpBF16>(static_cast<const uint16_t*>(x), len, carry);
  if (combo == 2) return RowStats<ExpF32>(static_cast<const uint16_t*>(x), len, carry);
  return RowStats<ExpF32>(static_cast<const float*>(x), len, carry);
}

void SoftmaxRowApply(int combo, const void* x, void* out, int64_t len, const SoftmaxStats& st) {
  if (combo == 0) return RowApply(static_cast<const float*>(x), static_cast<float*>(out), len, st);
  if (combo == 1)
    return RowApply(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(out), len, st);
  RowApply(static_cast<const uint16_t*>(x), static_cast<float*>(out), len, st);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(SoftmaxRun);
HWY_EXPORT(SoftmaxRowStats);
HWY_EXPORT(SoftmaxRowApply);

namespace {
int combo_of(DType ti, DType to) {
  if (ti == DType::F32 && to == DType::F32) return 0;
  if (ti == DType::BF16 && to == DType::BF16) return 1;
  if (ti == DType::BF16 && to == DType::F32) return 2;
  throw std::logic_error("softmax kernel: unsupported dtype pair");
}
}  // namespace

void softmax_kernel(DType ti, const void* in, DType to, void* out, const SoftmaxGeom& g) {
  if (g.outer <= 0 || g.len <= 0 || g.inner <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxRun)(combo_of(ti, to), in, out, g);
}

SoftmaxStats softmax_row_stats(DType ti, DType to, const void* x, int64_t len,
                               const SoftmaxStats& carry) {
  return HWY_DYNAMIC_DISPATCH(SoftmaxRowStats)(combo_of(ti, to), x, len, carry);
}

void softmax_row_apply(DType ti, const void* x, DType to, void* out, int64_t len,
                       const SoftmaxStats& row) {
  if (len <= 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxRowApply)(combo_of(ti, to), x, out, len, row);
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
