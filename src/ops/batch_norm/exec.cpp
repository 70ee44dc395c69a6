// Host execution of aten.native_batch_norm (training and eval). Inputs: input,
// then optional weight, bias, running_mean, running_var (undefined tensors
// stand for None). Training normalises with the biased batch variance and
// updates the running stats in place with the unbiased one; outputs are out,
// save_mean and save_invstd (empty [0] in eval, as torch's CPU kernel).
// channels_last: the 4-D input is NHWC; channels are then columns.
// Statistics blocks are fixed by the shape, so threads never change results.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/batch_norm/kernels.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

namespace {

const char* const kNames[] = {"input", "weight", "bias", "running_mean", "running_var"};

// Per-channel moments of NCHW-like [N, C, HW] data: blocks of whole planes
// (small HW) or of kMomentBlock-long plane pieces, folded in (n, piece) order.
std::vector<Moments> plane_moments(const Tensor& x, int64_t N, int64_t C, int64_t HW) {
  const int64_t es = static_cast<int64_t>(element_size(x.dtype()));
  const char* px = static_cast<const char*>(x.raw());
  const bool split = HW >= kMomentBlock;
  const int64_t g = split ? 1 : std::max<int64_t>(1, kMomentBlock / HW);  // planes per block
  const int64_t pieces = split ? (HW + kMomentBlock - 1) / kMomentBlock : 1;
  const int64_t groups = (N + g - 1) / g;
  const int64_t per_c = groups * pieces;
  std::vector<Moments> part(static_cast<size_t>(C * per_c));
#pragma omp parallel for schedule(static) if (C * per_c > 1 && x.numel() > 65536)
  for (int64_t it = 0; it < C * per_c; ++it) {
    const int64_t c = it / per_c, q = it % per_c, grp = q / pieces, pc = q % pieces;
    const int64_t n0 = grp * g, h0 = pc * kMomentBlock;
    const int64_t len = split ? std::min(kMomentBlock, HW - h0) : HW;
    const int64_t count = std::min(g, N - n0);
    part[it] = moments_block(x.dtype(), px + ((n0 * C + c) * HW + h0) * es, len, count, C * HW);
  }
  std::vector<Moments> m(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t q = 0; q < per_c; ++q) m[c] = moments_merge(m[c], part[c * per_c + q]);
  return m;
}

// Per-column moments of [rows, C] data in blocks of rows, folded in order.
// Blocks go in batches through one small scratch (per-block scratch for a whole
// 8K map is 300 MB of fresh pages, and page faults are this machine's slowest
// thing); each column folds its blocks in block order, columns in parallel.
std::vector<Moments> column_moments(const Tensor& x, int64_t rows, int64_t C) {
  const int64_t es = static_cast<int64_t>(element_size(x.dtype()));
  const char* px = static_cast<const char*>(x.raw());
  const int64_t rb = std::max<int64_t>(1, kMomentBlock / C);
  const int64_t blocks = (rows + rb - 1) / rb;
  const int64_t batch = std::min<int64_t>(blocks, 1024);
  std::vector<double> mean(static_cast<size_t>(batch * C)), m2(mean.size());
  std::vector<Moments> m(static_cast<size_t>(C));
  for (int64_t b0 = 0; b0 < blocks; b0 += batch) {
    const int64_t nb = std::min(batch, blocks - b0);
#pragma omp parallel for schedule(static) if (nb > 1 && x.numel() > 65536)
    for (int64_t b = 0; b < nb; ++b)
      moments_columns(x.dtype(), px + (b0 + b) * rb * C * es, std::min(rb, rows - (b0 + b) * rb), C,
                      C, mean.data() + b * C, m2.data() + b * C);
#pragma omp parallel for schedule(static) if (nb * C > 65536)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t b = 0; b < nb; ++b) {
        const double n = static_cast<double>(std::min(rb, rows - (b0 + b) * rb));
        m[c] = moments_merge(m[c], {n, mean[b * C + c], m2[b * C + c]});
      }
  }
  return m;
}

double param(const std::vector<Tensor>& in, size_t i, int64_t c, double dflt) {
  return i < in.size() && in[i].defined() ? in[i].get(c) : dflt;
}

}  // namespace

std::vector<Tensor> exec_batch_norm(const OpCall& call) {
  const OpDesc& op = call.op;
  const auto& in = call.inputs;
  if (in.empty() || in.size() > 5)
    fail(op.name, fmt::format("expects 1 to 5 tensor inputs, got {}", in.size()));
  if (!in[0].defined()) fail(op.name, "input tensor is undefined");
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].defined() && in[i].dtype() != DType::F32 && in[i].dtype() != DType::BF16)
      fail(op.name, fmt::format("{} has dtype {}; host kernels take float32 or bfloat16", kNames[i],
                                dtype_name(in[i].dtype())));
  const Tensor& x0 = in[0];
  const bool cl = call.args.get_bool("channels_last");
  const bool training = call.args.get_bool("training");
  // Validation and output specs; a None stands in as a well-formed [C].
  const int64_t c_dim = cl ? 3 : 1;
  const int64_t C0 = x0.rank() > c_dim ? x0.shape()[c_dim] : 0;
  std::vector<TensorSpec> specs;
  for (const auto& t : in)
    specs.push_back(t.defined() ? TensorSpec{t.shape(), t.dtype()} : TensorSpec{{C0}, x0.dtype()});
  const OutputSpec spec = infer_output(op, specs, call.args);
  const bool has_rm = in.size() > 3 && in[3].defined(), has_rv = in.size() > 4 && in[4].defined();
  if (!training && (!has_rm || !has_rv))
    fail(op.name, "running_mean and running_var must be defined in evaluation mode");
  if (training && has_rm != has_rv)
    fail(op.name, "running_mean and running_var must both be given or both be None");
  const double momentum = call.args.get_float("momentum"), eps = call.args.get_float("eps");

  const Tensor x = x0.contiguous();
  const int64_t C = C0, N = x.shape()[0];
  const int64_t rows = C > 0 ? x.numel() / C : 0;  // channel-last rows
  const int64_t HW = N > 0 && C > 0 ? x.numel() / (N * C) : 0;
  const bool columns = cl || HW == 1;
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  Tensor save_mean = Tensor::empty(spec.outputs[1].shape, spec.outputs[1].dtype);
  Tensor save_invstd = Tensor::empty(spec.outputs[2].shape, spec.outputs[2].dtype);

  std::vector<double> mean(static_cast<size_t>(C)), invstd(mean.size());
  if (training && C > 0) {
    const auto m = columns ? column_moments(x, rows, C) : plane_moments(x, N, C, HW);
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = m[c].mean;
      invstd[c] = 1.0 / std::sqrt(m[c].m2 / m[c].n + eps);
      save_mean.set(c, mean[c]);
      save_invstd.set(c, invstd[c]);
      if (has_rm) {
        const double unbiased = m[c].m2 / (m[c].n - 1);  // n == 1 gives NaN like torch
        in[3].set(c, momentum * mean[c] + (1 - momentum) * in[3].get(c));
        in[4].set(c, momentum * unbiased + (1 - momentum) * in[4].get(c));
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = in[3].get(c);
      invstd[c] = 1.0 / std::sqrt(in[4].get(c) + eps);
    }
  }

  // y = x * a + b with a = invstd * w, b = bias - mean * a (torch's form).
  std::vector<float> a(static_cast<size_t>(C)), b(a.size());
  for (int64_t c = 0; c < C; ++c) {
    const double ac = invstd[c] * param(in, 1, c, 1.0);
    a[c] = static_cast<float>(ac);
    b[c] = static_cast<float>(param(in, 2, c, 0.0) - mean[c] * ac);
  }
  const int64_t es = static_cast<int64_t>(element_size(x.dtype()));
  const char* px = static_cast<const char*>(x.raw());
  char* po = static_cast<char*>(out.raw());
  if (x.numel() > 0) {
    if (columns) {
      const int64_t rb = std::max<int64_t>(1, 65536 / C);
      const int64_t blocks = (rows + rb - 1) / rb;
#pragma omp parallel for schedule(static) if (blocks > 1)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t off = blk * rb * C;
        batch_norm_apply_columns(x.dtype(), px + off * es, po + off * es,
                                 std::min(rb, rows - blk * rb), C, a.data(), b.data());
      }
    } else {
      // Planes, cut into 64K-element pieces so few big planes still split;
      // outputs far beyond the caches use non-temporal stores.
      const bool stream = out.nbytes() >= (size_t{64} << 20);
      const int64_t piece = 65536, per_plane = (HW + piece - 1) / piece;
      const int64_t items = N * C * per_plane;
#pragma omp parallel for schedule(static) if (items > 1 && x.numel() > 65536)
      for (int64_t it = 0; it < items; ++it) {
        const int64_t plane = it / per_plane, h0 = (it % per_plane) * piece;
        const int64_t c = plane % C, off = plane * HW + h0;
        batch_norm_apply(x.dtype(), px + off * es, po + off * es, std::min(piece, HW - h0), a[c],
                         b[c], stream);
      }
    }
  }
  return {out, save_mean, save_invstd};
}

}  // namespace oomless::ops
