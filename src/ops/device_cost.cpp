#include "ops/device_cost.hpp"

#include "ops/families.hpp"

namespace oomless::ops {

namespace {

// Same pages with the same contents: ROW_MAJOR pages are rows, so the last dim
// must stay; TILE pages hold 32 rows, so the rows must also group into tiles the
// same way: same height, or both heights whole tiles (no padding rows between).
bool same_pages(const Shape& a, const Shape& b, Layout layout) {
  auto dim = [](const Shape& s, size_t back) { return s.size() >= back ? s[s.size() - back] : 1; };
  if (dim(a, 1) != dim(b, 1)) return false;
  if (layout == Layout::RowMajor) return true;
  int64_t ha = dim(a, 2), hb = dim(b, 2);
  return ha == hb || (ha % kTileDim == 0 && hb % kTileDim == 0);
}

// A permutation that only moves size-1 dims keeps the element order.
bool relabels_only(const Shape& in, const std::vector<int64_t>& perm) {
  int64_t last = -1;
  for (int64_t p : perm) {
    int64_t d = p < 0 ? p + static_cast<int64_t>(in.size()) : p;
    if (in[d] == 1) continue;
    if (d < last) return false;
    last = d;
  }
  return true;
}

// A narrow of input dim `dim` is a contiguous page range when every dim before
// it has size 1 and the page dims are untouched.
bool leading_slice(const Shape& in, int64_t dim, Layout layout) {
  int64_t rank = static_cast<int64_t>(in.size());
  int64_t page_dims = layout == Layout::Tile ? 2 : 1;
  if (dim >= rank - page_dims) return false;
  for (int64_t d = 0; d < dim; ++d)
    if (in[d] != 1) return false;
  return true;
}

}  // namespace

bool needs_device_buffer(const OpDesc& op, const std::vector<TensorSpec>& inputs,
                         const OutputSpec& out, size_t i, const Args& args, Layout layout) {
  int src = i < out.view_of.size() ? out.view_of[i] : -1;
  if (src < 0) return true;
  const Shape& in = inputs[static_cast<size_t>(src)].shape;
  const Shape& o = out.outputs[i].shape;
  if (op.family == Family::Split) {
    int64_t rank = static_cast<int64_t>(in.size());
    int64_t dim = args.get_int("dim");
    dim = dim < 0 ? dim + rank : dim;
    return out.outputs.size() > 1 && !leading_slice(in, dim, layout);
  }
  if (op.family == Family::Movement) {
    switch (static_cast<MovementOp>(op.variant)) {
      case MovementOp::Permute:
        if (!relabels_only(in, args.get_ints("dims"))) return true;
        break;
      case MovementOp::Transpose: {
        int64_t rank = static_cast<int64_t>(in.size());
        if (rank < 2) return false;
        int64_t a = args.get_int("dim0"), b = args.get_int("dim1");
        a = a < 0 ? a + rank : a;
        b = b < 0 ? b + rank : b;
        std::vector<int64_t> perm(in.size());
        for (size_t d = 0; d < perm.size(); ++d) perm[d] = static_cast<int64_t>(d);
        std::swap(perm[a], perm[b]);
        if (!relabels_only(in, perm)) return true;
        break;
      }
      case MovementOp::Expand:
        // Device tensors have no zero strides: a real broadcast is materialised.
        if (numel(o) != numel(in)) return true;
        break;
      case MovementOp::Slice:
      case MovementOp::Select: {
        // A contiguous range of pages, as a split's piece: step 1 along a dim
        // that only size-1 dims precede and that is not a page dim.
        int64_t rank = static_cast<int64_t>(in.size());
        int64_t dim = args.get_int("dim");
        dim = dim < 0 ? dim + rank : dim;
        bool step1 =
            static_cast<MovementOp>(op.variant) == MovementOp::Select || args.get_int("step") == 1;
        return !(step1 && leading_slice(in, dim, layout));
      }
      default:
        break;
    }
  }
  return !same_pages(in, o, layout);
}

}  // namespace oomless::ops
