// Softmax against a double-precision reference over every dim (negative too),
// f32/bf16, half_to_float, long rows split into blocks, special values, the
// piecewise (online) API, thread-count determinism and error paths.
#include <cmath>
#include <cstring>

#include "kernel_test_util.hpp"
#include "ops/softmax/kernels.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

// Reference softmax of `x` over `dim` in double, and |x - max| per element
// (f32 rounds x - max, an error exp turns into |x - max| * 2^-24 relative).
std::pair<std::vector<double>, std::vector<double>> ref_softmax(const Tensor& x, int64_t dim) {
  const Shape& s = x.shape();
  const int64_t r = x.rank();
  if (dim < 0) dim += std::max<int64_t>(r, 1);
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < r; ++d) (d < dim ? outer : d == dim ? len : inner) *= s[d];
  std::vector<double> out(static_cast<size_t>(x.numel())), gap(out.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * len + k) * inner + i; };
      double m = -INFINITY;
      bool nan = false;
      for (int64_t k = 0; k < len; ++k) {
        m = std::max(m, x.get(at(k)));
        nan |= std::isnan(x.get(at(k)));
      }
      double sum = 0;
      for (int64_t k = 0; k < len; ++k) sum += std::exp(x.get(at(k)) - m);
      for (int64_t k = 0; k < len; ++k) {
        out[static_cast<size_t>(at(k))] =
            nan || !std::isfinite(m) ? NAN : std::exp(x.get(at(k)) - m) / sum;
        gap[static_cast<size_t>(at(k))] = std::fabs(x.get(at(k)) - m);
      }
    }
  return {out, gap};
}

void check_softmax(const Tensor& x, int64_t dim, bool half_to_float = false) {
  std::vector<std::string> args = {"dim=" + std::to_string(dim)};
  if (half_to_float) args.push_back("half_to_float=true");
  auto out = run_op("softmax", {x}, args);
  ASSERT_EQ(out.size(), 1u);
  const Tensor& y = out[0];
  ASSERT_EQ(y.shape(), x.shape());
  ASSERT_EQ(y.dtype(), half_to_float ? DType::F32 : x.dtype());
  const auto [ref, gap] = ref_softmax(x, dim);
  const int64_t len = x.rank() == 0 ? 1 : x.shape()[dim < 0 ? dim + x.rank() : dim];
  // Documented bound (softmax/kernels.hpp), with the typical sqrt(len) growth
  // of the blocked f32 sum given a generous factor.
  const double base_ulps = 6 + 2 * std::sqrt(static_cast<double>(len));
  int bad = 0;
  for (int64_t i = 0; i < y.numel() && bad < 5; ++i) {
    const double got = y.get(i), r = ref[static_cast<size_t>(i)];
    const double ulps = base_ulps + gap[static_cast<size_t>(i)];
    const bool ok = y.dtype() == DType::F32 && !half_to_float ? close_f32(got, r, ulps, 0x1p-124)
                    : half_to_float                           ? close_f32(got, r, ulps, 0x1p-124)
                                                              : close_bf16(got, r, 0x1p-124);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "softmax " << shape_str(x.shape()) << " " << dtype_name(x.dtype())
                    << " dim=" << dim << " at " << i << ": got=" << got << " ref=" << r;
    }
  }
}

}  // namespace

TEST(Softmax, AllDimsAndShapes) {
  for_each_simd_target([&] {
    const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
        {{}, {0, -1}},
        {{7}, {0, -1}},
        {{3, 5}, {0, 1, -1, -2}},
        {{37, 33}, {0, 1}},
        {{5, 1}, {0, 1}},
        {{2, 3, 4, 5}, {0, 1, 2, 3, -1, -3}},
        {{2, 1, 3, 4, 5}, {2, -1, 0}},
        {{3, 1000}, {-1, 0}},
        {{0, 5}, {0, 1}},
        {{3, 0}, {1}},
    };
    uint32_t seed = 1;
    for (DType dt : {DType::F32, DType::BF16})
      for (const auto& [shape, dims] : cases)
        for (int64_t dim : dims) check_softmax(random_tensor(shape, dt, seed++, -8, 8), dim);
  });
}

TEST(Softmax, LongRowsUseBlocksAndSplits) {
  for_each_simd_target([&] {
    uint32_t seed = 50;
    for (DType dt : {DType::F32, DType::BF16}) {
      check_softmax(random_tensor({9, 8200}, dt, seed++, -10, 10), -1);   // blocked rows
      check_softmax(random_tensor({2, 20000}, dt, seed++, -10, 10), -1);  // rows split over threads
      check_softmax(random_tensor({3, 8192}, dt, seed++, -10, 10), 1);    // exactly one block
    }
  });
}

// Short rows run one lane per row (gathered by column); a row's bits must not
// depend on its group of lanes, its block, the stride between rows or streaming.
TEST(Softmax, ShortRowsOneLanePerRow) {
  for_each_simd_target([&] {
    uint32_t seed = 70;
    for (DType dt : {DType::F32, DType::BF16})
      for (int64_t len : {1, 2, 3, 5, 12, 15, 17, 24, 33, 47, 100}) {
        const int64_t rows = 700;  // several blocks and a partial group of lanes
        Tensor x = random_tensor({rows, len}, dt, seed++, -12, 12);
        check_softmax(x, -1);
        const size_t es = element_size(dt);
        Tensor all = Tensor::empty({rows, len}, dt), one = Tensor::empty({rows, len}, dt);
        ops::SoftmaxGeom g;
        g.outer = rows;
        g.len = len;
        g.outer_stride = len;
        ops::softmax_kernel(dt, x.raw(), dt, all.raw(), g);
        for (int64_t r = 0; r < rows; r += 37) {  // uneven pieces move rows to other lanes
          ops::SoftmaxGeom p = g;
          p.outer = std::min<int64_t>(37, rows - r);
          p.stream = r % 2 == 0;
          const size_t off = static_cast<size_t>(r * len) * es;
          ops::softmax_kernel(dt, static_cast<const char*>(x.raw()) + off, dt,
                              static_cast<char*>(one.raw()) + off, p);
        }
        EXPECT_TRUE(bitwise_equal(all, one)) << dtype_name(dt) << " len " << len;
        // Rows `len + 3` apart (a padded view) give the same bits.
        Tensor wide = random_tensor({rows, len + 3}, dt, seed++);
        Tensor wout = Tensor::empty({rows, len + 3}, dt);
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(static_cast<char*>(wide.raw()) + static_cast<size_t>(r * (len + 3)) * es,
                      static_cast<const char*>(x.raw()) + static_cast<size_t>(r * len) * es,
                      static_cast<size_t>(len) * es);
        ops::SoftmaxGeom w = g;
        w.outer_stride = len + 3;
        ops::softmax_kernel(dt, wide.raw(), dt, wout.raw(), w);
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_EQ(
              std::memcmp(
                  static_cast<const char*>(wout.raw()) + static_cast<size_t>(r * (len + 3)) * es,
                  static_cast<const char*>(all.raw()) + static_cast<size_t>(r * len) * es,
                  static_cast<size_t>(len) * es),
              0)
              << dtype_name(dt) << " len " << len << " row " << r;
      }
  });
}

TEST(Softmax, HalfToFloat) {
  Tensor x = random_tensor({4, 77}, DType::BF16, 9);
  check_softmax(x, -1, true);
  check_softmax(x, 0, true);
  check_softmax(random_tensor({2, 9000}, DType::BF16, 10), 1, true);
}

TEST(Softmax, StridedInput) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = strided_copy(random_tensor({6, 45, 3}, dt, 21));
    ASSERT_FALSE(x.is_contiguous());
    check_softmax(x, 1);
    check_softmax(x, 0);
  }
}

TEST(Softmax, SpecialValues) {
  for_each_simd_target([&] {
    const double ninf = -INFINITY;
    // Rows: masked entries, all masked (NaN), a NaN, +inf, huge values.
    Tensor x =
        from_values({5, 4}, DType::F32, {1, ninf, 2, ninf,     ninf, ninf, ninf, ninf,  1,    NAN,
                                         2, 3,    1, INFINITY, 2,    3,    1e30, -1e30, 1e30, 0});
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor xd = x.to(dt);
      check_softmax(xd, 1);
      auto y = run_op("softmax", {xd}, {"dim=1"})[0];
      EXPECT_EQ(y.get(1), 0.0);
      EXPECT_TRUE(std::isnan(y.get(4)));
      EXPECT_TRUE(std::isnan(y.get(8)));
      EXPECT_TRUE(std::isnan(y.get(12)));
      EXPECT_EQ(y.get(16), 0.5);
      check_softmax(xd, 0);
    }
  });
}

TEST(Softmax, PiecewiseRowApiMatchesKernel) {
  for (DType dt : {DType::F32, DType::BF16}) {
    const int64_t len = 3 * ops::kSoftmaxBlock + 123;
    Tensor x = random_tensor({1, len}, dt, 33, -20, 20);
    Tensor full = run_op("softmax", {x}, {"dim=-1"})[0];
    Tensor pieces = Tensor::empty({1, len}, dt);
    const size_t es = element_size(dt);
    auto* px = static_cast<const char*>(x.raw());
    auto* po = static_cast<char*>(pieces.raw());
    // Uneven pieces, each starting on a block boundary.
    const std::vector<int64_t> starts = {0, ops::kSoftmaxBlock, 3 * ops::kSoftmaxBlock, len};
    ops::SoftmaxStats st;
    for (size_t p = 0; p + 1 < starts.size(); ++p)
      st = ops::softmax_row_stats(dt, dt, px + starts[p] * es, starts[p + 1] - starts[p], st);
    for (size_t p = 0; p + 1 < starts.size(); ++p)
      ops::softmax_row_apply(dt, px + starts[p] * es, dt, po + starts[p] * es,
                             starts[p + 1] - starts[p], st);
    EXPECT_TRUE(bitwise_equal(full, pieces));
  }
}

TEST(Softmax, DeterministicAcrossThreadCounts) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor a = random_tensor({2, 30000}, dt, 41), b = random_tensor({64, 1000}, dt, 42);
    Tensor c = random_tensor({300, 2, 70}, dt, 43);
    auto [one, two] = with_1_and_2_threads([&] {
      return std::vector<Tensor>{run_op("softmax", {a}, {"dim=-1"})[0],
                                 run_op("softmax", {b}, {"dim=1"})[0],
                                 run_op("softmax", {c}, {"dim=0"})[0]};
    });
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
  }
}

TEST(Softmax, Errors) {
  Tensor x = random_tensor({2, 3}, DType::F32, 1);
  expect_invalid([&] { run_op("softmax", {x}, {"dim=2"}); }, "softmax", {"2"});
  expect_invalid([&] { run_op("softmax", {x}, {"dim=-3"}); }, "softmax", {"-3"});
  expect_invalid([&] { run_op("softmax", {x}); }, "softmax", {"dim"});
  expect_invalid(
      [&] {
        run_op("softmax", {x}, {"dim=0", "half_to_float=true"});
      },
      "softmax", {"half_to_float"});
  expect_invalid([&] { run_op("softmax", {x, x}, {"dim=0"}); }, "softmax");
}

TEST(Softmax, StreamingStoresGiveIdenticalBits) {
  for (DType dt : {DType::F32, DType::BF16}) {
    Tensor x = random_tensor({7, 333}, dt, 88);
    Tensor a = Tensor::empty({7, 333}, dt), b = Tensor::empty({7, 333}, dt);
    ops::SoftmaxGeom g;
    g.outer = 7;
    g.len = 333;
    g.outer_stride = 333;
    ops::softmax_kernel(dt, x.raw(), dt, a.raw(), g);
    g.stream = true;
    ops::softmax_kernel(dt, x.raw(), dt, b.raw(), g);
    EXPECT_TRUE(bitwise_equal(a, b));
  }
}
