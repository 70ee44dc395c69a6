// Reference of upsample_nearest2d(output_size | scale_factor; channels_last): the value
// of the source pixel chosen by torch 1.13's `nearest_idx`, per spatial dim:
//   out == in      -> src = dst
//   out == 2 in    -> src = dst >> 1
//   otherwise      -> src = min(floor(dst * scale), in - 1), in f32 arithmetic, where
//                     scale = float(1 / scale_factor) if a scale_factor was given, else
//                     float(in) / out.
// The spatial dims are the last two (NCHW, CHW), or the two before the last with
// channels_last (NHWC, HWC); output sizes come from output_shapes. Values are exact.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

int64_t nearest_source(int64_t dst, int64_t in, int64_t out, bool has_scale, double scale_factor) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = has_scale ? static_cast<float>(1.0 / scale_factor)
                                : static_cast<float>(in) / static_cast<float>(out);
  const float pos = static_cast<float>(dst) * scale;
  return std::min(static_cast<int64_t>(std::floor(pos)), in - 1);
}

}  // namespace

double upsample_at(const OpCall& call, const Shapes& shapes, size_t output, const Index& idx) {
  if (output != 0) bad(call, "upsample_nearest2d has one output");
  const Tensor& x = input(call, 0);
  const bool channels_last = call.args.get_bool("channels_last");
  const int64_t first = x.rank() - (channels_last ? 3 : 2);
  if (first < 0 || static_cast<int64_t>(shapes[0].size()) != x.rank())
    bad(call,
        fmt::format("cannot resize input {} to {}", shape_str(x.shape()), shape_str(shapes[0])));
  const bool has_scale =
      !call.args.is_none("scale_factor") && call.args.get_float("scale_factor") > 0;
  const double sf = has_scale ? call.args.get_float("scale_factor") : 0;
  Index in = idx;
  for (int64_t d = first; d < first + 2; ++d)
    in[d] = nearest_source(idx[d], x.shape()[d], shapes[0][d], has_scale, sf);
  return at(x, in);
}

}  // namespace oomless::ops::ref
