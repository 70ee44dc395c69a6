#include "ops/conv/geometry.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/max_pool2d/kernels.hpp"

namespace oomless::ops {

namespace {

// aten's expand_param_if_needed: one value for both dims, or one per dim.
std::pair<int64_t, int64_t> pair_of(std::string_view op, const Args& a, std::string_view name) {
  std::vector<int64_t> v = a.get_ints(name);
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  fail(op, fmt::format("expected {} to be a single integer value or a list of 2 values to match "
                       "the convolution dimensions, but got {}={}",
                       name, name, shape_str(v)));
}

}  // namespace

Shape ConvGeom::output_shape() const {
  if (!batched) return {K, OH, OW};
  return channels_last ? Shape{N, OH, OW, K} : Shape{N, K, OH, OW};
}

ConvGeom conv_geometry(std::string_view op, const std::vector<TensorSpec>& in, const Args& a) {
  if (in.size() < 2 || in.size() > 3)
    fail(op, fmt::format("expects input, weight and an optional bias, got {} tensors", in.size()));
  const Shape& x = in[0].shape;
  const Shape& w = in[1].shape;
  ConvGeom g;
  g.channels_last = a.get_bool("channels_last");
  g.has_bias = in.size() == 3;
  if (a.get_bool("transposed"))
    fail(op, "transposed convolution (conv_transpose2d) is not supported yet");
  g.groups = a.get_int("groups");
  std::tie(g.sh, g.sw) = pair_of(op, a, "stride");
  std::tie(g.ph, g.pw) = pair_of(op, a, "padding");
  std::tie(g.dh, g.dw) = pair_of(op, a, "dilation");
  pair_of(op, a, "output_padding");  // checked like torch; unused without transposed
  if (g.ph < 0 || g.pw < 0)
    fail(op, fmt::format("negative padding is not supported, got padding=[{}, {}]", g.ph, g.pw));
  if (g.sh <= 0 || g.sw <= 0)
    fail(op, fmt::format("non-positive stride is not supported, got stride=[{}, {}]", g.sh, g.sw));
  if (g.dh <= 0 || g.dw <= 0)
    fail(op,
         fmt::format("dilation should be greater than zero, got dilation=[{}, {}]", g.dh, g.dw));
  if (g.groups <= 0)
    fail(op, fmt::format("non-positive groups is not supported, got groups={}", g.groups));
  if (w.size() != 4)
    fail(op, fmt::format("expected a 4-D weight [out_channels, in_channels/groups, kH, kW] (only "
                         "2-D convolution is supported), got weight of size {}",
                         shape_str(w)));
  if (x.size() != 3 && x.size() != 4)
    fail(op, fmt::format("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input "
                         "of size: {}",
                         shape_str(x)));
  if (g.channels_last && x.size() != 4)
    fail(op, fmt::format("channels_last=true expects a 4-D NHWC input, got {}", shape_str(x)));
  g.batched = x.size() == 4;
  const size_t b = g.batched ? 1 : 0;
  g.N = g.batched ? x[0] : 1;
  g.C = g.channels_last ? x[3] : x[b];
  g.H = g.channels_last ? x[1] : x[b + 1];
  g.W = g.channels_last ? x[2] : x[b + 2];
  g.K = w[0];
  g.kh = w[2];
  g.kw = w[3];
  if (g.K < g.groups)
    fail(op, fmt::format("Given groups={}, expected weight to be at least {} at dimension 0, but "
                         "got weight of size {} instead",
                         g.groups, g.groups, shape_str(w)));
  if (g.K % g.groups != 0)
    fail(op, fmt::format("Given groups={}, expected weight to be divisible by {} at dimension 0, "
                         "but got weight of size {} instead",
                         g.groups, g.groups, shape_str(w)));
  if (g.C != w[1] * g.groups)
    fail(op,
         fmt::format("Given groups={}, weight of size {}, expected input{} to have {} channels, "
                     "but got {} channels instead",
                     g.groups, shape_str(w), shape_str(x), w[1] * g.groups, g.C));
  if (g.has_bias && (in[2].shape.size() != 1 || in[2].shape[0] != g.K))
    fail(op, fmt::format("Given weight of size {}, expected bias to be 1-dimensional with {} "
                         "elements, but got bias of size {} instead",
                         shape_str(w), g.K, shape_str(in[2].shape)));
  if (g.kh <= 0 || g.kw <= 0)
    fail(op, fmt::format("kernel size must be positive, got weight of size {}", shape_str(w)));
  // A row slice holds only the halo of its output rows (the planner's height slicing).
  const PoolRows rows = pool_rows(op, a, g.H, g.kh, g.sh, g.ph, g.dh, false);
  g.full_h = rows.full_h;
  const int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  if (g.full_h + 2 * g.ph < eh || g.W + 2 * g.pw < ew)
    fail(op, fmt::format("Calculated padded input size per channel: ({} x {}). Kernel size: ({} x "
                         "{}). Kernel size can't be greater than actual input size",
                         g.full_h + 2 * g.ph, g.W + 2 * g.pw, eh, ew));
  g.full_oh = rows.OH;
  g.OH = rows.rows;
  g.row0 = rows.row0;
  g.in_row0 = rows.in_row0;
  g.OW = (g.W + 2 * g.pw - ew) / g.sw + 1;
  return g;
}

OutputSpec infer_conv(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  ConvGeom g = conv_geometry(op.name, in, a);
  DType t = in[0].dtype;
  for (const auto& s : in)
    if (s.dtype != t)
      fail(op.name, fmt::format("expected input, weight and bias of one dtype, got {} and {}",
                                dtype_name(t), dtype_name(s.dtype)));
  return {{{g.output_shape(), t}}, {-1}};
}

}  // namespace oomless::ops
