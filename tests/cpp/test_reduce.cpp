// mean and linalg_vector_norm against a double-precision reference: dims None,
// int, lists, negative, keepdim; every ord; long runs and column reductions
// (both parallel paths); empty and 0-d inputs; special values; thread-count
// determinism; error paths.
#include <fmt/format.h>

#include <cmath>

#include "kernel_test_util.hpp"
#include "ops/reduce/kernels.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

// Reduced-dim mask for `dims` (empty = all).
std::vector<bool> mask_of(int64_t rank, const std::vector<int64_t>& dims, bool all) {
  const int64_t slots = std::max<int64_t>(rank, 1);  // 0-d takes dim 0 / -1
  std::vector<bool> m(static_cast<size_t>(slots), all || dims.empty());
  for (int64_t d : dims) m[static_cast<size_t>(d < 0 ? d + slots : d)] = true;
  return m;
}

// Reference: fold f(x) per output in double, then finish. `slack` gets the
// documented extra error of the sum kinds (f32 partials of 16 terms before
// widening: 2^-20 of the sum of |terms|, carried through mean / sqrt).
std::vector<double> ref_reduce(const Tensor& x, const std::vector<bool>& red, bool mean, double ord,
                               std::vector<double>* slack = nullptr) {
  const Shape& s = x.shape();
  const int64_t r = x.rank();
  int64_t outputs = 1;
  for (int64_t d = 0; d < r; ++d)
    if (!red[d]) outputs *= s[d];
  std::vector<double> acc(static_cast<size_t>(outputs), 0.0);
  if (!mean && ord == -INFINITY) std::fill(acc.begin(), acc.end(), INFINITY);
  std::vector<int64_t> cnt(acc.size(), 0);
  std::vector<double> mag(acc.size(), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0, mul = 1;
    for (int64_t d = r - 1; d >= 0; --d) {
      const int64_t idx = rem % s[d];
      rem /= s[d];
      if (!red[d]) {
        o += idx * mul;
        mul *= s[d];
      }
    }
    const double v = x.get(i), a = std::fabs(v);
    mag[static_cast<size_t>(o)] += ord == 2 ? a * a : a;
    double& A = acc[static_cast<size_t>(o)];
    ++cnt[static_cast<size_t>(o)];
    if (mean)
      A += v;
    else if (ord == INFINITY)
      A = std::isnan(A) || std::isnan(a) ? NAN : std::max(A, a);
    else if (ord == -INFINITY)
      A = std::isnan(A) || std::isnan(a) ? NAN : std::min(A, a);
    else if (ord == 0)
      A += v != 0;
    else
      A += std::pow(a, ord);
  }
  if (slack) slack->assign(acc.size(), 0.0);
  for (size_t o = 0; o < acc.size(); ++o) {
    const double e = 0x1p-20 * mag[o];
    if (mean) {
      acc[o] /= static_cast<double>(cnt[o]);
      if (slack) (*slack)[o] = e / static_cast<double>(cnt[o]);
    } else if (ord == 1) {
      if (slack) (*slack)[o] = e;
    } else if (ord == 2) {
      acc[o] = std::sqrt(acc[o]);
      if (slack && acc[o] > 0) (*slack)[o] = 0.5 * e / acc[o];
    } else if (std::isfinite(ord) && ord != 0) {
      acc[o] = std::pow(acc[o], 1.0 / ord);
    }
  }
  return acc;
}

Shape out_shape(const Shape& s, const std::vector<bool>& red, bool keepdim) {
  Shape o;
  for (size_t d = 0; d < s.size(); ++d)
    if (!red[d])
      o.push_back(s[d]);
    else if (keepdim)
      o.push_back(1);
  return o;
}

std::string list(const std::vector<int64_t>& dims) {
  return fmt::format("[{}]", fmt::join(dims, ","));
}

// dims: nullopt-like flag `all` means dim=None.
void check_reduce(const Tensor& x, bool mean, double ord, bool all,
                  const std::vector<int64_t>& dims, bool keepdim) {
  std::vector<std::string> args;
  if (!all) args.push_back("dim=" + list(dims));
  if (keepdim) args.push_back("keepdim=true");
  if (!mean)
    args.push_back("ord=" + (std::isinf(ord) ? std::string(ord > 0 ? "inf" : "-inf")
                                             : fmt::format("{}", ord)));
  const std::string op = mean ? "mean" : "linalgvectornorm";
  auto out = run_op(op, {x}, args);
  ASSERT_EQ(out.size(), 1u);
  const auto red = mask_of(x.rank(), dims, all);
  const Tensor& y = out[0];
  ASSERT_EQ(y.shape(), out_shape(x.shape(), red, keepdim)) << op;
  ASSERT_EQ(y.dtype(), x.dtype());
  std::vector<double> slack;
  const auto ref = ref_reduce(x, red, mean, ord, &slack);
  ASSERT_EQ(static_cast<size_t>(y.numel()), ref.size());
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double got = y.get(i), r = static_cast<float>(ref[static_cast<size_t>(i)]);
    // One f32 rounding (+ the reference's own pow error) + the f32 partials.
    const bool ok =
        y.dtype() == DType::F32
            ? close_f32(got, r, 1.0, std::fabs(r) * 1e-12 + slack[static_cast<size_t>(i)])
            : close_bf16(got, r);
    EXPECT_TRUE(ok) << op << " " << shape_str(x.shape()) << " " << dtype_name(x.dtype())
                    << " ord=" << ord << " dims=" << (all ? "None" : list(dims)) << " at " << i
                    << ": got=" << got << " ref=" << r;
  }
}

}  // namespace

TEST(Reduce, MeanDimsAndKeepdim) {
  for_each_simd_target([&] {
    const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> cases = {
        {{}, {{}, {0}, {-1}}},
        {{7}, {{}, {0}}},
        {{33, 5}, {{0}, {1}, {-1}, {0, 1}}},
        {{2, 3, 4, 5}, {{0}, {1}, {3}, {-1}, {0, 2}, {1, 3}, {-3, -1}, {0, 1, 2}, {2, 0}}},
        {{2, 1, 3, 1, 5}, {{1}, {0, 2}, {4}, {1, 3}}},
        {{3, 0, 2}, {{0}, {1}, {0, 2}}},
    };
    uint32_t seed = 1;
    for (DType dt : {DType::F32, DType::BF16})
      for (const auto& [shape, dimsets] : cases) {
        Tensor x = random_tensor(shape, dt, seed++);
        check_reduce(x, true, 0, true, {}, false);
        check_reduce(x, true, 0, true, {}, true);
        for (const auto& dims : dimsets)
          for (bool keep : {false, true}) check_reduce(x, true, 0, false, dims, keep);
      }
  });
}

TEST(Reduce, NormEveryOrd) {
  for_each_simd_target([&] {
    const std::vector<double> ords = {2, 1, INFINITY, -INFINITY, 0, 3, 0.5, -1, -2.5};
    const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> cases = {
        {{}, {{}}},
        {{17}, {{0}}},
        {{4, 9, 5}, {{0}, {-1}, {1}, {0, 2}}},
        {{2, 3, 4, 5, 3}, {{4}, {1, 3}}},
    };
    uint32_t seed = 10;
    for (DType dt : {DType::F32, DType::BF16})
      for (double ord : ords)
        for (const auto& [shape, dimsets] : cases) {
          Tensor x = random_tensor(shape, dt, seed++);
          check_reduce(x, false, ord, true, {}, false);
          for (const auto& dims : dimsets)
            for (bool keep : {false, true}) check_reduce(x, false, ord, false, dims, keep);
        }
  });
}

TEST(Reduce, LongRunsAndColumnBlocks) {
  for_each_simd_target([&] {
    uint32_t seed = 30;
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor a = random_tensor({3, 40001}, dt, seed++);  // few outputs, multi-block runs
      check_reduce(a, true, 0, false, {-1}, false);
      check_reduce(a, false, 2, false, {1}, true);
      check_reduce(a, false, 2, true, {}, false);
      Tensor b = random_tensor({5000, 100}, dt, seed++);  // column reduction, 2 row blocks
      check_reduce(b, true, 0, false, {0}, false);
      check_reduce(b, false, INFINITY, false, {0}, false);
      Tensor c = random_tensor({2, 20, 30, 96}, dt, seed++);  // NHWC per-channel
      check_reduce(c, true, 0, false, {0, 1, 2}, true);
      check_reduce(c, false, 1, false, {0, 2}, false);
    }
  });
}

TEST(Reduce, StridedInput) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = strided_copy(random_tensor({6, 45, 3}, dt, 51));
    check_reduce(x, true, 0, false, {1}, false);
    check_reduce(x, false, 2, false, {0, 2}, true);
  }
}

TEST(Reduce, SpecialValues) {
  for_each_simd_target([&] {
    Tensor x =
        from_values({4, 3}, DType::F32, {3, NAN, 1, 0, 0, 2, INFINITY, 1, 2, -5, 0.5, -0.25});
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor xd = x.to(dt);
      for (double ord : std::vector<double>{2.0, 1.0, INFINITY, -INFINITY, 0.0, -1.0, 3.0})
        check_reduce(xd, false, ord, false, {1}, false);
      check_reduce(xd, true, 0, false, {1}, false);
      auto n0 = run_op("linalgvectornorm", {xd}, {"ord=0", "dim=1"})[0];
      EXPECT_EQ(n0.get(0), 3.0);  // NaN counts as nonzero, as in torch
      auto ninv = run_op("linalgvectornorm", {xd}, {"ord=-1", "dim=1"})[0];
      EXPECT_EQ(ninv.get(1), 0.0);  // a zero makes sum |x|^-1 infinite
    }
    // Empty reductions: mean is NaN, norms with an identity are 0.
    Tensor e = Tensor::empty({0, 3}, DType::F32);
    EXPECT_TRUE(std::isnan(run_op("mean", {e}, {"dim=0"})[0].get(0)));
    EXPECT_EQ(run_op("linalgvectornorm", {e}, {"dim=0"})[0].get(2), 0.0);
    EXPECT_EQ(run_op("linalgvectornorm", {e}, {"dim=1"})[0].numel(), 0);
  });
}

TEST(Reduce, KernelRunEqualsFoldOfBlocks) {
  Tensor x = random_tensor({3 * ops::kReduceBlock + 77}, DType::F32, 61);
  const auto* p = x.data<float>();
  const int64_t n = x.numel();
  const auto k = ops::NormKind::SqSum;
  const int64_t cut = 2 * ops::kReduceBlock;
  double whole = ops::reduce_run(k, 0, DType::F32, p, n, 0.0);
  // A planner cutting on block boundaries chains the fold through its chunks...
  double a = ops::reduce_run(k, 0, DType::F32, p, cut, 0.0);
  EXPECT_EQ(whole, ops::reduce_run(k, 0, DType::F32, p + cut, n - cut, a));
  // ... or folds every block partial in order.
  double acc = 0.0;
  for (int64_t b = 0; b < n; b += ops::kReduceBlock)
    acc = ops::reduce_combine(
        k, acc, ops::reduce_block(k, 0, DType::F32, p + b, std::min(ops::kReduceBlock, n - b)));
  EXPECT_EQ(whole, acc);
}

TEST(Reduce, DeterministicAcrossThreadCounts) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor a = random_tensor({2, 100003}, dt, 71), b = random_tensor({3000, 200}, dt, 72);
    Tensor c = random_tensor({4, 9, 33, 40}, dt, 73);
    auto [one, two] = with_1_and_2_threads([&] {
      return std::vector<Tensor>{
          run_op("mean", {a})[0],
          run_op("linalgvectornorm", {a}, {"dim=1"})[0],
          run_op("mean", {b}, {"dim=0"})[0],
          run_op("linalgvectornorm", {c}, {"dim=[0,2,3]", "ord=3"})[0],
          run_op("mean", {c}, {"dim=[1]", "keepdim=true"})[0],
      };
    });
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
  }
}

TEST(Reduce, Errors) {
  Tensor x = random_tensor({2, 3}, DType::F32, 1);
  expect_invalid([&] { run_op("mean", {x}, {"dim=2"}); }, "mean", {"2"});
  expect_invalid([&] { run_op("mean", {x}, {"dim=[0,-2]"}); }, "mean", {"multiple"});
  expect_invalid([&] { run_op("linalgvectornorm", {x}, {"dim=-3"}); }, "linalgvectornorm", {"-3"});
  Tensor e = Tensor::empty({0, 3}, DType::F32);
  expect_invalid(
      [&] {
        run_op("linalgvectornorm", {e}, {"ord=inf", "dim=0"});
      },
      "linalgvectornorm", {"inf"});
  expect_invalid([&] { run_op("linalgvectornorm", {e}, {"ord=-1"}); }, "linalgvectornorm", {"-1"});
  expect_invalid([&] { run_op("mean", {Tensor::zeros({2}, DType::I32)}); }, "mean", {"int32"});
}
