// split / split_with_sizes: views (narrow) of the input, as in PyTorch.
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

namespace {

// torch: chunks of split_size, the last one smaller; a size-0 dim gives one
// empty chunk; split_size 0 is only valid on a size-0 dim.
std::vector<int64_t> even_sizes(int64_t n, int64_t split_size, std::string_view op) {
  if (split_size < 0)
    fail(op, fmt::format("split_size must be non-negative, got split_size={}", split_size));
  if (split_size == 0 && n != 0)
    fail(op,
         fmt::format("split_size can only be 0 if the dim size is 0, but the dim size is {}", n));
  const int64_t chunks =
      split_size == 0 ? 1 : std::max<int64_t>((n + split_size - 1) / split_size, 1);
  std::vector<int64_t> sizes(chunks, split_size);
  sizes.back() = n - split_size * (chunks - 1);
  return sizes;
}

void check_sizes(const std::vector<int64_t>& sizes, int64_t n, int64_t dim, std::string_view op) {
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0)
      fail(op,
           fmt::format("split_sizes must be non-negative, got split_sizes={}", shape_str(sizes)));
    sum += s;
  }
  if (sum != n)
    fail(op, fmt::format("split_sizes must sum exactly to {} (the input's size at dim {}), but got "
                         "split_sizes={}",
                         n, dim, shape_str(sizes)));
}

}  // namespace

std::vector<Tensor> exec_split(const OpCall& call) {
  const std::string_view op = call.op.name;
  if (call.inputs.size() != 1)
    fail(op, fmt::format("expects 1 tensor input, got {}", call.inputs.size()));
  const Tensor& x = call.inputs[0];
  check_host_dtype(x, op);
  if (x.rank() == 0) fail(op, "expects at least a 1-dimensional tensor, got a 0-d tensor");
  const int64_t dim = normalize_dim(call.args.get_int("dim"), x.rank(), op);
  const int64_t n = x.shape()[dim];
  std::vector<int64_t> sizes;
  if (static_cast<SplitOp>(call.op.variant) == SplitOp::Split) {
    sizes = even_sizes(n, call.args.get_int("split_size"), op);
  } else {
    sizes = call.args.get_ints("split_sizes");
    check_sizes(sizes, n, dim, op);
  }
  std::vector<Tensor> out;
  out.reserve(sizes.size());
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, at, s));
    at += s;
  }
  return out;
}

}  // namespace oomless::ops
