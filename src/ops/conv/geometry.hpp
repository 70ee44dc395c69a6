// convolution (aten.convolution, conv2d): the geometry of one call, validated
// once with torch 1.13's checks and shared by infer, the kernels, the reference,
// the device-memory model and the planner's slicing.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "ops/op.hpp"

namespace oomless::ops {

struct ConvGeom {
  bool batched = true;         // 4-D input (3-D: one unbatched C,H,W image)
  bool channels_last = false;  // input and output stored NHWC
  bool has_bias = false;
  int64_t N = 1, C = 0, H = 0, W = 0;  // input; H: the rows this call holds
  int64_t K = 0, OH = 0, OW = 0;       // output channels; OH: rows this call computes
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t groups = 1;
  // Row slices (the planner's DRAM height slicing, arguments rows_of, out_row0,
  // out_rows): the input holds rows [in_row0, in_row0 + H) of a plane of full_h
  // rows and the call computes output rows [row0, row0 + OH) of full_oh.
  int64_t full_h = 0, full_oh = 0, row0 = 0, in_row0 = 0;

  int64_t cin_per_group() const { return C / groups; }
  int64_t cout_per_group() const { return K / groups; }
  // Reduction length of one output element.
  int64_t reduction() const { return cin_per_group() * kh * kw; }
  // Multiply-adds of the call.
  int64_t macs() const { return N * K * OH * OW * reduction(); }
  Shape output_shape() const;
};

// Validates a call (inputs: input, weight[, bias]) and returns its geometry.
// Errors are InvalidArgument naming `op` and the bad value, worded as torch's.
ConvGeom conv_geometry(std::string_view op, const std::vector<TensorSpec>& in, const Args& a);

OutputSpec infer_conv(const OpDesc&, const std::vector<TensorSpec>&, const Args&);

}  // namespace oomless::ops
