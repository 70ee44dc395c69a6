// Reference of split (chunks of split_size, the last one smaller) and split_with_sizes:
// output i is the input shifted along dim by the sizes of the outputs before it,
// computed from the arguments. Exact.
#include <fmt/format.h>

#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

double split_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  const Tensor& x = input(call, 0);
  const int64_t d = normalize_dim(call.args.get_int("dim"), x.rank(), call.op.name);
  int64_t offset = 0;
  if (static_cast<SplitOp>(call.op.variant) == SplitOp::Split) {
    offset = static_cast<int64_t>(output) * call.args.get_int("split_size");
  } else {
    const std::vector<int64_t> sizes = call.args.get_ints("split_sizes");
    if (output >= sizes.size())
      bad(call,
          fmt::format("output {} does not exist for split_sizes {}", output, shape_str(sizes)));
    for (size_t i = 0; i < output; ++i) offset += sizes[i];
  }
  Index in = idx;
  in[d] += offset;
  return at(x, in);
}

}  // namespace oomless::ops::ref
