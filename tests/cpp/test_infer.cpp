// Output specs of all 46 ops against PyTorch's shape rules (torch 1.13, the
// expected values were checked against aten), their error paths, and the CB
// model of the main op families.
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "ops/op.hpp"

using namespace oomless;
using ops::OutputSpec;
using ops::TensorSpec;

namespace {

std::vector<TensorSpec> specs(const std::vector<Shape>& shapes, DType dt) {
  std::vector<TensorSpec> in;
  for (const auto& s : shapes) in.push_back({s, dt});
  return in;
}

OutputSpec infer_specs(std::string_view name, const std::vector<TensorSpec>& in,
                       const std::vector<std::string>& kvs = {}) {
  const auto& op = ops::find_op(name);
  ops::Args args = ops::parse_args(op.name, op.args, kvs);
  return ops::infer_output(op, in, args);
}

OutputSpec infer(std::string_view name, const std::vector<Shape>& shapes,
                 const std::vector<std::string>& kvs = {}, DType dt = DType::F32) {
  return infer_specs(name, specs(shapes, dt), kvs);
}

// One output: its shape.
Shape out0(std::string_view name, const std::vector<Shape>& shapes,
           const std::vector<std::string>& kvs = {}) {
  OutputSpec o = infer(name, shapes, kvs);
  EXPECT_EQ(o.outputs.size(), 1u) << name;
  EXPECT_EQ(o.view_of.size(), o.outputs.size()) << name;
  return o.outputs.at(0).shape;
}

std::vector<Shape> shapes_of(const OutputSpec& o) {
  std::vector<Shape> s;
  for (const auto& t : o.outputs) s.push_back(t.shape);
  return s;
}

// The call must throw InvalidArgument whose message names the op ("[name]")
// and contains every `needles` entry.
void expect_error(std::string_view name, const std::vector<Shape>& shapes,
                  const std::vector<std::string>& kvs, const std::vector<std::string>& needles,
                  DType dt = DType::F32) {
  try {
    infer(name, shapes, kvs, dt);
    ADD_FAILURE() << name << ": expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    std::string msg = e.what();
    const auto& op = ops::find_op(name);
    EXPECT_NE(msg.find("[" + std::string(op.name) + "]"), std::string::npos) << msg;
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' in " << msg;
  }
}

std::vector<ops::CircularBuffer> cbs_of(std::string_view name, const std::vector<TensorSpec>& in,
                                        const std::vector<std::string>& kvs = {},
                                        Layout layout = Layout::Tile,
                                        const device::Profile* profile = nullptr) {
  const auto& op = ops::find_op(name);
  ops::Args args = ops::parse_args(op.name, op.args, kvs);
  OutputSpec out = ops::infer_output(op, in, args);
  ops::DeviceContext ctx{layout, profile};
  return op.cbs(op, in, out, args, ctx);
}

int64_t total_bytes(const std::vector<ops::CircularBuffer>& cbs) {
  int64_t t = 0;
  for (const auto& c : cbs) t += c.bytes();
  return t;
}

const ops::CircularBuffer* find_cb(const std::vector<ops::CircularBuffer>& cbs,
                                   std::string_view name) {
  for (const auto& c : cbs)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------- unary

TEST(InferUnary, SameShapeAndDtypeForEveryUnaryOp) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> ops_args = {
      {"relu", {}},
      {"sigmoid", {}},
      {"silu", {}},
      {"tanh", {}},
      {"mish", {}},
      {"softplus", {"beta=2", "threshold=10"}},
      {"hardtanh", {}},
      {"leakyrelu", {}},
      {"gelu", {"approximate=tanh"}},
      {"geluactivation", {}},
      {"log", {}},
      {"clamp", {"min=-1"}},
      {"clampmin", {"min=0.5"}}};
  for (const auto& [name, kvs] : ops_args) {
    for (const Shape& s : {Shape{3, 5, 7}, Shape{}, Shape{0, 4}, Shape{1, 2, 3, 4, 33}}) {
      OutputSpec o = infer(name, {s}, kvs, DType::BF16);
      ASSERT_EQ(o.outputs.size(), 1u) << name;
      EXPECT_EQ(o.outputs[0].shape, s) << name;
      EXPECT_EQ(o.outputs[0].dtype, DType::BF16) << name;
      EXPECT_EQ(o.view_of, std::vector<int>{-1}) << name;
    }
  }
}

TEST(InferUnary, SiluInplaceReturnsItsInput) {
  OutputSpec o = infer("silu_inplace", {{2, 33}});
  EXPECT_EQ(o.outputs[0].shape, (Shape{2, 33}));
  EXPECT_EQ(o.view_of, std::vector<int>{0});
  EXPECT_EQ(infer("silu_", {{4}}).view_of, std::vector<int>{0});  // aten alias
}

TEST(InferUnary, ClampAcceptsEitherBoundAndHardtanhAnyRange) {
  EXPECT_EQ(out0("clamp", {{4, 5}}, {"max=2"}), (Shape{4, 5}));
  EXPECT_EQ(out0("clamp", {{4, 5}}, {"min=-2", "max=2"}), (Shape{4, 5}));
  // aten.hardtanh does not check min_val <= max_val.
  EXPECT_EQ(out0("hardtanh", {{2, 3}}, {"min_val=2", "max_val=-1"}), (Shape{2, 3}));
}

TEST(InferUnary, Errors) {
  expect_error("gelu", {{2, 3}}, {"approximate=fast"}, {"approximate", "'fast'"});
  expect_error("geluactivation", {{2, 3}}, {"approximate=erf"}, {"'erf'"});
  expect_error("clamp", {{2, 3}}, {}, {"min", "max", "None"});
  expect_error("clampmin", {{2, 3}}, {}, {"'min'", "required"});
  expect_error("relu", {{2, 3}}, {"alpha=2"}, {"unknown argument 'alpha'"});
  expect_error("softplus", {{2, 3}}, {"beta=abc"}, {"'beta'", "abc"});
  expect_error("relu", {{2, 3}, {2, 3}}, {}, {"1 tensor input", "got 2"});
  expect_error("relu", {{2, 3}}, {}, {"int32"}, DType::I32);
}

// ---------------------------------------------------------------- binary

TEST(InferBinary, Broadcasting) {
  EXPECT_EQ(out0("add", {{2, 1, 33}, {5, 1}}), (Shape{2, 5, 33}));
  EXPECT_EQ(out0("sub", {{3, 1, 4, 1, 6}, {5, 1}}, {"alpha=2"}), (Shape{3, 1, 4, 5, 6}));
  EXPECT_EQ(out0("mul", {{}, {4}}), (Shape{4}));
  EXPECT_EQ(out0("div", {{0, 3}, {1, 3}}), (Shape{0, 3}));
  EXPECT_EQ(out0("div", {{2, 1}, {1, 0}}), (Shape{2, 0}));
  EXPECT_EQ(out0("add", {{1, 96, 2176, 1920}, {1, 96, 2176, 1920}}), (Shape{1, 96, 2176, 1920}));
  EXPECT_EQ(infer("aten.add.Tensor", {{2}, {2}}).view_of, std::vector<int>{-1});
}

TEST(InferBinary, DtypePromotion) {
  OutputSpec o = infer_specs("add", {{{2, 3}, DType::BF16}, {{3}, DType::F32}});
  EXPECT_EQ(o.outputs[0].dtype, DType::F32);
  o = infer_specs("mul", {{{2, 3}, DType::BF16}, {{3}, DType::BF16}});
  EXPECT_EQ(o.outputs[0].dtype, DType::BF16);
}

TEST(InferBinary, Errors) {
  expect_error("add", {{2, 3}, {4, 3}}, {}, {"[2,3]", "[4,3]"});
  expect_error("mul", {{2, 3}, {0, 1}}, {}, {"[0,1]"});
  expect_error("div", {{2, 3}}, {}, {"2 tensor input", "got 1"});
  expect_error("mul", {{2}, {2}}, {"alpha=2"}, {"unknown argument 'alpha'"});
}

// ---------------------------------------------------------------- softmax

TEST(InferSoftmax, ShapesAndDims) {
  EXPECT_EQ(out0("softmax", {{2, 33, 65}}, {"dim=-1"}), (Shape{2, 33, 65}));
  EXPECT_EQ(out0("softmax", {{2, 33, 65}}, {"dim=0"}), (Shape{2, 33, 65}));
  EXPECT_EQ(out0("softmax", {{}}, {"dim=-1"}), (Shape{}));
  EXPECT_EQ(out0("_softmax", {{1, 12, 0, 8160}}, {"dim=3"}), (Shape{1, 12, 0, 8160}));
  OutputSpec h = infer("softmax", {{4, 5}}, {"dim=1", "half_to_float=true"}, DType::BF16);
  EXPECT_EQ(h.outputs[0].dtype, DType::F32);
}

TEST(InferSoftmax, Errors) {
  expect_error("softmax", {{2, 3, 4}}, {"dim=3"}, {"dim 3", "[-3, 2]"});
  expect_error("softmax", {{}}, {"dim=1"}, {"dim 1"});
  expect_error("softmax", {{2, 3}}, {}, {"'dim'", "required"});
  expect_error("softmax", {{2, 3}}, {"dim=0", "half_to_float=true"}, {"float32"});
}

// ---------------------------------------------------------------- reductions

TEST(InferReduce, MeanDimsAndKeepdim) {
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {"dim=1"}), (Shape{2, 4}));
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {"dim=1", "keepdim=true"}), (Shape{2, 1, 4}));
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {"dim=[-1,0]"}), (Shape{3}));
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {}), (Shape{}));
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {"keepdim=true"}), (Shape{1, 1, 1}));
  EXPECT_EQ(out0("mean", {{2, 3, 4}}, {"dim=[]"}), (Shape{}));  // 1.13: [] means all
  EXPECT_EQ(out0("mean", {{}}, {"dim=0", "keepdim=true"}), (Shape{}));
  EXPECT_EQ(out0("mean", {{0, 3}}, {"dim=0"}), (Shape{3}));  // nan values, valid shape
  EXPECT_EQ(out0("mean", {{1, 96, 2176, 1920}}, {"dim=[2,3]", "keepdim=true"}),
            (Shape{1, 96, 1, 1}));
}

TEST(InferReduce, VectorNorm) {
  EXPECT_EQ(out0("linalgvectornorm", {{2, 3}}, {}), (Shape{}));
  EXPECT_EQ(out0("linalgvectornorm", {{2, 3}}, {"keepdim=true"}), (Shape{1, 1}));
  EXPECT_EQ(out0("linalg_vector_norm", {{2, 3, 5}}, {"ord=1", "dim=-2"}), (Shape{2, 5}));
  EXPECT_EQ(out0("linalgvectornorm", {{0, 3}}, {"ord=inf", "dim=1"}), (Shape{0}));
  EXPECT_EQ(out0("linalgvectornorm", {{0, 3}}, {"ord=0", "dim=0"}), (Shape{3}));
  EXPECT_EQ(out0("linalgvectornorm", {{0, 3}}, {"ord=2", "dim=0"}), (Shape{3}));
  EXPECT_EQ(out0("linalgvectornorm", {{}}, {"dim=0"}), (Shape{}));
}

TEST(InferReduce, Errors) {
  expect_error("mean", {{2, 3}}, {"dim=[0,0]"}, {"dim 0 appears multiple times"});
  expect_error("mean", {{2, 3}}, {"dim=[1,-1]"}, {"dim 1 appears multiple times"});
  expect_error("mean", {{2, 3}}, {"dim=2"}, {"dim 2"});
  expect_error("linalgvectornorm", {{0, 3}}, {"ord=inf", "dim=0"}, {"inf norm", "dimension 0"});
  expect_error("linalgvectornorm", {{0, 3}}, {"ord=-1", "dim=0"}, {"-1 norm"});
  expect_error("linalgvectornorm", {{0, 3}}, {"ord=-inf"}, {"-inf norm", "empty tensor"});
  expect_error("linalgvectornorm", {{2, 3}}, {"ord=two"}, {"'ord'", "two"});
}

// ---------------------------------------------------------------- batch norm

TEST(InferBatchNorm, TrainingAndEval) {
  OutputSpec o = infer("native_batch_norm", {{2, 3, 4, 5}});
  ASSERT_EQ(o.outputs.size(), 3u);
  EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 3, 4, 5}, {3}, {3}}));
  EXPECT_EQ(o.view_of, (std::vector<int>{-1, -1, -1}));
  o = infer("native_batch_norm", {{2, 3, 4, 5}, {3}, {3}, {3}, {3}}, {"training=false"},
            DType::BF16);
  EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 3, 4, 5}, {0}, {0}}));
  for (const auto& t : o.outputs) EXPECT_EQ(t.dtype, DType::BF16);
  EXPECT_EQ(shapes_of(infer("batch_norm", {{4, 3}})), (std::vector<Shape>{{4, 3}, {3}, {3}}));
  EXPECT_EQ(shapes_of(infer("native_batch_norm", {{2, 3, 4, 5, 6}, {3}, {3}})),
            (std::vector<Shape>{{2, 3, 4, 5, 6}, {3}, {3}}));
  // Channels-last: NHWC, C is the last dim; the output stays NHWC.
  EXPECT_EQ(shapes_of(infer("native_batch_norm", {{2, 4, 5, 3}, {3}}, {"channels_last=true"})),
            (std::vector<Shape>{{2, 4, 5, 3}, {3}, {3}}));
  // Eval on an empty batch is fine; only training needs values per channel.
  EXPECT_EQ(shapes_of(infer("native_batch_norm", {{0, 3}, {3}, {3}, {3}, {3}}, {"training=false"})),
            (std::vector<Shape>{{0, 3}, {0}, {0}}));
}

TEST(InferBatchNorm, Errors) {
  expect_error("native_batch_norm", {{2, 3, 4, 5}}, {"training=false"}, {"running_mean"});
  expect_error("native_batch_norm", {{2, 3, 4, 5}, {3}, {3}, {3}}, {"training=false"},
               {"running_var"});
  expect_error("native_batch_norm", {{2, 3, 4, 5}, {4}}, {}, {"weight", "[4]", "size 3"});
  expect_error("native_batch_norm", {{2, 3, 4, 5}, {3}, {1, 3}}, {}, {"bias", "[1,3]"});
  expect_error("native_batch_norm", {{2, 3, 4, 5}, {3}, {3}, {2}, {3}}, {},
               {"running_mean", "[2]"});
  expect_error("native_batch_norm", {{3}}, {}, {"at least 2 dims", "[3]"});
  expect_error("native_batch_norm", {{0, 3}}, {}, {"values per channel", "[0,3]"});
  expect_error("native_batch_norm", {{2, 3, 4}}, {"channels_last=true"}, {"NHWC", "[2,3,4]"});
  expect_error("native_batch_norm", {{2, 3}, {3}, {3}, {3}, {3}, {3}}, {}, {"got 6"});
}

// ---------------------------------------------------------------- max pool

TEST(InferMaxPool, OutputSizesMatchAten) {
  // Values from torch.ops.aten.max_pool2d_with_indices (torch 1.13).
  OutputSpec o =
      infer("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=3", "padding=1", "ceil_mode=true"});
  ASSERT_EQ(o.outputs.size(), 2u);
  EXPECT_EQ(o.outputs[0].shape, (Shape{1, 3, 3, 4}));
  EXPECT_EQ(o.outputs[1].shape, (Shape{1, 3, 3, 4}));
  EXPECT_EQ(o.outputs[0].dtype, DType::F32);
  EXPECT_EQ(o.outputs[1].dtype, DType::I32);
  EXPECT_EQ(o.view_of, (std::vector<int>{-1, -1}));
  EXPECT_EQ(infer("maxpool2d", {{1, 3, 8, 9}},
                  {"kernel_size=[3,2]", "stride=2", "padding=[1,1]", "ceil_mode=true"})
                .outputs[0]
                .shape,
            (Shape{1, 3, 5, 5}));
  EXPECT_EQ(infer("max_pool2d", {{0, 3, 8, 8}}, {"kernel_size=2", "stride=2"}).outputs[0].shape,
            (Shape{0, 3, 4, 4}));
  EXPECT_EQ(
      infer("maxpool2d", {{3, 8, 9}}, {"kernel_size=[2,3]", "stride=2", "padding=1", "dilation=2"})
          .outputs[0]
          .shape,
      (Shape{3, 4, 4}));
  EXPECT_EQ(infer("maxpool2d", {{1, 1, 5, 5}},
                  {"kernel_size=2", "stride=2", "padding=1", "ceil_mode=true"})
                .outputs[0]
                .shape,
            (Shape{1, 1, 3, 3}));
  // ceil_mode drops a window that would start in the padding.
  EXPECT_EQ(infer("maxpool2d", {{1, 1, 6, 6}},
                  {"kernel_size=3", "stride=3", "padding=1", "ceil_mode=true"})
                .outputs[0]
                .shape,
            (Shape{1, 1, 3, 3}));
  EXPECT_EQ(
      infer("maxpool2d", {{1, 96, 2176, 3840}}, {"kernel_size=2", "stride=2"}).outputs[0].shape,
      (Shape{1, 96, 1088, 1920}));
  // stride=[] means "omitted" (the kernel size).
  EXPECT_EQ(infer("maxpool2d", {{1, 2, 9, 9}}, {"kernel_size=3", "stride=[]"}).outputs[0].shape,
            (Shape{1, 2, 3, 3}));
}

TEST(InferMaxPool, ChannelsLast) {
  OutputSpec o = infer("maxpool2d", {{1, 8, 9, 3}},
                       {"kernel_size=3", "padding=1", "ceil_mode=true", "channels_last=true"});
  EXPECT_EQ(o.outputs[0].shape, (Shape{1, 3, 4, 3}));
  EXPECT_EQ(o.outputs[1].shape, (Shape{1, 3, 4, 3}));
}

TEST(InferMaxPool, Errors) {
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=[3,2,1]"}, {"kernel_size", "[3,2,1]"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=3", "stride=[2,1,1]"}, {"stride"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=3", "padding=[1,1,1]"}, {"padding"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=3", "dilation=[1,1,1]"}, {"dilation"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=3", "padding=2"},
               {"pad=2", "kernel_size=3"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=0"}, {"kH: 0"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=2", "stride=0"}, {"stride", "dH: 0"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=2", "dilation=0"}, {"dilationH: 0"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=2", "padding=-1"}, {"pad: -1"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=9", "stride=1"},
               {"(3x8x9)", "(3x0x1)", "too small"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {"kernel_size=5", "stride=1", "dilation=3"},
               {"(3x-4x-3)"});
  expect_error("maxpool2d", {{2, 0, 8, 8}}, {"kernel_size=2"}, {"[2,0,8,8]"});
  expect_error("maxpool2d", {{8, 8}}, {"kernel_size=2"}, {"3D or 4D", "[8,8]"});
  expect_error("maxpool2d", {{1, 3, 8, 9}}, {}, {"'kernel_size'", "required"});
  expect_error("maxpool2d", {{3, 8, 9}}, {"kernel_size=2", "channels_last=true"}, {"NHWC"});
}

// ---------------------------------------------------------------- upsample

TEST(InferUpsample, SizeOrScale) {
  EXPECT_EQ(out0("upsample_nearest2d", {{1, 3, 8, 9}}, {"output_size=16,18"}),
            (Shape{1, 3, 16, 18}));
  EXPECT_EQ(out0("upsample_nearest2d", {{1, 3, 8, 9}}, {"scale_factor=2"}), (Shape{1, 3, 16, 18}));
  EXPECT_EQ(out0("upsample", {{1, 3, 8, 9}}, {"scale_factor=1.5"}), (Shape{1, 3, 12, 13}));
  EXPECT_EQ(out0("upsample_nearest2d", {{1, 3, 8, 9}}, {"scale_factor=0.3"}), (Shape{1, 3, 2, 2}));
  EXPECT_EQ(out0("upsample_nearest2d", {{1, 3, 8, 9}}, {"scale_factor=1.13"}),
            (Shape{1, 3, 9, 10}));
  EXPECT_EQ(out0("upsample_nearest2d", {{0, 3, 8, 8}}, {"output_size=[16,16]"}),
            (Shape{0, 3, 16, 16}));
  EXPECT_EQ(out0("upsample_nearest2d", {{1, 8, 9, 3}}, {"scale_factor=2", "channels_last=true"}),
            (Shape{1, 16, 18, 3}));
}

TEST(InferUpsample, Errors) {
  expect_error("upsample_nearest2d", {{1, 3, 8, 9}}, {"output_size=16,18", "scale_factor=2"},
               {"exactly one"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 9}}, {}, {"exactly one"});
  expect_error("upsample_nearest2d", {{3, 8, 8}}, {"scale_factor=2"}, {"4-D", "[3,8,8]"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 9}}, {"scale_factor=0.1"}, {"output (H: 0, W: 0)"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 9}}, {"output_size=16"}, {"2 elements", "[16]"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 9}}, {"output_size=0,16"}, {"(H: 0, W: 16)"});
  expect_error("upsample_nearest2d", {{1, 0, 8, 8}}, {"scale_factor=2"}, {"[1,0,8,8]"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 8}}, {"scales=2,2"}, {"scales", "[2,2]"});
  expect_error("upsample_nearest2d", {{1, 3, 8, 8}}, {"scale_factor=inf"}, {"scale_factor", "inf"});
}

// ---------------------------------------------------------------- topk

TEST(InferTopK, ValuesAndIndices) {
  OutputSpec o = infer("topk", {{2, 3}}, {"k=2"});
  ASSERT_EQ(o.outputs.size(), 2u);
  EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 2}, {2, 2}}));
  EXPECT_EQ(o.outputs[0].dtype, DType::F32);
  EXPECT_EQ(o.outputs[1].dtype, DType::I32);
  EXPECT_EQ(o.view_of, (std::vector<int>{-1, -1}));
  EXPECT_EQ(infer("topk", {{4, 3, 5}}, {"k=2", "dim=0", "largest=false"}).outputs[0].shape,
            (Shape{2, 3, 5}));
  EXPECT_EQ(infer("topk", {{4, 3, 5}}, {"k=0", "dim=-2"}).outputs[1].shape, (Shape{4, 0, 5}));
  EXPECT_EQ(infer("topk", {{}}, {"k=1", "dim=0"}).outputs[0].shape, (Shape{}));
  EXPECT_EQ(infer("topk", {{0, 3}}, {"k=0", "dim=0"}).outputs[0].shape, (Shape{0, 3}));
}

TEST(InferTopK, Errors) {
  expect_error("topk", {{2, 3}}, {"k=4"}, {"k out of range", "k = 4", "3"});
  expect_error("topk", {{2, 3}}, {"k=-1"}, {"k = -1"});
  expect_error("topk", {{}}, {"k=2", "dim=0"}, {"k = 2"});
  expect_error("topk", {{2, 3}}, {"k=1", "dim=2"}, {"dim 2"});
  expect_error("topk", {{2, 3}}, {}, {"'k'", "required"});
}

// ---------------------------------------------------------------- dropout

TEST(InferDropout, OutputAndMask) {
  OutputSpec o = infer("dropout", {{2, 33, 5}}, {"p=0.2"}, DType::BF16);
  ASSERT_EQ(o.outputs.size(), 2u);
  EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 33, 5}, {2, 33, 5}}));
  EXPECT_EQ(o.outputs[1].dtype, DType::BF16);
  EXPECT_EQ(o.view_of, (std::vector<int>{-1, -1}));
  EXPECT_EQ(shapes_of(infer("native_dropout", {{0}}, {"p=1", "train=false"})),
            (std::vector<Shape>{{0}, {0}}));
  expect_error("dropout", {{2, 3}}, {"p=1.5"}, {"between 0 and 1", "1.5"});
  expect_error("dropout", {{2, 3}}, {"p=-0.5"}, {"-0.5"});
}

// ---------------------------------------------------------------- movement

TEST(InferMovement, PermuteTranspose) {
  OutputSpec o = infer("permute", {{2, 3, 5}}, {"dims=2,0,1"});
  EXPECT_EQ(o.outputs[0].shape, (Shape{5, 2, 3}));
  EXPECT_EQ(o.view_of, std::vector<int>{0});
  EXPECT_EQ(out0("permute", {{1, 3, 2176, 3840}}, {"dims=[0,2,3,1]"}), (Shape{1, 2176, 3840, 3}));
  EXPECT_EQ(out0("permute", {{2, 3, 5}}, {"dims=[-1,0,1]"}), (Shape{5, 2, 3}));
  EXPECT_EQ(out0("permute", {{}}, {"dims=[]"}), (Shape{}));
  o = infer("transpose", {{2, 3, 5}}, {"dim0=0", "dim1=-1"});
  EXPECT_EQ(o.outputs[0].shape, (Shape{5, 3, 2}));
  EXPECT_EQ(o.view_of, std::vector<int>{0});
  EXPECT_EQ(out0("transpose", {{}}, {"dim0=0", "dim1=-1"}), (Shape{}));
  EXPECT_EQ(out0("transpose", {{4, 0}}, {"dim0=1", "dim1=1"}), (Shape{4, 0}));
}

TEST(InferMovement, ViewAndUnsafeView) {
  for (const char* name : {"view", "unsafeview", "_unsafe_view"}) {
    OutputSpec o = infer(name, {{2, 3}}, {"size=-1"});
    EXPECT_EQ(o.outputs[0].shape, (Shape{6})) << name;
    EXPECT_EQ(o.view_of, std::vector<int>{0}) << name;
    EXPECT_EQ(out0(name, {{2, 3}}, {"size=3,-1"}), (Shape{3, 2}));
    EXPECT_EQ(out0(name, {{0, 3}}, {"size=[-1,3]"}), (Shape{0, 3}));
    EXPECT_EQ(out0(name, {{}}, {"shape=[1,1,-1]"}), (Shape{1, 1, 1}));  // alias "shape"
    EXPECT_EQ(out0(name, {{1, 96, 2176, 1920}}, {"size=96,-1"}), (Shape{96, 4177920}));
  }
  expect_error("view", {{2, 3}}, {"size=[-1,-1]"}, {"only one dimension can be inferred"});
  expect_error("view", {{2, 3}}, {"size=4,-1"}, {"'[4,-1]'", "size 6"});
  expect_error("view", {{2, 3}}, {"size=7"}, {"'[7]'", "size 6"});
  expect_error("unsafeview", {{2, 3}}, {"size=-2,3"}, {"-2"});
  expect_error("view", {{0, 3}}, {"size=0,-1"}, {"ambiguous", "[0,-1]"});
}

TEST(InferMovement, SliceAndSelectAreAtensViews) {
  // aten::slice clamps start and end, counts negatives from the end, rounds up.
  EXPECT_EQ(out0("slice", {{4, 10}}, {"dim=1", "start=2", "end=9", "step=3"}), (Shape{4, 3}));
  EXPECT_EQ(out0("slice", {{4, 10}}, {"dim=-1", "start=-3"}), (Shape{4, 3}));
  EXPECT_EQ(out0("slice", {{4, 10}}, {"start=1", "end=100"}), (Shape{3, 10}));
  EXPECT_EQ(out0("slice", {{4, 10}}, {"dim=1", "start=8", "end=2"}), (Shape{4, 0}));
  EXPECT_EQ(infer("slice", {{4, 10}}, {"dim=0"}).view_of, std::vector<int>{0});
  expect_error("slice", {{4, 10}}, {"step=0"}, {"slice step must be positive, got 0"});
  expect_error("slice", {{}}, {}, {"0-dim"});
  EXPECT_EQ(out0("select", {{4, 10, 3}}, {"dim=1", "index=-1"}), (Shape{4, 3}));
  EXPECT_EQ(infer("select", {{4, 10}}, {"dim=0", "index=3"}).view_of, std::vector<int>{0});
  expect_error("select", {{4, 10}}, {"dim=1", "index=10"},
               {"index 10 out of range for tensor of size [4,10] at dimension 1"});
}

TEST(InferMovement, UnsqueezeExpand) {
  EXPECT_EQ(out0("unsqueeze", {{2, 3}}, {"dim=2"}), (Shape{2, 3, 1}));
  EXPECT_EQ(out0("unsqueeze", {{2, 3}}, {"dim=-1"}), (Shape{2, 3, 1}));
  EXPECT_EQ(out0("unsqueeze", {{2, 3}}, {"dim=-3"}), (Shape{1, 2, 3}));
  EXPECT_EQ(out0("unsqueeze", {{}}, {"dim=0"}), (Shape{1}));
  EXPECT_EQ(infer("unsqueeze", {{2}}, {"dim=0"}).view_of, std::vector<int>{0});
  OutputSpec o = infer("expand", {{2, 1}}, {"size=3,2,-1"});
  EXPECT_EQ(o.outputs[0].shape, (Shape{3, 2, 1}));
  EXPECT_EQ(o.view_of, std::vector<int>{0});
  EXPECT_EQ(out0("expand", {{2, 1}}, {"size=[-1,5]"}), (Shape{2, 5}));
  EXPECT_EQ(out0("expand", {{2, 1}}, {"size=2,0"}), (Shape{2, 0}));
  EXPECT_EQ(out0("expand", {{}}, {"size=4,3"}), (Shape{4, 3}));
  expect_error("unsqueeze", {{2, 3}}, {"dim=3"}, {"dim 3"});
  expect_error("unsqueeze", {{2, 3}}, {"dim=-4"}, {"dim -4"});
  expect_error("expand", {{2, 3}}, {"size=2,4"},
               {"expanded size of the tensor (4)", "existing size (3)", "dimension 1"});
  expect_error("expand", {{2, 3}}, {"size=4"}, {"number of sizes provided (1)", "(2)"});
  expect_error("expand", {{2, 3}}, {"size=-1,2,3"}, {"(-1)", "leading, non-existing dimension 0"});
  expect_error("expand", {{2, 1}}, {"size=3,2,-2"}, {"-2"});
}

TEST(InferMovement, CloneCopyIdentity) {
  OutputSpec o = infer("clone", {{2, 3}});
  EXPECT_EQ(o.outputs[0].shape, (Shape{2, 3}));
  EXPECT_EQ(o.view_of, std::vector<int>{-1});
  o = infer_specs("copy", {{{2, 3}, DType::BF16}, {{3}, DType::F32}});
  EXPECT_EQ(o.outputs[0].shape, (Shape{2, 3}));
  EXPECT_EQ(o.outputs[0].dtype, DType::BF16);  // self's dtype
  EXPECT_EQ(o.view_of, std::vector<int>{-1});
  EXPECT_EQ(out0("copy", {{2, 3}, {2, 3}}), (Shape{2, 3}));
  o = infer("identity", {{4, 0, 2}});
  EXPECT_EQ(o.outputs[0].shape, (Shape{4, 0, 2}));
  EXPECT_EQ(o.view_of, std::vector<int>{0});
  expect_error("copy", {{2, 3}, {4}}, {}, {"(3)", "(4)"});
  expect_error("copy", {{2, 3}, {2, 2, 3}}, {}, {"number of sizes provided (2)"});
  expect_error("copy", {{2, 3}}, {}, {"2 tensor input"});
}

TEST(InferMovement, Errors) {
  expect_error("permute", {{2, 3}}, {"dims=0"}, {"input.dim() = 2", "len(dims) = 1"});
  expect_error("permute", {{2, 3}}, {"dims=0,0"}, {"duplicate dims", "[0,0]"});
  expect_error("permute", {{2, 3}}, {"dims=0,2"}, {"dim 2"});
  expect_error("transpose", {{2, 3}}, {"dim0=0", "dim1=2"}, {"dim 2"});
  expect_error("transpose", {{2, 3}}, {"dim0=0"}, {"'dim1'", "required"});
  expect_error("view", {{2, 3}}, {"size=2,x"}, {"'size'", "2,x"});
}

// ---------------------------------------------------------------- concat

TEST(InferConcat, Cat) {
  for (const char* name : {"cat", "concat"}) {
    EXPECT_EQ(out0(name, {{2, 3}, {2, 4}}, {"dim=1"}), (Shape{2, 7})) << name;
    EXPECT_EQ(out0(name, {{2, 3}, {2, 4}, {2, 0}}, {"dim=-1"}), (Shape{2, 7}));
    EXPECT_EQ(out0(name, {{2, 3}, {5, 3}}), (Shape{7, 3}));  // dim defaults to 0
    EXPECT_EQ(out0(name, {{2, 3}}), (Shape{2, 3}));
  }
  EXPECT_EQ(out0("cat", {{1, 48, 2176, 3840}, {1, 48, 2176, 3840}}, {"dim=1"}),
            (Shape{1, 96, 2176, 3840}));
  // Legacy rule: 1-D empty tensors are skipped, whatever their rank.
  EXPECT_EQ(out0("cat", {{2, 3}, {0}}, {"dim=0"}), (Shape{2, 3}));
  EXPECT_EQ(out0("cat", {{0}, {2, 3}}, {"dim=-1"}), (Shape{2, 3}));
  EXPECT_EQ(out0("cat", {{0}, {0}}, {"dim=3"}), (Shape{0}));
  EXPECT_EQ(out0("cat", {{2, 3}, {0, 3}}, {"dim=0"}), (Shape{2, 3}));
  EXPECT_EQ(infer("cat", {{2}, {3}}).view_of, std::vector<int>{-1});
  OutputSpec o = infer_specs("cat", {{{2}, DType::BF16}, {{2}, DType::F32}});
  EXPECT_EQ(o.outputs[0].dtype, DType::F32);
}

TEST(InferConcat, Stack) {
  EXPECT_EQ(out0("stack", {{2, 3}, {2, 3}}, {"dim=2"}), (Shape{2, 3, 2}));
  EXPECT_EQ(out0("stack", {{2, 3}, {2, 3}, {2, 3}}, {"dim=-1"}), (Shape{2, 3, 3}));
  EXPECT_EQ(out0("stack", {{2, 3}, {2, 3}}), (Shape{2, 2, 3}));
  EXPECT_EQ(out0("stack", {{}, {}}), (Shape{2}));
  EXPECT_EQ(out0("stack", {{0, 3}}, {"dim=1"}), (Shape{0, 1, 3}));
}

TEST(InferConcat, Errors) {
  expect_error("cat", {{2, 3}, {2, 4}}, {"dim=0"},
               {"Sizes of tensors must match except in dimension 0", "Expected size 3",
                "got size 4", "tensor number 1"});
  expect_error("cat", {{2, 3}, {2, 3, 1}}, {}, {"same number of dimensions", "got 2 and 3"});
  expect_error("cat", {{}, {2, 3}}, {}, {"zero-dimensional", "position 0"});
  expect_error("concat", {{2, 3}, {2, 3}}, {"dim=2"}, {"dim 2"});
  expect_error("stack", {{2, 3}, {2, 4}}, {}, {"equal size", "[2,3]", "[2,4]", "entry 1"});
  expect_error("stack", {{2, 3}, {2, 3}}, {"dim=3"}, {"dim 3"});
  expect_error("cat", {}, {}, {"at least 1", "got 0"});
}

// ---------------------------------------------------------------- split

TEST(InferSplit, Split) {
  OutputSpec o = infer("split", {{5, 2}}, {"split_size=2"});
  EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}}));
  EXPECT_EQ(o.view_of, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(shapes_of(infer("split", {{5, 2}}, {"split_size=7"})), (std::vector<Shape>{{5, 2}}));
  EXPECT_EQ(shapes_of(infer("split", {{0, 2}}, {"split_size=0"})), (std::vector<Shape>{{0, 2}}));
  EXPECT_EQ(shapes_of(infer("split", {{0, 2}}, {"split_size=3"})), (std::vector<Shape>{{0, 2}}));
  EXPECT_EQ(shapes_of(infer("split", {{3, 5}}, {"split_size=2", "dim=-1"})),
            (std::vector<Shape>{{3, 2}, {3, 2}, {3, 1}}));
  EXPECT_EQ(infer("split", {{1, 192, 64, 64}}, {"split_size=96", "dim=1"}).outputs.size(), 2u);
  EXPECT_EQ(infer("split", {{1, 192, 64, 64}}, {"split_size=96", "dim=1"}).outputs[1].shape,
            (Shape{1, 96, 64, 64}));
}

TEST(InferSplit, SplitWithSizes) {
  for (const char* name : {"split_with_sizes", "splitwithsizes"}) {
    OutputSpec o = infer(name, {{5, 2}}, {"split_sizes=2,3"});
    EXPECT_EQ(shapes_of(o), (std::vector<Shape>{{2, 2}, {3, 2}})) << name;
    EXPECT_EQ(o.view_of, (std::vector<int>{0, 0}));
    EXPECT_EQ(shapes_of(infer(name, {{5, 2}}, {"sizes=5,0"})),
              (std::vector<Shape>{{5, 2}, {0, 2}}));
    EXPECT_EQ(shapes_of(infer(name, {{2, 7, 3}}, {"sizes=[3,4]", "dim=-2"})),
              (std::vector<Shape>{{2, 3, 3}, {2, 4, 3}}));
    EXPECT_TRUE(infer(name, {{0, 2}}, {"sizes=[]"}).outputs.empty());
  }
}

TEST(InferSplit, Errors) {
  expect_error("split", {{5, 2}}, {"split_size=0"}, {"split_size can only be 0", "size of 5"});
  expect_error("split", {{5, 2}}, {"split_size=-1"}, {"non-negative", "split_size=-1"});
  expect_error("split", {{}}, {"split_size=1"}, {"at least a 1-dimensional tensor"});
  expect_error("split", {{5, 2}}, {"split_size=1", "dim=2"}, {"dim 2"});
  expect_error("split_with_sizes", {{5, 2}}, {"sizes=2,2"},
               {"sum exactly to 5", "dimension 0", "[2,2]"});
  expect_error("splitwithsizes", {{5, 2}}, {"sizes=6,-1"}, {"non-negative", "[6,-1]"});
  expect_error("split_with_sizes", {{5, 2}}, {}, {"'split_sizes'", "required"});
}

// ---------------------------------------------------------------- creation

TEST(InferCreation, Ones) {
  OutputSpec o = infer("ones", {}, {"size=2,3"});
  ASSERT_EQ(o.outputs.size(), 1u);
  EXPECT_EQ(o.outputs[0].shape, (Shape{2, 3}));
  EXPECT_EQ(o.outputs[0].dtype, DType::BF16);
  EXPECT_EQ(o.view_of, std::vector<int>{-1});
  EXPECT_EQ(infer("ones", {}, {"shape=[]"}).outputs[0].shape, (Shape{}));
  EXPECT_EQ(infer("ones", {}, {"size=[0,5]"}).outputs[0].shape, (Shape{0, 5}));
  expect_error("ones", {}, {"size=2,-1"}, {"negative dimension -1", "[2,-1]"});
  expect_error("ones", {{2}}, {"size=2"}, {"0 tensor input", "got 1"});
  expect_error("ones", {}, {}, {"'size'", "required"});
}

// ---------------------------------------------------------------- matmul

TEST(InferMatmul, MmBmm) {
  EXPECT_EQ(out0("mm", {{2, 3}, {3, 5}}), (Shape{2, 5}));
  EXPECT_EQ(out0("mm", {{33, 0}, {0, 65}}), (Shape{33, 65}));
  EXPECT_EQ(out0("bmm", {{2, 3, 4}, {2, 4, 5}}), (Shape{2, 3, 5}));
  EXPECT_EQ(out0("bmm", {{0, 3, 4}, {0, 4, 5}}), (Shape{0, 3, 5}));
  EXPECT_EQ(infer("mm", {{2, 3}, {3, 5}}).view_of, std::vector<int>{-1});
}

TEST(InferMatmul, AddmmLinear) {
  EXPECT_EQ(out0("addmm", {{5}, {2, 3}, {3, 5}}, {"beta=0.5", "alpha=2"}), (Shape{2, 5}));
  EXPECT_EQ(out0("addmm", {{2, 1}, {2, 3}, {3, 5}}), (Shape{2, 5}));
  EXPECT_EQ(out0("addmm", {{}, {2, 3}, {3, 5}}), (Shape{2, 5}));
  EXPECT_EQ(out0("linear", {{4, 5, 3}, {6, 3}}), (Shape{4, 5, 6}));
  EXPECT_EQ(out0("linear", {{4, 5, 3}, {6, 3}, {6}}), (Shape{4, 5, 6}));
  EXPECT_EQ(out0("linear", {{3}, {6, 3}}), (Shape{6}));
  EXPECT_EQ(out0("linear", {{2, 3}, {3}}), (Shape{2}));
  EXPECT_EQ(out0("linear", {{2, 3}, {6, 3}, {2, 6}}), (Shape{2, 6}));
  EXPECT_EQ(out0("linear", {{5, 4, 2, 3}, {6, 3}, {5, 4, 2, 6}}), (Shape{5, 4, 2, 6}));
  EXPECT_EQ(out0("linear", {{2, 0}, {6, 0}}), (Shape{2, 6}));
  EXPECT_EQ(out0("linear", {{1, 2176, 3840, 96}, {48, 96}, {48}}), (Shape{1, 2176, 3840, 48}));
}

TEST(InferMatmul, Errors) {
  expect_error("mm", {{2, 3}, {4, 5}}, {}, {"cannot be multiplied", "(2x3 and 4x5)"});
  expect_error("mm", {{3}, {3, 5}}, {}, {"self must be a matrix", "[3]"});
  expect_error("mm", {{2, 3}, {3}}, {}, {"mat2 must be a matrix"});
  try {
    infer_specs("mm", {{{2, 3}, DType::F32}, {{3, 5}, DType::BF16}});
    ADD_FAILURE() << "mixed dtypes";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("[mm]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos);
  }
  expect_error("bmm", {{2, 3, 4}, {3, 4, 5}}, {}, {"batch2", "[2, 4]", "[3, 4]"});
  expect_error("bmm", {{2, 3, 4}, {2, 5, 5}}, {}, {"[2, 5]"});
  expect_error("bmm", {{3, 4}, {2, 4, 5}}, {}, {"batch1 must be a 3D tensor"});
  expect_error("bmm", {{2, 3, 4}, {4, 5}}, {}, {"batch2 must be a 3D tensor"});
  expect_error("addmm", {{3}, {2, 3}, {3, 5}}, {}, {"expanded size of the tensor (5)", "(3)"});
  expect_error("addmm", {{5}, {2, 3}, {4, 5}}, {}, {"(2x3 and 4x5)"});
  expect_error("addmm", {{1, 2, 5}, {2, 3}, {3, 5}}, {}, {"number of sizes provided (2)"});
  expect_error("addmm", {{5}, {3}, {3, 5}}, {}, {"mat1 must be a matrix"});
  expect_error("linear", {{4, 5, 3}, {6, 4}}, {}, {"(20x3 and 4x6)"});
  expect_error("linear", {{3}, {6, 4}}, {}, {"(1x3 and 4x6)"});
  expect_error("linear", {{2, 3}, {6, 3}, {3, 6}}, {}, {"(2)", "(3)"});
  expect_error("linear", {{3}, {6, 3}, {2, 6}}, {}, {"[6]", "[2,6]"});
  // 3-D inputs take aten's addmm path: the bias expands to [rows, out].
  expect_error("linear", {{4, 2, 3}, {6, 3}, {2, 6}}, {}, {"(8)", "(2)"});
  expect_error("linear", {{}, {6, 3}}, {}, {"at least 1D"});
  expect_error("linear", {{2, 3}, {2, 6, 3}}, {}, {"weight", "[2,6,3]"});
  expect_error("linear", {{2, 3}}, {}, {"2 to 3 tensor input", "got 1"});
}

TEST(InferTable, EveryOpHasAnInferRule) {
  // The 46 seed names and convolution resolve and produce at least one output.
  // And the views a traced graph holds: slice, select.
  EXPECT_EQ(ops::op_table().size(), 49u);
  for (const auto& op : ops::op_table()) {
    EXPECT_NE(op.infer, nullptr) << op.name;
    EXPECT_NE(op.cbs, nullptr) << op.name;
  }
}

// ---------------------------------------------------------------- CB model

TEST(CbModel, EltwiseDoubleBuffersEachOperand) {
  auto cbs = cbs_of("add", specs({{1, 1, 64, 64}, {1, 1, 64, 64}}, DType::BF16));
  ASSERT_EQ(cbs.size(), 3u);
  for (const auto& c : cbs) {
    EXPECT_EQ(c.pages, 2);
    EXPECT_EQ(c.page_size, 2048);
  }
  EXPECT_EQ(total_bytes(cbs), 3 * 2 * 2048);
  EXPECT_EQ(cbs_of("add", specs({{2, 3}, {2, 3}}, DType::BF16), {"alpha=2"}).size(), 4u);
  auto u = cbs_of("relu", specs({{1, 96, 2176, 1920}}, DType::F32));
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(total_bytes(u), 2 * 2 * 4096);
  EXPECT_EQ(total_bytes(cbs_of("relu", specs({{4, 4}}, DType::BFP8_B))), 2 * 2 * 1088);
  // ROW_MAJOR pages are rows: 100 f32 elements.
  auto rm = cbs_of("relu", specs({{4, 100}}, DType::F32), {}, Layout::RowMajor);
  ASSERT_EQ(rm.size(), 2u);
  EXPECT_EQ(rm[0].page_size, 400);
  EXPECT_EQ(cbs_of("dropout", specs({{4, 100}}, DType::BF16)).size(), 2u);
  EXPECT_EQ(total_bytes(cbs_of("ones", {}, {"size=64,64"})), 2 * 2048);
}

TEST(CbModel, EmptyOutputsRunNoProgram) {
  EXPECT_TRUE(cbs_of("relu", specs({{0, 64}}, DType::BF16)).empty());
  EXPECT_TRUE(cbs_of("softmax", specs({{0, 64}}, DType::BF16), {"dim=-1"}).empty());
  EXPECT_TRUE(cbs_of("mm", specs({{0, 64}, {64, 32}}, DType::BF16)).empty());
}

TEST(CbModel, SoftmaxHoldsTheWholeRow) {
  // W = 8160: Wt = 255, block = find_max_divisor(255, 8) = 3 (5 and 7 are skipped).
  auto cbs = cbs_of("softmax", specs({{1, 12, 256, 8160}}, DType::BF16), {"dim=-1"});
  ASSERT_NE(find_cb(cbs, "im0_exps"), nullptr);
  EXPECT_EQ(find_cb(cbs, "im0_exps")->pages, 255);
  EXPECT_EQ(find_cb(cbs, "in0")->pages, 6);
  EXPECT_EQ(find_cb(cbs, "out0")->pages, 6);
  EXPECT_EQ(total_bytes(cbs), (6 + 6 + 1 + 1 + 255 + 1) * 2048);
  // The CB footprint grows with the row width, not with the number of rows.
  int64_t prev = 0;
  for (int64_t w : {32, 64, 1000, 4096, 8160, 16384}) {
    int64_t t = total_bytes(cbs_of("softmax", specs({{2, 33, w}}, DType::BF16), {"dim=-1"}));
    EXPECT_GT(t, prev) << w;
    prev = t;
  }
  EXPECT_EQ(total_bytes(cbs_of("softmax", specs({{2, 33, 1000}}, DType::BF16), {"dim=-1"})),
            total_bytes(cbs_of("softmax", specs({{2, 3300, 1000}}, DType::BF16), {"dim=-1"})));
  // Softmax over dim 1 is sized by that dim.
  auto d1 = cbs_of("softmax", specs({{2, 640, 40}}, DType::F32), {"dim=1"});
  EXPECT_EQ(find_cb(d1, "im0_exps")->pages, 20);
  EXPECT_EQ(find_cb(d1, "in0")->page_size, 4096);
}

TEST(CbModel, SoftmaxReproducesTtMetalIssue18997) {
  // tt-metal#18997: ttnn.softmax on f32 (32, 32000) -> "Statically allocated circular
  // buffers ... grow to 2287328 B": 2,185,216 B of CBs above a 102,112 B L1 base.
  auto cbs = cbs_of("softmax", specs({{32, 32000}}, DType::F32), {"dim=-1"});
  EXPECT_EQ(find_cb(cbs, "in0")->pages, 16);  // Wt = 1000, block 8
  EXPECT_EQ(find_cb(cbs, "im0_exps")->pages, 1000);
  EXPECT_EQ(total_bytes(cbs), 2185216);
  EXPECT_EQ(total_bytes(cbs) + 102112, 2287328);
}

TEST(CbModel, ReduceBatchNormTopK) {
  auto r = cbs_of("mean", specs({{1, 96, 64, 64}}, DType::F32), {"dim=[2,3]"});
  EXPECT_EQ(total_bytes(r), 2 * 4096 + 2048 + 2 * 4096);
  auto bn = cbs_of("native_batch_norm", specs({{2, 3, 64, 64}}, DType::F32));
  EXPECT_EQ(bn.size(), 10u);
  // Absent weight and bias get bfloat16 CBs.
  EXPECT_EQ(total_bytes(bn), 8 * 2 * 4096 + 2 * 2 * 2048);
  // topk k=5 on a bf16 row of 64: Kt = 1, uint16 indices.
  auto tk = cbs_of("topk", specs({{1, 1, 32, 64}}, DType::BF16), {"k=5"});
  EXPECT_EQ(tk.size(), 8u);
  EXPECT_EQ(total_bytes(tk), (4 + 4 + 4 + 4 + 2 + 2 + 1 + 1) * 2048);
  auto tk2 = cbs_of("topk", specs({{1, 1, 32, 8192}}, DType::BF16), {"k=100"});
  EXPECT_EQ(find_cb(tk2, "output_val")->pages, 4);
  EXPECT_EQ(find_cb(tk2, "result_prep_ind")->pages, 8);
}

TEST(CbModel, PoolAndUpsampleUseSticks) {
  // 96 bf16 channels = 192 B sticks; a 2x2 window double-buffered; 3 channel tiles.
  auto mp = cbs_of("maxpool2d", specs({{1, 96, 64, 64}}, DType::BF16), {"kernel_size=2"});
  ASSERT_NE(find_cb(mp, "in_window"), nullptr);
  EXPECT_EQ(find_cb(mp, "in_window")->pages, 8);
  EXPECT_EQ(find_cb(mp, "in_window")->page_size, 192);
  EXPECT_EQ(find_cb(mp, "out")->pages, 6);
  EXPECT_EQ(find_cb(mp, "out_indices")->page_size, 4096);
  // Channels-last: C is the last dim; 3 channels round up to 16 B.
  auto mpc = cbs_of("maxpool2d", specs({{1, 64, 64, 3}}, DType::BF16),
                    {"kernel_size=3", "padding=1", "channels_last=true"});
  EXPECT_EQ(find_cb(mpc, "in_window")->pages, 18);
  EXPECT_EQ(find_cb(mpc, "in_window")->page_size, 16);
  auto up = cbs_of("upsample_nearest2d", specs({{1, 96, 8, 8}}, DType::BF16), {"scale_factor=2"});
  EXPECT_EQ(total_bytes(up), 4 * 192);
}

TEST(CbModel, ViewsAreFreeUnlessTilePaddingChanges) {
  // Whole tile rows fold into height: no program.
  EXPECT_TRUE(cbs_of("view", specs({{2, 32, 64}}, DType::BF16), {"size=64,64"}).empty());
  EXPECT_TRUE(cbs_of("unsqueeze", specs({{5, 7}}, DType::BF16), {"dim=0"}).empty());
  EXPECT_TRUE(cbs_of("identity", specs({{5, 7}}, DType::BF16)).empty());
  EXPECT_TRUE(cbs_of("permute", specs({{2, 1, 64, 32}}, DType::BF16), {"dims=1,0,2,3"}).empty());
  EXPECT_TRUE(cbs_of("expand", specs({{5, 7}}, DType::BF16), {"size=1,5,7"}).empty());
  // Heights 3 and 6 pad differently into tiles: TT-NN's reshape copies.
  EXPECT_EQ(cbs_of("view", specs({{2, 3, 5}}, DType::BF16), {"size=6,5"}).size(), 2u);
  // Unsqueeze at the end changes the last dim.
  EXPECT_EQ(cbs_of("unsqueeze", specs({{5, 7}}, DType::BF16), {"dim=-1"}).size(), 2u);
  // In ROW_MAJOR only the last dim matters.
  EXPECT_TRUE(
      cbs_of("view", specs({{2, 3, 5}}, DType::BF16), {"size=6,5"}, Layout::RowMajor).empty());
  // Real data movement.
  auto p = cbs_of("permute", specs({{1, 3, 64, 64}}, DType::BF16), {"dims=0,2,3,1"});
  EXPECT_EQ(total_bytes(p), 2 * 2 * 2048);
  EXPECT_EQ(cbs_of("transpose", specs({{4, 64, 64}}, DType::BF16), {"dim0=-1", "dim1=-2"}).size(),
            2u);
  EXPECT_EQ(cbs_of("expand", specs({{1, 7}}, DType::BF16), {"size=5,7"}).size(), 2u);
  EXPECT_EQ(cbs_of("clone", specs({{5, 7}}, DType::BF16)).size(), 2u);
}

TEST(CbModel, ConcatSplitMatmul) {
  auto c = cbs_of("cat", specs({{1, 48, 64, 64}, {1, 48, 64, 64}, {1, 8, 64, 64}}, DType::BF16),
                  {"dim=1"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].bytes(), 2 * 2048);
  // ROW_MAJOR: one output row (3 + 5 f32 = 32 B) rounded to 32 B.
  auto crm = cbs_of("cat", specs({{4, 3}, {4, 5}}, DType::F32), {"dim=1"}, Layout::RowMajor);
  EXPECT_EQ(crm[0].page_size, 32);
  auto s = cbs_of("split", specs({{1, 192, 64, 64}}, DType::BF16), {"split_size=96", "dim=1"});
  EXPECT_EQ(total_bytes(s), 2 * 2048);
  // 1024^3 bf16: Mt = Kt = Nt = 32 -> per_core 4 x 4, in0_block_w 4.
  auto mm = cbs_of("mm", specs({{1024, 1024}, {1024, 1024}}, DType::BF16));
  ASSERT_EQ(mm.size(), 3u);
  EXPECT_EQ(find_cb(mm, "in0")->pages, 32);
  EXPECT_EQ(find_cb(mm, "in1")->pages, 32);
  EXPECT_EQ(find_cb(mm, "out")->pages, 16);
  // Kt = 3 -> in0_block_w 3; Nt = 2 -> per_core_N 1; bias row of 1 tile.
  auto lin = cbs_of("linear", specs({{64, 96}, {48, 96}, {48}}, DType::BF16));
  ASSERT_EQ(lin.size(), 4u);
  EXPECT_EQ(find_cb(lin, "in0")->pages, 2 * 1 * 3);
  EXPECT_EQ(find_cb(lin, "in1")->pages, 2 * 3 * 1);
  EXPECT_EQ(find_cb(lin, "bias")->pages, 1);
}

TEST(CbModel, RowMajorBlockFloatIsAnError) {
  try {
    cbs_of("relu", specs({{4, 64}}, DType::BFP8_B), {}, Layout::RowMajor);
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("[relu]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bfloat8_b"), std::string::npos);
  }
}
