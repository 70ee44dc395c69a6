// Phase 1 of every op family: validate a call and infer its outputs with the
// semantics of the aten op (torch 1.13): defaults, negative dims, broadcasting,
// empty dims, the number and dtypes of outputs, and which outputs are host
// views of an input. Error texts follow PyTorch's wording where it has one and
// always name the op (through fail) and the offending value.
#include "ops/infer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "ops/families.hpp"
#include "ops/max_pool2d/kernels.hpp"

namespace oomless::ops {

namespace {

std::string S(const Shape& s) {
  return shape_str(s);
}

int64_t rank_of(const TensorSpec& t) {
  return static_cast<int64_t>(t.shape.size());
}

// Result dtype of mixing float inputs (PyTorch type promotion restricted to our
// float types): float32 > bfloat16 > bfloat8_b.
DType promote(DType a, DType b) {
  auto order = [](DType t) { return t == DType::F32 ? 2 : t == DType::BF16 ? 1 : 0; };
  return order(a) >= order(b) ? a : b;
}

DType promote_all(const std::vector<TensorSpec>& in) {
  DType d = in.front().dtype;
  for (const auto& t : in) d = promote(d, t.dtype);
  return d;
}

OutputSpec single(Shape shape, DType dtype, int view_of = -1) {
  return {{{std::move(shape), dtype}}, {view_of}};
}

// aten::expand's size check of `src` against `target` (-1 keeps a dim).
Shape expand_shape(std::string_view op, const Shape& src, const Shape& target) {
  if (target.size() < src.size())
    fail(op, fmt::format("expand({}, size={}): the number of sizes provided ({}) must be greater "
                         "or equal to the number of dimensions in the tensor ({})",
                         S(src), S(target), target.size(), src.size()));
  size_t offset = target.size() - src.size();
  Shape out(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t t = target[i];
    if (i < offset) {
      if (t == -1)
        fail(op, fmt::format("The expanded size of the tensor (-1) isn't allowed in a leading, "
                             "non-existing dimension {}",
                             i));
      if (t < 0) fail(op, fmt::format("invalid expanded size {} at dimension {}", t, i));
      out[i] = t;
      continue;
    }
    int64_t s = src[i - offset];
    if (t == -1) {
      out[i] = s;
    } else if (t < 0) {
      fail(op, fmt::format("invalid expanded size {} at dimension {}", t, i));
    } else {
      if (s != t && s != 1)
        fail(op, fmt::format("The expanded size of the tensor ({}) must match the existing size "
                             "({}) at non-singleton dimension {}.  Target sizes: {}.  Tensor "
                             "sizes: {}",
                             t, s, i, S(target), S(src)));
      out[i] = t;
    }
  }
  return out;
}

// aten::infer_size for view / reshape: at most one -1, inferred from numel.
Shape infer_view_size(std::string_view op, const Shape& size, int64_t n) {
  Shape out = size;
  int64_t known = 1;
  int infer_at = -1;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] == -1) {
      if (infer_at >= 0)
        fail(op, fmt::format("only one dimension can be inferred, got {}", S(size)));
      infer_at = static_cast<int>(i);
    } else if (size[i] < 0) {
      fail(op, fmt::format("invalid shape dimension {} in {}", size[i], S(size)));
    } else {
      known *= size[i];
    }
  }
  if (infer_at >= 0) {
    if (known == 0)
      fail(op, fmt::format("cannot reshape tensor of 0 elements into shape {} because the "
                           "unspecified dimension size -1 can be any value and is ambiguous",
                           S(size)));
    if (n % known != 0)
      fail(op, fmt::format("shape '{}' is invalid for input of size {}", S(size), n));
    out[infer_at] = n / known;
  } else if (known != n) {
    fail(op, fmt::format("shape '{}' is invalid for input of size {}", S(size), n));
  }
  return out;
}

// floor division (aten's div_rtn) for the pooling output size.
int64_t div_floor(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// aten pooling_output_shape (torch 1.13).
int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil) {
  int64_t out = div_floor(in + 2 * pad - dil * (k - 1) - 1 + (ceil ? stride - 1 : 0), stride) + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;
  return out;
}

// A 1- or 2-element pooling parameter as (h, w).
std::pair<int64_t, int64_t> pair_arg(std::string_view op, const Args& a, std::string_view name,
                                     const char* rule) {
  std::vector<int64_t> v = a.get_ints(name);
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  fail(op, fmt::format("max_pool2d: {} must {}, got {}", name, rule, arg_value_str(a.get(name))));
}

std::string ord_str(double ord) {
  if (std::isinf(ord)) return ord > 0 ? "inf" : "-inf";
  return fmt::format("{}", ord);
}

// The channels dim of an input in NCHW terms, or of NHWC when channels_last.
struct Nchw {
  bool batched;
  int64_t n, c, h, w;
};

Nchw to_nchw(const Shape& s, bool channels_last) {
  if (s.size() == 3) return {false, 1, s[0], s[1], s[2]};
  if (channels_last) return {true, s[0], s[3], s[1], s[2]};
  return {true, s[0], s[1], s[2], s[3]};
}

Shape from_nchw(const Nchw& x, bool channels_last) {
  if (!x.batched) return {x.c, x.h, x.w};
  if (channels_last) return {x.n, x.h, x.w, x.c};
  return {x.n, x.c, x.h, x.w};
}

}  // namespace

SliceRange slice_range(std::string_view op, int64_t size, const Args& a) {
  int64_t step = a.get_int("step");
  if (step <= 0) fail(op, fmt::format("slice step must be positive, got {}", step));
  // aten::slice: None is the whole range; negatives count from the end; clamp.
  int64_t start = a.is_none("start") ? 0 : a.get_int("start");
  int64_t end = a.is_none("end") ? size : a.get_int("end");
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  return {start, (end - start + step - 1) / step, step};
}

OutputSpec infer_unary(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  auto v = static_cast<UnaryOp>(op.variant);
  switch (v) {
    case UnaryOp::Gelu: {
      const std::string& approx = a.get_str("approximate");
      if (approx != "none" && approx != "tanh")
        fail(op.name,
             fmt::format("approximate argument must be either none or tanh, got '{}'", approx));
      break;
    }
    case UnaryOp::Clamp:
      if (a.is_none("min") && a.is_none("max"))
        fail(op.name, "At least one of 'min' or 'max' must not be None (got min=None, max=None)");
      break;
    default:
      break;
  }
  // silu_ returns its input itself; every other unary op makes a new tensor.
  return single(x.shape, x.dtype, v == UnaryOp::SiluInplace ? 0 : -1);
}

OutputSpec infer_binary(const OpDesc& op, const std::vector<TensorSpec>& in, const Args&) {
  return single(broadcast_shapes(in[0].shape, in[1].shape, op.name),
                promote(in[0].dtype, in[1].dtype));
}

OutputSpec infer_softmax(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  normalize_dim(a.get_int("dim"), rank_of(x), op.name);
  DType out = x.dtype;
  if (a.get_bool("half_to_float")) {
    // aten allows this conversion only from a half type to float; bfloat16 is
    // the half type here (torch's CPU kernel rejects it altogether).
    if (x.dtype != DType::BF16)
      fail(op.name, fmt::format("half_to_float=true converts a bfloat16 input to float32; the "
                                "input is {}",
                                dtype_name(x.dtype)));
    out = DType::F32;
  }
  return single(x.shape, out);
}

OutputSpec infer_reduce(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  int64_t r = rank_of(x);
  bool keepdim = a.get_bool("keepdim");
  std::vector<bool> reduced(static_cast<size_t>(std::max<int64_t>(r, 1)), false);
  bool all = a.is_none("dim");
  std::vector<int64_t> dims;
  if (!all) {
    dims = a.get_ints("dim");
    all = dims.empty();  // torch 1.13: an empty dim list reduces over everything
  }
  if (all) {
    std::fill(reduced.begin(), reduced.end(), true);
  } else {
    for (int64_t d : dims) {
      int64_t nd = normalize_dim(d, r, op.name);
      if (reduced[nd])
        fail(op.name, fmt::format("dim {} appears multiple times in the list of dims {}", nd,
                                  arg_value_str(a.get("dim"))));
      reduced[nd] = true;
    }
  }
  if (static_cast<ReduceOp>(op.variant) == ReduceOp::VectorNorm) {
    double ord = a.get_float("ord");
    if (std::isnan(ord)) fail(op.name, "ord must be a number, got nan");
    if (ord < 0 || std::isinf(ord)) {
      // These norms have no identity: reducing an empty slice is an error.
      if (all && numel(x.shape) == 0)
        fail(op.name, fmt::format("linalg.vector_norm cannot compute the {} norm on an empty "
                                  "tensor {} because the operation does not have an identity",
                                  ord_str(ord), S(x.shape)));
      for (int64_t d = 0; d < r; ++d)
        if (reduced[d] && x.shape[d] == 0)
          fail(op.name, fmt::format("linalg.vector_norm cannot compute the {} norm on the "
                                    "dimension {} because this dimension is empty and the "
                                    "operation does not have an identity",
                                    ord_str(ord), d));
    }
  }
  Shape out;
  for (int64_t d = 0; d < r; ++d) {
    if (!reduced[d])
      out.push_back(x.shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return single(out, x.dtype);
}

OutputSpec infer_batch_norm(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  bool channels_last = a.get_bool("channels_last");
  bool training = a.get_bool("training");
  if (rank_of(x) < 2)
    fail(op.name,
         fmt::format("expected an input of at least 2 dims (N, C, ...), got {}", S(x.shape)));
  if (channels_last && rank_of(x) != 4)
    fail(op.name, fmt::format("channels_last=true expects a 4-D NHWC input, got {}", S(x.shape)));
  int64_t c = channels_last ? x.shape[3] : x.shape[1];
  static const char* kNames[] = {"input", "weight", "bias", "running_mean", "running_var"};
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i].shape.size() != 1 || in[i].shape[0] != c)
      fail(op.name,
           fmt::format("{} should be a 1-D tensor of size {} (the input's channels), got {}",
                       kNames[i], c, S(in[i].shape)));
  bool has_mean = in.size() > 3, has_var = in.size() > 4;
  if (!training) {
    if (!has_mean)
      fail(op.name, "running_mean must be defined in evaluation mode (training=false)");
    if (!has_var) fail(op.name, "running_var must be defined in evaluation mode (training=false)");
  } else {
    if (has_mean != has_var)
      fail(op.name, "running_mean and running_var must be given together (running_var is missing)");
    if (c > 0 && numel(x.shape) == 0)
      fail(op.name, fmt::format("expected more than 0 values per channel when training, got input "
                                "size {}",
                                S(x.shape)));
  }
  // momentum and eps are not range-checked by aten either.
  // torch CPU returns empty save_mean/save_invstd in evaluation mode.
  Shape stat = training ? Shape{c} : Shape{0};
  return {{{x.shape, x.dtype}, {stat, x.dtype}, {stat, x.dtype}}, {-1, -1, -1}};
}

OutputSpec infer_max_pool2d(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  bool channels_last = a.get_bool("channels_last");
  auto [kh, kw] =
      pair_arg(op.name, a, "kernel_size", "either be a single int, or a tuple of two ints");
  int64_t sh = kh, sw = kw;
  if (!a.is_none("stride") && !a.get_ints("stride").empty())
    std::tie(sh, sw) =
        pair_arg(op.name, a, "stride", "either be omitted, a single int, or a tuple of two ints");
  auto [ph, pw] = pair_arg(op.name, a, "padding", "be either a single int, or a tuple of two ints");
  auto [dh, dw] =
      pair_arg(op.name, a, "dilation", "be either a single int, or a tuple of two ints");
  bool ceil = a.get_bool("ceil_mode");
  if (kh <= 0 || kw <= 0)
    fail(op.name,
         fmt::format("kernel size should be greater than zero, but got kH: {} kW: {}", kh, kw));
  if (sh <= 0 || sw <= 0)
    fail(op.name, fmt::format("stride should be greater than zero, but got dH: {} dW: {}", sh, sw));
  if (dh <= 0 || dw <= 0)
    fail(op.name, fmt::format("dilation should be greater than zero, but got dilationH: {} "
                              "dilationW: {}",
                              dh, dw));
  if (ph < 0 || pw < 0)
    fail(op.name, fmt::format("pad must be non-negative, but got pad: {}", ph < 0 ? ph : pw));
  if (ph > kh / 2 || pw > kw / 2)
    fail(op.name, fmt::format("pad should be at most half of kernel size, but got pad={} and "
                              "kernel_size={}",
                              ph > kh / 2 ? ph : pw, ph > kh / 2 ? kh : kw));
  int64_t r = rank_of(x);
  if (channels_last && r != 4)
    fail(op.name, fmt::format("channels_last=true expects a 4-D NHWC input, got {}", S(x.shape)));
  if (r != 3 && r != 4)
    fail(op.name, fmt::format("non-empty 3D or 4D (batch mode) tensor expected for input, got {}",
                              S(x.shape)));
  Nchw s = to_nchw(x.shape, channels_last);
  if (s.c == 0 || s.h == 0 || s.w == 0)
    fail(op.name,
         fmt::format("Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size "
                     "for input, but got: {}",
                     S(x.shape)));
  // A row chunk (rows_of set) holds the halo of its output rows only.
  const PoolRows rows = pool_rows(op.name, a, s.h, kh, sh, ph, dh, ceil);
  int64_t oh = rows.OH, ow = pool_out(s.w, kw, pw, sw, dw, ceil);
  if (oh < 1 || ow < 1)
    fail(op.name, fmt::format("Given input size: ({}x{}x{}). Calculated output size: ({}x{}x{}). "
                              "Output size is too small",
                              s.c, rows.full_h, s.w, s.c, oh, ow));
  oh = rows.rows;
  Nchw o = s;
  o.h = oh;
  o.w = ow;
  Shape out = from_nchw(o, channels_last);
  return {{{out, x.dtype}, {out, DType::I32}}, {-1, -1}};
}

OutputSpec infer_upsample(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  bool channels_last = a.get_bool("channels_last");
  if (!a.is_none("scales"))
    fail(op.name, fmt::format("argument 'scales' ({}) is not supported; use scale_factor",
                              arg_value_str(a.get("scales"))));
  bool has_size = !a.is_none("output_size"), has_scale = !a.is_none("scale_factor");
  if (has_size == has_scale)
    fail(op.name,
         fmt::format("Must specify exactly one of output_size and scale_factor (got "
                     "output_size={}, scale_factor={})",
                     arg_value_str(a.get("output_size")), arg_value_str(a.get("scale_factor"))));
  if (rank_of(x) != 4)
    fail(op.name, fmt::format("expected a 4-D input ({}), got {}",
                              channels_last ? "N, H, W, C" : "N, C, H, W", S(x.shape)));
  Nchw s = to_nchw(x.shape, channels_last);
  if (s.c == 0 || s.h == 0 || s.w == 0)
    fail(op.name, fmt::format("Non-empty 4D data tensor expected but got a tensor with sizes {}",
                              S(x.shape)));
  int64_t oh, ow;
  if (has_size) {
    std::vector<int64_t> size = a.get_ints("output_size");
    if (size.size() != 2)
      fail(op.name, fmt::format("output_size must have 2 elements (H, W), got {}",
                                arg_value_str(a.get("output_size"))));
    oh = size[0];
    ow = size[1];
  } else {
    double scale = a.get_float("scale_factor");
    if (!std::isfinite(scale) || std::fabs(scale) > 1e9)
      fail(op.name,
           fmt::format("scale_factor must be a finite number of at most 1e9, got {}", scale));
    oh = static_cast<int64_t>(static_cast<double>(s.h) * scale);
    ow = static_cast<int64_t>(static_cast<double>(s.w) * scale);
  }
  if (oh <= 0 || ow <= 0)
    fail(op.name, fmt::format("Input and output sizes should be greater than 0, but got input (H: "
                              "{}, W: {}) output (H: {}, W: {})",
                              s.h, s.w, oh, ow));
  Nchw o = s;
  o.h = oh;
  o.w = ow;
  return single(from_nchw(o, channels_last), x.dtype);
}

OutputSpec infer_topk(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  int64_t r = rank_of(x);
  int64_t dim = normalize_dim(a.get_int("dim"), r, op.name);
  int64_t k = a.get_int("k");
  int64_t size = r > 0 ? x.shape[dim] : 1;
  if (k < 0 || k > size)
    fail(op.name, fmt::format("selected index k out of range: k = {}, size along dim {} is {}", k,
                              dim, size));
  Shape out = x.shape;
  if (r > 0) out[dim] = k;
  return {{{out, x.dtype}, {out, DType::I32}}, {-1, -1}};
}

OutputSpec infer_dropout(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  double p = a.get_float("p");
  if (!(p >= 0.0 && p <= 1.0))
    fail(op.name, fmt::format("dropout probability has to be between 0 and 1, but got p={}", p));
  if (a.get_int("offset") < 0)
    fail(op.name, fmt::format("offset must be non-negative, got {}", a.get_int("offset")));
  // The mask has the input's dtype here (torch's is bool): 1 keeps, 0 drops.
  return {{{x.shape, x.dtype}, {x.shape, x.dtype}}, {-1, -1}};
}

OutputSpec infer_movement(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  int64_t r = rank_of(x);
  switch (static_cast<MovementOp>(op.variant)) {
    case MovementOp::Permute: {
      std::vector<int64_t> dims = a.get_ints("dims");
      if (static_cast<int64_t>(dims.size()) != r)
        fail(op.name, fmt::format("number of dimensions in the tensor input does not match the "
                                  "length of the desired ordering of dimensions i.e. input.dim() "
                                  "= {} is not equal to len(dims) = {} (dims {})",
                                  r, dims.size(), S(dims)));
      Shape out(dims.size());
      std::vector<bool> seen(dims.size(), false);
      for (size_t i = 0; i < dims.size(); ++i) {
        int64_t d = normalize_dim(dims[i], r, op.name);
        if (seen[d]) fail(op.name, fmt::format("duplicate dims are not allowed: dims {}", S(dims)));
        seen[d] = true;
        out[i] = x.shape[d];
      }
      return single(out, x.dtype, 0);
    }
    case MovementOp::Transpose: {
      int64_t d0 = normalize_dim(a.get_int("dim0"), r, op.name);
      int64_t d1 = normalize_dim(a.get_int("dim1"), r, op.name);
      Shape out = x.shape;
      if (r > 0) std::swap(out[d0], out[d1]);
      return single(out, x.dtype, 0);
    }
    case MovementOp::View:
    case MovementOp::UnsafeView:
      return single(infer_view_size(op.name, a.get_ints("size"), numel(x.shape)), x.dtype, 0);
    case MovementOp::Unsqueeze: {
      int64_t d = normalize_dim(a.get_int("dim"), r + 1, op.name);
      Shape out = x.shape;
      out.insert(out.begin() + d, 1);
      return single(out, x.dtype, 0);
    }
    case MovementOp::Expand:
      return single(expand_shape(op.name, x.shape, a.get_ints("size")), x.dtype, 0);
    case MovementOp::Clone:
      return single(x.shape, x.dtype);
    case MovementOp::Copy:
      // aten.copy(self, src): a new tensor of self's shape and dtype holding src
      // broadcast to it.
      expand_shape(op.name, in[1].shape, x.shape);
      return single(x.shape, x.dtype);
    case MovementOp::Identity:
      return single(x.shape, x.dtype, 0);
    case MovementOp::Slice: {
      if (r == 0) fail(op.name, "slice() cannot be applied to a 0-dim tensor.");
      int64_t d = normalize_dim(a.get_int("dim"), r, op.name);
      SliceRange s = slice_range(op.name, x.shape[d], a);
      Shape out = x.shape;
      out[d] = s.length;
      return single(out, x.dtype, 0);
    }
    case MovementOp::Select: {
      if (r == 0) fail(op.name, "select() cannot be applied to a 0-dim tensor.");
      int64_t d = normalize_dim(a.get_int("dim"), r, op.name);
      int64_t index = a.get_int("index"), size = x.shape[d];
      if (index < -size || index >= size)
        fail(op.name, fmt::format("select(): index {} out of range for tensor of size {} at "
                                  "dimension {}",
                                  index, S(x.shape), d));
      Shape out = x.shape;
      out.erase(out.begin() + d);
      return single(out, x.dtype, 0);
    }
  }
  fail(op.name, "unknown movement op");
}

OutputSpec infer_concat(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  DType dtype = promote_all(in);
  int64_t dim = a.get_int("dim");
  if (static_cast<ConcatOp>(op.variant) == ConcatOp::Stack) {
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i].shape != in[0].shape)
        fail(op.name, fmt::format("stack expects each tensor to be equal size, but got {} at entry "
                                  "0 and {} at entry {}",
                                  S(in[0].shape), S(in[i].shape), i));
    int64_t d = normalize_dim(dim, rank_of(in[0]) + 1, op.name);
    Shape out = in[0].shape;
    out.insert(out.begin() + d, static_cast<int64_t>(in.size()));
    return single(out, dtype);
  }
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].shape.empty())
      fail(op.name,
           fmt::format("zero-dimensional tensor (at position {}) cannot be concatenated", i));
  // Legacy rule kept by torch 1.13: 1-D empty tensors ([0]) are skipped.
  auto skipped = [](const TensorSpec& t) { return t.shape.size() == 1 && t.shape[0] == 0; };
  const TensorSpec* ref = nullptr;
  size_t ref_i = 0;
  for (size_t i = 0; i < in.size() && !ref; ++i)
    if (!skipped(in[i])) {
      ref = &in[i];
      ref_i = i;
    }
  if (!ref) return single(Shape{0}, dtype);
  int64_t r = rank_of(*ref);
  int64_t d = normalize_dim(dim, r, op.name);
  Shape out = ref->shape;
  out[d] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (skipped(in[i])) continue;
    if (rank_of(in[i]) != r)
      fail(op.name, fmt::format("Tensors must have same number of dimensions: got {} and {} "
                                "(tensor {} is {}, tensor {} is {})",
                                r, rank_of(in[i]), ref_i, S(ref->shape), i, S(in[i].shape)));
    for (int64_t j = 0; j < r; ++j)
      if (j != d && in[i].shape[j] != ref->shape[j])
        fail(op.name, fmt::format("Sizes of tensors must match except in dimension {}. Expected "
                                  "size {} but got size {} for tensor number {} in the list.",
                                  d, ref->shape[j], in[i].shape[j], i));
    out[d] += in[i].shape[d];
  }
  return single(out, dtype);
}

OutputSpec infer_split(const OpDesc& op, const std::vector<TensorSpec>& in, const Args& a) {
  const TensorSpec& x = in[0];
  int64_t r = rank_of(x);
  if (r == 0)
    fail(op.name, fmt::format("split expects at least a 1-dimensional tensor, got {}", S(x.shape)));
  int64_t dim = normalize_dim(a.get_int("dim"), r, op.name);
  int64_t dim_size = x.shape[dim];
  std::vector<int64_t> sizes;
  if (static_cast<SplitOp>(op.variant) == SplitOp::Split) {
    int64_t split = a.get_int("split_size");
    if (split < 0)
      fail(op.name,
           fmt::format("split expects split_size be non-negative, but got split_size={}", split));
    if (split == 0 && dim_size != 0)
      fail(op.name, fmt::format("split_size can only be 0 if dimension size is 0, but got "
                                "dimension size of {}",
                                dim_size));
    int64_t chunks = split == 0 ? 1 : std::max<int64_t>(div_up(dim_size, split), 1);
    for (int64_t i = 0; i < chunks; ++i)
      sizes.push_back(i + 1 < chunks ? split : dim_size - split * (chunks - 1));
  } else {
    sizes = a.get_ints("split_sizes");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0)
        fail(op.name, fmt::format("split_with_sizes expects split_sizes have only non-negative "
                                  "entries, but got split_sizes={}",
                                  S(sizes)));
      sum += s;
    }
    if (sum != dim_size)
      fail(op.name, fmt::format("split_with_sizes expects split_sizes to sum exactly to {} (input "
                                "tensor's size at dimension {}), but got split_sizes={}",
                                dim_size, dim, S(sizes)));
  }
  OutputSpec o;
  for (int64_t s : sizes) {
    Shape shape = x.shape;
    shape[dim] = s;
    o.outputs.push_back({shape, x.dtype});
    o.view_of.push_back(0);
  }
  return o;
}

OutputSpec infer_creation(const OpDesc& op, const std::vector<TensorSpec>&, const Args& a) {
  Shape size = a.get_ints("size");
  for (int64_t s : size)
    if (s < 0)
      fail(op.name,
           fmt::format("Trying to create tensor with negative dimension {}: {}", s, S(size)));
  // ones has no tensor input to take a dtype from; bfloat16 (the device's
  // working type) until the caller's --dtype is wired through.
  return single(size, DType::BF16);
}

OutputSpec infer_matmul(const OpDesc& op, const std::vector<TensorSpec>& in, const Args&) {
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i].dtype != in[0].dtype)
      fail(op.name, fmt::format("expected scalar type {} but found {} (input {})",
                                dtype_name(in[0].dtype), dtype_name(in[i].dtype), i));
  DType dtype = in[0].dtype;
  auto mm_check = [&](const Shape& a, const Shape& b) {
    if (a[1] != b[0])
      fail(op.name, fmt::format("mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})", a[0],
                                a[1], b[0], b[1]));
  };
  switch (static_cast<MatmulOp>(op.variant)) {
    case MatmulOp::Mm: {
      const Shape &a = in[0].shape, &b = in[1].shape;
      if (a.size() != 2) fail(op.name, fmt::format("self must be a matrix, got {}", S(a)));
      if (b.size() != 2) fail(op.name, fmt::format("mat2 must be a matrix, got {}", S(b)));
      mm_check(a, b);
      return single({a[0], b[1]}, dtype);
    }
    case MatmulOp::Bmm: {
      const Shape &a = in[0].shape, &b = in[1].shape;
      if (a.size() != 3) fail(op.name, fmt::format("batch1 must be a 3D tensor, got {}", S(a)));
      if (b.size() != 3) fail(op.name, fmt::format("batch2 must be a 3D tensor, got {}", S(b)));
      if (b[0] != a[0] || b[1] != a[2])
        fail(op.name, fmt::format("Expected size for first two dimensions of batch2 tensor to be: "
                                  "[{}, {}] but got: [{}, {}].",
                                  a[0], a[2], b[0], b[1]));
      return single({a[0], a[1], b[2]}, dtype);
    }
    case MatmulOp::Addmm: {
      const Shape &c = in[0].shape, &a = in[1].shape, &b = in[2].shape;
      if (a.size() != 2)
        fail(op.name, fmt::format("mat1 must be a matrix, got {}-D tensor {}", a.size(), S(a)));
      if (b.size() != 2)
        fail(op.name, fmt::format("mat2 must be a matrix, got {}-D tensor {}", b.size(), S(b)));
      mm_check(a, b);
      Shape out{a[0], b[1]};
      expand_shape(op.name, c, out);
      return single(out, dtype);
    }
    case MatmulOp::Linear: {
      const Shape &x = in[0].shape, &w = in[1].shape;
      if (w.size() > 2)
        fail(op.name,
             fmt::format("weight must be 1-D or 2-D ([out_features, in_features]), got {}", S(w)));
      if (x.empty() || w.empty())
        fail(op.name, fmt::format("both arguments to matmul need to be at least 1D, but they are "
                                  "{}D and {}D",
                                  x.size(), w.size()));
      int64_t k = x.back();
      int64_t rows = numel(Shape(x.begin(), x.end() - 1));
      int64_t wk = w.size() == 2 ? w[1] : w[0];
      int64_t m = w.size() == 2 ? w[0] : 1;
      if (k != wk)
        fail(op.name, fmt::format("mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
                                  rows, k, wk, m));
      Shape out(x.begin(), x.end() - 1);
      if (w.size() == 2) out.push_back(m);
      if (in.size() == 3) {
        const Shape& bias = in[2].shape;
        if ((x.size() == 2 || x.size() == 3) && w.size() == 2) {
          // aten::linear takes the addmm path here: bias expands to [rows, m].
          expand_shape(op.name, bias, {rows, m});
        } else if (broadcast_shapes(out, bias, op.name) != out) {
          fail(op.name, fmt::format("output with shape {} doesn't match the broadcast shape {} "
                                    "(bias {})",
                                    S(out), S(broadcast_shapes(out, bias, op.name)), S(bias)));
        }
      }
      return single(out, dtype);
    }
  }
  fail(op.name, "unknown matmul op");
}

}  // namespace oomless::ops
