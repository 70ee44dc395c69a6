// mm, bmm, addmm and linear on the host: torch semantics, the packed GEMM of
// ops/gemm/gemm.hpp underneath. Shapes are validated here too (errors name the op and
// both shapes), so exec is safe without the infer phase.
//
// Semantics (torch):
//   mm      [n,k] @ [k,m] -> [n,m]
//   bmm     [b,n,k] @ [b,k,m] -> [b,n,m] (no batch broadcasting)
//   addmm   beta * input + alpha * (mat1 @ mat2); input broadcastable to [n,m];
//           beta == 0 ignores input (NaN/inf in it do not propagate), alpha == 0 or
//           k == 0 ignores the product (BLAS semantics; k == 0 gives beta * input).
//   linear  input [..., k] @ weight[m, k]^T (+ bias broadcastable to [..., m]; for 2-D
//           and 3-D input also bias expandable to [rows, m], torch's addmm path). A
//           1-D weight [k] gives input [..., k] @ weight -> [...].
// All tensor inputs share one dtype, float32 or bfloat16; the output has it too.
// bf16: f32 accumulation, the epilogue (bias, scalars) in f32, one rounding at the end.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/matmul/kernels.hpp"

namespace oomless::ops {

namespace {

using matmul::MatRef;

size_t esize(DType t) {
  return t == DType::BF16 ? 2 : 4;
}

MatRef mat(const Tensor& t, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  return {t.raw(), t.dtype(), rows, cols, rs, cs};
}

MatRef offset(MatRef m, int64_t elems) {
  m.data = static_cast<const char*>(m.data) + elems * static_cast<int64_t>(esize(m.dtype));
  return m;
}

// True when `from` broadcasts to exactly `to` (torch expand rules).
bool expands_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

// The per-output-row source of the epilogue's `input` term: a tensor expanded to
// the output shape, addressed by the flat output row index.
struct RowSource {
  const char* base = nullptr;
  DType dtype = DType::F32;
  Shape lead;  // output dims before the last
  Strides lead_strides;
  int64_t col_stride = 0;

  const void* row(int64_t r) const {
    int64_t off = 0;
    for (size_t d = lead.size(); d-- > 0;) {
      off += (r % lead[d]) * lead_strides[d];
      r /= lead[d];
    }
    return base + off * static_cast<int64_t>(esize(dtype));
  }
};

RowSource row_source(const Tensor& t, const Shape& out_shape) {
  Tensor e = t.expand(out_shape);
  RowSource s;
  s.base = static_cast<const char*>(e.raw());
  s.dtype = e.dtype();
  s.lead = Shape(out_shape.begin(), out_shape.end() - 1);
  s.lead_strides = Strides(e.strides().begin(), e.strides().end() - 1);
  s.col_stride = e.strides().back();
  return s;
}

// f32 copy of a row of the epilogue's input when it is the same for every output row
// (a bias broadcast over rows: linear's [m] bias, addmm's [m] or [1, m] input).
bool row_invariant(const RowSource& s) {
  for (size_t d = 0; d < s.lead.size(); ++d)
    if (s.lead[d] != 1 && s.lead_strides[d] != 0) return false;
  return true;
}

// out (contiguous, [batch * n] rows of m) = beta * in + alpha * (A_b @ B_b) for each
// batch b, where A_b = a offset by b * a_bs elements (likewise B_b).
void run(const MatRef& a0, int64_t a_bs, const MatRef& b0, int64_t b_bs, int64_t batch, float alpha,
         float beta, const RowSource* in, Tensor& out) {
  int64_t n = a0.rows, k = a0.cols, m = b0.cols;
  if (batch == 0 || n == 0 || m == 0) return;
  if (k == 0) alpha = 0.0f;  // empty product: BLAS skips it, so inf*0 cannot appear
  DType odt = out.dtype();
  char* out_base = static_cast<char*>(out.raw());
  int64_t oes = static_cast<int64_t>(esize(odt));
  if (alpha == 0.0f) {  // no product: the epilogue alone (beta * in, or zeros)
    int64_t rows = batch * n;
#pragma omp parallel for if (rows * m > (1 << 16)) schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      matmul::epilogue_row(nullptr, m, 0.0f, in ? in->row(r) : nullptr, in ? in->dtype : odt,
                           in ? in->col_stride : 0, beta, out_base + r * m * oes, odt);
    return;
  }
  // A bias broadcast over rows with alpha == beta == 1 is the kernel's column bias
  // (acc + bias in f32, the value epilogue_row computes); anything else goes through
  // epilogue_row on each finished tile.
  std::vector<float> col_bias;
  bool custom = in != nullptr || alpha != 1.0f;
  if (in && alpha == 1.0f && beta == 1.0f && row_invariant(*in)) {
    col_bias.resize(static_cast<size_t>(m));
    matmul::epilogue_row(nullptr, m, 0.0f, in->row(0), in->dtype, in->col_stride, 1.0f,
                         col_bias.data(), DType::F32);
    custom = false;
  }
  std::vector<gemm::Problem> problems(static_cast<size_t>(batch));
  for (int64_t bi = 0; bi < batch; ++bi) {
    gemm::Problem& p = problems[static_cast<size_t>(bi)];
    p.m = n;
    p.n = m;
    p.k = k;
    p.dtype = a0.dtype;
    p.a = offset(a0, bi * a_bs);
    p.b = offset(b0, bi * b_bs);
    char* obase = out_base + bi * n * m * oes;
    p.out.out = obase;
    p.out.dtype = odt;
    p.out.rs = m;
    p.out.cs = 1;
    if (!col_bias.empty()) p.out.col_bias = col_bias.data();
    if (custom)
      p.out.custom = [=](const float* tile, int64_t ld, int64_t i0, int64_t j0, int64_t rows,
                         int64_t cols) {
        for (int64_t r = 0; r < rows; ++r) {
          const char* src = nullptr;
          if (in)
            src = static_cast<const char*>(in->row(bi * n + i0 + r)) +
                  j0 * in->col_stride * static_cast<int64_t>(esize(in->dtype));
          matmul::epilogue_row(tile + r * ld, cols, alpha, src, in ? in->dtype : odt,
                               in ? in->col_stride : 0, beta, obase + ((i0 + r) * m + j0) * oes,
                               odt);
        }
      };
  }
  gemm::run(problems.data(), problems.size());
}

DType common_dtype(const OpCall& call) {
  std::string_view op = call.op.name;
  DType d = call.inputs.front().dtype();
  if (d != DType::F32 && d != DType::BF16)
    fail(op, fmt::format("unsupported dtype {} (expected float32 or bfloat16)", dtype_name(d)));
  for (size_t i = 1; i < call.inputs.size(); ++i)
    if (call.inputs[i].dtype() != d)
      fail(op, fmt::format("expected all inputs to have the same dtype, got {} (input 0) and {} "
                           "(input {})",
                           dtype_name(d), dtype_name(call.inputs[i].dtype()), i));
  return d;
}

void need_rank(std::string_view op, const char* what, const Tensor& t, int64_t rank) {
  if (t.rank() != rank)
    fail(op, fmt::format("{} must be {}-D, got shape {}", what, rank, shape_str(t.shape())));
}

std::vector<Tensor> exec_mm(const OpCall& call, DType dt) {
  std::string_view op = call.op.name;
  const Tensor &a = call.inputs[0], &b = call.inputs[1];
  need_rank(op, "mat1", a, 2);
  need_rank(op, "mat2", b, 2);
  if (a.size(1) != b.size(0))
    fail(op, fmt::format("mat1 and mat2 shapes cannot be multiplied ({} and {}): {} != {}",
                         shape_str(a.shape()), shape_str(b.shape()), a.size(1), b.size(0)));
  int64_t n = a.size(0), k = a.size(1), m = b.size(1);
  Tensor out = Tensor::empty({n, m}, dt);
  run(mat(a, n, k, a.strides()[0], a.strides()[1]), 0, mat(b, k, m, b.strides()[0], b.strides()[1]),
      0, 1, 1.0f, 0.0f, nullptr, out);
  return {out};
}

std::vector<Tensor> exec_bmm(const OpCall& call, DType dt) {
  std::string_view op = call.op.name;
  const Tensor &a = call.inputs[0], &b = call.inputs[1];
  need_rank(op, "batch1", a, 3);
  need_rank(op, "batch2", b, 3);
  if (a.size(0) != b.size(0) || a.size(2) != b.size(1))
    fail(op, fmt::format("batch1 and batch2 shapes cannot be multiplied ({} and {}): expected "
                         "batch2 of shape [{},{},*]",
                         shape_str(a.shape()), shape_str(b.shape()), a.size(0), a.size(2)));
  int64_t bs = a.size(0), n = a.size(1), k = a.size(2), m = b.size(2);
  Tensor out = Tensor::empty({bs, n, m}, dt);
  const Strides &as = a.strides(), &bst = b.strides();
  run(mat(a, n, k, as[1], as[2]), as[0], mat(b, k, m, bst[1], bst[2]), bst[0], bs, 1.0f, 0.0f,
      nullptr, out);
  return {out};
}

std::vector<Tensor> exec_addmm(const OpCall& call, DType dt) {
  std::string_view op = call.op.name;
  const Tensor &in = call.inputs[0], &a = call.inputs[1], &b = call.inputs[2];
  need_rank(op, "mat1", a, 2);
  need_rank(op, "mat2", b, 2);
  if (a.size(1) != b.size(0))
    fail(op, fmt::format("mat1 and mat2 shapes cannot be multiplied ({} and {}): {} != {}",
                         shape_str(a.shape()), shape_str(b.shape()), a.size(1), b.size(0)));
  int64_t n = a.size(0), k = a.size(1), m = b.size(1);
  Shape out_shape{n, m};
  if (!expands_to(in.shape(), out_shape))
    fail(op, fmt::format("input of shape {} cannot be broadcast to the result shape {} of mat1 "
                         "{} @ mat2 {}",
                         shape_str(in.shape()), shape_str(out_shape), shape_str(a.shape()),
                         shape_str(b.shape())));
  float beta = static_cast<float>(call.args.get_float("beta"));
  float alpha = static_cast<float>(call.args.get_float("alpha"));
  Tensor out = Tensor::empty(out_shape, dt);
  RowSource src = row_source(in, out_shape);
  run(mat(a, n, k, a.strides()[0], a.strides()[1]), 0, mat(b, k, m, b.strides()[0], b.strides()[1]),
      0, 1, alpha, beta, &src, out);
  return {out};
}

// Folds the leading dims of t ([..., k]) into rows without copying when the strides
// allow; otherwise copies to contiguous first.
MatRef fold_rows(Tensor& t) {
  int64_t k = t.shape().back();
  int64_t rows = t.numel() / std::max<int64_t>(k, 1);
  if (k == 0) {
    rows = 1;
    for (int64_t i = 0; i + 1 < t.rank(); ++i) rows *= t.shape()[i];
  }
  int64_t row_stride = 0, prev = -1;
  bool ok = true;
  for (int64_t d = 0; d + 1 < t.rank(); ++d) {
    if (t.shape()[d] == 1) continue;
    if (prev >= 0 && t.strides()[prev] != t.strides()[d] * t.shape()[d]) ok = false;
    prev = d;
  }
  if (!ok) t = t.contiguous();
  if (prev >= 0) row_stride = t.strides()[prev];
  return mat(t, rows, k, row_stride, t.strides().back());
}

std::vector<Tensor> exec_linear(const OpCall& call, DType dt) {
  std::string_view op = call.op.name;
  Tensor x = call.inputs[0];
  const Tensor& w = call.inputs[1];
  if (x.rank() < 1 || w.rank() < 1)
    fail(op, fmt::format("input and weight must be at least 1-D, got shapes {} and {}",
                         shape_str(x.shape()), shape_str(w.shape())));
  if (w.rank() > 2)
    fail(op, fmt::format("weight must be 1-D or 2-D ([out_features, in_features]), got shape {}",
                         shape_str(w.shape())));
  bool w2 = w.rank() == 2;
  int64_t k = x.shape().back(), m = w2 ? w.size(0) : 1, wk = w2 ? w.size(1) : w.size(0);
  if (wk != k)
    fail(op, fmt::format("input and weight shapes cannot be multiplied ({} and {}^T): input's "
                         "last dim {} != in_features {}",
                         shape_str(x.shape()), shape_str(w.shape()), k, wk));
  // Output [..., m]; a 1-D weight drops the last dim (computed as [..., 1]).
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  Shape out2 = out_shape;
  out2.push_back(m);
  if (w2) out_shape = out2;
  int64_t rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
  RowSource src;
  const Tensor* bias = call.inputs.size() > 2 ? &call.inputs[2] : nullptr;
  if (bias) {
    if (expands_to(bias->shape(), out_shape)) {
      // torch: matmul then add_(bias), broadcasting.
      Tensor be = bias->expand(out_shape);
      src = row_source(w2 ? be : be.unsqueeze(-1), out2);
    } else if (w2 && (x.rank() == 2 || x.rank() == 3) && expands_to(bias->shape(), {rows, m})) {
      // torch's addmm path for 2-D and (contiguous) 3-D input: bias expands to [rows, m].
      src = row_source(*bias, {rows, m});
    } else {
      fail(op, fmt::format("bias of shape {} cannot be broadcast to the output shape {} (input "
                           "{}, weight {})",
                           shape_str(bias->shape()), shape_str(out_shape), shape_str(x.shape()),
                           shape_str(w.shape())));
    }
  }
  Tensor out = Tensor::empty(out_shape, dt);
  MatRef a = fold_rows(x);
  // weight^T as a [k, m] view: element (kk, j) is w[j, kk].
  MatRef b = w2 ? mat(w, k, m, w.strides()[1], w.strides()[0]) : mat(w, k, 1, w.strides()[0], 1);
  run(a, 0, b, 0, 1, 1.0f, 1.0f, bias ? &src : nullptr, out);
  return {out};
}

}  // namespace

std::vector<Tensor> exec_matmul(const OpCall& call) {
  std::string_view op = call.op.name;
  int n = static_cast<int>(call.inputs.size());
  auto which = static_cast<MatmulOp>(call.op.variant);
  int want_min = which == MatmulOp::Addmm ? 3 : 2;
  int want_max = which == MatmulOp::Addmm || which == MatmulOp::Linear ? 3 : 2;
  if (n < want_min || n > want_max)
    fail(op, want_min == want_max
                 ? fmt::format("expects {} tensor inputs, got {}", want_min, n)
                 : fmt::format("expects {} to {} tensor inputs, got {}", want_min, want_max, n));
  DType dt = common_dtype(call);
  switch (which) {
    case MatmulOp::Mm:
      return exec_mm(call, dt);
    case MatmulOp::Bmm:
      return exec_bmm(call, dt);
    case MatmulOp::Addmm:
      return exec_addmm(call, dt);
    case MatmulOp::Linear:
      return exec_linear(call, dt);
  }
  fail(op, "unknown matmul variant");
}

}  // namespace oomless::ops
