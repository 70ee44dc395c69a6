// native_dropout: Philox known answers, chunk independence, keep rate,
// determinism per seed, exact scaling, eval mode and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "kernel_test_util.hpp"
#include "ops/dropout/kernels.hpp"
#include "ops/op.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

Tensor input(const Shape& s, DType t) {
  Tensor x = Tensor::empty(s, t);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<double>(i % 37) * 0.75 - 9.0);
  return x;
}

}  // namespace

TEST(Dropout, PhiloxKnownAnswers) {
  // Random123 kat_vectors, philox4x32_10.
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(ops::philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (A4{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(ops::philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (A4{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(ops::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                               {0xa4093822u, 0x299f31d0u}),
            (A4{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Dropout, MaskIndependentOfChunking) {
  for (DType t : {DType::F32, DType::BF16}) {
    const int64_t n = 1003;
    Tensor x = input({n}, t);
    const size_t es = element_size(t);
    Tensor o1 = Tensor::empty({n}, t), m1 = Tensor::empty({n}, t);
    Tensor o2 = Tensor::empty({n}, t), m2 = Tensor::empty({n}, t);
    ops::dropout_range(t, x.raw(), o1.raw(), m1.raw(), n, 0, 42, 0.3);
    for (int64_t cut : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{500}, int64_t{1002}}) {
      auto at = [&](const Tensor& a) { return static_cast<char*>(a.raw()) + cut * es; };
      ops::dropout_range(t, x.raw(), o2.raw(), m2.raw(), cut, 0, 42, 0.3);
      ops::dropout_range(t, at(x), at(o2), at(m2), n - cut, static_cast<uint64_t>(cut), 42, 0.3);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(m1.get(i), m2.get(i)) << "cut " << cut << " i " << i;
        ASSERT_EQ(o1.get(i), o2.get(i));
        ASSERT_EQ(m1.get(i) == 1.0, ops::dropout_keep(42, static_cast<uint64_t>(i), 0.3));
      }
    }
    // The op (threaded) agrees with the single-range kernel.
    auto r = run("dropout", {x}, {"p=0.3", "seed=42"});
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(r[1].get(i), m1.get(i));
  }
}

TEST(Dropout, SimdMatchesScalarBitForBit) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    // Random bit patterns (NaN, inf, subnormals, rounding ties) at odd offsets and lengths.
    const int64_t n = 3001;
    std::vector<uint32_t> x32(n), o32(n), m32(n), r32(n), q32(n);
    std::vector<uint16_t> x16(n), o16(n), m16(n), r16(n), q16(n);
    uint32_t r = 12345;
    for (int64_t i = 0; i < n; ++i) {
      r = r * 1664525u + 1013904223u;
      x32[i] = r;
      x16[i] = static_cast<uint16_t>(r >> 7);
    }
    for (double p : {0.0, 0.3, 0.75, 1.0})
      for (uint64_t first : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 33})
        for (int64_t count : {int64_t{1}, int64_t{70}, n}) {
          auto xf = reinterpret_cast<const float*>(x32.data());
          ops::dropout_range(DType::F32, xf, o32.data(), m32.data(), count, first, 99, p);
          ops::dropout_range_scalar(xf, reinterpret_cast<float*>(r32.data()),
                                    reinterpret_cast<float*>(q32.data()), count, first, 99, p);
          ops::dropout_range(DType::BF16, x16.data(), o16.data(), m16.data(), count, first, 99, p);
          ops::dropout_range_scalar(x16.data(), r16.data(), q16.data(), count, first, 99, p);
          for (int64_t i = 0; i < count; ++i) {
            ASSERT_EQ(o32[i], r32[i]) << "p " << p << " first " << first << " i " << i;
            ASSERT_EQ(m32[i], q32[i]);
            ASSERT_EQ(o16[i], r16[i]) << "p " << p << " first " << first << " i " << i;
            ASSERT_EQ(m16[i], q16[i]);
          }
        }
  });
}

TEST(Dropout, RateScaleAndDeterminism) {
  for (DType t : {DType::F32, DType::BF16})
    for (double p : {0.1, 0.5, 0.9}) {
      Tensor x = input({64, 33, 17}, t);  // 35904 elements, several threaded pieces
      auto a = run("native_dropout", {x}, {"p=" + std::to_string(p), "seed=7"});
      auto b = run("dropout", {x}, {"p=" + std::to_string(p), "seed=7"});
      auto c = run("dropout", {x}, {"p=" + std::to_string(p), "seed=8"});
      const int64_t n = x.numel();
      const float scale = static_cast<float>(1.0 / (1.0 - p));
      int64_t zeros = 0, diff = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double m = a[1].get(i);
        ASSERT_TRUE(m == 0.0 || m == 1.0);
        zeros += m == 0.0;
        diff += m != c[1].get(i);
        ASSERT_EQ(m, b[1].get(i));
        ASSERT_EQ(a[0].get(i), b[0].get(i));
        // f32 math, one rounding: (x * m) * float(1 / (1 - p)).
        const float want = (static_cast<float>(x.get(i)) * static_cast<float>(m)) * scale;
        ASSERT_EQ(a[0].get(i), t == DType::BF16 ? round_bf16(want) : want);
      }
      // Binomial(n, p): 6 standard deviations.
      const double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
      EXPECT_NEAR(static_cast<double>(zeros), static_cast<double>(n) * p, 6 * sd);
      EXPECT_GT(diff, 0);  // another seed, another mask
    }
}

TEST(Dropout, EdgeProbabilitiesEvalAndStridedInput) {
  Tensor x = input({5, 7}, DType::BF16);
  x.set(3, std::nan(""));
  x.set(4, std::numeric_limits<double>::infinity());
  auto all = run("dropout", {x}, {"p=1"});
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(all[1].get(i), 0.0);
    if (i == 3 || i == 4)
      EXPECT_TRUE(std::isnan(all[0].get(i)));  // x * 0, as torch
    else
      EXPECT_EQ(all[0].get(i), 0.0);
  }
  auto none = run("dropout", {x}, {"p=0"});
  auto eval = run("dropout", {x}, {"p=0.5", "train=false"});
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(none[1].get(i), 1.0);
    EXPECT_EQ(eval[1].get(i), 1.0);
    if (i == 3) continue;
    EXPECT_EQ(none[0].get(i), x.get(i));
    EXPECT_EQ(eval[0].get(i), x.get(i));
  }
  EXPECT_NE(eval[0].storage(), x.storage());
  // A transposed input: element g of the logical (row-major) order gets mask bit g.
  Tensor y = input({6, 9}, DType::F32).transpose(0, 1);
  auto r = run("dropout", {y}, {"p=0.4", "seed=3"});
  for (int64_t i = 0; i < y.numel(); ++i) {
    const bool keep = ops::dropout_keep(3, static_cast<uint64_t>(i), 0.4);
    EXPECT_EQ(r[1].get(i), keep ? 1.0 : 0.0);
    EXPECT_EQ(r[0].get(i),
              keep ? static_cast<float>(y.get(i)) * static_cast<float>(1.0 / 0.6) : 0.0);
  }
  auto e = run("dropout", {input({0, 3}, DType::F32)}, {"p=0.5"});
  EXPECT_EQ(e[0].shape(), (Shape{0, 3}));
  EXPECT_EQ(e[1].shape(), (Shape{0, 3}));
}

TEST(Dropout, Errors) {
  Tensor x = input({4}, DType::F32);
  expect_error([&] { run("dropout", {x}, {"p=1.5"}); }, "dropout");
  expect_error([&] { run("dropout", {x}, {"p=-0.1"}); }, "dropout");
  expect_error([&] { run("dropout", {x}, {"p=nan"}); }, "dropout");
  expect_error([&] { run("dropout", {x, x}, {"p=0.5"}); }, "dropout");
}
