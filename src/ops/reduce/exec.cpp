// Host execution of mean and linalg_vector_norm over any set of dims. The
// (contiguous) input is described as alternating groups of kept and reduced
// dims. If the innermost group is reduced, each output folds contiguous runs
// (reduce_run); otherwise rows of the reduced index accumulate into a vector
// of outputs (reduce_accumulate), in fixed row blocks. Every fold is in index
// order over fixed blocks, so threads never change the result.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/reduce/kernels.hpp"

namespace oomless::ops {

namespace {

struct Group {
  int64_t size, stride;
  bool reduced;
};

// Offset of multi-index `flat` (row-major over `gs`).
int64_t offset_of(const std::vector<Group>& gs, int64_t flat) {
  int64_t off = 0;
  for (size_t i = gs.size(); i-- > 0;) {
    off += (flat % gs[i].size) * gs[i].stride;
    flat /= gs[i].size;
  }
  return off;
}

int64_t count_of(const std::vector<Group>& gs) {
  int64_t n = 1;
  for (const auto& g : gs) n *= g.size;
  return n;
}

struct Plan {
  NormKind kind;
  double p = 0;  // PowSum exponent
  bool mean = false;
  double finish(double acc, int64_t count) const {
    if (mean) return acc / static_cast<double>(count);
    switch (kind) {
      case NormKind::SqSum:
        return std::sqrt(acc);
      case NormKind::PowSum:
        return std::pow(acc, 1.0 / p);
      default:
        return acc;
    }
  }
};

Plan make_plan(bool mean, double ord) {
  Plan pl;
  pl.mean = mean;
  if (mean)
    pl.kind = NormKind::Sum;
  else if (ord == 2)
    pl.kind = NormKind::SqSum;
  else if (ord == 1)
    pl.kind = NormKind::AbsSum;
  else if (ord == 0)
    pl.kind = NormKind::CountNonzero;
  else if (ord == INFINITY)
    pl.kind = NormKind::MaxAbs;
  else if (ord == -INFINITY)
    pl.kind = NormKind::MinAbs;
  else
    pl.kind = NormKind::PowSum, pl.p = ord;
  return pl;
}

void store(const Tensor& out, int64_t i, double v) {
  if (out.dtype() == DType::F32)
    out.data<float>()[i] = static_cast<float>(v);
  else
    out.data<uint16_t>()[i] = f32_to_bf16(static_cast<float>(v));
}

}  // namespace

std::vector<Tensor> exec_reduce(const OpCall& call) {
  const OpDesc& op = call.op;
  if (call.inputs.size() != 1)
    fail(op.name, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  const Tensor& x0 = call.inputs[0];
  if (!x0.defined()) fail(op.name, "input tensor is undefined");
  if (x0.dtype() != DType::F32 && x0.dtype() != DType::BF16)
    fail(op.name, fmt::format("input has dtype {}; host kernels take float32 or bfloat16",
                              dtype_name(x0.dtype())));
  // Validation and the output shape (dims, duplicates, empty no-identity norms).
  const OutputSpec spec = infer_output(op, {{x0.shape(), x0.dtype()}}, call.args);
  const bool mean = static_cast<ReduceOp>(op.variant) == ReduceOp::Mean;
  const Plan pl = make_plan(mean, mean ? 0.0 : call.args.get_float("ord"));

  const int64_t r = x0.rank();
  // A 0-d input accepts dim 0 / -1 like torch: one slot either way.
  std::vector<bool> red(static_cast<size_t>(std::max<int64_t>(r, 1)), call.args.is_none("dim"));
  if (!call.args.is_none("dim")) {
    const auto dims = call.args.get_ints("dim");
    if (dims.empty()) std::fill(red.begin(), red.end(), true);
    for (int64_t d : dims) red[normalize_dim(d, r, op.name)] = true;
  }

  const Tensor x = x0.contiguous();
  Tensor out = Tensor::empty(spec.outputs[0].shape, x.dtype());
  const int64_t outputs = out.numel();
  if (outputs == 0) return {out};
  const int64_t count = x.numel() / outputs;  // elements per output
  if (count == 0) {
    for (int64_t i = 0; i < outputs; ++i) store(out, i, pl.finish(reduce_identity(pl.kind), 0));
    return {out};
  }

  // Groups of adjacent dims of the same kind (size-1 dims dropped).
  std::vector<Group> gs;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t s = x.shape()[d], st = x.strides()[d];
    if (s == 1) continue;
    if (!gs.empty() && gs.back().reduced == red[d]) {
      gs.back().size *= s;
      gs.back().stride = st;
    } else {
      gs.push_back({s, st, red[d]});
    }
  }
  std::vector<Group> kept, reduced;
  for (const auto& g : gs) (g.reduced ? reduced : kept).push_back(g);
  const DType t = x.dtype();
  const int64_t es = static_cast<int64_t>(element_size(t));
  const char* px = static_cast<const char*>(x.raw());

  if (!gs.empty() && gs.back().reduced) {
    // Innermost group reduced: each output folds runs of length L.
    const int64_t L = gs.back().size;
    reduced.pop_back();
    const int64_t runs = count_of(reduced);
    auto one = [&](int64_t j) {
      const int64_t base = offset_of(kept, j);
      double acc = reduce_identity(pl.kind);
      for (int64_t s = 0; s < runs; ++s)
        acc = reduce_run(pl.kind, pl.p, t, px + (base + offset_of(reduced, s)) * es, L, acc);
      return acc;
    };
    const int64_t blocks = (L + kReduceBlock - 1) / kReduceBlock;
    if (outputs >= 8 || blocks == 1) {
#pragma omp parallel for schedule(dynamic, 16) if (outputs > 1 && count * outputs > 32768)
      for (int64_t j = 0; j < outputs; ++j) store(out, j, pl.finish(one(j), count));
      return {out};
    }
    // Few outputs over long runs: block partials in parallel, folded in the
    // same order as `one` folds them.
    const int64_t items = outputs * runs * blocks;
    std::vector<double> part(static_cast<size_t>(items));
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it % blocks, s = (it / blocks) % runs, j = it / (blocks * runs);
      const int64_t off = offset_of(kept, j) + offset_of(reduced, s) + b * kReduceBlock;
      part[it] = reduce_block(pl.kind, pl.p, t, px + off * es,
                              std::min(kReduceBlock, L - b * kReduceBlock));
    }
    for (int64_t j = 0; j < outputs; ++j) {
      double acc = reduce_identity(pl.kind);
      for (int64_t q = 0; q < runs * blocks; ++q)
        acc = reduce_combine(pl.kind, acc, part[j * runs * blocks + q]);
      store(out, j, pl.finish(acc, count));
    }
    return {out};
  }

  // Innermost group kept (contiguous, K columns): rows of the reduced index
  // accumulate into columns. Rows are cut into fixed blocks (by shape only)
  // whose partials fold in order.
  const int64_t K = gs.empty() ? 1 : gs.back().size;
  if (!kept.empty()) kept.pop_back();
  const int64_t outer = count_of(kept), rows = count_of(reduced);
  const int64_t rb = column_row_block(rows, K);
  const int64_t nrb = (rows + rb - 1) / rb;
  constexpr int64_t kCols = 1024;  // accumulator tile: 8 KiB of doubles
  const int64_t tiles = (K + kCols - 1) / kCols;
  std::vector<double> part(static_cast<size_t>(nrb * outputs));
  const int64_t items = outer * nrb * tiles;
#pragma omp parallel for schedule(dynamic, 1) if (items > 1 && count * outputs > 32768)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t c = it % tiles, b = (it / tiles) % nrb, j = it / (tiles * nrb);
    const int64_t c0 = c * kCols, w = std::min(kCols, K - c0);
    double* acc = part.data() + b * outputs + j * K + c0;
    std::fill(acc, acc + w, reduce_identity(pl.kind));
    const int64_t base = offset_of(kept, j) + c0;
    // Runs of rows along the innermost reduced group share one stride.
    const int64_t run = reduced.empty() ? 1 : reduced.back().size;
    const int64_t rstride = reduced.empty() ? 0 : reduced.back().stride;
    const int64_t end = std::min(rows, (b + 1) * rb);
    for (int64_t row = b * rb; row < end;) {
      const int64_t cnt = std::min({end - row, run - row % run, int64_t{8}});
      reduce_accumulate(pl.kind, pl.p, t, px + (base + offset_of(reduced, row)) * es, cnt, rstride,
                        w, acc);
      row += cnt;
    }
  }
#pragma omp parallel for schedule(static) if (outputs > 4096)
  for (int64_t e = 0; e < outputs; ++e) {
    double acc = reduce_identity(pl.kind);
    for (int64_t b = 0; b < nrb; ++b) acc = reduce_combine(pl.kind, acc, part[b * outputs + e]);
    store(out, e, pl.finish(acc, count));
  }
  return {out};
}

}  // namespace oomless::ops
