// topk rows: gather a row as (value, index) pairs, then select with torch's
// comparators: an insertion buffer for k <= 16, partial_sort while k is
// small next to n, nth_element (+ sort) otherwise.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/topk/kernels.hpp"

namespace oomless::ops {

namespace {

using Item = std::pair<float, int32_t>;

template <class T>
float load(const T* p) {
  if constexpr (sizeof(T) == 2)
    return bf16_to_f32(*p);
  else
    return *p;
}

template <class T>
void store(float v, T* p) {
  if constexpr (sizeof(T) == 2)
    *p = f32_to_bf16(v);  // exact: v is a bf16 input value
  else
    *p = v;
}

// Small k: one pass keeping the best k in a sorted buffer; most elements cost
// one compare against the current k-th. Strictly-better inserts keep the first
// of equal values, and the result is always sorted.
template <class T, class Cmp>
void rows_small_k(const TopKGeom& g, const T* in, T* vals, int32_t* idx, int64_t r0, int64_t r1,
                  Cmp cmp) {
  std::vector<Item> best(static_cast<size_t>(g.k) + 1);
  const int64_t n = g.n, k = g.k, inner = g.inner;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r / inner, i = r % inner;
    const T* src = in + o * n * inner + i;
    int64_t have = 0;
    for (int64_t j = 0; j < n; ++j) {
      const Item x{load(src + j * inner), static_cast<int32_t>(j)};
      if (have == k && !cmp(x, best[k - 1])) continue;
      int64_t at = have < k ? have++ : k - 1;
      while (at > 0 && cmp(x, best[at - 1])) {
        best[at] = best[at - 1];
        --at;
      }
      best[at] = x;
    }
    T* vo = vals + o * k * inner + i;
    int32_t* io = idx + o * k * inner + i;
    for (int64_t j = 0; j < k; ++j) {
      store(best[j].first, vo + j * inner);
      io[j * inner] = best[j].second;
    }
  }
}

template <class T, class Cmp>
void rows(const TopKGeom& g, const T* in, T* vals, int32_t* idx, int64_t r0, int64_t r1, Cmp cmp) {
  std::vector<Item> row(static_cast<size_t>(g.n));
  const int64_t n = g.n, k = g.k, inner = g.inner;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r / inner, i = r % inner;
    const T* src = in + o * n * inner + i;
    for (int64_t j = 0; j < n; ++j) row[j] = {load(src + j * inner), static_cast<int32_t>(j)};
    if (k * 64 <= n) {
      std::partial_sort(row.begin(), row.begin() + k, row.end(), cmp);
    } else {
      if (k < n) std::nth_element(row.begin(), row.begin() + (k - 1), row.end(), cmp);
      if (g.sorted) std::sort(row.begin(), row.begin() + k, cmp);
    }
    T* vo = vals + o * k * inner + i;
    int32_t* io = idx + o * k * inner + i;
    for (int64_t j = 0; j < k; ++j) {
      store(row[j].first, vo + j * inner);
      io[j * inner] = row[j].second;
    }
  }
}

template <class T>
void dispatch(const TopKGeom& g, const T* in, T* vals, int32_t* idx, int64_t r0, int64_t r1) {
  if (g.k == 0 || r0 >= r1) return;
  auto go = [&](auto cmp) {
    if (g.k <= 16)
      rows_small_k(g, in, vals, idx, r0, r1, cmp);
    else
      rows(g, in, vals, idx, r0, r1, cmp);
  };
  if (g.largest)
    go([](const Item& a, const Item& b) {
      return (std::isnan(a.first) && !std::isnan(b.first)) || a.first > b.first;
    });
  else
    go([](const Item& a, const Item& b) {
      return (!std::isnan(a.first) && std::isnan(b.first)) || a.first < b.first;
    });
}

}  // namespace

void topk_rows(const TopKGeom& g, DType t, const void* in, void* values, int32_t* indices,
               int64_t r0, int64_t r1) {
  if (t == DType::F32)
    dispatch(g, static_cast<const float*>(in), static_cast<float*>(values), indices, r0, r1);
  else
    dispatch(g, static_cast<const uint16_t*>(in), static_cast<uint16_t*>(values), indices, r0, r1);
}

}  // namespace oomless::ops
