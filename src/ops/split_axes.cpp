#include "ops/split_axes.hpp"

#include <algorithm>
#include <numeric>

#include "ops/conv/geometry.hpp"
#include "ops/families.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/reduce/kernels.hpp"

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

// How the reduce kernel (ops/reduce/exec.cpp) folds a shape: size-1 dims
// dropped, adjacent dims of one kind merged; an innermost reduced group folds
// contiguous runs of it, else rows of the reduced groups accumulate into
// columns in blocks of column_row_block rows. The bits depend on all of it.
struct Folding {
  bool inner_reduced = false;
  std::vector<int64_t> reduced;  // sizes of the reduced groups
  int64_t row_block = 0;         // column reductions: rows per block (0: one block)

  bool operator==(const Folding&) const = default;
};

Folding folding(const Shape& s, const std::vector<bool>& red) {
  Folding f;
  int last = -1;  // kind of the previous group: 0 kept, 1 reduced
  int64_t rows = 1, cols = 1;
  for (int d = 0; d < rank(s); ++d) {
    if (s[d] == 1) continue;
    int kind = red[d] ? 1 : 0;
    if (kind == 1) {
      if (last == 1)
        f.reduced.back() *= s[d];
      else
        f.reduced.push_back(s[d]);
      rows *= s[d];
    } else {
      cols = last == 0 ? cols * s[d] : s[d];  // the last run of kept dims
    }
    last = kind;
  }
  f.inner_reduced = last == 1;
  if (!f.inner_reduced) {
    int64_t rb = column_row_block(rows, cols);
    f.row_block = rb >= rows ? 0 : rb;
  }
  return f;
}

// True when cutting kept input dim d to any extent folds like the whole call.
// Extents beyond 1025 fold like 1025 (the columns are then >= 1024, so the row
// block is all rows), so those need no check.
bool folding_stays(const Shape& s, const std::vector<bool>& reduced, int d) {
  Folding whole = folding(s, reduced);
  Shape t = s;
  for (int64_t c = 1; c < s[d] && c <= 1025; ++c) {
    t[d] = c;
    if (!(folding(t, reduced) == whole)) return false;
  }
  return true;
}

std::vector<SplitAxis> reduce_axes(const std::vector<TensorSpec>& in, const Args& args) {
  const Shape& s = in[0].shape;
  std::vector<bool> reduced(s.size(), args.is_none("dim"));
  if (!args.is_none("dim")) {
    auto dims = args.get_ints("dim");
    if (dims.empty()) std::fill(reduced.begin(), reduced.end(), true);  // dim=[]: all
    for (int64_t d : dims) reduced[wrap(d, rank(s))] = true;
  }
  if (s.empty()) return {};
  bool keep = args.get_bool("keepdim");
  std::vector<SplitAxis> axes;
  int od = 0;
  for (int d = 0; d < rank(s); ++d) {
    if (reduced[d]) {
      od += keep ? 1 : 0;
      continue;
    }
    if (folding_stays(s, reduced, d)) axes.push_back({od, {d}});
    ++od;
  }
  return axes;
}

// Every GEMM output element is the same chain of operations wherever the rows or
// columns are cut (ops/gemm/gemm.hpp: kRowAlign and kColAlign are 1), so chunks may
// start anywhere. Columns (B's columns) come after rows: a graph chains attention's
// second bmm along them (its query tokens are B's columns).
std::vector<SplitAxis> matmul_axes(MatmulOp m, const std::vector<TensorSpec>& in,
                                   const OutputSpec& out) {
  constexpr int64_t tile = gemm::kRowAlign;
  switch (m) {
    case MatmulOp::Mm:
      return {{0, {0, -1}, tile}, {1, {-1, 1}, gemm::kColAlign}};
    case MatmulOp::Bmm:
      // Batch entries are independent GEMMs.
      return {{0, {0, 0}, 1}, {1, {1, -1}, tile}, {2, {-1, 2}, gemm::kColAlign}};
    case MatmulOp::Addmm: {
      const Shape& bias = in[0].shape;
      int bias_dim = rank(bias) == 2 && bias[0] != 1 ? 0 : -1;
      return {{0, {bias_dim, 0, -1}, tile}};
    }
    case MatmulOp::Linear: {
      // Leading dims of the input fold into GEMM rows: a chunk of dim d starts at
      // row start * inner, inner = the product of the input dims after d but the last.
      const Shape& x = in[0].shape;
      const Shape& o = out.outputs[0].shape;
      const TensorSpec* bias = in.size() > 2 ? &in[2] : nullptr;
      if (bias) {
        // The bias must broadcast to the output (not torch's [rows, m] addmm form).
        int lead = rank(o) - rank(bias->shape);
        if (lead < 0) return {};
        for (int d = 0; d < rank(bias->shape); ++d)
          if (bias->shape[d] != 1 && bias->shape[d] != o[d + lead]) return {};
      }
      std::vector<SplitAxis> axes;
      for (int d = 0; d + 1 < rank(x); ++d) {
        int64_t inner = 1;
        for (int e = d + 1; e + 1 < rank(x); ++e) inner *= x[e];
        SplitAxis a{d, {d, -1}, tile / std::gcd(tile, std::max<int64_t>(inner, 1))};
        if (bias) {
          int id = d - (rank(o) - rank(bias->shape));
          a.in_dims.push_back(id >= 0 && bias->shape[id] == o[d] && o[d] != 1 ? id : -1);
        }
        axes.push_back(a);
      }
      return axes;
    }
  }
  return {};
}

// Convolution: images; output rows with their input halo (TT-NN's DRAM height
// slicing); output channels with their weights (and, depthwise, their input
// channels). Grouped convs in between keep their channels whole.
std::vector<SplitAxis> conv_axes(const std::vector<TensorSpec>& in, const Args& args) {
  const ConvGeom g = conv_geometry("convolution", in, args);
  const int b = g.batched ? 1 : 0;
  const int c = g.channels_last ? 3 : b, h = g.channels_last ? 1 : b + 1;
  auto axis = [&](int out_dim, int x, int w) {  // the bias is cut with the weight
    SplitAxis a{out_dim, {x, w}};
    if (g.has_bias) a.in_dims.push_back(w);
    return a;
  };
  std::vector<SplitAxis> axes;
  if (g.batched) axes.push_back(axis(0, 0, -1));
  if (g.full_h == g.H && g.row0 == 0 && g.OH == g.full_oh) {  // not already a row slice
    SplitAxis rows = axis(h, h, -1);
    rows.halo =
        SplitAxis::Halo{g.sh, g.ph, (g.kh - 1) * g.dh + 1, g.H, "rows_of", "out_row0", "out_rows"};
    axes.push_back(rows);
  }
  if (g.groups == 1) axes.push_back(axis(c, -1, 0));
  if (g.groups > 1 && g.groups == g.C && g.K == g.C) {
    SplitAxis dw = axis(c, c, 0);
    dw.count_arg = "groups";  // a chunk of n channels is n groups
    axes.push_back(dw);
  }
  return axes;
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
    case Family::MaxPool: {
      // Channels and batch are independent; output rows read a halo of input rows.
      bool cl = args.get_bool("channels_last");
      int c = r == 3 ? 0 : cl ? 3 : 1, h = r == 3 ? 1 : cl ? 1 : 2;
      std::vector<SplitAxis> axes;
      if (r == 4) axes.push_back({0, {0}});
      axes.push_back({c, {c}});
      if (args.is_none("rows_of")) {  // not already a row chunk
        auto pair = [&](std::string_view name, int64_t fallback) {
          auto v = args.is_none(name) ? std::vector<int64_t>{} : args.get_ints(name);
          return v.empty() ? fallback : v[0];
        };
        int64_t k = pair("kernel_size", 1), dil = pair("dilation", 1);
        SplitAxis rows{h, {h}};
        rows.halo = SplitAxis::Halo{pair("stride", k), pair("padding", 0), (k - 1) * dil + 1,
                                    in[0].shape[h],    "rows_of",          "out_row0",
                                    "out_rows"};
        axes.push_back(rows);
      }
      return axes;
    }
    case Family::Upsample: {
      // Channels and batch are independent; rows would need a source-row map.
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
    case Family::Dropout: {
      // Element g draws from Philox at its global row-major index: a chunk must
      // be one contiguous index range, so only the outermost dim of extent > 1
      // is cut, and the chunk gets its first index as the `offset` argument.
      const Shape& o = out.outputs[0].shape;
      for (int d = 0; d < r; ++d) {
        if (o[d] == 1) continue;
        int64_t inner = 1;
        for (int e = d + 1; e < r; ++e) inner *= o[e];
        SplitAxis a{d, {d}};
        a.offset_arg = "offset";
        a.offset_stride = inner;
        return {a};
      }
      return {};
    }
    case Family::Conv:
      return conv_axes(in, args);
    case Family::BatchNorm:
    case Family::Split:
      return {};
  }
  return {};
}

}  // namespace oomless::ops
