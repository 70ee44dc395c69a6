// Unary kernels against double-precision references: every op and argument,
// f32 and bf16, odd sizes, empty and 0-d tensors, strided inputs, special
// values, in-place silu_, and error paths.
#include <cmath>
#include <functional>

#include "kernel_test_util.hpp"
#include "ops/unary/kernels.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

struct Case {
  std::string op;
  std::vector<std::string> args;
  std::function<double(double)> ref;
  double f32_ulps;                                  // documented bound
  std::function<double(double)> abs_tol = nullptr;  // extra absolute slack
};

double gelu_erf(double x) {
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}
// 0.5 x (1 + tanh u) without the cancellation of 1 + tanh(u) for u << 0.
double gelu_tanh(double x) {
  double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1.0 + std::exp(-2.0 * u));
}
double gelu_u(double x) {
  return 0.8 * (std::fabs(x) + 0.045 * std::fabs(x * x * x));
}
double softplus(double x, double beta, double th) {
  return x * beta > th ? x : std::log1p(std::exp(x * beta)) / beta;
}
double clampd(double x, double lo, double hi) {
  if (std::isnan(x)) return x;
  if (x < lo) x = lo;
  if (x > hi) x = hi;
  return x;
}

std::vector<Case> cases() {
  constexpr double inf = INFINITY;
  return {
      {"relu", {}, [](double x) { return x < 0 ? 0.0 : x; }, 0},
      {"sigmoid", {}, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, 3},
      {"silu", {}, [](double x) { return x / (1.0 + std::exp(-x)); }, 3},
      {"tanh", {}, [](double x) { return std::tanh(x); }, 4},
      {"mish", {}, [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }, 5},
      {"softplus", {}, [](double x) { return softplus(x, 1, 20); }, 4},
      {"softplus", {"beta=2", "threshold=3"}, [](double x) { return softplus(x, 2, 3); }, 4},
      {"softplus", {"beta=0.5", "threshold=1"}, [](double x) { return softplus(x, 0.5, 1); }, 4},
      {"hardtanh", {}, [](double x) { return clampd(x, -1, 1); }, 0},
      {"hardtanh",
       {"min_val=-2.5", "max_val=0.5"},
       [](double x) { return clampd(x, -2.5, 0.5); },
       0},
      {"leakyrelu", {}, [](double x) { return x > 0 ? x : double(float(x * 0.01f)); }, 1},
      {"leakyrelu",
       {"negative_slope=0.2"},
       [](double x) { return x > 0 ? x : double(float(x * 0.2f)); },
       1},
      // erfc fit: 8 ulp, plus the rounding of z^2 inside exp for the tail.
      {"gelu", {}, gelu_erf, 8, [](double x) { return std::fabs(gelu_erf(x)) * x * x * 0x1p-23; }},
      {"geluactivation",
       {"approximate=none"},
       gelu_erf,
       8,
       [](double x) { return std::fabs(gelu_erf(x)) * x * x * 0x1p-23; }},
      // exp(-2u) carries u's rounding: relative error ~ |u| ulp in the left tail.
      {"gelu",
       {"approximate=tanh"},
       gelu_tanh,
       6,
       [](double x) { return std::fabs(gelu_tanh(x)) * gelu_u(x) * 0x1p-21; }},
      {"log", {}, [](double x) { return std::log(x); }, 4},
      {"clamp", {"min=-0.5", "max=2"}, [](double x) { return clampd(x, -0.5, 2); }, 0},
      {"clamp", {"min=1"}, [](double x) { return clampd(x, 1, inf); }, 0},
      {"clamp", {"max=-1"}, [](double x) { return clampd(x, -inf, -1); }, 0},
      {"clamp", {"min=2", "max=1"}, [](double x) { return std::isnan(x) ? x : 1.0; }, 0},
      {"clampmin", {"min=0.25"}, [](double x) { return clampd(x, 0.25, inf); }, 0},
      {"silu_inplace", {}, [](double x) { return x / (1.0 + std::exp(-x)); }, 3},
  };
}

void check(const Case& c, const Tensor& x, const Tensor& y) {
  ASSERT_EQ(y.shape(), x.shape()) << c.op;
  ASSERT_EQ(y.dtype(), x.dtype()) << c.op;
  int bad = 0;
  for (int64_t i = 0; i < x.numel() && bad < 5; ++i) {
    double in = x.get(i), got = y.get(i), ref = c.ref(in);
    double extra = c.abs_tol && std::isfinite(in) ? c.abs_tol(in) : 0.0;
    bool ok = x.dtype() == DType::F32 ? close_f32(got, ref, c.f32_ulps, extra)
                                      : close_bf16(got, ref, extra);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << c.op << " " << dtype_name(x.dtype()) << " x=" << in << " got=" << got
                    << " ref=" << ref;
    }
  }
}

std::vector<Shape> shapes() {
  return {{}, {0}, {1}, {7}, {33}, {1000}, {2, 0, 3}, {3, 5, 17}, {2, 3, 31, 9}, {1, 2, 3, 4, 5}};
}

}  // namespace

TEST(Unary, AllOpsMatchReferenceOnShapes) {
  for_each_simd_target([&] {
    uint32_t seed = 1;
    for (const Case& c : cases()) {
      for (DType dt : {DType::F32, DType::BF16}) {
        for (const Shape& s : shapes()) {
          double lo = c.op == "log" ? 0.0 : -6.0;
          Tensor x = random_tensor(s, dt, seed++, lo, 6.0);
          Tensor keep = x.clone();
          auto out = run_op(c.op, {x}, c.args);
          ASSERT_EQ(out.size(), 1u);
          check(c, keep, out[0]);
        }
      }
    }
  });
}

TEST(Unary, WideRangeAndSpecialValues) {
  for_each_simd_target([&] {
    std::vector<double> v = {0.0,   -0.0,  1e-30, -1e-30,   1e-40,     -1e-40, 0.5,   -0.5,   3.0,
                             -3.0,  9.0,   -9.0,  15.0,     -15.0,     19.9,   20.1,  30.0,   -30.0,
                             80.0,  -80.0, 88.5,  -88.5,    95.0,      -95.0,  120.0, -120.0, 1e10,
                             -1e10, 3e38,  -3e38, INFINITY, -INFINITY, NAN};
    Shape s{static_cast<int64_t>(v.size())};
    for (const Case& c : cases()) {
      for (DType dt : {DType::F32, DType::BF16}) {
        Tensor x = from_values(s, dt, v);
        Tensor keep = x.clone();
        auto out = run_op(c.op, {x}, c.args);
        for (int64_t i = 0; i < x.numel(); ++i) {
          double in = keep.get(i), got = out[0].get(i), ref = c.ref(in);
          // Where torch's own formula overflows or loses everything, compare with
          // the limit the op tends to (documented in unary/kernels.hpp).
          if (std::isinf(in) && (c.op.rfind("gelu", 0) == 0 || c.op == "mish")) continue;
          double extra = c.abs_tol && std::isfinite(in) ? c.abs_tol(in) : 0.0;
          // Results below the smallest normal may flush differently.
          extra += 1e-37;
          bool ok = dt == DType::F32 ? close_f32(got, ref, c.f32_ulps, extra)
                                     : close_bf16(got, ref, extra);
          EXPECT_TRUE(ok) << c.op << " " << dtype_name(dt) << " x=" << in << " got=" << got
                          << " ref=" << ref;
        }
      }
    }
  });
}

TEST(Unary, NaNPropagatesAndInfinitiesMatchTorch) {
  Tensor x = from_values({3}, DType::F32, {NAN, INFINITY, -INFINITY});
  auto g = run_op("gelu", {x})[0];
  EXPECT_TRUE(std::isnan(g.get(0)));
  EXPECT_EQ(g.get(1), INFINITY);
  EXPECT_TRUE(std::isnan(g.get(2)));  // -inf * 0 as in torch
  auto m = run_op("mish", {x})[0];
  EXPECT_EQ(m.get(1), INFINITY);
  auto l = run_op("log", {from_values({3}, DType::F32, {-1.0, 0.0, INFINITY})})[0];
  EXPECT_TRUE(std::isnan(l.get(0)));
  EXPECT_EQ(l.get(1), -INFINITY);
  EXPECT_EQ(l.get(2), INFINITY);
  for (const char* op : {"relu", "hardtanh", "clampmin", "leakyrelu", "sigmoid", "tanh"}) {
    std::vector<std::string> args;
    if (std::string(op) == "clampmin") args = {"min=0"};
    EXPECT_TRUE(std::isnan(run_op(op, {x}, args)[0].get(0))) << op;
  }
}

TEST(Unary, StridedInputGivesContiguousOutput) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = random_tensor({5, 37, 3}, dt, 7);
    Tensor v = strided_copy(x);
    ASSERT_FALSE(v.is_contiguous());
    auto a = run_op("silu", {x})[0];
    auto b = run_op("silu", {v})[0];
    EXPECT_TRUE(b.is_contiguous());
    EXPECT_TRUE(bitwise_equal(a, b));
  }
}

TEST(Unary, SiluInplaceWritesThroughTheInput) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = random_tensor({3, 41}, dt, 11);
    Tensor expect = run_op("silu", {x})[0];
    auto out = run_op("silu_inplace", {x});
    EXPECT_EQ(out[0].raw(), x.raw());
    EXPECT_TRUE(bitwise_equal(x, expect));
    // A strided view is written in place too.
    Tensor y = strided_copy(random_tensor({4, 9}, dt, 12));
    Tensor ey = run_op("silu", {y})[0];
    run_op("silu_", {y});
    EXPECT_TRUE(bitwise_equal(y.contiguous(), ey));
  }
}

TEST(Unary, LargeTensorSplitAcrossThreadsMatchesSerial) {
  Tensor x = random_tensor({3, 70001}, DType::BF16, 5);
  auto [one, two] = with_1_and_2_threads([&] { return run_op("gelu", {x}); });
  EXPECT_TRUE(bitwise_equal(one[0], two[0]));
}

TEST(Unary, Errors) {
  Tensor x = random_tensor({4}, DType::F32, 3);
  expect_invalid([&] { run_op("gelu", {x}, {"approximate=fast"}); }, "gelu", {"fast"});
  expect_invalid([&] { run_op("clamp", {x}); }, "clamp", {"min"});
  expect_invalid([&] { run_op("clampmin", {x}); }, "clampmin", {"min"});
  expect_invalid([&] { run_op("softplus", {x}, {"beta=0"}); }, "softplus", {"beta"});
  expect_invalid([&] { run_op("relu", {x, x}); }, "relu");
  expect_invalid([&] { run_op("relu", {Tensor::empty({2}, DType::I32)}); }, "relu", {"int32"});
  Tensor e = Tensor::zeros({1}, DType::F32).expand({4});
  expect_invalid([&] { run_op("silu_", {e}); }, "silu_inplace", {"stride 0"});
}

TEST(Unary, StreamingStoresGiveIdenticalBits) {
  // Non-temporal stores are used for the aligned middle of a range; heads and
  // tails of any alignment must match the plain kernel bit for bit.
  const auto& op = ops::find_op("gelu");
  const auto args = ops::parse_args(op.name, op.args, {});
  const auto p = ops::unary_params(ops::UnaryOp::Gelu, args, op.name);
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = random_tensor({1000}, dt, 77);
    for (int64_t off : {0, 1, 3, 8}) {
      Tensor a = Tensor::zeros({1000}, dt), b = Tensor::zeros({1000}, dt);
      const int64_t n = 1000 - off - 5;
      if (dt == DType::F32) {
        ops::unary_kernel(ops::UnaryOp::Gelu, p, x.data<float>() + off, a.data<float>() + off, n);
        ops::unary_kernel(ops::UnaryOp::Gelu, p, x.data<float>() + off, b.data<float>() + off, n,
                          true);
      } else {
        ops::unary_kernel(ops::UnaryOp::Gelu, p, x.data<uint16_t>() + off, a.data<uint16_t>() + off,
                          n);
        ops::unary_kernel(ops::UnaryOp::Gelu, p, x.data<uint16_t>() + off, b.data<uint16_t>() + off,
                          n, true);
      }
      EXPECT_TRUE(bitwise_equal(a, b)) << off;
    }
  }
}
