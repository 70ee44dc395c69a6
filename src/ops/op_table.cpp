// The single source of truth for the 46 operators of the seed report: names,
// aten ops, arguments and the functions of each phase.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/cb_model.hpp"
#include "ops/conv/geometry.hpp"
#include "ops/conv/memory.hpp"
#include "ops/families.hpp"
#include "ops/infer.hpp"

namespace oomless::ops {

namespace {

using A = ArgSpec;
using T = ArgType;
constexpr auto None = std::monostate{};

template <class E>
constexpr int v(E e) {
  return static_cast<int>(e);
}

OpDesc unary(std::string_view name, std::string_view aten, std::vector<std::string_view> aliases,
             UnaryOp op, std::vector<ArgSpec> args, std::string_view summary) {
  return {name,    aten,        std::move(aliases), Family::Unary, v(op), 1, 1, std::move(args),
          summary, infer_unary, cb_eltwise,         exec_unary};
}

OpDesc binary(std::string_view name, std::string_view aten, BinaryOp op, std::vector<ArgSpec> args,
              std::string_view summary) {
  std::string_view shortname = aten.substr(5, aten.find('.', 5) - 5);
  return {name,    aten,         {shortname}, Family::Binary, v(op), 2, 2, std::move(args),
          summary, infer_binary, cb_eltwise,  exec_binary};
}

OpDesc movement(std::string_view name, std::string_view aten, std::vector<std::string_view> aliases,
                MovementOp op, int inputs, std::vector<ArgSpec> args, std::string_view summary) {
  return {name,        aten,         std::move(aliases), Family::Movement, v(op),
          inputs,      inputs,       std::move(args),    summary,          infer_movement,
          cb_movement, exec_movement};
}

const A kSpatial{"channels_last", T::Bool, false, false,
                 "inputs are NHWC as the device stores them (the seed's permute); the op still "
                 "means the aten NCHW op"};

std::vector<OpDesc> build() {
  std::vector<OpDesc> t;
  // Elementwise unary.
  t.push_back(unary("relu", "aten.relu.default", {"relu"}, UnaryOp::Relu, {}, "max(x, 0)"));
  t.push_back(
      unary("sigmoid", "aten.sigmoid.default", {}, UnaryOp::Sigmoid, {}, "1 / (1 + exp(-x))"));
  t.push_back(unary("silu", "aten.silu.default", {}, UnaryOp::Silu, {}, "x * sigmoid(x)"));
  t.push_back(unary("silu_inplace", "aten.silu_.default", {"silu_"}, UnaryOp::SiluInplace, {},
                    "in-place x * sigmoid(x)"));
  t.push_back(unary("tanh", "aten.tanh.default", {}, UnaryOp::Tanh, {}, "tanh(x)"));
  t.push_back(unary("mish", "aten.mish.default", {}, UnaryOp::Mish, {}, "x * tanh(softplus(x))"));
  t.push_back(unary("softplus", "aten.softplus.default", {}, UnaryOp::Softplus,
                    {{"beta", T::Float, 1.0}, {"threshold", T::Float, 20.0}},
                    "log(1 + exp(beta x)) / beta, linear above threshold"));
  t.push_back(unary("hardtanh", "aten.hardtanh.default", {}, UnaryOp::Hardtanh,
                    {{"min_val", T::Float, -1.0}, {"max_val", T::Float, 1.0}},
                    "clamp(x, min_val, max_val)"));
  t.push_back(unary("leakyrelu", "aten.leaky_relu.default", {"leaky_relu"}, UnaryOp::LeakyRelu,
                    {{"negative_slope", T::Float, 0.01}}, "x if x > 0 else negative_slope * x"));
  t.push_back(unary("gelu", "aten.gelu.default", {}, UnaryOp::Gelu,
                    {{"approximate", T::Str, std::string("none"), false, "none or tanh"}},
                    "x * Phi(x) (erf), or the tanh approximation"));
  t.push_back(unary("geluactivation", "aten.gelu.default", {}, UnaryOp::Gelu,
                    {{"approximate", T::Str, std::string("none"), false, "none or tanh"}},
                    "HF GELUActivation: aten gelu"));
  t.push_back(unary("log", "aten.log.default", {}, UnaryOp::Log, {}, "natural logarithm"));
  t.push_back(unary("clamp", "aten.clamp.default", {}, UnaryOp::Clamp,
                    {{"min", T::Float, None}, {"max", T::Float, None}},
                    "clamp to [min, max]; at least one bound"));
  t.push_back(unary("clampmin", "aten.clamp_min.default", {"clamp_min"}, UnaryOp::ClampMin,
                    {{"min", T::Float, None, true}}, "max(x, min)"));
  // Elementwise binary with broadcasting.
  t.push_back(binary("add", "aten.add.Tensor", BinaryOp::Add, {{"alpha", T::Float, 1.0}},
                     "self + alpha * other"));
  t.push_back(binary("sub", "aten.sub.Tensor", BinaryOp::Sub, {{"alpha", T::Float, 1.0}},
                     "self - alpha * other"));
  t.push_back(binary("mul", "aten.mul.Tensor", BinaryOp::Mul, {}, "self * other"));
  t.push_back(binary("div", "aten.div.Tensor", BinaryOp::Div, {}, "self / other (true division)"));
  // Normalisation and reductions.
  t.push_back({"softmax",
               "aten._softmax.default",
               {"_softmax"},
               Family::Softmax,
               0,
               1,
               1,
               {{"dim", T::Int, None, true}, {"half_to_float", T::Bool, false}},
               "exp(x - max) / sum over dim",
               infer_softmax,
               cb_softmax,
               exec_softmax});
  t.push_back({"linalgvectornorm",
               "aten.linalg_vector_norm.default",
               {"linalg_vector_norm", "vector_norm"},
               Family::Reduce,
               v(ReduceOp::VectorNorm),
               1,
               1,
               {{"ord", T::Float, 2.0, false, "2, 1, inf, -inf, 0 or any p"},
                {"dim", T::IntOrList, None},
                {"keepdim", T::Bool, false}},
               "vector p-norm over dims (all by default)",
               infer_reduce,
               cb_reduce,
               exec_reduce});
  t.push_back({"mean",
               "aten.mean.dim",
               {"mean"},
               Family::Reduce,
               v(ReduceOp::Mean),
               1,
               1,
               {{"dim", T::IntOrList, None}, {"keepdim", T::Bool, false}},
               "mean over dims (all by default)",
               infer_reduce,
               cb_reduce,
               exec_reduce});
  t.push_back({"native_batch_norm",
               "aten.native_batch_norm.default",
               {"batch_norm"},
               Family::BatchNorm,
               0,
               1,
               5,
               {{"training", T::Bool, true},
                {"momentum", T::Float, 0.1},
                {"eps", T::Float, 1e-5},
                kSpatial},
               "inputs: input, weight, bias, running_mean, running_var (trailing ones optional); "
               "outputs: out, save_mean, save_invstd",
               infer_batch_norm,
               cb_batch_norm,
               exec_batch_norm});
  // Pooling, resampling, selection, random.
  t.push_back({"maxpool2d",
               "aten.max_pool2d_with_indices.default",
               {"max_pool2d", "max_pool2d_with_indices"},
               Family::MaxPool,
               0,
               1,
               1,
               {{"kernel_size", T::IntOrList, None, true},
                {"stride", T::IntOrList, None, false, "default: kernel_size"},
                {"padding", T::IntOrList, int64_t{0}},
                {"dilation", T::IntOrList, int64_t{1}},
                {"ceil_mode", T::Bool, false},
                kSpatial,
                {"rows_of", T::Int, None, false,
                 "the input holds only the rows (halo) that output rows out_row0.. read of a "
                 "plane of this many rows (set by the planner for row chunks)"},
                {"out_row0", T::Int, int64_t{0}, false, "with rows_of: first output row"},
                {"out_rows", T::Int, None, false, "with rows_of: output rows computed"}},
               "2-D max pooling over NCHW (or CHW); outputs values and int32 indices",
               infer_max_pool2d,
               cb_max_pool2d,
               exec_max_pool2d});
  t.push_back({"upsample_nearest2d",
               "aten.upsample_nearest2d.vec",
               {"upsample", "interpolate"},
               Family::Upsample,
               0,
               1,
               1,
               {{"output_size", T::IntList, None},
                {"scale_factor", T::Float, None, false, "one factor for H and W"},
                {"scales", T::IntList, None, false, "not used; see scale_factor"},
                kSpatial},
               "nearest-neighbour resize of NCHW by output_size or scale_factor",
               infer_upsample,
               cb_upsample,
               exec_upsample});
  t.push_back({"topk",
               "aten.topk.default",
               {},
               Family::TopK,
               0,
               1,
               1,
               {{"k", T::Int, None, true},
                {"dim", T::Int, int64_t{-1}},
                {"largest", T::Bool, true},
                {"sorted", T::Bool, true}},
               "k largest (or smallest) values and their int32 indices along dim",
               infer_topk,
               cb_topk,
               exec_topk});
  t.push_back({"dropout",
               "aten.native_dropout.default",
               {"native_dropout"},
               Family::Dropout,
               0,
               1,
               1,
               {{"p", T::Float, 0.5},
                {"train", T::Bool, true},
                {"seed", T::Int, int64_t{0}},
                {"offset", T::Int, int64_t{0}, false,
                 "global element index of element 0 (set by the planner for chunks)"}},
               "zero with probability p, scale the rest by 1/(1-p); outputs output and mask "
               "(Philox keyed by seed and global element index)",
               infer_dropout,
               cb_eltwise,
               exec_dropout});
  // Data movement and views.
  t.push_back(movement("permute", "aten.permute.default", {}, MovementOp::Permute, 1,
                       {{"dims", T::IntList, None, true}}, "reorder dims (a view)"));
  t.push_back(movement("transpose", "aten.transpose.int", {}, MovementOp::Transpose, 1,
                       {{"dim0", T::Int, None, true}, {"dim1", T::Int, None, true}},
                       "swap two dims (a view)"));
  t.push_back(movement("view", "aten.view.default", {}, MovementOp::View, 1,
                       {{"size", T::IntList, None, true, "one entry may be -1", "shape"}},
                       "same data, new shape (a view)"));
  t.push_back(movement("unsafeview", "aten._unsafe_view.default", {"_unsafe_view", "unsafe_view"},
                       MovementOp::UnsafeView, 1,
                       {{"size", T::IntList, None, true, "one entry may be -1", "shape"}},
                       "same data, new shape (a view)"));
  t.push_back(movement("unsqueeze", "aten.unsqueeze.default", {}, MovementOp::Unsqueeze, 1,
                       {{"dim", T::Int, None, true}}, "insert a size-1 dim (a view)"));
  t.push_back(movement("expand", "aten.expand.default", {}, MovementOp::Expand, 1,
                       {{"size", T::IntList, None, true, "-1 keeps a dim", "shape"}},
                       "broadcast size-1 dims (a view)"));
  t.push_back(
      movement("clone", "aten.clone.default", {}, MovementOp::Clone, 1, {}, "a contiguous copy"));
  t.push_back(movement("copy", "aten.copy.default", {"copy_"}, MovementOp::Copy, 2,
                       {{"non_blocking", T::Bool, false}},
                       "self's shape and dtype with src's values (src broadcast)"));
  t.push_back(movement("identity", "nn.Identity", {}, MovementOp::Identity, 1, {},
                       "the input itself (no aten op)"));
  // Views a traced graph holds (not seed ops).
  t.push_back(movement("slice", "aten.slice.Tensor", {}, MovementOp::Slice, 1,
                       {{"dim", T::Int, int64_t{0}},
                        {"start", T::Int, None, false, "None: 0; negative counts from the end"},
                        {"end", T::Int, None, false, "None: the end; clamped to the size"},
                        {"step", T::Int, int64_t{1}, false, "positive"}},
                       "every step-th index in [start, end) of dim (a view)"));
  t.push_back(movement("select", "aten.select.int", {}, MovementOp::Select, 1,
                       {{"dim", T::Int, None, true}, {"index", T::Int, None, true}},
                       "index `index` of dim, the dim removed (a view)"));
  // Joining and splitting.
  t.push_back({"cat",
               "aten.cat.default",
               {},
               Family::Concat,
               v(ConcatOp::Cat),
               1,
               -1,
               {{"dim", T::Int, int64_t{0}}},
               "join tensors along an existing dim",
               infer_concat,
               cb_concat,
               exec_concat});
  t.push_back({"concat",
               "aten.cat.default",
               {},
               Family::Concat,
               v(ConcatOp::Cat),
               1,
               -1,
               {{"dim", T::Int, int64_t{0}}},
               "alias of cat",
               infer_concat,
               cb_concat,
               exec_concat});
  t.push_back({"stack",
               "aten.stack.default",
               {},
               Family::Concat,
               v(ConcatOp::Stack),
               1,
               -1,
               {{"dim", T::Int, int64_t{0}}},
               "join tensors along a new dim",
               infer_concat,
               cb_concat,
               exec_concat});
  t.push_back({"split",
               "aten.split.Tensor",
               {},
               Family::Split,
               v(SplitOp::Split),
               1,
               1,
               {{"split_size", T::Int, None, true}, {"dim", T::Int, int64_t{0}}},
               "equal chunks of split_size (last may be smaller); views",
               infer_split,
               cb_split,
               exec_split});
  t.push_back({"split_with_sizes",
               "aten.split_with_sizes.default",
               {},
               Family::Split,
               v(SplitOp::SplitWithSizes),
               1,
               1,
               {{"split_sizes", T::IntList, None, true, "sizes summing to the dim", "sizes"},
                {"dim", T::Int, int64_t{0}}},
               "chunks of the given sizes; views",
               infer_split,
               cb_split,
               exec_split});
  t.push_back({"splitwithsizes",
               "aten.split_with_sizes.default",
               {},
               Family::Split,
               v(SplitOp::SplitWithSizes),
               1,
               1,
               {{"split_sizes", T::IntList, None, true, "sizes summing to the dim", "sizes"},
                {"dim", T::Int, int64_t{0}}},
               "alias of split_with_sizes",
               infer_split,
               cb_split,
               exec_split});
  // Creation.
  t.push_back({"ones",
               "aten.ones.default",
               {},
               Family::Creation,
               0,
               0,
               0,
               {{"size", T::IntList, None, true, "output shape", "shape"}},
               "a tensor of ones (dtype from --dtype)",
               infer_creation,
               cb_eltwise,
               exec_creation});
  // Matrix products (OpenBLAS GEMM).
  t.push_back({"mm",
               "aten.mm.default",
               {},
               Family::Matmul,
               v(MatmulOp::Mm),
               2,
               2,
               {},
               "[n,k] @ [k,m]",
               infer_matmul,
               cb_matmul,
               exec_matmul});
  t.push_back({"bmm",
               "aten.bmm.default",
               {},
               Family::Matmul,
               v(MatmulOp::Bmm),
               2,
               2,
               {},
               "[b,n,k] @ [b,k,m]",
               infer_matmul,
               cb_matmul,
               exec_matmul});
  t.push_back({"addmm",
               "aten.addmm.default",
               {},
               Family::Matmul,
               v(MatmulOp::Addmm),
               3,
               3,
               {{"beta", T::Float, 1.0}, {"alpha", T::Float, 1.0}},
               "beta * input + alpha * (mat1 @ mat2); inputs: input, mat1, mat2",
               infer_matmul,
               cb_matmul,
               exec_matmul});
  t.push_back({"linear",
               "aten.linear.default",
               {},
               Family::Matmul,
               v(MatmulOp::Linear),
               2,
               3,
               {},
               "x @ weight^T (+ bias); inputs: input, weight[, bias]",
               infer_matmul,
               cb_matmul,
               exec_matmul});
  // Convolution (2-D), the op most of a vision model is made of.
  t.push_back({"convolution",
               "aten.convolution.default",
               {"conv2d", "_convolution", "conv"},
               Family::Conv,
               0,
               2,
               3,
               {{"stride", T::IntOrList, int64_t{1}},
                {"padding", T::IntOrList, int64_t{0}},
                {"dilation", T::IntOrList, int64_t{1}},
                {"transposed", T::Bool, false, false, "true is not supported yet"},
                {"output_padding", T::IntOrList, int64_t{0}},
                {"groups", T::Int, int64_t{1}},
                kSpatial,
                {"rows_of", T::Int, None, false,
                 "the input holds only the rows (halo) that output rows out_row0.. read of a "
                 "plane of this many rows (set by the planner for row slices)"},
                {"out_row0", T::Int, int64_t{0}, false, "with rows_of: first output row"},
                {"out_rows", T::Int, None, false, "with rows_of: output rows computed"},
                {"dram_slices", T::Int, int64_t{0}, false,
                 "input in DRAM: TT-NN's DRAM slicing with this many slices (0: TT-NN's automatic "
                 "count)"}},
               "2-D convolution; inputs: input [N,C,H,W] (or C,H,W), weight [K, C/groups, kH, "
               "kW], optional bias [K]; f32 accumulation, one rounding",
               infer_conv,
               cb_conv,
               exec_conv,
               conv_inputs,
               conv_steps});
  return t;
}

}  // namespace

const std::vector<OpDesc>& op_table() {
  static const std::vector<OpDesc> table = build();
  return table;
}

static std::string canonical(std::string_view s) {
  if (s.substr(0, 5) == "aten.") s.remove_prefix(5);
  if (s.substr(0, 6) == "torch.") s.remove_prefix(6);
  std::string out(s);
  for (const char* suffix : {".default", ".Tensor", ".int", ".vec", ".dim"}) {
    std::string_view sv(suffix);
    if (out.size() > sv.size() && out.compare(out.size() - sv.size(), sv.size(), sv) == 0)
      out.resize(out.size() - sv.size());
  }
  return out;
}

const OpDesc& find_op(std::string_view name) {
  const auto& table = op_table();
  for (const auto& op : table)
    if (op.name == name) return op;
  std::string c = canonical(name);
  for (const auto& op : table) {
    if (canonical(op.aten) == c) return op;
    for (auto a : op.aliases)
      if (a == c || a == name) return op;
  }
  std::vector<std::string_view> names;
  for (const auto& op : table) names.push_back(op.name);
  fail("oomless", fmt::format("unknown op '{}'; known ops: {}", name, fmt::join(names, ", ")));
}

OutputSpec infer_output(const OpDesc& op, const std::vector<TensorSpec>& inputs, const Args& args) {
  int n = static_cast<int>(inputs.size());
  if (n < op.min_inputs || (op.max_inputs >= 0 && n > op.max_inputs)) {
    std::string want = op.max_inputs < 0 ? fmt::format("at least {}", op.min_inputs)
                       : op.min_inputs == op.max_inputs
                           ? fmt::format("{}", op.min_inputs)
                           : fmt::format("{} to {}", op.min_inputs, op.max_inputs);
    fail(op.name, fmt::format("expects {} tensor input(s), got {}", want, n));
  }
  for (int i = 0; i < n; ++i) {
    DType d = inputs[i].dtype;
    if (!is_float(d))
      fail(op.name, fmt::format("input {} has dtype {}; expected float32, bfloat16 or bfloat8_b", i,
                                dtype_name(d)));
  }
  return op.infer(op, inputs, args);
}

}  // namespace oomless::ops
