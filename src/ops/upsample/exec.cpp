// upsample_nearest2d.vec: torch 1.13's checks, output size and index rule.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"
#include "ops/upsample/kernels.hpp"

namespace oomless::ops {

std::vector<int64_t> nearest_source_index(int64_t in, int64_t out,
                                          std::optional<double> scale_factor) {
  std::vector<int64_t> idx(static_cast<size_t>(std::max<int64_t>(out, 0)));
  // torch computes the scale and the product in float; keep it that way.
  const float scale = scale_factor && *scale_factor > 0
                          ? static_cast<float>(1.0 / *scale_factor)
                          : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in)
      idx[o] = o;
    else if (out == 2 * in)
      idx[o] = o >> 1;
    else
      idx[o] = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * scale)), in - 1);
  }
  return idx;
}

std::vector<Tensor> exec_upsample(const OpCall& call) {
  const std::string_view op = call.op.name;
  const Args& a = call.args;
  if (call.inputs.size() != 1)
    fail(op, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  check_host_dtype(call.inputs[0], op);
  const Tensor& x0 = call.inputs[0];
  const bool nhwc = a.get_bool("channels_last");
  if (!a.is_none("scales"))
    fail(op, "argument 'scales' is not supported; give scale_factor (one factor for H and W)");
  const bool has_size = !a.is_none("output_size"), has_scale = !a.is_none("scale_factor");
  if (has_size == has_scale) fail(op, "expects exactly one of output_size and scale_factor");
  if (x0.rank() != 4)
    fail(op, fmt::format("expects a 4-D input ({}), got shape {}", nhwc ? "NHWC" : "NCHW",
                         shape_str(x0.shape())));
  const Shape& s = x0.shape();
  const int64_t N = s[0], C = nhwc ? s[3] : s[1], H = nhwc ? s[1] : s[2], W = nhwc ? s[2] : s[3];
  if (x0.numel() == 0 && C * H * W == 0)
    fail(op, fmt::format("expects a non-empty 4-D tensor (a 0 batch is allowed), got shape {}",
                         shape_str(s)));
  std::optional<double> scale;
  int64_t OH, OW;
  if (has_size) {
    const auto size = a.get_ints("output_size");
    if (size.size() != 2)
      fail(op, fmt::format("output_size must have 2 entries (H, W), got {}", shape_str(size)));
    OH = size[0];
    OW = size[1];
  } else {
    scale = a.get_float("scale_factor");
    if (!std::isfinite(*scale) || std::fabs(*scale) > 1e9)  // keeps H * scale in int64
      fail(op, fmt::format("scale_factor must be a finite number up to 1e9, got {}", *scale));
    OH = static_cast<int64_t>(static_cast<double>(H) * *scale);
    OW = static_cast<int64_t>(static_cast<double>(W) * *scale);
  }
  if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0)
    fail(op, fmt::format("input and output sizes should be greater than 0, but got input (H: {}, "
                         "W: {}) output (H: {}, W: {})",
                         H, W, OH, OW));

  const Shape os = nhwc ? Shape{N, OH, OW, C} : Shape{N, C, OH, OW};
  Tensor out = Tensor::empty(os, x0.dtype());
  if (out.numel() == 0) return {out};
  const Tensor x = as_contiguous(x0, op);
  const auto src_h = nearest_source_index(H, OH, scale), src_w = nearest_source_index(W, OW, scale);
  const UpsampleGeom g{H, W, OH, OW, src_h.data(), src_w.data()};

  const int64_t planes = nhwc ? N : N * C, per_plane = nhwc ? C : 1;
  const int64_t target = int64_t{8} * omp_get_max_threads();
  const int64_t blocks = std::clamp<int64_t>((target + planes - 1) / planes, 1, OH);
  const int64_t rows = (OH + blocks - 1) / blocks;
  const size_t es = element_size(x.dtype());
  const char* in = static_cast<const char*>(x.raw());
  char* o = static_cast<char*>(out.raw());
  const int64_t in_plane = H * W * per_plane, out_plane = OH * OW * per_plane;
  const bool threaded = out.numel() >= (1 << 16);  // waking threads costs more below
#pragma omp parallel for schedule(dynamic, 1) if (threaded)
  for (int64_t it = 0; it < planes * blocks; ++it) {
    const int64_t p = it / blocks, r0 = it % blocks * rows, r1 = std::min(OH, r0 + rows);
    if (r0 >= r1) continue;
    const char* src = in + static_cast<size_t>(p * in_plane) * es;
    char* dst = o + static_cast<size_t>(p * out_plane + r0 * OW * per_plane) * es;
    if (nhwc)
      upsample_nearest_rows_nhwc(g, C, es, src, 0, dst, r0, r1);
    else
      upsample_nearest_rows(g, es, src, 0, dst, r0, r1);
  }
  return {out};
}

}  // namespace oomless::ops
