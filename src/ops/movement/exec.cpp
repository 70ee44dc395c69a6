// Movement ops. Everything PyTorch returns as a view is a view here (shares
// storage, allocates nothing); clone and copy are one strided copy each.
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/infer.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::ops {

namespace {

// torch's infer_size: at most one -1, which takes the remaining elements.
Shape view_size(const std::vector<int64_t>& size, int64_t numel, std::string_view op) {
  Shape out(size.begin(), size.end());
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] == -1) {
      if (infer >= 0)
        fail(op, fmt::format("only one dimension can be inferred in {}", shape_str(size)));
      infer = static_cast<int>(i);
    } else if (size[i] < 0) {
      fail(op, fmt::format("invalid shape dimension {} in {}", size[i], shape_str(size)));
    } else {
      known *= size[i];
    }
  }
  if (infer < 0) return out;  // numel mismatch is reported by Tensor::view
  if (known == 0 && numel == 0)
    fail(op, fmt::format("cannot reshape tensor of 0 elements into shape {} because the "
                         "unspecified dimension size -1 can be any value and is ambiguous",
                         shape_str(size)));
  if (known == 0 || numel % known != 0)
    fail(op, fmt::format("shape {} is invalid for input of size {}", shape_str(size), numel));
  out[infer] = numel / known;
  return out;
}

Tensor view(const Tensor& x, const std::vector<int64_t>& size, std::string_view op) {
  Shape shape = view_size(size, x.numel(), op);
  // A 0-d tensor has one element: any shape of numel 1 views it.
  if (x.rank() == 0 && numel(shape) == 1)
    return Tensor::wrap(x.storage(), shape, contiguous_strides(shape), x.dtype(), x.offset());
  return x.view(shape, op);
}

Tensor expand(const Tensor& x, const std::vector<int64_t>& size, std::string_view op) {
  for (size_t i = 0; i < size.size(); ++i)
    if (size[i] < -1)
      fail(op, fmt::format("the expanded size {} at dim {} is invalid (sizes are >= 0, or -1 to "
                           "keep a dim)",
                           size[i], i));
  return x.expand(size, op);
}

// aten.copy.default is out of place: a new tensor of self's shape and dtype
// holding src's values broadcast to that shape.
Tensor copy(const Tensor& self, const Tensor& src, std::string_view op) {
  Tensor from = src.expand(self.shape(), op);
  Tensor out = Tensor::empty(self.shape(), self.dtype());
  copy_into(out, from, op);
  return out;
}

}  // namespace

std::vector<Tensor> exec_movement(const OpCall& call) {
  const std::string_view name = call.op.name;
  const auto kind = static_cast<MovementOp>(call.op.variant);
  const size_t want = kind == MovementOp::Copy ? 2 : 1;
  if (call.inputs.size() != want)
    fail(name, fmt::format("expects {} tensor input(s), got {}", want, call.inputs.size()));
  for (size_t i = 0; i < want; ++i) check_host_dtype(call.inputs[i], name, static_cast<int>(i));
  const Tensor& x = call.inputs[0];
  const Args& a = call.args;
  switch (kind) {
    case MovementOp::Permute:
      return {x.permute(a.get_ints("dims"), name)};
    case MovementOp::Transpose:
      return {x.transpose(a.get_int("dim0"), a.get_int("dim1"), name)};
    case MovementOp::View:
    case MovementOp::UnsafeView:
      return {view(x, a.get_ints("size"), name)};
    case MovementOp::Unsqueeze:
      return {x.unsqueeze(a.get_int("dim"), name)};
    case MovementOp::Expand:
      return {expand(x, a.get_ints("size"), name)};
    case MovementOp::Identity:
      return {x};
    case MovementOp::Slice: {
      int64_t d = normalize_dim(a.get_int("dim"), x.rank(), name);
      SliceRange s = slice_range(name, x.shape()[d], a);
      Shape shape = x.shape();
      Strides strides = x.strides();
      shape[d] = s.length;
      strides[d] *= s.step;
      return {Tensor::wrap(x.storage(), shape, strides, x.dtype(),
                           x.offset() + s.start * x.strides()[d])};
    }
    case MovementOp::Select: {
      int64_t d = normalize_dim(a.get_int("dim"), x.rank(), name);
      int64_t size = x.shape()[d], index = a.get_int("index");
      if (index < -size || index >= size)
        fail(name, fmt::format("select(): index {} out of range for tensor of size {} at "
                               "dimension {}",
                               index, shape_str(x.shape()), d));
      if (index < 0) index += size;
      Shape shape = x.shape();
      Strides strides = x.strides();
      shape.erase(shape.begin() + d);
      strides.erase(strides.begin() + d);
      return {Tensor::wrap(x.storage(), shape, strides, x.dtype(),
                           x.offset() + index * x.strides()[d])};
    }
    case MovementOp::Clone:
      return {clone_contiguous(x, name)};
    case MovementOp::Copy:
      return {copy(x, call.inputs[1], name)};
  }
  throw Error(fmt::format("[{}] internal: unknown movement variant {}", name, call.op.variant));
}

}  // namespace oomless::ops
