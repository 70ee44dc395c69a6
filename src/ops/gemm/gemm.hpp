// GEMM: C[m, n] = A[m, k] @ B[k, n] on packed panels, f32 or bf16 operands, f32
// accumulation, one epilogue per element (bias, rounding, strided store).
//
// Design (Goto/BLIS structure; measurements in BENCHMARKS.md):
//   * Micro-kernel: a 14 x 32 register tile (28 zmm accumulators, 2 for B), one
//     broadcast A unit per row and two B vectors per step. f32: vfmadd231ps, a step
//     is one k. bf16: vdpbf16ps, a step is a k pair; the operands are bf16 pairs
//     (k, k+1) and each lane accumulates in f32. 28 independent chains cover the
//     latency (FMA 4 cycles, vdpbf16ps about 6) at 2 instructions per cycle.
//   * Packing: B in panels of 32 columns, step-major 32-bit units (an f32 or a bf16
//     pair), zero beyond the edges (ukernel.hpp). A row-major A (and the callback's
//     rows) is read in place: its units are already contiguous along k, so the
//     kernel broadcasts them from 14 row pointers; other A layouts are packed into
//     14-row panels. Strided operands are packed with 16 x 16 in-register transposes
//     or interleaving copies that walk k outer with rows prefetched.
//   * Blocking (Zen 5 core: 48 KB L1d, 1 MB L2): K in blocks of up to kKCSteps steps
//     (a 32 KB B micro-panel stays in L1 while the 14-row A panels stream from L2),
//     the output in tasks of up to kMC x kNC, each packing its own A and B blocks.
//     OpenMP threads take tasks dynamically; batched problems share one region.
//   * Dispatch at run time (isa.cpp): AVX-512 F/BW/VL/DQ for f32 and packing,
//     AVX512_BF16 for bf16; otherwise portable kernels with identical arithmetic.
//   * Orientation: a problem whose M is much smaller than its N (e.g. [32,8160] @
//     [8160,8160]) is computed as C^T = B^T A^T, so the large operand fills the
//     14-row panels; the epilogue then stores transposed.
//
// Determinism contract. Every output element is one chain of operations over k in
// increasing order, starting from +0 (or from the f32 output when accumulating):
//   f32:  c = fma(a_k, b_k, c)                                  for k = 0, 1, ...
//   bf16: c = ftz(fma(a_{2p+1}, b_{2p+1}, daz(c)));
//         c = ftz(fma(a_{2p}, b_{2p}, c))                        for p = 0, 1, ...
//         (vdpbf16ps's order; inputs denormal in bf16 read as 0, a missing odd
//         element of the last pair is 0)
// then the epilogue (bias added in f32, one rounding to the output dtype). Between
// K blocks the chain's value is stored in f32 and reloaded, which is exact, so the
// result depends on neither the blocking, the tile an element falls in (edge tiles
// run the same code on zero-padded panels), the thread count, the orientation nor
// the ISA path. Alignment a caller must respect to get identical bits:
//   rows: any split (kRowAlign = 1); columns: any split (kColAlign = 1);
//   K: f32 any split, bf16 splits at even offsets (kKAlign = 2), continued with
//   Epilogue::accumulate into the f32 output.
// vdpbf16ps flushes denormals (inputs and each partial sum): products below 2^-126
// are lost. f32 results keep denormals.
//
// Accuracy (u = 2^-24): the chain is a recursive sum of exact products (bf16
// products are exact in f32; f32 ones are rounded only with the sum, by the FMA), so
// |c - exact| <= K * u * sum_k |a_k b_k| (plus, in bf16, flushed contributions below
// 2^-126 each). bf16 outputs add half a bf16 ulp for the final rounding.
//
// Conv as an implicit GEMM: A comes from Gemm::a_rows, a callback that writes a
// row-major block of the virtual im2col matrix (rows [m0, m0+rows) x K range
// [k0, k0+kc), zero padding included), at most kMR rows and kKCSteps steps at a time;
// B (weights, K x Cout) is packed once into a PackedB and shared by all calls;
// Epilogue adds a per-column (or per-row) bias, rounds to the output dtype and stores
// element (i, j) at out + i * rs + j * cs: NHWC output with M = N*OH*OW rows is
// rs = Cout, cs = 1; NCHW is rs = 1, cs = OH*OW (per image).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/dtype.hpp"

namespace oomless::ops::gemm {

constexpr int64_t kRowAlign = 1;
constexpr int64_t kColAlign = 1;
constexpr int64_t kKAlignBf16 = 2;

// A strided 2-D view (strides in elements) of f32 or bf16 values.
struct MatView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;
};

// Writes A[m0 + r, k0 + t] for r < rows, t < kc into block[r * ld + t], in the
// problem's dtype. Called from several threads at once.
using ARowsFn =
    std::function<void(int64_t m0, int64_t rows, int64_t k0, int64_t kc, void* block, int64_t ld)>;

// Receives f32 results of the whole K reduction for output rows [i0, i0+rows) x
// columns [j0, j0+cols): element (r, c) at tile[r * ld + c]. Replaces the store.
using TileFn = std::function<void(const float* tile, int64_t ld, int64_t i0, int64_t j0,
                                  int64_t rows, int64_t cols)>;

struct Epilogue {
  void* out = nullptr;  // element (i, j) at out + i * rs + j * cs, in dtype
  DType dtype = DType::F32;
  int64_t rs = 0, cs = 1;
  const float* row_bias = nullptr;  // m values added per row (then col_bias)
  const float* col_bias = nullptr;  // n values added per column
  bool accumulate = false;          // f32 output, cs == 1, no bias: chains start from out
  TileFn custom;                    // set: called instead of storing (no bias applied)
};

// B packed once for every call that uses it (conv weights): panels of 32 columns.
class PackedB {
 public:
  PackedB() = default;
  explicit PackedB(const MatView& b);  // K x N, f32 or bf16; packs in parallel
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  DType dtype() const { return dtype_; }
  size_t bytes() const { return bytes_; }
  const uint32_t* panel(int64_t jp) const;  // columns [32 jp, 32 jp + 32), all steps

 private:
  int64_t k_ = 0, n_ = 0, steps_ = 0;
  DType dtype_ = DType::F32;
  size_t bytes_ = 0;
  std::shared_ptr<uint32_t> data_;
};

struct Problem {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::F32;  // of A and B (f32 or bf16)
  MatView a;                 // m x k, unless a_rows is set
  ARowsFn a_rows;
  MatView b;  // k x n, unless b_packed is set
  const PackedB* b_packed = nullptr;
  Epilogue out;
};

// Runs the problems (independent outputs) with OpenMP over all their tiles.
void run(const Problem* problems, size_t count);
inline void run(const Problem& p) {
  run(&p, 1);
}

// Which kernels this CPU runs ("avx512+bf16", "avx512", "generic").
const char* isa_name();

}  // namespace oomless::ops::gemm
