// Reference of the movement ops: which input element each output element shows.
// permute / transpose relabel dims; view / _unsafe_view keep the row-major order;
// unsqueeze drops the new dim; expand and copy read broadcast elements (size-1 dims
// read 0); clone and identity read the same index. All exact.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "ops/families.hpp"
#include "ops/infer.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

double movement_at(const OpCall& call, const Shapes& shapes, size_t output, const Index& idx) {
  if (output != 0) bad(call, "movement ops have one output");
  const Tensor& x = input(call, 0);
  const std::string_view op = call.op.name;
  switch (static_cast<MovementOp>(call.op.variant)) {
    case MovementOp::Permute: {
      const std::vector<int64_t> dims = call.args.get_ints("dims");
      if (static_cast<int64_t>(dims.size()) != x.rank() || idx.size() != dims.size())
        bad(call, fmt::format("dims {} do not match the input {}", shape_str(dims),
                              shape_str(x.shape())));
      Index in(x.rank());
      for (size_t k = 0; k < dims.size(); ++k) in[normalize_dim(dims[k], x.rank(), op)] = idx[k];
      return at(x, in);
    }
    case MovementOp::Transpose: {
      Index in = idx;
      std::swap(in[normalize_dim(call.args.get_int("dim0"), x.rank(), op)],
                in[normalize_dim(call.args.get_int("dim1"), x.rank(), op)]);
      return at(x, in);
    }
    case MovementOp::View:
    case MovementOp::UnsafeView: {
      if (numel(shapes[0]) != x.numel())
        bad(call, fmt::format("cannot view {} as {}", shape_str(x.shape()), shape_str(shapes[0])));
      return x.get(linear_index(shapes[0], idx));
    }
    case MovementOp::Unsqueeze: {
      Index in = idx;
      in.erase(in.begin() + normalize_dim(call.args.get_int("dim"), x.rank() + 1, op));
      return at(x, in);
    }
    case MovementOp::Expand:
      return at(x, broadcast_index(x.shape(), idx));
    case MovementOp::Clone:
    case MovementOp::Identity:
      return at(x, idx);
    case MovementOp::Slice: {
      int64_t d = normalize_dim(call.args.get_int("dim"), x.rank(), op);
      SliceRange s = slice_range(op, x.shape()[d], call.args);
      Index in = idx;
      in[d] = s.start + idx[d] * s.step;
      return at(x, in);
    }
    case MovementOp::Select: {
      int64_t d = normalize_dim(call.args.get_int("dim"), x.rank(), op);
      int64_t index = call.args.get_int("index");
      Index in = idx;
      in.insert(in.begin() + d, index < 0 ? index + x.shape()[d] : index);
      return at(x, in);
    }
    case MovementOp::Copy: {
      const Tensor& src = input(call, 1);
      return at(src, broadcast_index(src.shape(), idx));
    }
  }
  bad(call, "unknown movement variant");
}

}  // namespace oomless::ops::ref
