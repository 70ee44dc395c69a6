// Reference of max_pool2d_with_indices(kernel_size, stride, padding, dilation,
// ceil_mode; channels_last) over NCHW or CHW (NHWC or HWC with channels_last; the
// outputs keep the input's layout). Output 0: the window max (NaN if the window holds
// one; padding never counts); output 1: the int32 flat index h * W + w of that value in
// its (n, c) plane, as torch's CPU loop picks it (first maximum, last NaN). The output
// size (ceil_mode) comes from output_shapes; each window starts at o * stride - padding.
// Values are exact.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Pool {
  int64_t k[2], s[2], p[2], d[2];
  int64_t dim[2];   // the H and W dims of the input
  int64_t size[2];  // H and W
};

void pair(const OpCall& call, const char* name, int64_t out[2]) {
  const std::vector<int64_t> v = call.args.get_ints(name);
  if (v.size() != 1 && v.size() != 2)
    bad(call, fmt::format("{} must have 1 or 2 entries, got {}", name, shape_str(v)));
  out[0] = v[0];
  out[1] = v.back();
}

Pool pool_of(const OpCall& call) {
  const Tensor& x = input(call, 0);
  if (x.rank() != 3 && x.rank() != 4)
    bad(call, fmt::format("expects a 3-D or 4-D input, got {}", shape_str(x.shape())));
  Pool p;
  pair(call, "kernel_size", p.k);
  if (call.args.is_none("stride") || call.args.get_ints("stride").empty()) {
    p.s[0] = p.k[0];
    p.s[1] = p.k[1];
  } else {
    pair(call, "stride", p.s);
  }
  pair(call, "padding", p.p);
  pair(call, "dilation", p.d);
  for (int i = 0; i < 2; ++i)
    if (p.k[i] <= 0 || p.s[i] <= 0 || p.d[i] <= 0 || p.p[i] < 0)
      bad(call, "kernel_size, stride and dilation must be positive and padding >= 0");
  const int64_t first = call.args.get_bool("channels_last") ? x.rank() - 3 : x.rank() - 2;
  for (int i = 0; i < 2; ++i) {
    p.dim[i] = first + i;
    p.size[i] = x.shape()[first + i];
  }
  return p;
}

struct Found {
  double value;
  int64_t index;  // flat h * W + w
};

Found window_max(const OpCall& call, const Index& out_idx) {
  const Tensor& x = input(call, 0);
  const Pool p = pool_of(call);
  int64_t lo[2], hi[2];
  for (int i = 0; i < 2; ++i) {
    lo[i] = out_idx[p.dim[i]] * p.s[i] - p.p[i];
    hi[i] = std::min(lo[i] + (p.k[i] - 1) * p.d[i] + 1, p.size[i]);
    while (lo[i] < 0) lo[i] += p.d[i];
  }
  Found f{-std::numeric_limits<double>::infinity(), lo[0] * p.size[1] + lo[1]};
  Index in = out_idx;
  for (int64_t h = lo[0]; h < hi[0]; h += p.d[0])
    for (int64_t w = lo[1]; w < hi[1]; w += p.d[1]) {
      in[p.dim[0]] = h;
      in[p.dim[1]] = w;
      const double v = at(x, in);
      if (v > f.value || std::isnan(v)) f = {v, h * p.size[1] + w};
    }
  return f;
}

}  // namespace

double max_pool2d_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output > 1) bad(call, "max_pool2d has two outputs");
  const Found f = window_max(call, idx);
  return output == 0 ? f.value : static_cast<double>(f.index);
}

bool max_pool2d_index_ok(const OpCall& call, const Shapes&, const Index& idx, int64_t got) {
  const Pool p = pool_of(call);
  if (got < 0 || got >= p.size[0] * p.size[1]) return false;
  const int64_t pos[2] = {got / p.size[1], got % p.size[1]};
  for (int i = 0; i < 2; ++i) {
    const int64_t from = idx[p.dim[i]] * p.s[i] - p.p[i];
    const int64_t step = pos[i] - from;
    if (step < 0 || step % p.d[i] != 0 || step / p.d[i] >= p.k[i]) return false;
  }
  Index in = idx;
  in[p.dim[0]] = pos[0];
  in[p.dim[1]] = pos[1];
  const double v = at(input(call, 0), in);
  const double want = window_max(call, idx).value;
  return v == want || (std::isnan(v) && std::isnan(want));
}

}  // namespace oomless::ops::ref
