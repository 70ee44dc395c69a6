// Convolution kernels: the geometry, pointers and element strides in; no
// tensors, no budgets. f32 or bf16 in and out; every sum runs in f32, rounded
// once to the output dtype.
//
// One function per element, whatever computes it. Output element (n, k, oh, ow)
// of group g is one chain over its reduction, then the bias, then one rounding:
//   acc = +0; for each tap t = i * kw + j in increasing order whose input pixel
//   (ih, iw) lies inside the input (taps in the zero padding are skipped), for
//   the group's input channels c in increasing order: acc = step(acc, x, w)
//   out = round(acc + bias[k])   (the add in f32, skipped without bias)
// where step is, for
//   dense and grouped convolutions (conv_dense, the GEMM micro-kernels of
//   ops/gemm, gemm_conv.hpp):
//     f32:  acc = fma(x[c], w[k, c, i, j], acc), one fused multiply-add;
//     bf16: channels in pairs (2p, 2p + 1) of one tap, an odd channel count
//           ending in a pair whose second element is zero:
//           acc = ftz(fma(x[2p+1], w[2p+1], daz(acc))); acc = ftz(fma(x[2p], w[2p], acc))
//           with bf16 inputs below 2^-126 read as zero and results below 2^-126
//           flushed to zero: exactly one vdpbf16ps lane (gemm.hpp), which the
//           portable kernels reproduce;
//   depthwise convolutions (one input and one output channel per group, groups
//   any, conv_depthwise): acc = fma(x, w, acc) on the values widened to f32 (no
//   flushing), one tap at a time.
// The tap validity depends on the element's row in the whole plane (ConvGeom::row0
// + oh) and its column. So the bits never depend on the thread count, the tiling
// (register tiles, K blocks: the chain is stored and reloaded in f32, exactly), the
// rows, channels or images a call computes (the planner's slices), the memory
// layout (NCHW and NHWC compute the same chains: the step is symmetric in x and w)
// or the instruction set (AVX-512 or portable kernels).
//
// Accuracy (u = 2^-24): a chain of R = C/groups * kh * kw exact products (bf16
// products are exact in f32; f32 products are rounded only with the sum) is within
// gamma(R) * sum |x w| of the exact sum, the bias add adds u |result|
// (ops/reference/conv.cpp's bound, gamma(R + 1) * (sum |x w| + |bias|)). bf16 dense
// convolutions also lose every product with a factor below 2^-126 (bf16
// denormals) and up to 2^-126 per flushed step (2 R steps): the reference adds
// those terms to the bound.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.hpp"
#include "ops/conv/geometry.hpp"

namespace oomless::ops::conv {

// Element strides of a 4-D (n, c, h, w) view, whatever its memory layout.
struct Strides4 {
  int64_t n = 0, c = 0, h = 0, w = 0;
};

struct ConvArgs {
  DType dtype = DType::F32;    // of input, weight, bias and output: f32 or bf16
  const void* x = nullptr;     // input rows [g.in_row0, g.in_row0 + g.H) of the plane
  Strides4 xs;                 // NCHW: xs.w == 1; channels_last: xs.c == 1
  const void* w = nullptr;     // [K, C / groups, kh, kw], contiguous
  const void* bias = nullptr;  // [K], or null
  void* out = nullptr;         // output rows [g.row0, g.row0 + g.OH)
  Strides4 os;                 // NCHW: os.w == 1; channels_last: os.c == 1
};

// A block of the reduction: taps [t0, t1) x input channels [c0, c1) of the group.
// (The depthwise kernels sum their kh * kw taps as one block: reduction_blocks
// returns one block whenever kh * kw <= kMaxBlockTerms.)
struct RedBlock {
  int64_t t0 = 0, t1 = 0, c0 = 0, c1 = 0;
};
inline constexpr int64_t kMaxBlockTerms = 4096;
// Whole taps while they fit kMaxBlockTerms, else one tap cut in channel runs.
std::vector<RedBlock> reduction_blocks(const ConvGeom& g);

// Dense and grouped convolution (any groups, not depthwise): an implicit GEMM on
// the packed-GEMM micro-kernels (gemm_conv.hpp), weights packed once and cached.
void conv_dense(const ConvGeom& g, const ConvArgs& a);

// Depthwise: one input and one output channel per group (groups == C == K; a
// planner chunk of one channel is groups == 1, C == K == 1, and stays here, so a
// channel's chain does not depend on the chunk). NCHW over output columns,
// channels_last over channels; the same results in both.
void conv_depthwise(const ConvGeom& g, const ConvArgs& a);

inline bool is_depthwise(const ConvGeom& g) {
  return g.cin_per_group() == 1 && g.cout_per_group() == 1;
}

}  // namespace oomless::ops::conv
