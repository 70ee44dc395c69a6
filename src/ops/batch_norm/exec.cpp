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
#include <numeric>

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

// Per-column moments of [rows, C] data (channels last), one pass: sums of
// x - shift and (x - shift)^2 in double over fixed blocks of rows, added in
// block order, so results depend on the shape only (not on threads). The
// shift is the column mean of block 0, which keeps the cancellation in
// m2 = S2 - S1^2 / n small (relative error ~ rows * 2^-53 * (1 + (mean - shift)^2
// / var) even for data far from zero). Rows are viewed g at a time as wider
// virtual rows of W = g * C columns (a multiple of 64 unless C * g would
// exceed 16384) so the SIMD strips
// have no scalar remainder columns (C = 3, 100, ...); the virtual columns
// fold back into C in a fixed order. Block partials go through one small
// scratch in batches (a per-block scratch for a whole 8K map would be 300 MB
// of fresh pages, and page faults are this machine's slowest thing).
std::vector<Moments> column_moments(const Tensor& x, int64_t rows, int64_t C) {
  if (rows == 0) return std::vector<Moments>(static_cast<size_t>(C));  // n = 0
  const DType dt = x.dtype();
  const int64_t es = static_cast<int64_t>(element_size(dt));
  const char* px = static_cast<const char*>(x.raw());
  const int64_t g0 = 64 / std::gcd(C, int64_t{64});
  const int64_t g = C * g0 <= 16384 ? g0 : 1;
  const int64_t W = g * C;
  const int64_t rb = std::max<int64_t>(1, kColumnBlock / W) * g;  // rows per block
  const int64_t blocks = (rows + rb - 1) / rb;
  // Sums of one block of `n` rows at `row0` into p1[0, C), p2[0, C).
  auto block_sums = [&](int64_t row0, int64_t n, const double* wshift, double* v1, double* v2,
                        double* p1, double* p2) {
    const char* base = px + row0 * C * es;
    const int64_t vr = n / g, left = n - vr * g;
    std::fill(p1, p1 + C, 0.0);
    std::fill(p2, p2 + C, 0.0);
    if (vr > 0) {
      shifted_sums_columns(dt, base, vr, W, wshift, v1, v2);
      for (int64_t k = 0; k < g; ++k)
        for (int64_t c = 0; c < C; ++c) {
          p1[c] += v1[k * C + c];
          p2[c] += v2[k * C + c];
        }
    }
    if (left > 0) {
      shifted_sums_columns(dt, base + vr * W * es, left, C, wshift, v1, v2);
      for (int64_t c = 0; c < C; ++c) {
        p1[c] += v1[c];
        p2[c] += v2[c];
      }
    }
  };
  std::vector<double> wshift(static_cast<size_t>(W), 0.0), v1(wshift.size()), v2(wshift.size());
  std::vector<double> t1(static_cast<size_t>(C)), t2(t1.size());
  // Shift: block 0's column means (0 where not finite).
  const int64_t n0 = std::min(rb, rows);
  block_sums(0, n0, wshift.data(), v1.data(), v2.data(), t1.data(), t2.data());
  for (int64_t c = 0; c < C; ++c) {
    const double m = t1[c] / static_cast<double>(n0);
    for (int64_t k = 0; k < g; ++k) wshift[k * C + c] = std::isfinite(m) ? m : 0.0;
  }
  std::fill(t1.begin(), t1.end(), 0.0);
  std::fill(t2.begin(), t2.end(), 0.0);
  const int64_t batch = std::min<int64_t>(blocks, 1024);
  std::vector<double> p1(static_cast<size_t>(batch * C)), p2(p1.size());
  for (int64_t b0 = 0; b0 < blocks; b0 += batch) {
    const int64_t nb = std::min(batch, blocks - b0);
#pragma omp parallel if (nb > 1 && x.numel() > 65536)
    {
      std::vector<double> w1(static_cast<size_t>(W)), w2(w1.size());
#pragma omp for schedule(static)
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t r0 = (b0 + b) * rb;
        block_sums(r0, std::min(rb, rows - r0), wshift.data(), w1.data(), w2.data(),
                   p1.data() + b * C, p2.data() + b * C);
      }
    }
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t c = 0; c < C; ++c) {
        t1[c] += p1[b * C + c];
        t2[c] += p2[b * C + c];
      }
  }
  std::vector<Moments> m(static_cast<size_t>(C));
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < C; ++c) {
    const double m2 = t2[c] - t1[c] * (t1[c] / n);
    m[c] = {n, wshift[c] + t1[c] / n, m2 < 0 ? 0.0 : m2};  // NaN stays NaN
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
    // Outputs far beyond the caches use non-temporal stores.
    const bool stream = out.nbytes() >= (size_t{64} << 20);
    if (columns) {
      // Contiguous blocks of whole rows against a, b repeated to a period of
      // >= 64 elements (+ 64 so whole vectors load at any phase).
      const int64_t period = C * ((64 + C - 1) / C);
      std::vector<float> ap(static_cast<size_t>(period + 64)), bp(ap.size());
      for (size_t i = 0; i < ap.size(); ++i) {
        ap[i] = a[i % static_cast<size_t>(C)];
        bp[i] = b[i % static_cast<size_t>(C)];
      }
      const int64_t rb = std::max<int64_t>(1, 65536 / C);
      const int64_t blocks = (rows + rb - 1) / rb;
#pragma omp parallel for schedule(static) if (blocks > 1)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t off = blk * rb * C;
        batch_norm_apply_periodic(x.dtype(), px + off * es, po + off * es,
                                  std::min(rb, rows - blk * rb) * C, ap.data(), bp.data(), period,
                                  stream);
      }
    } else {
      // Planes, cut into 64K-element pieces so few big planes still split.
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
