// Dense and grouped convolution as an implicit GEMM on the packed-GEMM micro-kernels
// (ops/gemm/ukernel.hpp: 14 x 32 register tiles, f32 FMA or bf16 vdpbf16ps), weights
// packed once and cached (weight_cache.hpp). The arithmetic of every element is the
// chain stated in kernels.hpp.
//
// channels_last: M = output pixels, N = output channels, K = (tap, input channel).
//   A tile is 14 pixels of one output row (or, for a 1x1 stride-1 unpadded conv on
//   dense rows, 14 consecutive pixels of the image). When all 14 windows lie inside
//   the row (and in bf16 the channel count is even) the kernel reads the input in
//   place: per tap, the 14 rows are one input-row stride apart and a tap's channels
//   are contiguous; taps whose input row is padding are left out of the chain. Other
//   tiles (the row's ends, odd bf16 channel counts) are staged: the im2col rows
//   copied with zeros for padding. B = the packed weights.
// NCHW: M = output channels (A = the packed weights), N = output pixels in panels of
//   32 of one output row (or of the image, for 1x1 stride-1 unpadded convs), K as
//   above; B panels are packed per call from the input planes (im2col, zeros for the
//   padding). Output tiles are 14 channels x 32 pixels, stored as rows of the planes.
// Both are blocked as the GEMM is (K in blocks of up to 256 steps, chains continued
// in f32 between blocks, which is exact), threads take (image, group, pixel block,
// channel block) tasks.
//
// A zero input in place of a skipped padding tap is exact only when the weights are
// finite (0 * inf is NaN); for weights with an inf or NaN the elements whose window
// touches the padding are recomputed with the taps skipped (scalar, same chain).
#pragma once
#include "ops/conv/kernels.hpp"

namespace oomless::ops::conv {

void conv_gemm(const ConvGeom& g, const ConvArgs& a);

}  // namespace oomless::ops::conv
