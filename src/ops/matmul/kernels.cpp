#include "ops/matmul/kernels.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/layout.hpp"

namespace oomless::ops::matmul {

namespace {

// How BLAS can read a row-major rows x cols matrix with strides (rs, cs) in place.
struct BlasView {
  bool ok = false;
  bool trans = false;  // CblasTrans: memory holds the cols x rows transpose row-major
  int64_t ld = 0;
};

BlasView blas_view(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  BlasView v;
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= std::max<int64_t>(cols, 1))) {
    v.ok = true;
    v.ld = rows <= 1 ? std::max<int64_t>(cols, 1) : rs;
  } else if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= std::max<int64_t>(rows, 1))) {
    v.ok = true;
    v.trans = true;
    v.ld = cols <= 1 ? std::max<int64_t>(rows, 1) : cs;
  }
  if (v.ld > INT_MAX) v.ok = false;
  return v;
}

size_t elem_bytes(DType t) {
  return t == DType::BF16 ? 2 : 4;
}

const char* at(const MatRef& m, int64_t r, int64_t c) {
  return static_cast<const char*>(m.data) +
         (r * m.row_stride + c * m.col_stride) * static_cast<int64_t>(elem_bytes(m.dtype));
}

template <class T>
inline float load(const T* p) {
  if constexpr (std::is_same_v<T, float>)
    return *p;
  else
    return bf16_to_f32(*p);
}

// Widens n bf16 values with element stride `stride` to f32 (exact: the bits shifted
// into the upper half). The unit-stride loop vectorizes.
void widen(const uint16_t* src, int64_t n, int64_t stride, float* dst) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = static_cast<uint32_t>(src[i]) << 16;
      std::memcpy(dst + i, &u, sizeof(u));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i * stride]);
  }
}

// Widens `runs` runs of n bf16 values (run r at src + r * run_stride, elements
// `stride` apart) to dst, run after run. Runs are short (a K block or a column tile:
// 0.5-1 KB) and in different pages, so the hardware prefetcher does not follow from
// one to the next and each run would wait for DRAM; contiguous runs are therefore
// prefetched about kPrefetchBytes ahead.
constexpr int64_t kPrefetchBytes = 8192;
void widen_runs(const uint16_t* src, int64_t runs, int64_t n, int64_t run_stride, int64_t stride,
                float* dst) {
  int64_t run_bytes = n * static_cast<int64_t>(sizeof(uint16_t));
  int64_t ahead = stride == 1
                      ? std::clamp<int64_t>(kPrefetchBytes / std::max<int64_t>(run_bytes, 1), 1, 16)
                      : 0;
  auto prefetch = [&](int64_t r) {
    const char* p = reinterpret_cast<const char*>(src + r * run_stride);
    for (int64_t off = 0; off < run_bytes; off += 64) __builtin_prefetch(p + off);
  };
  for (int64_t r = 0; r < std::min(ahead, runs); ++r) prefetch(r);
  for (int64_t r = 0; r < runs; ++r) {
    if (ahead > 0 && r + ahead < runs) prefetch(r + ahead);
    widen(src + r * run_stride, n, stride, dst + r * n);
  }
}

// Widens/copies a rows x cols block into dst, reading memory in its contiguous
// direction: row-major (NoTrans) unless only the row stride is unit, then stored
// transposed (Trans). Returns the BLAS view of dst.
template <class T>
BlasView copy_block(const T* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* dst) {
  BlasView v;
  v.ok = true;
  if (!(rs == 1 && cs != 1 && rows > 1)) {
    v.ld = std::max<int64_t>(cols, 1);
    if constexpr (std::is_same_v<T, uint16_t>) {
      widen_runs(src, rows, cols, rs, cs, dst);
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        const T* s = src + i * rs;
        float* d = dst + i * cols;
        if (cs == 1)
          for (int64_t j = 0; j < cols; ++j) d[j] = load(s + j);
        else
          for (int64_t j = 0; j < cols; ++j) d[j] = load(s + j * cs);
      }
    }
  } else {
    v.trans = true;
    v.ld = rows;
    if constexpr (std::is_same_v<T, uint16_t>) {
      widen_runs(src, cols, rows, cs, 1, dst);
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const T* s = src + j * cs;
        float* d = dst + j * rows;
        for (int64_t i = 0; i < rows; ++i) d[i] = load(s + i);
      }
    }
  }
  return v;
}

// The rows x cols block of m at (r0, c0): in place when BLAS can read it (f32 with
// expressible strides), else copied into dst.
BlasView block_view(const MatRef& m, int64_t r0, int64_t c0, int64_t rows, int64_t cols, float* dst,
                    const float*& ptr) {
  const void* p = at(m, r0, c0);
  if (m.dtype == DType::F32) {
    BlasView v = blas_view(rows, cols, m.row_stride, m.col_stride);
    if (v.ok) {
      ptr = static_cast<const float*>(p);
      return v;
    }
  }
  ptr = dst;
  if (m.dtype == DType::BF16)
    return copy_block(static_cast<const uint16_t*>(p), rows, cols, m.row_stride, m.col_stride, dst);
  return copy_block(static_cast<const float*>(p), rows, cols, m.row_stride, m.col_stride, dst);
}

void check_dims(int64_t v, const char* what) {
  if (v > INT_MAX)
    throw Error(fmt::format("[matmul] {} = {} exceeds the BLAS int range; split it", what, v));
}

// OpenBLAS's own threading changes results with the thread count; we thread over
// fixed tiles instead (see kernels.hpp).
void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

float* thread_scratch() {
  thread_local std::vector<float> buf;
  if (buf.empty()) buf.resize(kScratchBytesPerThread / sizeof(float));
  return buf.data();
}

// The output tiles of row tiles [ti0, ti1) (rows clipped to [r0, r1)) x cols [j0, j1),
// K blocks of [k0, k1) in order. Each B block is widened (when it must be copied)
// once for all those row tiles; every tile still gets one sgemm per K block, the
// same call as with one row tile, so the grouping does not change results.
void gemm_tiles(const MatRef& a, const MatRef& b, int64_t r0, int64_t r1, int64_t ti0, int64_t ti1,
                int64_t j0, int64_t j1, int64_t k0, int64_t k1, float* c, int64_t ldc,
                bool accumulate) {
  float* a_buf = thread_scratch();
  float* b_buf = a_buf + kMBlock * kKBlock;
  int64_t cols = j1 - j0;
  for (int64_t kb0 = k0; kb0 < k1;) {
    int64_t kb1 = std::min(k1, (kb0 / kKBlock + 1) * kKBlock);
    int64_t kb = kb1 - kb0;
    const float* bp;
    BlasView bv = block_view(b, kb0, j0, kb, cols, b_buf, bp);
    float beta = (kb0 == k0 && !accumulate) ? 0.0f : 1.0f;
    for (int64_t ti = ti0; ti < ti1; ++ti) {
      int64_t i0 = std::max(r0, ti * kMBlock), i1 = std::min(r1, (ti + 1) * kMBlock);
      int64_t rows = i1 - i0;
      const float* ap;
      BlasView av = block_view(a, i0, kb0, rows, kb, a_buf, ap);
      cblas_sgemm(CblasRowMajor, av.trans ? CblasTrans : CblasNoTrans,
                  bv.trans ? CblasTrans : CblasNoTrans, static_cast<int>(rows),
                  static_cast<int>(cols), static_cast<int>(kb), 1.0f, ap, static_cast<int>(av.ld),
                  bp, static_cast<int>(bv.ld), beta, c + (i0 - r0) * ldc + j0,
                  static_cast<int>(ldc));
    }
    kb0 = kb1;
  }
}

}  // namespace

void gemm_rows(const MatRef& a, const MatRef& b, int64_t r0, int64_t r1, int64_t k0, int64_t k1,
               float* c, int64_t ldc, bool accumulate) {
  int64_t n = r1 - r0, m = b.cols;
  if (n <= 0 || m <= 0) return;
  if (k1 <= k0) {
    if (!accumulate)
      for (int64_t i = 0; i < n; ++i) std::memset(c + i * ldc, 0, sizeof(float) * m);
    return;
  }
  check_dims(ldc, "ldc");
  single_threaded_blas();
  // Row tiles aligned to multiples of kMBlock of the whole matrix; column tiles of kNBlock.
  int64_t first_row_tile = r0 / kMBlock, row_tiles = div_up(r1, kMBlock) - first_row_tile;
  int64_t col_tiles = div_up(m, kNBlock);
  // bf16 B is widened block by block; a work unit of `group` row tiles (aligned to the
  // whole matrix) widens each B block once instead of once per row tile. Units stay
  // small enough for about 4 per thread, so the dynamic schedule still balances.
  int64_t group = 1;
  if (b.dtype == DType::BF16) {
    int64_t threads = std::max(1, omp_get_max_threads());
    group = std::clamp<int64_t>(row_tiles * col_tiles / (4 * threads), 1, kRowGroup);
  }
  int64_t first_group = first_row_tile / group;
  int64_t row_units = div_up(first_row_tile + row_tiles, group) - first_group;
  int64_t units = row_units * col_tiles;
#pragma omp parallel for schedule(dynamic) if (units > 1)
  for (int64_t u = 0; u < units; ++u) {
    int64_t g = first_group + u / col_tiles, tj = u % col_tiles;
    int64_t ti0 = std::max(first_row_tile, g * group);
    int64_t ti1 = std::min(first_row_tile + row_tiles, (g + 1) * group);
    int64_t j0 = tj * kNBlock, j1 = std::min(m, j0 + kNBlock);
    gemm_tiles(a, b, r0, r1, ti0, ti1, j0, j1, k0, k1, c, ldc, accumulate);
  }
}

namespace {

template <class In, class Out, bool UseIn, bool UseAcc>
void epilogue_impl(const float* acc, int64_t cols, float alpha, const In* in, int64_t in_stride,
                   float beta, Out* out) {
  for (int64_t j = 0; j < cols; ++j) {
    float v;
    if constexpr (UseIn && UseAcc)
      v = beta * load(in + j * in_stride) + alpha * acc[j];
    else if constexpr (UseIn)
      v = beta * load(in + j * in_stride);
    else if constexpr (UseAcc)
      v = alpha * acc[j];
    else
      v = 0.0f;
    if constexpr (std::is_same_v<Out, float>)
      out[j] = v;
    else
      out[j] = f32_to_bf16(v);
  }
}

template <class Out>
void epilogue_out(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, Out* out) {
  bool use_in = in != nullptr && beta != 0.0f;
  bool use_acc = alpha != 0.0f;
  const float* inf = static_cast<const float*>(in);
  const uint16_t* inb = static_cast<const uint16_t*>(in);
  if (use_in && in_dtype == DType::BF16) {
    if (use_acc)
      epilogue_impl<uint16_t, Out, true, true>(acc, cols, alpha, inb, in_stride, beta, out);
    else
      epilogue_impl<uint16_t, Out, true, false>(acc, cols, alpha, inb, in_stride, beta, out);
  } else if (use_in) {
    if (use_acc)
      epilogue_impl<float, Out, true, true>(acc, cols, alpha, inf, in_stride, beta, out);
    else
      epilogue_impl<float, Out, true, false>(acc, cols, alpha, inf, in_stride, beta, out);
  } else if (use_acc) {
    epilogue_impl<float, Out, false, true>(acc, cols, alpha, inf, in_stride, beta, out);
  } else {
    epilogue_impl<float, Out, false, false>(acc, cols, alpha, inf, in_stride, beta, out);
  }
}

}  // namespace

void epilogue_row(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, void* out, DType out_dtype) {
  if (out_dtype == DType::BF16)
    epilogue_out(acc, cols, alpha, in, in_dtype, in_stride, beta, static_cast<uint16_t*>(out));
  else
    epilogue_out(acc, cols, alpha, in, in_dtype, in_stride, beta, static_cast<float*>(out));
}

}  // namespace oomless::ops::matmul
