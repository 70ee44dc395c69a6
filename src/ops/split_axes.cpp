#include "ops/split_axes.hpp"

#include <algorithm>

#include "ops/families.hpp"

namespace oomless::ops {

namespace {

int rank(const Shape& s) {
  return static_cast<int>(s.size());
}

int wrap(int64_t d, int r) {
  return static_cast<int>(d < 0 ? d + r : d);
}

// Every output dim maps to the same dim of each listed input (broadcast inputs
// align from the right; size-1 or missing dims are used whole).
std::vector<SplitAxis> elementwise(const std::vector<TensorSpec>& in, const OutputSpec& out,
                                   const std::vector<int>& skip = {}) {
  std::vector<SplitAxis> axes;
  const Shape& o = out.outputs[0].shape;
  for (int d = 0; d < rank(o); ++d) {
    if (std::find(skip.begin(), skip.end(), d) != skip.end()) continue;
    SplitAxis a{d, {}};
    for (const auto& t : in) {
      int id = d - (rank(o) - rank(t.shape));
      a.in_dims.push_back(id >= 0 && t.shape[id] == o[d] && o[d] != 1 ? id : -1);
    }
    axes.push_back(a);
  }
  return axes;
}

std::vector<SplitAxis> reduce_axes(const std::vector<TensorSpec>& in, const Args& args) {
  const Shape& s = in[0].shape;
  std::vector<bool> reduced(s.size(), args.is_none("dim"));
  if (!args.is_none("dim"))
    for (int64_t d : args.get_ints("dim")) reduced[wrap(d, rank(s))] = true;
  if (s.empty()) return {};
  bool keep = args.get_bool("keepdim");
  std::vector<SplitAxis> axes;
  int od = 0;
  for (int d = 0; d < rank(s); ++d) {
    if (reduced[d]) {
      od += keep ? 1 : 0;
      continue;
    }
    axes.push_back({od++, {d}});
  }
  return axes;
}

std::vector<SplitAxis> matmul_axes(MatmulOp m, const std::vector<TensorSpec>& in,
                                   const OutputSpec& out) {
  switch (m) {
    case MatmulOp::Mm:
      return {{0, {0, -1}}};
    case MatmulOp::Bmm:
      return {{0, {0, 0}}, {1, {1, -1}}};
    case MatmulOp::Addmm: {
      const Shape& bias = in[0].shape;
      int bias_dim = rank(bias) == 2 && bias[0] != 1 ? 0 : -1;
      return {{0, {bias_dim, 0, -1}}};
    }
    case MatmulOp::Linear: {
      std::vector<SplitAxis> axes;
      for (int d = 0; d + 1 < rank(out.outputs[0].shape); ++d) {
        SplitAxis a{d, {d, -1}};
        if (in.size() > 2) a.in_dims.push_back(-1);
        axes.push_back(a);
      }
      return axes;
    }
  }
  return {};
}

}  // namespace

std::vector<SplitAxis> split_axes(const OpDesc& op, const std::vector<TensorSpec>& in,
                                  const OutputSpec& out, const Args& args) {
  if (out.outputs.empty()) return {};
  for (const auto& o : out.outputs)
    if (o.shape != out.outputs[0].shape) return {};
  for (int v : out.view_of)
    if (v >= 0) return {};  // views cost no compute
  int r = rank(out.outputs[0].shape);
  switch (op.family) {
    case Family::Unary:
    case Family::Binary:
    case Family::Creation:
      return elementwise(in, out);
    case Family::Softmax:
      return elementwise(in, out, {wrap(args.get_int("dim"), r)});
    case Family::TopK:
      return elementwise(in, out, {wrap(args.get_int("dim"), r)});
    case Family::Reduce:
      return reduce_axes(in, args);
    case Family::MaxPool:
    case Family::Upsample: {
      // Channels and batch are independent; rows need halos (not chunked here).
      if (r == 3) return {{0, {0}}};
      bool cl = args.get_bool("channels_last");
      return {{0, {0}}, {cl ? 3 : 1, {cl ? 3 : 1}}};
    }
    case Family::Movement:
      switch (static_cast<MovementOp>(op.variant)) {
        case MovementOp::Clone:
        case MovementOp::Copy:
          return elementwise(in, out);
        case MovementOp::Permute:
        case MovementOp::Transpose: {
          // Output dim d reads the input dim that moved there.
          std::vector<int64_t> perm(static_cast<size_t>(r));
          for (int d = 0; d < r; ++d) perm[d] = d;
          if (static_cast<MovementOp>(op.variant) == MovementOp::Permute) {
            auto dims = args.get_ints("dims");
            for (int d = 0; d < r; ++d) perm[d] = wrap(dims[d], r);
          } else if (r > 0) {
            std::swap(perm[wrap(args.get_int("dim0"), r)], perm[wrap(args.get_int("dim1"), r)]);
          }
          std::vector<SplitAxis> axes;
          for (int d = 0; d < r; ++d) axes.push_back({d, {static_cast<int>(perm[d])}});
          return axes;
        }
        default:
          return {};
      }
    case Family::Concat: {
      int dim = wrap(args.get_int("dim"), r);
      bool stack = static_cast<ConcatOp>(op.variant) == ConcatOp::Stack;
      std::vector<SplitAxis> axes;
      for (int d = 0; d < r; ++d) {
        if (d == dim) continue;
        int id = stack && d > dim ? d - 1 : d;
        SplitAxis a{d, {}};
        for (const auto& t : in) {
          if (rank(t.shape) != (stack ? r - 1 : r)) return {};  // legacy empty inputs
          a.in_dims.push_back(id);
        }
        axes.push_back(a);
      }
      return axes;
    }
    case Family::Matmul:
      return matmul_axes(static_cast<MatmulOp>(op.variant), in, out);
    case Family::BatchNorm:
    case Family::Dropout:
    case Family::Split:
      return {};
  }
  return {};
}

}  // namespace oomless::ops
