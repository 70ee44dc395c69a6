// SIMD tiled transpose for the copy kernel's Transpose mode: 8x8 (16-bit) or
// 4x4 (32-bit) register transposes on 128-bit vectors, which every x86 target
// has; wider vectors would only add cross-block shuffles for a memory-bound job.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/movement/transpose_simd.cpp"
#include "ops/movement/transpose_simd.hpp"

#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
// One L x L micro-tile: load L src rows (fixed c), shuffle, store L dst rows.
HWY_INLINE void Micro(const uint16_t* s, int64_t sa, uint16_t* d, int64_t db) {
  const hn::FixedTag<uint16_t, 8> d16;
  const hn::Repartition<uint32_t, decltype(d16)> d32;
  const hn::Repartition<uint64_t, decltype(d16)> d64;
  auto r0 = hn::LoadU(d16, s), r1 = hn::LoadU(d16, s + sa), r2 = hn::LoadU(d16, s + 2 * sa),
       r3 = hn::LoadU(d16, s + 3 * sa), r4 = hn::LoadU(d16, s + 4 * sa),
       r5 = hn::LoadU(d16, s + 5 * sa), r6 = hn::LoadU(d16, s + 6 * sa),
       r7 = hn::LoadU(d16, s + 7 * sa);
  auto t0 = hn::BitCast(d32, hn::InterleaveLower(d16, r0, r1));
  auto t1 = hn::BitCast(d32, hn::InterleaveUpper(d16, r0, r1));
  auto t2 = hn::BitCast(d32, hn::InterleaveLower(d16, r2, r3));
  auto t3 = hn::BitCast(d32, hn::InterleaveUpper(d16, r2, r3));
  auto t4 = hn::BitCast(d32, hn::InterleaveLower(d16, r4, r5));
  auto t5 = hn::BitCast(d32, hn::InterleaveUpper(d16, r4, r5));
  auto t6 = hn::BitCast(d32, hn::InterleaveLower(d16, r6, r7));
  auto t7 = hn::BitCast(d32, hn::InterleaveUpper(d16, r6, r7));
  auto u0 = hn::BitCast(d64, hn::InterleaveLower(d32, t0, t2));
  auto u1 = hn::BitCast(d64, hn::InterleaveUpper(d32, t0, t2));
  auto u2 = hn::BitCast(d64, hn::InterleaveLower(d32, t1, t3));
  auto u3 = hn::BitCast(d64, hn::InterleaveUpper(d32, t1, t3));
  auto u4 = hn::BitCast(d64, hn::InterleaveLower(d32, t4, t6));
  auto u5 = hn::BitCast(d64, hn::InterleaveUpper(d32, t4, t6));
  auto u6 = hn::BitCast(d64, hn::InterleaveLower(d32, t5, t7));
  auto u7 = hn::BitCast(d64, hn::InterleaveUpper(d32, t5, t7));
  hn::StoreU(hn::BitCast(d16, hn::InterleaveLower(d64, u0, u4)), d16, d);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveUpper(d64, u0, u4)), d16, d + db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveLower(d64, u1, u5)), d16, d + 2 * db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveUpper(d64, u1, u5)), d16, d + 3 * db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveLower(d64, u2, u6)), d16, d + 4 * db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveUpper(d64, u2, u6)), d16, d + 5 * db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveLower(d64, u3, u7)), d16, d + 6 * db);
  hn::StoreU(hn::BitCast(d16, hn::InterleaveUpper(d64, u3, u7)), d16, d + 7 * db);
}

HWY_INLINE void Micro(const uint32_t* s, int64_t sa, uint32_t* d, int64_t db) {
  const hn::FixedTag<uint32_t, 4> d32;
  const hn::Repartition<uint64_t, decltype(d32)> d64;
  auto r0 = hn::LoadU(d32, s), r1 = hn::LoadU(d32, s + sa), r2 = hn::LoadU(d32, s + 2 * sa),
       r3 = hn::LoadU(d32, s + 3 * sa);
  auto t0 = hn::BitCast(d64, hn::InterleaveLower(d32, r0, r1));
  auto t1 = hn::BitCast(d64, hn::InterleaveUpper(d32, r0, r1));
  auto t2 = hn::BitCast(d64, hn::InterleaveLower(d32, r2, r3));
  auto t3 = hn::BitCast(d64, hn::InterleaveUpper(d32, r2, r3));
  hn::StoreU(hn::BitCast(d32, hn::InterleaveLower(d64, t0, t2)), d32, d);
  hn::StoreU(hn::BitCast(d32, hn::InterleaveUpper(d64, t0, t2)), d32, d + db);
  hn::StoreU(hn::BitCast(d32, hn::InterleaveLower(d64, t1, t3)), d32, d + 2 * db);
  hn::StoreU(hn::BitCast(d32, hn::InterleaveUpper(d64, t1, t3)), d32, d + 3 * db);
}
#endif

// Rows [r0, r1) x all C columns in 16 KiB tiles. A tile is transposed into a
// local buffer, then written out one contiguous dst row piece at a time: dst
// rows a power-of-two apart (NHWC -> NCHW: H*W) map to one cache set, and
// scattering 16-byte pieces over them would evict each line before it fills.
template <class T>
void Rows(const T* src, T* dst, int64_t C, int64_t sa, int64_t db, int64_t r0, int64_t r1) {
  constexpr int64_t kBuf = 16384 / sizeof(T);
  HWY_ALIGN T buf[kBuf];
  const int64_t tc = std::min<int64_t>(C, 64);
  const int64_t tr = kBuf / tc;  // no dim is 1 after coalescing, so tc >= 2
  for (int64_t rb = r0; rb < r1; rb += tr) {
    const int64_t re = std::min(r1, rb + tr);
    for (int64_t cb = 0; cb < C; cb += tc) {
      const int64_t ce = std::min(C, cb + tc);
      int64_t cv = cb, rv = rb;
#if HWY_TARGET != HWY_SCALAR
      constexpr int64_t L = 16 / sizeof(T);
      cv = cb + (ce - cb) / L * L;
      rv = rb + (re - rb) / L * L;
      for (int64_t c = cb; c < cv; c += L)
        for (int64_t r = rb; r < rv; r += L)
          Micro(src + r + c * sa, sa, buf + (r - rb) * tc + (c - cb), tc);
#endif
      for (int64_t r = rb; r < re; ++r)  // the tails the micro-tiles left
        for (int64_t c = (r < rv ? cv : cb); c < ce; ++c)
          buf[(r - rb) * tc + (c - cb)] = src[r + c * sa];
      if (cb == 0 && ce == C && db == C) {  // whole dst rows, adjacent: one block
        std::memcpy(dst + rb * db, buf, static_cast<size_t>((re - rb) * C) * sizeof(T));
        continue;
      }
      for (int64_t r = rb; r < re; ++r)
        std::memcpy(dst + r * db + cb, buf + (r - rb) * tc,
                    static_cast<size_t>(ce - cb) * sizeof(T));
    }
  }
}

void TransposeRows16(const uint16_t* src, uint16_t* dst, int64_t C, int64_t sa, int64_t db,
                     int64_t r0, int64_t r1) {
  Rows(src, dst, C, sa, db, r0, r1);
}
void TransposeRows32(const uint32_t* src, uint32_t* dst, int64_t C, int64_t sa, int64_t db,
                     int64_t r0, int64_t r1) {
  Rows(src, dst, C, sa, db, r0, r1);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {
HWY_EXPORT(TransposeRows16);
HWY_EXPORT(TransposeRows32);

void transpose_rows_simd(const uint16_t* src, uint16_t* dst, int64_t C, int64_t sa, int64_t db,
                         int64_t r0, int64_t r1) {
  HWY_DYNAMIC_DISPATCH(TransposeRows16)(src, dst, C, sa, db, r0, r1);
}
void transpose_rows_simd(const uint32_t* src, uint32_t* dst, int64_t C, int64_t sa, int64_t db,
                         int64_t r0, int64_t r1) {
  HWY_DYNAMIC_DISPATCH(TransposeRows32)(src, dst, C, sa, db, r0, r1);
}
}  // namespace oomless::ops
#endif
