// Reference of cat / concat (join along an existing dim; torch's legacy rule skips 1-D
// empty inputs) and stack (join along a new dim): the input element each output
// element comes from. Exact (bf16 promoted to f32 is exact too).
#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

bool legacy_empty(const Tensor& t) {
  return t.rank() == 1 && t.numel() == 0;
}

}  // namespace

double concat_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "cat and stack have one output");
  if (call.inputs.empty()) bad(call, "no tensors to join");
  if (static_cast<ConcatOp>(call.op.variant) == ConcatOp::Stack) {
    const int64_t d =
        normalize_dim(call.args.get_int("dim"), input(call, 0).rank() + 1, call.op.name);
    Index in = idx;
    in.erase(in.begin() + d);
    return at(input(call, static_cast<size_t>(idx[d])), in);
  }
  const Tensor* first = nullptr;
  for (const Tensor& t : call.inputs)
    if (!legacy_empty(t)) {
      first = &t;
      break;
    }
  if (!first) bad(call, "all inputs are empty");
  const int64_t d = normalize_dim(call.args.get_int("dim"), first->rank(), call.op.name);
  int64_t pos = idx[d];
  for (const Tensor& t : call.inputs) {
    if (legacy_empty(t)) continue;
    if (pos < t.shape()[d]) {
      Index in = idx;
      in[d] = pos;
      return at(t, in);
    }
    pos -= t.shape()[d];
  }
  bad(call, "index past the joined inputs");
}

}  // namespace oomless::ops::ref
