// Reference of native_dropout(p, train, seed): the mask is random, so this gives the
// value of a *kept* element — x / (1 - p) in training (0 when p == 1, where everything
// is dropped), x in eval — and 1 (kept) for the mask output (0 when p == 1). Whether a
// produced element is kept or dropped is judged by reference_dropout_ok.
// Error bound (u = 2^-24): x * float(1 / (1 - p)) is 2u|ref|; eval copies exactly.
#include <cmath>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

bool scales(const OpCall& call) {
  return call.args.get_bool("train") && call.args.get_float("p") != 0;
}

}  // namespace

double dropout_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output > 1) bad(call, "dropout has two outputs");
  const bool train = call.args.get_bool("train");
  const double p = call.args.get_float("p");
  if (output == 1) return train && p == 1 ? 0 : 1;
  const double x = at(input(call, 0), idx);
  if (!train) return x;
  if (p == 1) return 0;
  return x / (1 - p);
}

Bound dropout_bound(const OpCall& call, const Shapes&, size_t output, const Index&, double ref) {
  if (output == 1 || !scales(call)) return exact_bound();
  return error_bound(2 * kU * std::fabs(ref));
}

}  // namespace oomless::ops::ref
