// max_pool2d_with_indices: torch's argument checks and output shape, then the
// row kernel over (plane, row block) items on the OpenMP threads.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/max_pool2d/kernels.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode) {
  const int64_t num = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;  // floor division
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolRows pool_rows(std::string_view op, const Args& a, int64_t h, int64_t kh, int64_t sh,
                   int64_t ph, int64_t dh, bool ceil_mode) {
  PoolRows r;
  r.full_h = a.is_none("rows_of") ? h : a.get_int("rows_of");
  r.OH = pool_output_size(r.full_h, kh, ph, sh, dh, ceil_mode);
  r.rows = r.OH;
  if (a.is_none("rows_of")) return r;
  if (a.is_none("out_rows")) fail(op, "out_rows is required with rows_of");
  r.row0 = a.get_int("out_row0");
  r.rows = a.get_int("out_rows");
  if (r.row0 < 0 || r.rows < 1 || r.row0 + r.rows > r.OH)
    fail(op, fmt::format("output rows [{}, {}) are not within the {} output rows of {} input rows",
                         r.row0, r.row0 + r.rows, r.OH, r.full_h));
  auto [first, last] = pool_input_rows(r.full_h, kh, sh, ph, dh, r.row0, r.row0 + r.rows);
  if (h < last - first || first + h > r.full_h)
    fail(op, fmt::format("output rows [{}, {}) read input rows [{}, {}) of {}; the input holds {} "
                         "rows from row {}",
                         r.row0, r.row0 + r.rows, first, last, r.full_h, h, first));
  r.in_row0 = first;
  return r;
}

namespace {

// An int or a pair (h, w); `fallback` when None or empty (stride).
std::pair<int64_t, int64_t> pair_arg(const Args& a, std::string_view name, std::string_view op,
                                     const std::vector<int64_t>* fallback = nullptr) {
  std::vector<int64_t> v;
  if (!a.is_none(name)) v = a.get_ints(name);
  if (v.empty() && fallback) v = *fallback;
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  fail(op, fmt::format("{} must be a single int or two ints, got {}", name, shape_str(v)));
}

}  // namespace

std::vector<Tensor> exec_max_pool2d(const OpCall& call) {
  const std::string_view op = call.op.name;
  const Args& a = call.args;
  if (call.inputs.size() != 1)
    fail(op, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  check_host_dtype(call.inputs[0], op);
  const Tensor& x0 = call.inputs[0];
  const DType t = x0.dtype();
  if (t != DType::F32 && t != DType::BF16)
    fail(op, fmt::format("input dtype {} is not supported (float32 or bfloat16)", dtype_name(t)));

  const std::vector<int64_t> kernel = a.get_ints("kernel_size");
  const auto [kh, kw] = pair_arg(a, "kernel_size", op);
  const auto [sh, sw] = pair_arg(a, "stride", op, &kernel);
  const auto [ph, pw] = pair_arg(a, "padding", op);
  const auto [dh, dw] = pair_arg(a, "dilation", op);
  const bool ceil_mode = a.get_bool("ceil_mode");
  const bool nhwc = a.get_bool("channels_last");
  if (kh <= 0 || kw <= 0)
    fail(op, fmt::format("kernel size must be greater than zero, got ({}, {})", kh, kw));
  if (sh <= 0 || sw <= 0)
    fail(op, fmt::format("stride must be greater than zero, got ({}, {})", sh, sw));
  if (dh <= 0 || dw <= 0)
    fail(op, fmt::format("dilation must be greater than zero, got ({}, {})", dh, dw));
  if (ph < 0 || pw < 0) fail(op, fmt::format("padding must be non-negative, got ({}, {})", ph, pw));
  if (ph > kh / 2 || pw > kw / 2)
    fail(op, fmt::format("padding should be at most half of kernel size, got padding ({}, {}) "
                         "and kernel_size ({}, {})",
                         ph, pw, kh, kw));

  // Logical dims: [N,] C, H, W; as stored: [N]CHW, or NHWC when channels_last.
  const Shape& s = x0.shape();
  if (x0.rank() != 3 && x0.rank() != 4)
    fail(op, fmt::format("expects a 3-D or 4-D input, got shape {}", shape_str(s)));
  if (nhwc && x0.rank() != 4)
    fail(op,
         fmt::format("channels_last=true expects a 4-D NHWC input, got shape {}", shape_str(s)));
  const bool batched = x0.rank() == 4;
  const int64_t N = batched ? s[0] : 1;
  const int64_t b = batched ? 1 : 0;
  const int64_t C = nhwc ? s[b + 2] : s[b], H = nhwc ? s[b] : s[b + 1],
                W = nhwc ? s[b + 1] : s[b + 2];
  if (C == 0 || H == 0 || W == 0 || (!batched && N == 0))
    fail(op, fmt::format("expects non-empty channel and spatial dims (a 0 batch is allowed), got "
                         "shape {}",
                         shape_str(s)));
  // A row chunk holds rows [rows.in_row0, ..) of a plane of rows.full_h.
  const PoolRows rows_ = pool_rows(op, a, H, kh, sh, ph, dh, ceil_mode);
  PoolGeom g{rows_.full_h, W,  rows_.OH, pool_output_size(W, kw, pw, sw, dw, ceil_mode),
             kh,           kw, sh,       sw,
             ph,           pw, dh,       dw};
  if (g.OH < 1 || g.OW < 1)
    fail(op, fmt::format("given input size ({}x{}x{}), the calculated output size ({}x{}x{}) is "
                         "too small",
                         C, H, W, C, g.OH, g.OW));
  if (g.H * W > std::numeric_limits<int32_t>::max())
    fail(op, fmt::format("H*W = {} does not fit the int32 indices", g.H * W));

  Shape os = nhwc ? Shape{rows_.rows, g.OW, C} : Shape{C, rows_.rows, g.OW};
  if (batched) os.insert(os.begin(), N);
  Tensor out = Tensor::empty(os, t), idx = Tensor::empty(os, DType::I32);
  if (out.numel() == 0) return {out, idx};
  const Tensor x = as_contiguous(x0, op);

  // Items: (plane or image, block of output rows), enough to balance threads.
  const int64_t planes = nhwc ? N : N * C, per_plane = nhwc ? C : 1;
  const int64_t target = int64_t{8} * omp_get_max_threads();
  const int64_t blocks = std::clamp<int64_t>((target + planes - 1) / planes, 1, rows_.rows);
  const int64_t rows = (rows_.rows + blocks - 1) / blocks;
  const int64_t es = static_cast<int64_t>(element_size(t));
  const char* in = static_cast<const char*>(x.raw());
  char* o = static_cast<char*>(out.raw());
  int32_t* ix = idx.data<int32_t>();
  const int64_t in_plane = H * W * per_plane, out_plane = rows_.rows * g.OW * per_plane;
  const bool threaded = out.numel() * kh * kw >= (1 << 15);  // waking threads costs more below
#pragma omp parallel for schedule(dynamic, 1) if (threaded)
  for (int64_t it = 0; it < planes * blocks; ++it) {
    const int64_t p = it / blocks, r0 = it % blocks * rows, r1 = std::min(rows_.rows, r0 + rows);
    if (r0 >= r1) continue;
    const int64_t ooff = p * out_plane + r0 * g.OW * per_plane;
    const int64_t o0 = rows_.row0 + r0, o1 = rows_.row0 + r1;  // rows of the whole output
    const char* pin = in + p * in_plane * es;
    if (nhwc)
      max_pool2d_rows_nhwc(g, C, t, pin, rows_.in_row0, o + ooff * es, ix + ooff, o0, o1);
    else
      max_pool2d_rows(g, t, pin, rows_.in_row0, o + ooff * es, ix + ooff, o0, o1);
  }
  return {out, idx};
}

}  // namespace oomless::ops
