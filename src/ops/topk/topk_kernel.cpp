// topk rows, compiled per SIMD target and picked at run time. Each element of
// a row becomes one unsigned key whose integer order is the topk order: the
// value's bits mapped to an order-preserving integer (NaN canonicalized above
// +inf, -0.0 onto +0.0) in the high half, and an index part that puts lower
// indices first among equal values (j ascending, ~j descending) in the low
// half. f32 rows use u64 keys (32 + 32 bits), bf16 rows of at most 65536 u32
// keys (16 + 16), twice as many per vector. Selection is then integer work:
//   * rows of at most kInsertionN, or k <= kSmallK in rows longer than the
//     sorting network: one pass keeping the best k in a sorted insertion buffer;
//   * otherwise the keys are sorted: Highway's sorting network for rows up to
//     its base case (AVX-512: 128 u64 or 256 u32 keys), vqsort beyond, and the
//     first k are the answer.
// The winners' indices come from the keys' low bits and their values are read
// back from the input, so a value is the exact input element (-0.0, NaN bits).
// Rows off the last dim (inner > 1) are first gathered into a contiguous row.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ops/topk/kernels.hpp"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/topk/topk_kernel.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/aligned_allocator.h"
#include "hwy/contrib/sort/traits-inl.h"
#include "hwy/contrib/sort/vqsort-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
namespace hd = hwy::HWY_NAMESPACE::detail;

// Selection by insertion buffer: rows of at most kInsertionN, or k at most
// kSmallK in rows longer than the sorting network. Keys are made kChunk at a time.
constexpr int64_t kInsertionN = 8;
constexpr int64_t kSmallK = 16;
constexpr int64_t kChunk = 256;
// 64-bit keys: rows from this long are sorted by libhwy_contrib (see sort_keys).
constexpr size_t kLibrarySortFrom = 512;

template <class K, bool kDesc>
using SortTraits = hd::SharedTraits<
    hd::TraitsLane<std::conditional_t<kDesc, hd::OrderDescending<K>, hd::OrderAscending<K>>>>;

// Order-preserving map of f32 bits onto u32: NaN (any sign or payload) above
// +inf, -0.0 equal to +0.0.
HWY_INLINE uint32_t ord32(uint32_t u) {
  const uint32_t a = u & 0x7fffffffu;
  u = a > 0x7f800000u ? 0x7fc00000u : (a == 0 ? 0u : u);
  return u ^ (static_cast<uint32_t>(static_cast<int32_t>(u) >> 31) | 0x80000000u);
}

// The same for bf16 bits onto u16 (held in a u32).
HWY_INLINE uint32_t ord16(uint32_t b) {
  const uint32_t a = b & 0x7fffu;
  b = a > 0x7f80u ? 0x7fc0u : (a == 0 ? 0u : b);
  return b ^ ((b & 0x8000u) ? 0xffffu : 0x8000u);
}

// Keys of one contiguous row: value order in the high bits, then an index part
// that ranks lower indices first (j ascending, ~j descending).
// Elements [j0, j0 + m) of the row `src` go to keys[0, m).
template <bool kDesc>
void make_keys(const float* src, int64_t j0, int64_t m, uint64_t* keys) {
  const uint32_t flip = kDesc ? 0xffffffffu : 0u;
  for (int64_t j = 0; j < m; ++j) {
    uint32_t u;
    std::memcpy(&u, src + j0 + j, 4);
    keys[j] = (static_cast<uint64_t>(ord32(u)) << 32) | (static_cast<uint32_t>(j0 + j) ^ flip);
  }
}

template <bool kDesc>
void make_keys(const uint16_t* src, int64_t j0, int64_t m, uint64_t* keys) {
  const uint32_t flip = kDesc ? 0xffffffffu : 0u;
  for (int64_t j = 0; j < m; ++j)
    keys[j] = (static_cast<uint64_t>(ord32(static_cast<uint32_t>(src[j0 + j]) << 16)) << 32) |
              (static_cast<uint32_t>(j0 + j) ^ flip);
}

// bf16 rows of at most 65536: 16-bit value order, 16-bit index part.
template <bool kDesc>
void make_keys(const uint16_t* src, int64_t j0, int64_t m, uint32_t* keys) {
  const uint32_t flip = kDesc ? 0xffffu : 0u;
  for (int64_t j = 0; j < m; ++j)
    keys[j] = (ord16(src[j0 + j]) << 16) | (static_cast<uint32_t>(j0 + j) ^ flip);
}

template <class K, bool kDesc>
HWY_INLINE uint32_t index_of(K key) {
  if constexpr (sizeof(K) == 8)
    return static_cast<uint32_t>(key) ^ (kDesc ? 0xffffffffu : 0u);
  else
    return (key & 0xffffu) ^ (kDesc ? 0xffffu : 0u);
}

// Scratch of sort_keys: the base case's padded copy and vqsort's partition
// and pivot buffers.
template <class K>
constexpr size_t kSortBuf = hwy::SortConstants::BufNum<K>(HWY_LANES(K));

// Sorts keys[0, n) in topk order (descending or ascending keys). Rows up to
// the base case get the sorting network alone. Longer ones get vqsort: inlined
// for 32-bit keys and short 64-bit rows, without hwy::Sort's per-call cost (a
// getrandom syscall to seed the pivot generator, a zeroed stack buffer; keys
// are unique, so any pivot sequence gives the same result). GCC 12 compiles
// the inlined 64-bit partition poorly (2-3x slower than the prebuilt
// libhwy_contrib), so long 64-bit rows go to the library's Sorter.
template <class K, bool kDesc>
void sort_keys(K* keys, size_t n, K* buf, const hwy::Sorter& sorter) {
  const hn::SortTag<K> d;
  const SortTraits<K, kDesc> st;
#if VQSORT_ENABLED
  if (n <= hwy::SortConstants::BaseCaseNum(hn::Lanes(d))) {
    // keys_end = keys + n: the network pads a copy in `buf`.
    hd::BaseCase(d, st, keys, keys + n, n, buf);
    return;
  }
  if (sizeof(K) == 4 || n < kLibrarySortFrom) {
    hd::Generator rng(uint64_t{0x9e3779b97f4a7c15ull} ^ n);
    hd::Recurse(d, st, keys, keys + n, n, buf, rng, 2 * hwy::CeilLog2(n) + 4);
    return;
  }
#endif
  (void)d;
  (void)st;
  (void)buf;
  if constexpr (kDesc)
    sorter(keys, n, hwy::SortDescending());
  else
    sorter(keys, n, hwy::SortAscending());
}

template <class T, class K, bool kDesc>
void rows(const TopKGeom& g, const T* in, T* vals, int32_t* idx, int64_t r0, int64_t r1) {
  const int64_t n = g.n, k = g.k, inner = g.inner;
  const auto better = [](K a, K b) { return kDesc ? a > b : a < b; };
  const int64_t base =
      static_cast<int64_t>(hwy::SortConstants::BaseCaseNum(hn::Lanes(hn::SortTag<K>())));
  // Measured: the insertion buffer beats sorting rows of a few elements, and
  // rows longer than the base case when k is small; the network wins otherwise.
  const bool insertion = n <= kInsertionN || (k <= kSmallK && n > base);
  auto keys = hwy::AllocateAligned<K>(static_cast<size_t>(insertion ? k : n));
  std::vector<T> row(inner == 1 ? 0 : static_cast<size_t>(n));
  HWY_ALIGN K buf[kSortBuf<K>];
  hwy::Sorter sorter;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r / inner, i = r % inner;
    const T* src = in + o * n * inner + i;
    if (inner != 1) {
      for (int64_t j = 0; j < n; ++j) row[j] = src[j * inner];
      src = row.data();
    }
    K* kp = keys.get();
    if (insertion) {
      // Best k so far, sorted, in kp[0, have): most elements cost one compare.
      int64_t have = 0;
      for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
        const int64_t m = std::min(kChunk, n - j0);
        K chunk[kChunk];
        make_keys<kDesc>(src, j0, m, chunk);
        for (int64_t j = 0; j < m; ++j) {
          const K key = chunk[j];  // index bits make keys unique: `better` is strict
          if (have == k && !better(key, kp[k - 1])) continue;
          int64_t at = have < k ? have++ : k - 1;
          while (at > 0 && better(key, kp[at - 1])) {
            kp[at] = kp[at - 1];
            --at;
          }
          kp[at] = key;
        }
      }
    } else {
      make_keys<kDesc>(src, 0, n, kp);
      // k == n unsorted: the row in input order is a valid answer.
      if (g.sorted || k < n) sort_keys<K, kDesc>(kp, static_cast<size_t>(n), buf, sorter);
    }
    T* vo = vals + o * k * inner + i;
    int32_t* io = idx + o * k * inner + i;
    if (inner == 1) {
      for (int64_t j = 0; j < k; ++j) {
        const uint32_t ix = index_of<K, kDesc>(kp[j]);
        vo[j] = src[ix];
        io[j] = static_cast<int32_t>(ix);
      }
    } else {
      for (int64_t j = 0; j < k; ++j) {
        const uint32_t ix = index_of<K, kDesc>(kp[j]);
        vo[j * inner] = src[ix];
        io[j * inner] = static_cast<int32_t>(ix);
      }
    }
  }
}

template <class T, class K>
void go(const TopKGeom& g, const T* in, T* vals, int32_t* idx, int64_t r0, int64_t r1) {
  if (g.largest)
    rows<T, K, true>(g, in, vals, idx, r0, r1);
  else
    rows<T, K, false>(g, in, vals, idx, r0, r1);
}

}  // namespace

void TopKRows(const TopKGeom& g, int is_bf16, const void* in, void* values, int32_t* indices,
              int64_t r0, int64_t r1) {
  if (!is_bf16)
    go<float, uint64_t>(g, static_cast<const float*>(in), static_cast<float*>(values), indices, r0,
                        r1);
  else if (g.n <= 65536)
    go<uint16_t, uint32_t>(g, static_cast<const uint16_t*>(in), static_cast<uint16_t*>(values),
                           indices, r0, r1);
  else
    go<uint16_t, uint64_t>(g, static_cast<const uint16_t*>(in), static_cast<uint16_t*>(values),
                           indices, r0, r1);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(TopKRows);

void topk_rows(const TopKGeom& g, DType t, const void* in, void* values, int32_t* indices,
               int64_t r0, int64_t r1) {
  if (g.k == 0 || r0 >= r1) return;
  HWY_DYNAMIC_DISPATCH(TopKRows)(g, t == DType::BF16 ? 1 : 0, in, values, indices, r0, r1);
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
