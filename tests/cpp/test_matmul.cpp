// mm / bmm / addmm / linear against a slow double-precision reference (the GEMM
// kernel itself, its splits and determinism: test_gemm.cpp).
//
// Tolerances (u = 2^-24, S = |alpha| * sum_k |a_ik b_kj| + |beta * in_ij|):
//   f32:  |out - ref| <= (K + 2) * u * S            (f32 accumulation bound)
//   bf16: |out - ref| <= ulp_bf16(ref) + (K + 2) * u * S
// where ref is exact (double) on the bf16-rounded inputs; torch's bf16 result is the
// same f32 sum rounded once, so this is "within 1 bf16 ulp of torch".
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "ops/families.hpp"
#include "ops/matmul/kernels.hpp"

namespace oomless {
namespace {

using ops::ArgValue;

Tensor randn(const Shape& shape, DType dt, uint32_t seed) {
  Tensor t = Tensor::empty(shape, dt);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, dist(gen));
  return t;
}

// A strided view over a larger random buffer: element (i, j) at i*rs + j*cs.
Tensor strided(int64_t rows, int64_t cols, int64_t rs, int64_t cs, DType dt, uint32_t seed) {
  int64_t span = (rows - 1) * rs + (cols - 1) * cs + 1;
  Tensor base = randn({span}, dt, seed);
  return Tensor::wrap(base.storage(), {rows, cols}, {rs, cs}, dt);
}

std::vector<Tensor> run(const std::string& name, std::vector<Tensor> inputs,
                        std::map<std::string, ArgValue> args = {}) {
  const ops::OpDesc& op = ops::find_op(name);
  ops::Args a(op.name, op.args, std::move(args));
  ops::OpCall call{op, std::move(inputs), a};
  return op.exec(call);
}

double ulp_bf16(double x) {
  double ax = std::fabs(x);
  if (ax < std::ldexp(1.0, -126)) return std::ldexp(1.0, -133);
  return std::ldexp(1.0, std::ilogb(ax) - 7);
}

// Reference for batched out[b] = beta * in + alpha * a[b] @ bm[b]; `in` already
// expanded to the output shape (or undefined), a/bm given as [B, n, k] / [B, k, m].
void check(const Tensor& out, const Tensor& a, const Tensor& bm, const Tensor& in, double alpha,
           double beta, const std::string& what) {
  ASSERT_EQ(a.rank(), 3);
  int64_t B = a.size(0), n = a.size(1), k = a.size(2), m = bm.size(2);
  ASSERT_EQ(out.numel(), B * n * m) << what;
  std::vector<double> av(a.numel()), bv(bm.numel());
  for (int64_t i = 0; i < a.numel(); ++i) av[i] = a.get(i);
  for (int64_t i = 0; i < bm.numel(); ++i) bv[i] = bm.get(i);
  const double u = std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        double acc = 0, mag = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          double p = av[(b * n + i) * k + kk] * bv[(b * k + kk) * m + j];
          acc += p;
          mag += std::fabs(p);
        }
        int64_t o = (b * n + i) * m + j;
        double ref = alpha == 0 ? 0.0 : alpha * acc;
        double s = std::fabs(alpha) * mag;
        if (in.defined() && beta != 0) {
          double x = in.get(o);
          ref += beta * x;
          s += std::fabs(beta * x);
        }
        double tol = (k + 2) * u * s;
        if (out.dtype() == DType::BF16) tol += ulp_bf16(ref);
        double got = out.get(o);
        if (!(std::fabs(got - ref) <= tol) && bad++ < 5)
          ADD_FAILURE() << what << ": out[" << b << "," << i << "," << j << "] = " << got
                        << ", reference " << ref << ", tolerance " << tol;
      }
}

// A value as the op stores it: rounded to bf16, or to f32.
double round_bf16_if(DType dt, double v) {
  return dt == DType::BF16 ? round_bf16(static_cast<float>(v)) : static_cast<float>(v);
}

Tensor as3(const Tensor& t) {
  return t.rank() == 3 ? t : t.unsqueeze(0);
}

const DType kDtypes[] = {DType::F32, DType::BF16};
const int64_t kSizes[] = {1, 7, 33, 100};

TEST(Matmul, MmOddSizes) {
  uint32_t seed = 1;
  for (DType dt : kDtypes)
    for (int64_t n : kSizes)
      for (int64_t k : kSizes)
        for (int64_t m : kSizes) {
          Tensor a = randn({n, k}, dt, seed++), b = randn({k, m}, dt, seed++);
          Tensor out = run("mm", {a, b})[0];
          ASSERT_EQ(out.shape(), (Shape{n, m}));
          ASSERT_EQ(out.dtype(), dt);
          check(out, as3(a), as3(b), {}, 1, 0,
                fmt::format("mm {} n={} k={} m={}", dtype_name(dt), n, k, m));
        }
}

TEST(Matmul, MmLargeKBlocks) {
  // K spans several fixed K blocks and OpenBLAS's own blocking.
  for (DType dt : kDtypes) {
    Tensor a = randn({37, 1000}, dt, 11), b = randn({1000, 29}, dt, 12);
    check(run("mm", {a, b})[0], as3(a), as3(b), {}, 1, 0, "mm K=1000");
  }
}

TEST(Matmul, MmTransposedAndStrided) {
  for (DType dt : kDtypes) {
    int64_t n = 33, k = 7, m = 100;
    std::vector<std::pair<Tensor, std::string>> as = {
        {randn({k, n}, dt, 1).transpose(0, 1), "a transposed"},
        {randn({n, k + 5}, dt, 2).narrow(1, 3, k), "a narrowed (row stride k+5)"},
        {strided(n, k, 2 * k + 1, 2, dt, 3), "a general strides"},
        {randn({1, k}, dt, 4).expand({n, k}), "a expanded rows (stride 0)"},
        {randn({n, 1}, dt, 5).expand({n, k}), "a expanded cols (stride 0)"},
    };
    std::vector<std::pair<Tensor, std::string>> bs = {
        {randn({m, k}, dt, 6).transpose(0, 1), "b transposed"},
        {randn({k, m}, dt, 7), "b contiguous"},
        {strided(k, m, 1, k + 3, dt, 8), "b column-major with padding"},
        {strided(k, m, 3 * m, 3, dt, 9), "b general strides"},
    };
    for (auto& [a, an] : as)
      for (auto& [b, bn] : bs)
        check(run("mm", {a, b})[0], as3(a), as3(b), {}, 1, 0,
              fmt::format("mm {} {} x {}", dtype_name(dt), an, bn));
  }
}

TEST(Matmul, MmMatchesContiguousExactly) {
  // Transposed operands go to BLAS via trans flags; the result is a pure function of
  // the values, so compare with the contiguous copies bit for bit.
  for (DType dt : kDtypes) {
    Tensor a = randn({100, 33}, dt, 21).transpose(0, 1);  // [33,100]
    Tensor b = randn({7, 100}, dt, 22).transpose(0, 1);   // [100,7]
    Tensor x = run("mm", {a, b})[0], y = run("mm", {a.contiguous(), b.contiguous()})[0];
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(x.get(i), y.get(i)) << i;
  }
}

TEST(Matmul, Bmm) {
  uint32_t seed = 100;
  for (DType dt : kDtypes)
    for (int64_t B : {1, 3})
      for (int64_t n : {1, 33})
        for (int64_t k : {7, 100})
          for (int64_t m : {1, 33}) {
            Tensor a = randn({B, n, k}, dt, seed++), b = randn({B, k, m}, dt, seed++);
            Tensor out = run("bmm", {a, b})[0];
            ASSERT_EQ(out.shape(), (Shape{B, n, m}));
            check(out, a, b, {}, 1, 0,
                  fmt::format("bmm {} B={} n={} k={} m={}", dtype_name(dt), B, n, k, m));
          }
}

TEST(Matmul, BmmStridedBatches) {
  for (DType dt : kDtypes) {
    // [n, B, k] permuted to [B, n, k]; b shared across the batch (stride 0).
    Tensor a = randn({7, 4, 33}, dt, 31).permute({1, 0, 2});
    Tensor b = randn({1, 33, 9}, dt, 32).expand({4, 33, 9});
    check(run("bmm", {a, b})[0], a, b, {}, 1, 0, "bmm permuted/expanded");
    Tensor bt = randn({4, 9, 33}, dt, 33).transpose(1, 2);
    check(run("bmm", {a, bt})[0], a, bt, {}, 1, 0, "bmm transposed b");
  }
}

TEST(Matmul, AddmmBroadcastAndScalars) {
  int64_t n = 33, k = 7, m = 100;
  uint32_t seed = 200;
  for (DType dt : kDtypes)
    for (Shape ishape : {Shape{m}, Shape{n, 1}, Shape{1, 1}, Shape{}, Shape{n, m}, Shape{1, m}})
      for (auto [beta, alpha] :
           {std::pair{1.0, 1.0}, {0.5, 2.0}, {-1.5, 0.25}, {0.0, 1.0}, {1.0, 0.0}}) {
        Tensor in = randn(ishape, dt, seed++), a = randn({n, k}, dt, seed++),
               b = randn({k, m}, dt, seed++);
        Tensor out = run("addmm", {in, a, b}, {{"beta", beta}, {"alpha", alpha}})[0];
        ASSERT_EQ(out.shape(), (Shape{n, m}));
        check(out, as3(a), as3(b), in.expand({n, m}), alpha, beta,
              fmt::format("addmm {} input {} beta={} alpha={}", dtype_name(dt), shape_str(ishape),
                          beta, alpha));
      }
}

TEST(Matmul, AddmmBetaZeroIgnoresNaN) {
  for (DType dt : kDtypes) {
    Tensor in = Tensor::empty({5, 6}, dt);
    for (int64_t i = 0; i < in.numel(); ++i)
      in.set(i, i % 2 ? std::numeric_limits<double>::quiet_NaN()
                      : std::numeric_limits<double>::infinity());
    Tensor a = randn({5, 3}, dt, 1), b = randn({3, 6}, dt, 2);
    Tensor out = run("addmm", {in, a, b}, {{"beta", 0.0}, {"alpha", 1.5}})[0];
    for (int64_t i = 0; i < out.numel(); ++i) ASSERT_TRUE(std::isfinite(out.get(i))) << i;
    check(out, as3(a), as3(b), {}, 1.5, 0, "addmm beta=0 with NaN input");
    // beta != 0 propagates them, like torch.
    Tensor out2 = run("addmm", {in, a, b}, {{"beta", 1.0}})[0];
    EXPECT_TRUE(std::isnan(out2.get(1)));
    EXPECT_TRUE(std::isinf(out2.get(0)));
  }
}

TEST(Matmul, AddmmAlphaZeroIgnoresProduct) {
  // BLAS semantics: alpha == 0 skips the product, so NaN in mat1 does not propagate.
  for (DType dt : kDtypes) {
    Tensor in = randn({4, 3}, dt, 1), a = randn({4, 2}, dt, 2), b = randn({2, 3}, dt, 3);
    a.set(0, std::numeric_limits<double>::quiet_NaN());
    Tensor out = run("addmm", {in, a, b}, {{"beta", 2.0}, {"alpha", 0.0}})[0];
    for (int64_t i = 0; i < out.numel(); ++i)
      EXPECT_EQ(out.get(i), round_bf16_if(dt, 2.0 * in.get(i)));
  }
}

TEST(Matmul, Linear) {
  uint32_t seed = 300;
  for (DType dt : kDtypes) {
    for (Shape xs : {Shape{7}, Shape{33, 7}, Shape{2, 5, 7}, Shape{1, 1, 3, 7}}) {
      for (int bias_kind = 0; bias_kind < 3; ++bias_kind) {
        int64_t k = 7, m = 33;
        Tensor x = randn(xs, dt, seed++), w = randn({m, k}, dt, seed++);
        Shape os(xs.begin(), xs.end() - 1);
        os.push_back(m);
        std::vector<Tensor> inputs = {x, w};
        Tensor bias;
        if (bias_kind == 1) bias = randn({m}, dt, seed++);
        if (bias_kind == 2) bias = randn({1}, dt, seed++);
        if (bias.defined()) inputs.push_back(bias);
        Tensor out = run("linear", inputs)[0];
        ASSERT_EQ(out.shape(), os);
        Tensor x2 = x.contiguous().view({x.numel() / k, k});
        Tensor in =
            bias.defined() ? bias.expand(os).contiguous().view({x.numel() / k, m}) : Tensor();
        check(out.view({x.numel() / k, m}), as3(x2), as3(w.transpose(0, 1)), in, 1,
              bias.defined() ? 1 : 0,
              fmt::format("linear {} x {} bias {}", dtype_name(dt), shape_str(xs), bias_kind));
      }
    }
  }
}

TEST(Matmul, LinearNonFoldableInputAndFullBias) {
  for (DType dt : kDtypes) {
    // [5,2,7] transposed to [2,5,7]: the leading dims cannot fold without a copy.
    Tensor x = randn({5, 2, 7}, dt, 1).transpose(0, 1);
    Tensor w = randn({7, 4}, dt, 2).transpose(0, 1);  // [4,7], non-contiguous
    Tensor bias = randn({5, 1}, dt, 3);               // broadcast over batch and columns
    Tensor out = run("linear", {x, w, bias})[0];
    ASSERT_EQ(out.shape(), (Shape{2, 5, 4}));
    Tensor in = bias.expand({2, 5, 4}).contiguous().view({10, 4});
    check(out.view({10, 4}), as3(x.contiguous().view({10, 7})), as3(w.transpose(0, 1)), in, 1, 1,
          "linear non-foldable");
  }
}

TEST(Matmul, LinearVectorWeightAndAddmmPathBias) {
  for (DType dt : kDtypes) {
    // 1-D weight: input [..., k] @ weight [k] -> [...].
    Tensor x = randn({2, 5, 7}, dt, 71), w = randn({7}, dt, 72), bias = randn({5}, dt, 73);
    Tensor out = run("linear", {x, w, bias})[0];
    ASSERT_EQ(out.shape(), (Shape{2, 5}));
    check(out.view({10, 1}), as3(x.view({10, 7})), as3(w.view({7, 1})),
          bias.expand({2, 5}).contiguous().view({10, 1}), 1, 1, "linear 1-D weight");
    Tensor v = run("linear", {w, w})[0];  // dot product
    ASSERT_EQ(v.shape(), Shape{});
    check(v.view({1, 1}), as3(w.view({1, 7})), as3(w.view({7, 1})), {}, 1, 0, "linear dot");
    // 3-D input with a [rows, m] bias: torch's addmm path (contiguous input).
    Tensor w2 = randn({4, 7}, dt, 74), b2 = randn({10, 1}, dt, 75);
    Tensor o2 = run("linear", {x, w2, b2})[0];
    ASSERT_EQ(o2.shape(), (Shape{2, 5, 4}));
    check(o2.view({10, 4}), as3(x.view({10, 7})), as3(w2.transpose(0, 1)),
          b2.expand({10, 4}).contiguous(), 1, 1, "linear [rows, m] bias");
  }
}

TEST(Matmul, Empty) {
  for (DType dt : kDtypes) {
    // k = 0: mm gives zeros, addmm gives beta * input (zeros when beta = 0).
    Tensor a = Tensor::empty({3, 0}, dt), b = Tensor::empty({0, 4}, dt);
    Tensor z = run("mm", {a, b})[0];
    ASSERT_EQ(z.shape(), (Shape{3, 4}));
    for (int64_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z.get(i), 0.0);
    Tensor in = randn({4}, dt, 5);
    Tensor o = run("addmm", {in, a, b},
                   {{"beta", 0.5}, {"alpha", std::numeric_limits<double>::infinity()}})[0];
    for (int64_t i = 0; i < o.numel(); ++i)
      EXPECT_EQ(o.get(i), round_bf16_if(dt, 0.5 * in.get(i % 4)));
    Tensor o0 = run("addmm", {in, a, b}, {{"beta", 0.0}})[0];
    for (int64_t i = 0; i < o0.numel(); ++i) EXPECT_EQ(o0.get(i), 0.0);
    Tensor l = run("linear",
                   {Tensor::empty({2, 0}, dt), Tensor::empty({3, 0}, dt), in.narrow(0, 0, 3)})[0];
    ASSERT_EQ(l.shape(), (Shape{2, 3}));
    for (int64_t i = 0; i < l.numel(); ++i) EXPECT_EQ(l.get(i), in.get(i % 3));
    // n = 0, m = 0, batch = 0.
    EXPECT_EQ(run("mm", {Tensor::empty({0, 5}, dt), randn({5, 4}, dt, 1)})[0].shape(),
              (Shape{0, 4}));
    EXPECT_EQ(run("mm", {randn({2, 5}, dt, 1), Tensor::empty({5, 0}, dt)})[0].shape(),
              (Shape{2, 0}));
    EXPECT_EQ(run("bmm", {Tensor::empty({0, 2, 5}, dt), Tensor::empty({0, 5, 3}, dt)})[0].shape(),
              (Shape{0, 2, 3}));
    EXPECT_EQ(run("linear", {Tensor::empty({0, 5}, dt), randn({3, 5}, dt, 1)})[0].shape(),
              (Shape{0, 3}));
  }
}

// Expects InvalidArgument whose message contains every fragment.
void expect_error(const std::string& op, std::vector<Tensor> inputs,
                  std::vector<std::string> fragments) {
  try {
    run(op, std::move(inputs));
    ADD_FAILURE() << op << ": no error";
  } catch (const InvalidArgument& e) {
    std::string msg = e.what();
    for (const auto& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

TEST(Matmul, Errors) {
  auto f = [](Shape s) { return Tensor::zeros(s, DType::F32); };
  expect_error("mm", {f({2, 3}), f({4, 5})}, {"[mm]", "[2,3]", "[4,5]"});
  expect_error("mm", {f({2, 3, 1}), f({3, 5})}, {"[mm]", "mat1", "[2,3,1]"});
  expect_error("mm", {f({2, 3}), f({3})}, {"[mm]", "mat2", "[3]"});
  expect_error("bmm", {f({2, 3, 4}), f({2, 5, 6})}, {"[bmm]", "[2,3,4]", "[2,5,6]"});
  expect_error("bmm", {f({2, 3, 4}), f({3, 4, 6})}, {"[bmm]", "[2,3,4]", "[3,4,6]"});
  expect_error("bmm", {f({3, 4}), f({4, 6})}, {"[bmm]", "3-D", "[3,4]"});
  expect_error("addmm", {f({3}), f({2, 3}), f({4, 5})}, {"[addmm]", "[2,3]", "[4,5]"});
  expect_error("addmm", {f({3}), f({2, 4}), f({4, 5})}, {"[addmm]", "input", "[3]", "[2,5]"});
  expect_error("addmm", {f({1, 2, 5}), f({2, 4}), f({4, 5})}, {"[addmm]", "[1,2,5]"});
  expect_error("linear", {f({2, 6}), f({4, 5})}, {"[linear]", "[2,6]", "[4,5]"});
  expect_error("linear", {f({2, 5}), f({1, 4, 5})}, {"[linear]", "weight", "[1,4,5]"});
  expect_error("linear", {f({}), f({4, 5})}, {"[linear]", "[]", "[4,5]"});
  expect_error("linear", {f({2, 3, 5}), f({4, 5}), f({2, 4})},
               {"[linear]", "bias", "[2,4]", "[2,3,4]"});
  expect_error("linear", {f({2, 5}), f({6})}, {"[linear]", "[2,5]", "[6]"});
  expect_error("linear", {f({2, 5}), f({4, 5}), f({3})}, {"[linear]", "bias", "[3]", "[2,4]"});
  expect_error("mm", {f({2, 3}), Tensor::zeros({3, 2}, DType::BF16)},
               {"[mm]", "float32", "bfloat16"});
  expect_error("mm", {Tensor::zeros({2, 3}, DType::I32), Tensor::zeros({3, 2}, DType::I32)},
               {"[mm]", "int32"});
  expect_error("mm", {f({2, 3})}, {"[mm]", "2"});
}

TEST(Matmul, ResultsIndependentOfThreadCount) {
  int saved = omp_get_max_threads();
  for (DType dt : kDtypes) {
    Tensor a = randn({300, 600}, dt, 51), b = randn({600, 700}, dt, 52);
    Tensor x = randn({40, 5, 9}, dt, 53), y = randn({40, 9, 6}, dt, 54);
    omp_set_num_threads(1);
    Tensor m1 = run("mm", {a, b})[0], b1 = run("bmm", {x, y})[0];
    omp_set_num_threads(2);
    Tensor m2 = run("mm", {a, b})[0], b2 = run("bmm", {x, y})[0];
    ASSERT_EQ(std::memcmp(m1.raw(), m2.raw(), m1.nbytes()), 0) << dtype_name(dt);
    ASSERT_EQ(std::memcmp(b1.raw(), b2.raw(), b1.nbytes()), 0) << dtype_name(dt);
  }
  omp_set_num_threads(saved);
}

TEST(Matmul, WideBf16OutputMatchesReference) {
  Tensor a = randn({300, 7}, DType::BF16, 61), b = randn({7, 9000}, DType::BF16, 62);
  check(run("mm", {a, b})[0], as3(a), as3(b), {}, 1, 0, "mm bf16 wide");
}

TEST(Matmul, EpilogueRoundsOnce) {
  namespace mk = ops::matmul;
  // 1 + 2^-8 + 2^-20 is above the bf16 tie: one rounding gives 1 + 2^-7; rounding the
  // product to bf16 first would give 1.
  float acc = 1.0f + std::ldexp(1.0f, -8);
  float in = std::ldexp(1.0f, -20);
  uint16_t out;
  mk::epilogue_row(&acc, 1, 1.0f, &in, DType::F32, 0, 1.0f, &out, DType::BF16);
  EXPECT_EQ(bf16_to_f32(out), 1.0f + std::ldexp(1.0f, -7));
}

}  // namespace
}  // namespace oomless
