// The slow reference (ops/reference) against values worked out by hand, per family,
// and its tolerance and check functions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "ops/reference/reference.hpp"

using namespace oomless;

namespace {

using Index = std::vector<int64_t>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor make(const Shape& shape, const std::vector<double>& values, DType dtype = DType::F32) {
  Tensor t = Tensor::empty(shape, dtype);
  for (size_t i = 0; i < values.size(); ++i) t.set(static_cast<int64_t>(i), values[i]);
  return t;
}

// One op call with its arguments kept alive, and the output shapes (by hand).
struct Case {
  const ops::OpDesc& op;
  ops::Args args;
  std::vector<Tensor> inputs;
  std::vector<Shape> shapes;

  Case(std::string_view name, std::vector<Tensor> in, std::vector<Shape> out,
       const std::vector<std::string>& kv = {})
      : op(ops::find_op(name)),
        args(ops::parse_args(op.name, op.args, kv)),
        inputs(std::move(in)),
        shapes(std::move(out)) {}

  ops::OpCall call() const { return {op, inputs, args}; }
  double at(const Index& idx, size_t out = 0) const {
    return ops::reference_at(call(), shapes, out, idx);
  }
  double tol(const Index& idx, DType dtype, size_t out = 0) const {
    return ops::reference_tolerance(call(), shapes, out, idx, at(idx, out), dtype);
  }
  bool index_ok(const Index& idx, double got) const {
    return ops::reference_index_ok(call(), shapes, 1, idx, got);
  }
};

double unary(std::string_view op, double x, const std::vector<std::string>& kv = {}) {
  return Case(op, {make({1}, {x})}, {{1}}, kv).at({0});
}

}  // namespace

TEST(ReferenceUlp, SpacingAndRounding) {
  EXPECT_EQ(ops::reference_ulp(DType::BF16, 1.0), 0.0078125);  // 2^-7
  EXPECT_EQ(ops::reference_ulp(DType::BF16, 3.0), 0x1p-6);
  EXPECT_EQ(ops::reference_ulp(DType::BF16, -3.0), 0x1p-6);
  EXPECT_EQ(ops::reference_ulp(DType::BF16, 0.75), 0x1p-8);
  EXPECT_EQ(ops::reference_ulp(DType::F32, 1.0), 0x1p-23);
  EXPECT_EQ(ops::reference_ulp(DType::F32, 0.0), 0x1p-149);
  EXPECT_EQ(ops::reference_ulp(DType::BF16, 1e-40), 0x1p-133);
  EXPECT_EQ(ops::reference_ulp(DType::BF16, kInf), 0x1p120);
  // Ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(ops::reference_round(DType::BF16, 1 + 0x1p-8), 1.0);
  EXPECT_EQ(ops::reference_round(DType::BF16, 1 + 3 * 0x1p-8), 1 + 0x1p-6);
  EXPECT_EQ(ops::reference_round(DType::BF16, 3.0), 3.0);
  EXPECT_EQ(ops::reference_round(DType::F32, 0.1), static_cast<double>(0.1f));
  EXPECT_EQ(ops::reference_round(DType::BF16, 0.1), static_cast<double>(round_bf16(0.1f)));
  EXPECT_EQ(ops::reference_round(DType::BF16, 3.4e38), kInf);
}

TEST(ReferenceTolerance, OneBf16UlpPlusTheF32Bound) {
  // sigmoid: 1 bf16 ulp at |ref| plus 16 f32 roundings of |ref|.
  Case s("sigmoid", {make({2}, {20.0, std::log(3.0)})}, {{2}});  // sigmoid(ln 3) = 0.75
  EXPECT_NEAR(s.at({1}), 0.75, 1e-7);                            // ln 3 as an f32 input
  EXPECT_NEAR(s.tol({1}, DType::BF16), 0x1p-8, 1e-6);
  EXPECT_NEAR(s.tol({0}, DType::BF16), 0x1p-8, 1e-6);  // sigmoid(20) < 1: bf16 ulp 2^-8
  EXPECT_NEAR(s.tol({1}, DType::F32), 0x1p-24 + 16 * 0x1p-24 * 0.75, 1e-12);
  // mul: at 1.0 one bf16 ulp is 2^-7, at 3.0 2^-6 (plus u|ref|).
  Case m("mul", {make({2}, {1.0, 1.5}), make({2}, {1.0, 2.0})}, {{2}});
  EXPECT_NEAR(m.tol({0}, DType::BF16), 0.0078125, 1e-6);
  EXPECT_NEAR(m.tol({1}, DType::BF16), 0x1p-6, 1e-6);
  EXPECT_GE(m.tol({1}, DType::BF16), 0x1p-6);
  // Pure copies are exact: 0 when representable, the rounding otherwise.
  Case c("clone", {make({2}, {1.0, 0.1})}, {{2}});
  EXPECT_EQ(c.tol({0}, DType::F32), 0.0);
  EXPECT_EQ(c.tol({0}, DType::BF16), 0.0);
  const double tenth = static_cast<double>(0.1f);
  EXPECT_EQ(c.tol({1}, DType::BF16), std::fabs(tenth - round_bf16(0.1f)));
  // relu and clamp select values: exact.
  Case r("relu", {make({1}, {3.0})}, {{1}});
  EXPECT_EQ(r.tol({0}, DType::BF16), 0.0);
  // A mean over 4 elements allows the f32 sum's error on top of the ulp.
  Case mean("mean", {make({4}, {1, -1, 1, -1})}, {{}});
  EXPECT_EQ(mean.at({}), 0.0);
  EXPECT_GT(mean.tol({}, DType::F32), 3 * 0x1p-24);
  // Long sums are bounded as f32 sums in blocks of 4096: 10000 ones give 4096 + 3
  // chained roundings, not 10000.
  Case ones("mean", {make({10000}, std::vector<double>(10000, 1.0))}, {{}});
  const double u = 0x1p-24, depth = 4096 + 3;
  EXPECT_EQ(ones.at({}), 1.0);
  EXPECT_NEAR(ones.tol({}, DType::F32), 0x1p-23 + depth * u / (1 - depth * u) + 2 * u, 1e-12);
}

TEST(ReferenceTolerance, ValueOk) {
  EXPECT_TRUE(ops::reference_value_ok(kNaN, kNaN, 0, DType::F32));
  EXPECT_FALSE(ops::reference_value_ok(1.0, kNaN, 1, DType::F32));
  EXPECT_FALSE(ops::reference_value_ok(kNaN, 1.0, 1, DType::F32));
  EXPECT_TRUE(ops::reference_value_ok(kInf, kInf, 0, DType::F32));
  EXPECT_FALSE(ops::reference_value_ok(-kInf, kInf, 0, DType::F32));
  EXPECT_TRUE(ops::reference_value_ok(1.0078125, 1.0, 0.0078125, DType::BF16));
  EXPECT_FALSE(ops::reference_value_ok(1.015625, 1.0, 0.0078125, DType::BF16));
  // A finite ref past bf16's largest value rounds to infinity.
  EXPECT_TRUE(ops::reference_value_ok(kInf, 3.4e38, 0x1p120, DType::BF16));
  EXPECT_FALSE(ops::reference_value_ok(kInf, 3.0e38, 0x1p120, DType::BF16));
  EXPECT_FALSE(ops::reference_value_ok(kInf, 3.4e38, 0x1p104, DType::F32));
}

TEST(ReferenceSoftmax, ThirdsAndStridedColumns) {
  // [0, ln 2] gives [1/3, 2/3]; the f32 input holds ln 2 rounded, so exactly the
  // reference is [1, e^l] / (1 + e^l) for that l.
  const double l = static_cast<float>(std::numbers::ln2);
  Case s("softmax", {make({2}, {0.0, std::numbers::ln2})}, {{2}}, {"dim=-1"});
  EXPECT_NEAR(s.at({0}), 1.0 / 3, 1e-8);
  EXPECT_NEAR(s.at({1}), 2.0 / 3, 1e-8);
  EXPECT_NEAR(s.at({0}), 1 / (1 + std::exp(l)), 1e-16);
  EXPECT_NEAR(s.at({1}), std::exp(l) / (1 + std::exp(l)), 1e-16);
  // dim 0 of a transposed view: columns of [[0, 10], [ln 2, 10]] after transpose.
  Tensor base = make({2, 2}, {0.0, std::numbers::ln2, 10.0, 10.0});
  Case t("softmax", {base.transpose(0, 1)}, {{2, 2}}, {"dim=0"});
  EXPECT_NEAR(t.at({0, 0}), 1 / (1 + std::exp(l)), 1e-16);
  EXPECT_NEAR(t.at({1, 0}), std::exp(l) / (1 + std::exp(l)), 1e-16);
  EXPECT_NEAR(t.at({1, 1}), 0.5, 1e-15);
  // Large inputs do not overflow; the bound grows with the row length.
  Case big("softmax", {make({3}, {1000.0, 1000.0, -kInf})}, {{3}}, {"dim=0"});
  EXPECT_NEAR(big.at({0}), 0.5, 1e-15);
  EXPECT_EQ(big.at({2}), 0.0);
  EXPECT_GT(big.tol({0}, DType::F32), 3 * 0x1p-24 * 0.5);
}

TEST(ReferenceUnary, HandComputedValues) {
  EXPECT_NEAR(unary("gelu", 1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(unary("gelu", 1.0, {"approximate=tanh"}), 0.8411919906082768, 1e-15);
  EXPECT_NEAR(unary("geluactivation", 1.0), 0.8413447460685429, 1e-15);
  EXPECT_NEAR(unary("gelu", -10.0), -7.619853024160593e-23, 1e-35);  // no cancellation
  EXPECT_NEAR(unary("mish", 1.0), 0.8650983882673103, 1e-15);
  EXPECT_NEAR(unary("sigmoid", -3.0), 0.04742587317756678, 1e-16);
  EXPECT_EQ(unary("sigmoid", 0.0), 0.5);
  EXPECT_GT(unary("sigmoid", -800.0), -1.0);  // no NaN from exp overflow
  EXPECT_FALSE(std::isnan(unary("sigmoid", -800.0)));
  EXPECT_NEAR(unary("silu", 2.0), 1.7615941559557646, 1e-15);
  EXPECT_NEAR(unary("silu_inplace", 2.0), 1.7615941559557646, 1e-15);
  EXPECT_NEAR(unary("tanh", 0.5), std::tanh(0.5), 1e-16);
  // softplus(beta=2, threshold=1): 2 * 1 > 1 is linear; 2 * 0.25 = 0.5 is not.
  EXPECT_EQ(unary("softplus", 1.0, {"beta=2", "threshold=1"}), 1.0);
  EXPECT_NEAR(unary("softplus", 0.25, {"beta=2", "threshold=1"}), 0.48703849209005334, 1e-15);
  EXPECT_NEAR(unary("softplus", 0.0), std::numbers::ln2, 1e-15);
  EXPECT_EQ(unary("softplus", 21.0), 21.0);  // above the default threshold 20
  EXPECT_EQ(unary("hardtanh", 2.0), 1.0);
  EXPECT_EQ(unary("hardtanh", -3.0), -1.0);
  EXPECT_EQ(unary("hardtanh", 0.5), 0.5);
  EXPECT_EQ(unary("hardtanh", 2.0, {"min_val=-2", "max_val=0.5"}), 0.5);
  EXPECT_NEAR(unary("leakyrelu", -2.0), -0.02, 1e-17);
  EXPECT_EQ(unary("leakyrelu", 3.0), 3.0);
  EXPECT_NEAR(unary("log", 4.0), 2 * std::numbers::ln2, 1e-15);
  EXPECT_EQ(unary("log", 0.0), -kInf);
  EXPECT_TRUE(std::isnan(unary("log", -1.0)));
  EXPECT_EQ(unary("clamp", 0.7, {"max=0.5"}), 0.5);
  EXPECT_EQ(unary("clamp", -0.7, {"min=-0.5"}), -0.5);
  EXPECT_EQ(unary("clamp", 0.7, {"min=1", "max=0.5"}), 0.5);  // min > max: max wins
  EXPECT_EQ(unary("clampmin", -1.0, {"min=0"}), 0.0);
  EXPECT_EQ(unary("relu", -1.0), 0.0);
  EXPECT_TRUE(std::isnan(unary("relu", kNaN)));
  EXPECT_TRUE(std::isnan(unary("clamp", kNaN, {"min=0"})));
  // bf16 inputs are read as their exact values.
  Case b("relu", {make({1}, {0.1}, DType::BF16)}, {{1}});
  EXPECT_EQ(b.at({0}), static_cast<double>(round_bf16(0.1f)));
  // gelu's bound allows torch's cancellation in 1 + erf for negative x.
  Case g("gelu", {make({1}, {-10.0})}, {{1}});
  EXPECT_GE(g.tol({0}, DType::F32), 16 * 0x1p-24 * 10);
}

TEST(ReferenceBinary, BroadcastingAndAlpha) {
  Tensor a = make({2, 1}, {1, 2});
  Tensor b = make({3}, {10, 20, 30});
  EXPECT_EQ(Case("add", {a, b}, {{2, 3}}, {"alpha=2"}).at({1, 2}), 62.0);
  EXPECT_EQ(Case("add", {a, b}, {{2, 3}}).at({0, 1}), 21.0);
  EXPECT_EQ(Case("sub", {a, b}, {{2, 3}}, {"alpha=0.5"}).at({1, 0}), -3.0);
  EXPECT_EQ(Case("mul", {a, b}, {{2, 3}}).at({1, 1}), 40.0);
  EXPECT_EQ(Case("div", {b, a}, {{2, 3}}).at({1, 2}), 15.0);
  EXPECT_EQ(Case("div", {a, make({1}, {0.0})}, {{2, 1}}).at({0, 0}), kInf);
}

TEST(ReferenceReduce, MeanAndNorms) {
  Tensor x = make({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(Case("mean", {x}, {{2}}, {"dim=1"}).at({0}), 1.5);
  EXPECT_EQ(Case("mean", {x}, {{2}}, {"dim=1"}).at({1}), 3.5);
  EXPECT_EQ(Case("mean", {x}, {{1, 2}}, {"dim=0", "keepdim=true"}).at({0, 1}), 3.0);
  EXPECT_EQ(Case("mean", {x}, {{}}).at({}), 2.5);
  EXPECT_EQ(Case("mean", {x}, {{}}, {"dim=[-1,0]"}).at({}), 2.5);
  EXPECT_EQ(Case("mean", {x.transpose(0, 1)}, {{2}}, {"dim=1"}).at({1}), 3.0);  // (2 + 4) / 2

  Tensor v = make({2}, {3, -4});
  EXPECT_EQ(Case("linalgvectornorm", {v}, {{}}).at({}), 5.0);
  EXPECT_EQ(Case("linalgvectornorm", {v}, {{}}, {"ord=1"}).at({}), 7.0);
  EXPECT_EQ(Case("linalgvectornorm", {v}, {{}}, {"ord=inf"}).at({}), 4.0);
  EXPECT_EQ(Case("linalgvectornorm", {v}, {{}}, {"ord=-inf"}).at({}), 3.0);
  Tensor z = make({4}, {0, 2, 0, -1});
  EXPECT_EQ(Case("linalgvectornorm", {z}, {{}}, {"ord=0"}).at({}), 2.0);
  Tensor w = make({2}, {1, 2});
  EXPECT_NEAR(Case("linalgvectornorm", {w}, {{}}, {"ord=3"}).at({}), 2.080083823051904, 1e-15);
  // Per row with keepdim, ord inf: rows [1, 2] and [3, 4].
  Case rows("linalgvectornorm", {x}, {{2, 1}}, {"ord=inf", "dim=1", "keepdim=true"});
  EXPECT_EQ(rows.at({1, 0}), 4.0);
  EXPECT_EQ(rows.tol({1, 0}, DType::BF16), 0.0);  // a selection is exact
  EXPECT_TRUE(
      std::isnan(Case("linalgvectornorm", {make({2}, {1, kNaN})}, {{}}, {"ord=inf"}).at({})));
}

TEST(ReferenceBatchNorm, TrainingEvalAndChannelsLast) {
  // 1x2x2x1: channel 0 holds [1, 3] (mean 2, var 1), channel 1 [2, 6] (mean 4, var 4).
  Tensor x = make({1, 2, 2, 1}, {1, 3, 2, 6});
  Tensor weight = make({2}, {2, 1});
  Tensor bias = make({2}, {0.5, 0});
  Tensor rmean = make({2}, {0, 1});
  Tensor rvar = make({2}, {1, 4});
  const std::vector<Shape> train_shapes = {{1, 2, 2, 1}, {2}, {2}};
  Case t("native_batch_norm", {x, weight, bias, rmean, rvar}, train_shapes, {"training=true"});
  EXPECT_NEAR(t.at({0, 0, 0, 0}), 2 * -0.9999950000374997 + 0.5, 1e-15);
  EXPECT_NEAR(t.at({0, 1, 1, 0}), 0.9999987500023437, 1e-15);
  EXPECT_EQ(t.at({0}, 1), 2.0);
  EXPECT_EQ(t.at({1}, 1), 4.0);
  EXPECT_NEAR(t.at({1}, 2), 0.49999937500117186, 1e-16);
  // No weight or bias.
  Case plain("native_batch_norm", {x}, train_shapes);
  EXPECT_NEAR(plain.at({0, 0, 0, 0}), -0.9999950000374997, 1e-15);
  // Eval uses the running stats: channel 1 is (2 - 1) / sqrt(4 + 1e-5).
  const std::vector<Shape> eval_shapes = {{1, 2, 2, 1}, {0}, {0}};
  Case e("native_batch_norm", {x, weight, bias, rmean, rvar}, eval_shapes, {"training=false"});
  EXPECT_NEAR(e.at({0, 1, 0, 0}), 0.49999937500117186, 1e-16);
  EXPECT_NEAR(e.at({0, 0, 1, 0}), 2 * 3 / std::sqrt(1 + 1e-5) + 0.5, 1e-15);
  EXPECT_THROW(e.at({0}, 1), InvalidArgument);  // empty in eval
  // channels_last: NHWC [1, 2, 1, 2] holds the same data as NCHW [1, 2, 2, 1] above.
  Tensor nhwc = make({1, 2, 1, 2}, {1, 2, 3, 6});
  Case cl("native_batch_norm", {nhwc}, {{1, 2, 1, 2}, {2}, {2}}, {"channels_last=true"});
  EXPECT_NEAR(cl.at({0, 1, 0, 1}), 0.9999987500023437, 1e-15);
  EXPECT_EQ(cl.at({1}, 1), 4.0);
  // The cache notices in-place writes once cleared.
  nhwc.set(3, 10);  // channel 1 is now [2, 10]: mean 6
  ops::reference_clear_cache();
  EXPECT_EQ(cl.at({1}, 1), 6.0);
  EXPECT_GT(t.tol({0, 0, 0, 0}, DType::F32), 0x1p-23);
}

TEST(ReferenceMaxPool, PaddingCeilModeDilationAndIndices) {
  // 3x3 input 1..9.
  Tensor x = make({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // kernel 2, stride 2, ceil_mode: output 2x2, the last windows hang over the edge.
  Case c("maxpool2d", {x}, {{1, 1, 2, 2}, {1, 1, 2, 2}}, {"kernel_size=2", "ceil_mode=true"});
  EXPECT_EQ(c.at({0, 0, 0, 0}), 5.0);
  EXPECT_EQ(c.at({0, 0, 0, 1}), 6.0);
  EXPECT_EQ(c.at({0, 0, 1, 0}), 8.0);
  EXPECT_EQ(c.at({0, 0, 1, 1}), 9.0);
  EXPECT_EQ(c.at({0, 0, 0, 1}, 1), 5.0);  // flat index of 6
  EXPECT_TRUE(c.index_ok({0, 0, 1, 0}, 7));
  EXPECT_FALSE(c.index_ok({0, 0, 1, 0}, 6));  // 7 is in the window but not the max
  EXPECT_FALSE(c.index_ok({0, 0, 1, 0}, 8));  // outside the window
  EXPECT_FALSE(c.index_ok({0, 0, 1, 0}, -1));
  EXPECT_FALSE(c.index_ok({0, 0, 1, 0}, 7.5));
  // kernel 3, stride 2, padding 1: windows start at -1 and 1.
  Case p("maxpool2d", {x}, {{1, 1, 2, 2}, {1, 1, 2, 2}},
         {"kernel_size=3", "stride=2", "padding=1"});
  EXPECT_EQ(p.at({0, 0, 0, 0}), 5.0);
  EXPECT_EQ(p.at({0, 0, 0, 1}), 6.0);
  EXPECT_EQ(p.at({0, 0, 1, 0}), 8.0);
  EXPECT_EQ(p.at({0, 0, 1, 1}), 9.0);
  EXPECT_TRUE(p.index_ok({0, 0, 0, 0}, 4));
  // dilation 2: the window is the four corners.
  Case d("maxpool2d", {x}, {{1, 1, 1, 1}, {1, 1, 1, 1}}, {"kernel_size=2", "dilation=2"});
  EXPECT_EQ(d.at({0, 0, 0, 0}), 9.0);
  EXPECT_TRUE(d.index_ok({0, 0, 0, 0}, 8));
  // Ties: any position of the window holding the max is fine.
  Tensor flat = make({1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  Case tie("maxpool2d", {flat}, {{1, 1, 1}, {1, 1, 1}}, {"kernel_size=2"});
  EXPECT_TRUE(tie.index_ok({0, 0, 0}, 4));
  EXPECT_FALSE(tie.index_ok({0, 0, 0}, 2));  // column 2 is outside the 2x2 window
  // NaN wins.
  Case n("maxpool2d", {make({1, 2, 2}, {1, kNaN, 3, 4})}, {{1, 1, 1}, {1, 1, 1}},
         {"kernel_size=2"});
  EXPECT_TRUE(std::isnan(n.at({0, 0, 0})));
  EXPECT_TRUE(n.index_ok({0, 0, 0}, 1));
  EXPECT_FALSE(n.index_ok({0, 0, 0}, 3));
  // channels_last: NHWC [1, 3, 3, 1].
  Case cl("maxpool2d", {x.view({1, 3, 3, 1})}, {{1, 2, 2, 1}, {1, 2, 2, 1}},
          {"kernel_size=2", "ceil_mode=true", "channels_last=true"});
  EXPECT_EQ(cl.at({0, 1, 0, 0}), 8.0);
  EXPECT_TRUE(cl.index_ok({0, 1, 0, 0}, 7));
  EXPECT_EQ(c.tol({0, 0, 0, 0}, DType::BF16), 0.0);
}

TEST(ReferenceUpsample, NearestIndexRule) {
  // scale 2: src = dst >> 1.
  Tensor x = make({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
  Case s("upsample_nearest2d", {x}, {{1, 1, 4, 6}}, {"scale_factor=2"});
  EXPECT_EQ(s.at({0, 0, 3, 5}), 6.0);
  EXPECT_EQ(s.at({0, 0, 1, 2}), 2.0);
  EXPECT_EQ(s.at({0, 0, 2, 1}), 4.0);
  // output_size 5 from 3: scale = 0.6f, src = floor(dst * 0.6) = 0, 0, 1, 1, 2.
  Tensor row = make({1, 1, 1, 3}, {10, 20, 30});
  Case o("upsample_nearest2d", {row}, {{1, 1, 1, 5}}, {"output_size=1,5"});
  const double want[5] = {10, 10, 20, 20, 30};
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(o.at({0, 0, 0, i}), want[i]) << i;
  // scale_factor 1.5 from 2 gives 3: scale = float(1 / 1.5), src = 0, 0, 1.
  Tensor two = make({1, 1, 1, 2}, {7, 8});
  Case f("upsample_nearest2d", {two}, {{1, 1, 1, 3}}, {"scale_factor=1.5"});
  EXPECT_EQ(f.at({0, 0, 0, 1}), 7.0);
  EXPECT_EQ(f.at({0, 0, 0, 2}), 8.0);
  // channels_last: NHWC [1, 1, 3, 1] to [1, 1, 5, 1].
  Case cl("upsample_nearest2d", {row.view({1, 1, 3, 1})}, {{1, 1, 5, 1}},
          {"output_size=1,5", "channels_last=true"});
  EXPECT_EQ(cl.at({0, 0, 3, 0}), 20.0);
}

TEST(ReferenceTopk, ValuesIndicesAndTies) {
  Tensor x = make({8}, {3, 1, 4, 1, 5, 9, 2, 6});
  Case big("topk", {x}, {{3}, {3}}, {"k=3"});
  EXPECT_EQ(big.at({0}), 9.0);
  EXPECT_EQ(big.at({1}), 6.0);
  EXPECT_EQ(big.at({2}), 5.0);
  EXPECT_EQ(big.at({1}, 1), 7.0);
  EXPECT_TRUE(big.index_ok({2}, 4));
  EXPECT_FALSE(big.index_ok({2}, 5));
  Case small("topk", {x}, {{3}, {3}}, {"k=3", "largest=false"});
  EXPECT_EQ(small.at({0}), 1.0);
  EXPECT_EQ(small.at({1}), 1.0);
  EXPECT_EQ(small.at({2}), 2.0);
  EXPECT_TRUE(small.index_ok({0}, 3));  // either 1 will do
  EXPECT_TRUE(small.index_ok({1}, 1));
  EXPECT_FALSE(small.index_ok({0}, 6));
  // Unsorted: any member of the top-3 set is a valid index at any position.
  Case any("topk", {x}, {{3}, {3}}, {"k=3", "sorted=false"});
  EXPECT_TRUE(any.index_ok({0}, 4));
  EXPECT_FALSE(any.index_ok({0}, 2));  // 4 is not in {9, 6, 5}
  EXPECT_FALSE(any.index_ok({0}, 8));  // out of range
  // Along dim 0 of a 2-D tensor, and NaN counts as the largest.
  Tensor m = make({3, 2}, {1, 6, kNaN, 5, 3, 4});
  Case col("topk", {m}, {{1, 2}, {1, 2}}, {"k=1", "dim=0"});
  EXPECT_TRUE(std::isnan(col.at({0, 0})));
  EXPECT_EQ(col.at({0, 1}), 6.0);
  EXPECT_TRUE(col.index_ok({0, 0}, 1));
  Case low("topk", {m}, {{1, 2}, {1, 2}}, {"k=1", "dim=0", "largest=false"});
  EXPECT_EQ(low.at({0, 0}), 1.0);
}

TEST(ReferenceMatmul, ProductsAndEpilogues) {
  Tensor a = make({2, 2}, {1, 2, 3, 4});
  Tensor b = make({2, 2}, {5, 6, 7, 8});
  Case mm("mm", {a, b}, {{2, 2}});
  EXPECT_EQ(mm.at({0, 0}), 19.0);
  EXPECT_EQ(mm.at({0, 1}), 22.0);
  EXPECT_EQ(mm.at({1, 0}), 43.0);
  EXPECT_EQ(mm.at({1, 1}), 50.0);
  // Transposed (strided) operand: a^T @ b = [[26, 30], [38, 44]].
  EXPECT_EQ(Case("mm", {a.transpose(0, 1), b}, {{2, 2}}).at({1, 1}), 44.0);
  Case bmm("bmm", {make({2, 1, 2}, {1, 2, 3, 4}), make({2, 2, 1}, {5, 7, 6, 8})}, {{2, 1, 1}});
  EXPECT_EQ(bmm.at({0, 0, 0}), 19.0);
  EXPECT_EQ(bmm.at({1, 0, 0}), 50.0);
  Tensor in = make({2}, {10, 20});
  Case addmm("addmm", {in, a, b}, {{2, 2}}, {"beta=0.5", "alpha=2"});
  EXPECT_EQ(addmm.at({0, 1}), 0.5 * 20 + 2 * 22);
  Case nan_in("addmm", {make({1}, {kNaN}), a, b}, {{2, 2}}, {"beta=0"});
  EXPECT_EQ(nan_in.at({0, 0}), 19.0);  // beta = 0 ignores input
  Tensor x = make({1, 2}, {1, 2});
  Tensor w = make({3, 2}, {1, 0, 0, 1, 1, 1});
  Case lin("linear", {x, w, make({3}, {0.5, 0.5, 0.5})}, {{1, 3}});
  EXPECT_EQ(lin.at({0, 0}), 1.5);
  EXPECT_EQ(lin.at({0, 2}), 3.5);
  EXPECT_EQ(Case("linear", {make({2}, {1, 2}), w}, {{3}}).at({1}), 2.0);
  // f32 bound: gamma_2 * sum|a b| = gamma_2 * 19.
  EXPECT_NEAR(mm.tol({0, 0}, DType::F32) - ops::reference_ulp(DType::F32, 19), 2 * 0x1p-24 * 19,
              1e-12);
}

TEST(ReferenceConv, TapsInsideTheInputOnly) {
  // x = 1..9 (3x3), w = [[1, 2], [3, 4]], bias 0.5, padding 1, stride 2: each
  // output's window keeps the taps inside the input.
  Tensor x = make({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = make({1, 1, 2, 2}, {1, 2, 3, 4});
  Case c("convolution", {x, w, make({1}, {0.5})}, {{1, 1, 2, 2}}, {"padding=1", "stride=2"});
  EXPECT_EQ(c.at({0, 0, 0, 0}), 1 * 4 + 0.5);
  EXPECT_EQ(c.at({0, 0, 0, 1}), 2 * 3 + 3 * 4 + 0.5);
  EXPECT_EQ(c.at({0, 0, 1, 0}), 4 * 2 + 7 * 4 + 0.5);
  EXPECT_EQ(c.at({0, 0, 1, 1}), 5 * 1 + 6 * 2 + 8 * 3 + 9 * 4 + 0.5);
  // f32 bound: gamma of the 4 products and the bias (5 terms) times their magnitudes.
  EXPECT_NEAR(c.tol({0, 0, 1, 1}, DType::F32) - ops::reference_ulp(DType::F32, 77.5),
              5 * 0x1p-24 / (1 - 5 * 0x1p-24) * 77.5, 1e-12);
  // An infinite weight on a tap in the padding does not reach the output.
  Case inf("convolution", {x, make({1, 1, 2, 2}, {kInf, 2, 3, 4})}, {{1, 1, 2, 2}},
           {"padding=1", "stride=2"});
  EXPECT_EQ(inf.at({0, 0, 0, 0}), 4.0);
  EXPECT_EQ(inf.at({0, 0, 1, 1}), kInf);
  // Channels-last, unbatched, groups and dilation.
  Case cl("convolution", {make({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), w}, {{1, 2, 2, 1}},
          {"channels_last=true"});
  EXPECT_EQ(cl.at({0, 1, 1, 0}), 5 * 1 + 6 * 2 + 8 * 3 + 9 * 4);
  Tensor x2 = make({2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40});
  Case dw("convolution", {x2, make({2, 1, 1, 2}, {1, -1, 2, 1})}, {{2, 2, 1}}, {"groups=2"});
  EXPECT_EQ(dw.at({0, 1, 0}), 3 - 4.0);
  EXPECT_EQ(dw.at({1, 0, 0}), 2 * 10 + 20.0);
  Case dil("convolution", {x, make({1, 1, 1, 2}, {1, 1})}, {{1, 1, 3, 1}}, {"dilation=2"});
  EXPECT_EQ(dil.at({0, 0, 2, 0}), 7 + 9.0);
}

TEST(ReferenceMovement, ViewsAndCopies) {
  Tensor x = make({2, 3}, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(Case("permute", {x}, {{3, 2}}, {"dims=1,0"}).at({2, 1}), 5.0);
  EXPECT_EQ(Case("transpose", {x}, {{3, 2}}, {"dim0=0", "dim1=-1"}).at({1, 0}), 1.0);
  // view of a transposed input reads it in its logical row-major order: 0 3 1 4 2 5.
  EXPECT_EQ(Case("view", {x.transpose(0, 1)}, {{6}}, {"size=-1"}).at({3}), 4.0);
  EXPECT_EQ(Case("unsafeview", {x}, {{3, 2}}, {"size=3,2"}).at({1, 1}), 3.0);
  EXPECT_EQ(Case("unsqueeze", {x}, {{2, 1, 3}}, {"dim=1"}).at({1, 0, 2}), 5.0);
  EXPECT_EQ(Case("expand", {make({1, 3}, {7, 8, 9})}, {{2, 3}}, {"size=2,-1"}).at({1, 2}), 9.0);
  EXPECT_EQ(Case("clone", {x}, {{2, 3}}).at({1, 0}), 3.0);
  EXPECT_EQ(Case("identity", {x}, {{2, 3}}).at({0, 2}), 2.0);
  EXPECT_EQ(Case("copy", {x, make({3}, {7, 8, 9})}, {{2, 3}}).at({1, 1}), 8.0);
  EXPECT_EQ(Case("ones", {}, {{2, 2}}, {"size=2,2"}).at({1, 1}), 1.0);
}

TEST(ReferenceConcatSplit, JoinAndCut) {
  Tensor a = make({2, 1}, {1, 2});
  Tensor b = make({2, 2}, {3, 4, 5, 6});
  Case cat("cat", {a, b}, {{2, 3}}, {"dim=1"});
  EXPECT_EQ(cat.at({1, 0}), 2.0);
  EXPECT_EQ(cat.at({1, 2}), 6.0);
  EXPECT_EQ(Case("concat", {make({0}, {}), a, a}, {{4, 1}}).at({3, 0}), 2.0);  // legacy empty
  Case stack("stack", {make({2}, {1, 2}), make({2}, {3, 4})}, {{2, 2}}, {"dim=-1"});
  EXPECT_EQ(stack.at({0, 1}), 3.0);
  EXPECT_EQ(stack.at({1, 0}), 2.0);
  Tensor v = make({5}, {0, 1, 2, 3, 4});
  Case split("split", {v}, {{2}, {2}, {1}}, {"split_size=2"});
  EXPECT_EQ(split.at({0}, 2), 4.0);
  EXPECT_EQ(split.at({1}, 1), 3.0);
  Case sizes("split_with_sizes", {v}, {{1}, {3}, {1}}, {"split_sizes=1,3,1"});
  EXPECT_EQ(sizes.at({2}, 1), 3.0);
  EXPECT_EQ(Case("splitwithsizes", {b}, {{2, 1}, {2, 1}}, {"sizes=1,1", "dim=1"}).at({1, 0}, 1),
            6.0);
}

TEST(ReferenceDropout, KeptOrDropped) {
  Tensor x = make({2}, {3, kInf});
  Case d("dropout", {x}, {{2}, {2}}, {"p=0.5"});
  const auto call = d.call();
  EXPECT_EQ(d.at({0}), 6.0);
  EXPECT_EQ(d.at({0}, 1), 1.0);
  auto ok = [&](double out, double mask) {
    return ops::reference_dropout_ok(call, d.shapes, {0}, out, mask, DType::F32);
  };
  EXPECT_TRUE(ok(6, 1));
  EXPECT_TRUE(ok(0, 0));
  EXPECT_FALSE(ok(6, 0));
  EXPECT_FALSE(ok(0, 1));
  EXPECT_FALSE(ok(6, 2));
  EXPECT_TRUE(ok(6, kNaN));
  EXPECT_TRUE(ok(0, kNaN));
  EXPECT_FALSE(ok(3, kNaN));
  // A dropped infinity may come out as torch's inf * 0 = NaN.
  EXPECT_TRUE(ops::reference_dropout_ok(call, d.shapes, {1}, kNaN, 0, DType::F32));
  Case eval("dropout", {x}, {{2}, {2}}, {"p=0.5", "train=false"});
  EXPECT_EQ(eval.at({0}), 3.0);
  EXPECT_TRUE(ops::reference_dropout_ok(eval.call(), eval.shapes, {0}, 3, 1, DType::F32));
  EXPECT_FALSE(ops::reference_dropout_ok(eval.call(), eval.shapes, {0}, 0, 0, DType::F32));
  Case all("dropout", {x}, {{2}, {2}}, {"p=1"});
  EXPECT_TRUE(ops::reference_dropout_ok(all.call(), all.shapes, {0}, 0, 0, DType::F32));
  EXPECT_FALSE(ops::reference_dropout_ok(all.call(), all.shapes, {0}, 6, 1, DType::F32));
}

TEST(ReferenceErrors, BadOutputsAndIndices) {
  Tensor x = make({2}, {1, 2});
  Case r("relu", {x}, {{2}});
  EXPECT_THROW(r.at({2}), InvalidArgument);
  EXPECT_THROW(r.at({0, 0}), InvalidArgument);
  EXPECT_THROW(r.at({0}, 1), InvalidArgument);
  EXPECT_THROW(ops::reference_index_ok(r.call(), r.shapes, 0, {0}, 0), InvalidArgument);
  EXPECT_FALSE(ops::reference_is_index_output(r.call(), 0));
  Case t("topk", {x}, {{1}, {1}}, {"k=1"});
  EXPECT_TRUE(ops::reference_is_index_output(t.call(), 1));
  EXPECT_FALSE(ops::reference_is_index_output(t.call(), 0));
}
