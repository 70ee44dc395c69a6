// Input packing of the NCHW implicit GEMM (pack_simd.cpp; layout in gemm_conv.hpp).
#pragma once
#include <cstdint>

namespace oomless::ops::conv {

// The input of one image and group: channel c, plane row r (of the rows the call
// holds), column w at x + c * xs_c + r * xs_h + w (unit column stride).
struct NchwPanels {
  bool bf16 = false;
  const void* x = nullptr;
  int64_t xs_c = 0, xs_h = 0;
  int64_t W = 0, full_h = 0, in_row0 = 0, row0 = 0;
  int64_t OH = 0, OW = 0;  // output rows of the call, columns
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, kw = 1;
  int64_t upt = 0, cpg = 0;  // units per tap, channels of the group
  int64_t ppr = 0;           // panels per output row (not flat)
  // 1x1, stride 1, no padding, rows dense (xs_h == W): panels of 32 consecutive
  // pixels of the image; pixel p of channel c at x + flat_off + c * xs_c + p.
  bool flat = false;
  int64_t flat_off = 0;
};

// Panels [q0, q1), steps [s0, s0 + ks): panel q at dst + (q - q0) * ks * 32, unit
// (s, l) at + (s - s0) * 32 + l.
void pack_nchw_panels(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks,
                      uint32_t* dst);

}  // namespace oomless::ops::conv
