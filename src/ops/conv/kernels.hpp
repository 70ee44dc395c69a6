// Convolution kernels: the geometry, pointers and element strides in; no
// tensors, no budgets. f32 or bf16 in and out; bf16 is widened exactly and
// every sum runs in f32, rounded once to the output dtype.
//
// One function per element, whatever computes it. Output element (n, k, oh, ow)
// of group g is
//   total = sum over the reduction blocks b, in order, of
//           partial_b = +0 (+) x[c, ih, iw] * w[k, c, i, j] over the taps t = i * kw + j
//                       and input channels c of block b, t outer, c inner,
//   out   = round(total + bias[k])
// where (+) is one fused multiply-add (Highway MulAdd; a multiply then an add on
// targets without FMA), taps outside the input (the zero padding) are skipped,
// the first partial is the total's start and the bias comes last. The blocks
// (reduction_blocks) depend on C / groups, kh and kw only. The tap validity
// depends on the element's row in the whole plane (ConvGeom::row0 + oh) and its
// column. So the bits never depend on the thread count, the tiling (vector
// lanes, register blocks, the item a thread takes), the rows, channels or
// images a call computes (the planner's slices), or the memory layout: NCHW
// and NHWC give identical results.
//
// Accuracy: a block holds at most kMaxBlockTerms products, so an element is
// within gamma(kMaxBlockTerms + blocks + 1) * (sum |x w| + |bias|) of the exact
// value (ops/reference/conv.cpp's bound).
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
struct RedBlock {
  int64_t t0 = 0, t1 = 0, c0 = 0, c1 = 0;
};
inline constexpr int64_t kMaxBlockTerms = 4096;
// Whole taps while they fit kMaxBlockTerms, else one tap cut in channel runs.
std::vector<RedBlock> reduction_blocks(const ConvGeom& g);

// Dense and grouped convolution (any groups). NCHW vectorizes over output
// columns, register-blocked over output channels; channels_last over output
// channels, register-blocked over output columns (an implicit GEMM that does not
// pack the input).
void conv_dense(const ConvGeom& g, const ConvArgs& a);

// Depthwise (groups == C == K). NCHW over output columns, channels_last over
// channels; same results as conv_dense.
void conv_depthwise(const ConvGeom& g, const ConvArgs& a);

inline bool is_depthwise(const ConvGeom& g) {
  return g.groups > 1 && g.cin_per_group() == 1 && g.cout_per_group() == 1;
}

}  // namespace oomless::ops::conv
