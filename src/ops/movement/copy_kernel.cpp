// Strided copy kernels (see kernels.hpp). Contig runs are memcpy; Transpose
// copies cache-sized tiles so both streams stay sequential at the DRAM level.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "ops/movement/kernels.hpp"
#include "ops/movement/transpose_simd.hpp"

namespace oomless::ops {

CopyPlan plan_copy(const Shape& shape, const Strides& src, const Strides& dst, size_t elem_size,
                   std::string_view op) {
  CopyPlan p;
  p.elem_size = elem_size;
  p.numel = numel(shape);
  struct Dim {
    int64_t n, s, d;
  };
  std::vector<Dim> dims;
  if (p.numel > 0) {
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 1) continue;
      Dim cur{shape[i], src[i], dst[i]};
      // Merge into the previous (outer) dim when both sides step over it evenly.
      if (!dims.empty() && dims.back().s == cur.s * cur.n && dims.back().d == cur.d * cur.n)
        dims.back() = {dims.back().n * cur.n, cur.s, cur.d};
      else
        dims.push_back(cur);
    }
  }
  if (dims.empty()) dims.push_back({p.numel, 1, 1});  // a scalar, or nothing to copy
  if (dims.size() > static_cast<size_t>(kMaxCopyRank))
    fail(op, fmt::format("copy of a tensor with {} non-mergeable dims (shape {}); at most {} "
                         "are supported",
                         dims.size(), shape_str(shape), kMaxCopyRank));
  const Dim inner = dims.back();
  if (inner.s == 1 && inner.d == 1) {
    p.mode = CopyPlan::Mode::Contig;
  } else if (inner.d == 1 && dims.size() >= 2) {
    p.mode = CopyPlan::Mode::Strided;
    for (size_t i = 0; i + 1 < dims.size(); ++i) {
      if (dims[i].s != 1) continue;
      // Move the src-contiguous dim next to the innermost one: a 2-D transpose.
      Dim b = dims[i];
      dims.erase(dims.begin() + static_cast<int64_t>(i));
      dims.insert(dims.end() - 1, b);
      p.mode = CopyPlan::Mode::Transpose;
      break;
    }
  } else {
    p.mode = CopyPlan::Mode::Strided;
  }
  p.rank = static_cast<int>(dims.size());
  for (int i = 0; i < p.rank; ++i) {
    p.shape[i] = dims[i].n;
    p.src_stride[i] = dims[i].s;
    p.dst_stride[i] = dims[i].d;
  }
  return p;
}

namespace {

// Walks [i0, i1) block by block, where a block is the innermost `inner_dims`
// dims; calls block(src_off, dst_off, l0, l1) with element offsets of the block
// origin and the local range inside it.
template <class F>
void walk(const CopyPlan& p, int inner_dims, int64_t i0, int64_t i1, F&& block) {
  if (i0 >= i1) return;
  const int outer = p.rank - inner_dims;
  int64_t bsize = 1;
  for (int d = outer; d < p.rank; ++d) bsize *= p.shape[d];
  std::array<int64_t, kMaxCopyRank> idx{};
  int64_t b = i0 / bsize, l0 = i0 % bsize, so = 0, dof = 0;
  for (int d = outer - 1; d >= 0; --d) {
    idx[d] = b % p.shape[d];
    b /= p.shape[d];
    so += idx[d] * p.src_stride[d];
    dof += idx[d] * p.dst_stride[d];
  }
  for (int64_t i = i0; i < i1;) {
    int64_t l1 = std::min(bsize, l0 + (i1 - i));
    block(so, dof, l0, l1);
    i += l1 - l0;
    l0 = 0;
    for (int d = outer - 1; d >= 0; --d) {
      so += p.src_stride[d];
      dof += p.dst_stride[d];
      if (++idx[d] < p.shape[d]) break;
      so -= p.src_stride[d] * p.shape[d];
      dof -= p.dst_stride[d] * p.shape[d];
      idx[d] = 0;
    }
  }
}

// Rows [r0, r1) of an R x C block: element (r, c) is src[r + c*sa], dst[r*db + c].
// Tiles of ~2K elements keep the strided side inside L1.
template <class T>
void transpose_rows(const T* src, T* dst, int64_t C, int64_t sa, int64_t db, int64_t r0,
                    int64_t r1) {
  if constexpr (sizeof(T) == 2 || sizeof(T) == 4) {
    return transpose_rows_simd(src, dst, C, sa, db, r0, r1);
  }
  const int64_t tc = std::min<int64_t>(C, 32);
  const int64_t tr = std::max<int64_t>(32, 2048 / tc);
  for (int64_t rb = r0; rb < r1; rb += tr) {
    const int64_t re = std::min(r1, rb + tr);
    for (int64_t cb = 0; cb < C; cb += tc) {
      const int64_t ce = std::min(C, cb + tc);
      for (int64_t r = rb; r < re; ++r) {
        const T* s = src + r;
        T* d = dst + r * db;
        for (int64_t c = cb; c < ce; ++c) d[c] = s[c * sa];
      }
    }
  }
}

template <class T>
void copy_range_t(const CopyPlan& p, const T* src, T* dst, int64_t i0, int64_t i1) {
  const int last = p.rank - 1;
  if (p.mode == CopyPlan::Mode::Contig) {
    walk(p, 1, i0, i1, [&](int64_t so, int64_t dof, int64_t l0, int64_t l1) {
      std::memcpy(dst + dof + l0, src + so + l0, static_cast<size_t>(l1 - l0) * sizeof(T));
    });
  } else if (p.mode == CopyPlan::Mode::Strided) {
    const int64_t ss = p.src_stride[last], ds = p.dst_stride[last];
    walk(p, 1, i0, i1, [&](int64_t so, int64_t dof, int64_t l0, int64_t l1) {
      const T* s = src + so;
      T* d = dst + dof;
      for (int64_t j = l0; j < l1; ++j) d[j * ds] = s[j * ss];
    });
  } else {
    const int64_t C = p.shape[last], sa = p.src_stride[last], db = p.dst_stride[last - 1];
    walk(p, 2, i0, i1, [&](int64_t so, int64_t dof, int64_t l0, int64_t l1) {
      const T* s = src + so;
      T* d = dst + dof;
      auto elems = [&](int64_t a, int64_t e) {  // partial row: plain loop
        for (int64_t j = a; j < e; ++j) d[(j / C) * db + j % C] = s[j / C + (j % C) * sa];
      };
      int64_t ra = (l0 + C - 1) / C, rb = l1 / C;
      if (ra > rb) return elems(l0, l1);
      elems(l0, ra * C);
      transpose_rows(s, d, C, sa, db, ra, rb);
      elems(rb * C, l1);
    });
  }
}

struct F32 {
  using T = float;
  static float load(float v) { return v; }
  static float store(float v) { return v; }
};
struct BF16 {
  using T = uint16_t;
  static float load(uint16_t v) { return bf16_to_f32(v); }
  static uint16_t store(float v) { return f32_to_bf16(v); }
};

template <class S, class D>
void convert_range_t(const CopyPlan& p, const typename S::T* src, typename D::T* dst, int64_t i0,
                     int64_t i1) {
  // Element loop over the innermost dim (the Transpose order is still valid).
  const int last = p.rank - 1;
  const int64_t ss = p.src_stride[last], ds = p.dst_stride[last];
  walk(p, 1, i0, i1, [&](int64_t so, int64_t dof, int64_t l0, int64_t l1) {
    for (int64_t j = l0; j < l1; ++j) dst[dof + j * ds] = D::store(S::load(src[so + j * ss]));
  });
}

// Work split: enough pieces to balance, each big enough to amortize the walk.
template <class F>
void parallel_pieces(int64_t n, size_t elem_size, F&& piece) {
  const int64_t bytes = n * static_cast<int64_t>(elem_size);
  const int threads = omp_get_max_threads();
  if (bytes < (int64_t{1} << 18) || threads <= 1 || omp_in_parallel()) return piece(0, n);
  const int64_t pieces = std::min<int64_t>(threads * 8, bytes >> 16);
  const int64_t step = (n + pieces - 1) / pieces;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < pieces; ++k) piece(k * step, std::min(n, (k + 1) * step));
}

}  // namespace

void copy_range(const CopyPlan& plan, const void* src, void* dst, int64_t i0, int64_t i1) {
  switch (plan.elem_size) {
    case 1:
      return copy_range_t(plan, static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), i0,
                          i1);
    case 2:
      return copy_range_t(plan, static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), i0,
                          i1);
    case 4:
      return copy_range_t(plan, static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), i0,
                          i1);
    case 8:
      return copy_range_t(plan, static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), i0,
                          i1);
  }
  throw Error(fmt::format("copy: unsupported element size {}", plan.elem_size));
}

void convert_range(const CopyPlan& plan, const void* src, DType src_dtype, void* dst,
                   DType dst_dtype, int64_t i0, int64_t i1) {
  auto s32 = static_cast<const float*>(src);
  auto s16 = static_cast<const uint16_t*>(src);
  auto d32 = static_cast<float*>(dst);
  auto d16 = static_cast<uint16_t*>(dst);
  bool sf = src_dtype == DType::F32, sb = src_dtype == DType::BF16;
  bool df = dst_dtype == DType::F32, db = dst_dtype == DType::BF16;
  if (sf && df) return convert_range_t<F32, F32>(plan, s32, d32, i0, i1);
  if (sf && db) return convert_range_t<F32, BF16>(plan, s32, d16, i0, i1);
  if (sb && df) return convert_range_t<BF16, F32>(plan, s16, d32, i0, i1);
  if (sb && db) return convert_range_t<BF16, BF16>(plan, s16, d16, i0, i1);
  throw Error(fmt::format("convert: {} -> {} is not supported", dtype_name(src_dtype),
                          dtype_name(dst_dtype)));
}

void copy_parallel(const CopyPlan& plan, const void* src, void* dst) {
  parallel_pieces(plan.numel, plan.elem_size,
                  [&](int64_t a, int64_t b) { copy_range(plan, src, dst, a, b); });
}

void convert_parallel(const CopyPlan& plan, const void* src, DType src_dtype, void* dst,
                      DType dst_dtype) {
  parallel_pieces(plan.numel, 4, [&](int64_t a, int64_t b) {
    convert_range(plan, src, src_dtype, dst, dst_dtype, a, b);
  });
}

}  // namespace oomless::ops
