// Reference of mm, bmm, addmm and linear: one dot product per element (products of
// two floats are exact in double; the sum is compensated).
//   mm     out[i,j]    = sum_p a[i,p] b[p,j]
//   bmm    out[t,i,j]  = sum_p a[t,i,p] b[t,p,j]
//   addmm  out[i,j]    = beta * input[i,j] (broadcast; skipped when beta == 0, so NaN in
//                        input does not propagate) + alpha * (mat1 @ mat2)[i,j] (skipped
//                        when alpha == 0, BLAS semantics as the kernel documents)
//   linear out[...,j]  = sum_p x[...,p] w[j,p] (+ bias broadcast to the output)
// Error bound of the f32 computation (u = 2^-24, K the inner length): sum_gamma(K)
// sum|a b| (gamma_K for K <= 4096: any order, blocking or FMA use; longer dots blocked
// along K as GEMMs do, detail.hpp), times |alpha|; + 2u|alpha dot| (alpha
// held as float, one product) + 2u|beta input| + u|ref| for the epilogue's add.
#include <cmath>

#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Dot {
  double value = 0;
  double sum_abs = 0;  // sum |a_p b_p|
  double k = 0;
};

// sum_p a[a_idx with a_idx[da] = p] * b[b_idx with b_idx[db] = p].
Dot dot(const Tensor& a, Index a_idx, int64_t da, const Tensor& b, Index b_idx, int64_t db) {
  const int64_t k = a.shape()[da];
  Dot d;
  d.k = static_cast<double>(k);
  if (k == 0) return d;
  a_idx[da] = 0;
  b_idx[db] = 0;
  int64_t oa = offset_of(a, a_idx), ob = offset_of(b, b_idx);
  Sum sum, sum_abs;
  for (int64_t p = 0; p < k; ++p, oa += a.strides()[da], ob += b.strides()[db]) {
    const double prod = load(a, oa) * load(b, ob);
    sum.add(prod);
    sum_abs.add(std::fabs(prod));
  }
  d.value = sum.value();
  d.sum_abs = sum_abs.value();
  return d;
}

struct Parts {
  Dot dot;
  double alpha = 1;
  double extra = 0;  // beta * input (addmm) or bias (linear), 0 if none
  bool has_extra = false;
};

Parts parts(const OpCall& call, const Index& idx) {
  Parts r;
  switch (static_cast<MatmulOp>(call.op.variant)) {
    case MatmulOp::Mm: {
      const Tensor &a = input(call, 0), &b = input(call, 1);
      if (a.rank() != 2 || b.rank() != 2) bad(call, "mm expects 2-D inputs");
      r.dot = dot(a, {idx[0], 0}, 1, b, {0, idx[1]}, 0);
      return r;
    }
    case MatmulOp::Bmm: {
      const Tensor &a = input(call, 0), &b = input(call, 1);
      if (a.rank() != 3 || b.rank() != 3) bad(call, "bmm expects 3-D inputs");
      r.dot = dot(a, {idx[0], idx[1], 0}, 2, b, {idx[0], 0, idx[2]}, 1);
      return r;
    }
    case MatmulOp::Addmm: {
      const Tensor &in = input(call, 0), &a = input(call, 1), &b = input(call, 2);
      if (a.rank() != 2 || b.rank() != 2) bad(call, "addmm expects 2-D mat1 and mat2");
      r.alpha = call.args.get_float("alpha");
      const double beta = call.args.get_float("beta");
      if (r.alpha != 0) r.dot = dot(a, {idx[0], 0}, 1, b, {0, idx[1]}, 0);
      if (beta != 0) {
        r.extra = beta * at(in, broadcast_index(in.shape(), idx));
        r.has_extra = true;
      }
      return r;
    }
    case MatmulOp::Linear: {
      const Tensor &x = input(call, 0), &w = input(call, 1);
      if (x.rank() < 1 || w.rank() != 2) bad(call, "linear expects input [..., k], weight [m, k]");
      Index xi(idx.begin(), idx.end() - 1);
      xi.push_back(0);
      r.dot = dot(x, xi, x.rank() - 1, w, {idx.back(), 0}, 1);
      if (has_input(call, 2)) {
        const Tensor& bias = input(call, 2);
        r.extra = at(bias, broadcast_index(bias.shape(), idx));
        r.has_extra = true;
      }
      return r;
    }
  }
  bad(call, "unknown matmul variant");
}

}  // namespace

double matmul_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "matmul ops have one output");
  const Parts p = parts(call, idx);
  const double product = p.alpha == 0 ? 0 : p.alpha * p.dot.value;
  return p.has_extra ? p.extra + product : product;
}

Bound matmul_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double ref) {
  const Parts p = parts(call, idx);
  const double a = std::fabs(p.alpha);
  double e = a * sum_gamma(p.dot.k) * p.dot.sum_abs;
  if (p.alpha != 1) e += 2 * kU * a * std::fabs(p.dot.value);
  if (p.has_extra) e += 2 * kU * std::fabs(p.extra) + kU * std::fabs(ref);
  return error_bound(e);
}

}  // namespace oomless::ops::ref
