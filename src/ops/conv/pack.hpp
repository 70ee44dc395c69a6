// Input packing of the NCHW implicit GEMM (gemm_conv.hpp): B panels of 32 consecutive
// output pixels of the plane (a panel may span output rows) x a run of kernel steps.
// Unit (step s, pixel l) is the input under tap t = s / upt of pixel l at the step's
// channel (f32), or the channel pair (c, c + 1) as one 32-bit unit with the even
// channel in the low half (bf16; the pad channel of an odd count is zero). Padding
// and pixels past the plane read as zero.
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
};

// Panels [q0, q1), steps [s0, s0 + ks): panel q at dst + (q - q0) * ks * 32, unit
// (s, l) at + (s - s0) * 32 + l.
void pack_nchw_panels(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks,
                      uint32_t* dst);

namespace detail {

// One run of pixels of one output row under one tap: lanes [l0, l0 + len) of
// `units` consecutive steps (dst advancing 32 units per step), pixel l0 + d reading
// element x + d * sw of its channel row (d in [d_lo, d_hi), zero outside), channel
// c of step k at x + k * cstep (bf16: c and c + xs_c; `odd`: the last step's second
// channel is the zero pad).
struct RowRun {
  uint32_t* dst = nullptr;
  int64_t units = 0;
  const char* x = nullptr;      // element d = 0 (may lie before the row: d_lo > 0)
  int64_t cstep = 0, xs_c = 0;  // bytes
  int64_t sw = 1;
  int l0 = 0, len = 0, d_lo = 0, d_hi = 0;
  bool bf16 = false, odd = false;
};
void pack_run_generic(const RowRun& r);
void pack_run_avx512(const RowRun& r);

}  // namespace detail
}  // namespace oomless::ops::conv
