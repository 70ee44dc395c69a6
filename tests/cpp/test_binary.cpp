// Binary kernels with broadcasting against a double-precision reference: every
// op, alpha, dtype combination (f32/bf16 and mixed), strided and broadcast
// operands, 0-d to 5-D shapes, empty dims, and error paths.
#include <cmath>

#include "kernel_test_util.hpp"
#include "ops/binary/kernels.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

// Linear index into `in` (broadcast to `out`) of output element `linear`.
int64_t bcast_index(const Shape& out, const Shape& in, int64_t linear) {
  int64_t idx = 0, mul = 1;
  const int64_t off = static_cast<int64_t>(out.size() - in.size());
  for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
    const int64_t i = linear % out[d];
    linear /= out[d];
    if (d >= off) {
      const int64_t s = in[d - off];
      if (s != 1) idx += i * mul;
      mul *= s;
    }
  }
  return idx;
}

double ref_op(const std::string& op, double a, double b, double alpha) {
  const auto af = static_cast<double>(static_cast<float>(alpha));
  if (op == "add") return alpha == 1 ? a + b : std::fma(b, af, a);
  if (op == "sub") return alpha == 1 ? a - b : std::fma(b, -af, a);
  if (op == "mul") return a * b;
  return a / b;
}

void check_binary(const std::string& op, const Tensor& a, const Tensor& b, double alpha,
                  const std::vector<std::string>& args) {
  auto out = run_op(op, {a, b}, args);
  ASSERT_EQ(out.size(), 1u);
  const Tensor& y = out[0];
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "test");
  ASSERT_EQ(y.shape(), shape);
  const bool bf = a.dtype() == DType::BF16 && b.dtype() == DType::BF16;
  ASSERT_EQ(y.dtype(), bf ? DType::BF16 : DType::F32);
  ASSERT_TRUE(y.is_contiguous());
  int bad = 0;
  for (int64_t i = 0; i < y.numel() && bad < 5; ++i) {
    const double va = a.get(bcast_index(shape, a.shape(), i));
    const double vb = b.get(bcast_index(shape, b.shape(), i));
    // The f32 result overflows where the double one does not.
    const double ref = static_cast<float>(ref_op(op, va, vb, alpha)), got = y.get(i);
    // One rounding of the f32 (or fused) result: 1/2 ulp, plus the double
    // reference's own rounding for div. alpha != 1 is fused on AVX2/AVX-512
    // (as torch's vector path) but rounds alpha * b first on the portable
    // fallback (as torch's scalar path): + 1/2 ulp of alpha * b, and the
    // reference's own f32 rounding then counts too.
    const double slack = alpha == 1 ? 0.0 : ulp_f32(alpha * vb);
    const double ulps = alpha == 1 ? 0.5 : 1.0;
    const bool ok = bf ? close_bf16(got, ref, slack)
                       : close_f32(got, ref, ulps, std::fabs(ref) * 0x1p-50 + slack);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << op << " " << shape_str(a.shape()) << dtype_name(a.dtype()) << " x "
                    << shape_str(b.shape()) << dtype_name(b.dtype()) << " at " << i << ": a=" << va
                    << " b=" << vb << " got=" << got << " ref=" << ref;
    }
  }
}

struct OpArgs {
  std::string op;
  std::vector<std::string> args;
  double alpha;
};

std::vector<OpArgs> op_args() {
  return {{"add", {}, 1.0}, {"add", {"alpha=2.5"}, 2.5},
          {"sub", {}, 1.0}, {"sub", {"alpha=-0.3"}, -0.3},
          {"mul", {}, 1.0}, {"div", {}, 1.0}};
}

std::vector<std::pair<Shape, Shape>> shape_pairs() {
  return {{{7}, {7}},
          {{33}, {1}},
          {{}, {2, 3}},
          {{3, 1, 5}, {4, 1}},
          {{2, 3, 4, 5}, {5}},
          {{1, 9, 17, 19}, {1, 9, 1, 1}},
          {{4, 1, 3}, {1, 5, 1}},
          {{5, 1, 2, 3, 4}, {1, 6, 1, 1, 1}},
          {{0, 3}, {1, 3}},
          {{2, 0}, {2, 1}},
          {{3, 20001}, {3, 1}}};
}

}  // namespace

TEST(Binary, BroadcastAllOpsAllDtypes) {
  for_each_simd_target([&] {
    uint32_t seed = 100;
    const std::vector<std::pair<DType, DType>> dts = {{DType::F32, DType::F32},
                                                      {DType::BF16, DType::BF16},
                                                      {DType::F32, DType::BF16},
                                                      {DType::BF16, DType::F32}};
    for (const auto& oa : op_args())
      for (const auto& [da, db] : dts)
        for (const auto& [sa, sb] : shape_pairs()) {
          Tensor a = random_tensor(sa, da, seed++);
          Tensor b = random_tensor(sb, db, seed++, 0.25, 4.0);  // away from 0 for div
          check_binary(oa.op, a, b, oa.alpha, oa.args);
          check_binary(oa.op, b, a, oa.alpha, oa.args);  // operand order matters for sub/div
        }
  });
}

TEST(Binary, StridedOperands) {
  for_each_simd_target([&] {
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor a = strided_copy(random_tensor({6, 35}, dt, 1));  // transposed view
      Tensor b = strided_copy(random_tensor({35}, dt, 2));     // stride 2
      ASSERT_FALSE(a.is_contiguous());
      for (const auto& oa : op_args()) {
        check_binary(oa.op, a, b, oa.alpha, oa.args);
        check_binary(oa.op, b, a, oa.alpha, oa.args);
      }
      // Expanded (stride 0) operand and a permuted 4-D view.
      Tensor c = random_tensor({3, 1, 5}, dt, 3).expand({3, 4, 5});
      Tensor d = random_tensor({5, 4, 3}, dt, 4).permute({2, 1, 0});
      check_binary("mul", c, d, 1.0, {});
      check_binary("sub", d, c, 1.0, {});
    }
  });
}

TEST(Binary, SpecialValues) {
  for_each_simd_target([&] {
    std::vector<double> va = {1.0, -1.0, 0.0, -0.0, INFINITY, -INFINITY, NAN, 3e38, 1e-40, 2.0};
    std::vector<double> vb = {0.0, 0.0, 0.0, 1.0, INFINITY, 2.0, 1.0, 10.0, 1e-3, NAN};
    const Shape s{static_cast<int64_t>(va.size())};
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor a = from_values(s, dt, va), b = from_values(s, dt, vb);
      for (const auto& oa : op_args()) check_binary(oa.op, a, b, oa.alpha, oa.args);
    }
  });
}

TEST(Binary, Errors) {
  Tensor a = random_tensor({2, 3}, DType::F32, 1), b = random_tensor({4}, DType::F32, 2);
  expect_invalid([&] { run_op("add", {a, b}); }, "add", {"[2,3]", "[4]"});
  expect_invalid([&] { run_op("mul", {a}); }, "mul");
  expect_invalid([&] { run_op("div", {a, Tensor::zeros({3}, DType::I32)}); }, "div", {"int32"});
  expect_invalid([&] { run_op("sub", {a, a}, {"alpha=x"}); }, "sub", {"alpha"});
}

TEST(Binary, StreamingStoresGiveIdenticalBits) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = random_tensor({1001}, dt, 90), y = random_tensor({1001}, dt, 91);
    const size_t es = element_size(dt);
    for (int64_t off : {0, 1, 5}) {
      Tensor a = Tensor::zeros({1001}, dt), b = Tensor::zeros({1001}, dt);
      const int64_t n = 1001 - off;
      auto at = [&](const Tensor& t) { return static_cast<char*>(t.raw()) + off * es; };
      ops::binary_kernel(ops::BinaryOp::Div, 1.f, dt, at(x), 1, dt, at(y), 1, dt, at(a), n);
      ops::binary_kernel(ops::BinaryOp::Div, 1.f, dt, at(x), 1, dt, at(y), 1, dt, at(b), n, true);
      EXPECT_TRUE(bitwise_equal(a, b)) << off;
      ops::binary_kernel(ops::BinaryOp::Add, 0.5f, dt, at(x), 1, dt, at(y), 0, dt, at(a), n);
      ops::binary_kernel(ops::BinaryOp::Add, 0.5f, dt, at(x), 1, dt, at(y), 0, dt, at(b), n, true);
      EXPECT_TRUE(bitwise_equal(a, b)) << off;
    }
  }
}
