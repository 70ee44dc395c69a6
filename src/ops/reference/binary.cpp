// Reference of add/sub (self +- alpha * other), mul and div with torch broadcasting.
//
// Error bounds of the f32 computation (u = 2^-24): mul u|ref| (one rounding); div
// 2u|ref| (a reciprocal-multiply is allowed); add/sub u|ref| when alpha == 1 (one
// rounding of exact operands), else u|ref| + 2u|alpha other| (alpha held as float and
// one product before the sum, which may cancel).
#include <cmath>

#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Operands {
  double a, b;
};

Operands operands(const OpCall& call, const Index& idx) {
  const Tensor& a = input(call, 0);
  const Tensor& b = input(call, 1);
  return {at(a, broadcast_index(a.shape(), idx)), at(b, broadcast_index(b.shape(), idx))};
}

}  // namespace

double binary_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "binary ops have one output");
  const auto [a, b] = operands(call, idx);
  switch (static_cast<BinaryOp>(call.op.variant)) {
    case BinaryOp::Add:
      return a + call.args.get_float("alpha") * b;
    case BinaryOp::Sub:
      return a - call.args.get_float("alpha") * b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
  }
  bad(call, "unknown binary variant");
}

Bound binary_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double ref) {
  const double r = std::fabs(ref);
  switch (static_cast<BinaryOp>(call.op.variant)) {
    case BinaryOp::Add:
    case BinaryOp::Sub: {
      const double alpha = call.args.get_float("alpha");
      if (alpha == 1) return error_bound(kU * r);
      return error_bound(kU * r + 2 * kU * std::fabs(alpha * operands(call, idx).b));
    }
    case BinaryOp::Mul:
      return error_bound(kU * r);
    case BinaryOp::Div:
      return error_bound(2 * kU * r);
  }
  bad(call, "unknown binary variant");
}

}  // namespace oomless::ops::ref
