// topk against a slow reference: a stable sort of each row with torch's NaN
// order. Values must match exactly, and indices too: ties (equal values, -0.0
// and +0.0, any NaNs) come out lower index first. Unsorted results must be the
// same set of indices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "kernel_test_util.hpp"
#include "ops/op.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

Tensor input(const Shape& s, DType t, uint32_t seed) {
  Tensor x = Tensor::empty(s, t);
  uint32_t r = seed * 747796405u + 7;
  for (int64_t i = 0; i < x.numel(); ++i) {
    r = r * 1664525u + 1013904223u;
    double v = static_cast<double>((r >> 12) % 41) * 0.25 - 5.0;  // many ties
    if ((r >> 5) % 53 == 0) v = std::nan("");
    if ((r >> 5) % 59 == 1) v = (r & 1) ? INFINITY : -INFINITY;
    if (v == 0 && (r >> 9) & 1) v = -0.0;
    x.set(i, v);
  }
  return x;
}

// Rank of a value in torch's order (NaN above +inf for largest, last for smallest).
bool before(double a, double b, bool largest) {
  if (largest) return (std::isnan(a) && !std::isnan(b)) || a > b;
  return (!std::isnan(a) && std::isnan(b)) || a < b;
}

void check(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  const std::vector<std::string> kvs = {"k=" + std::to_string(k), "dim=" + std::to_string(dim),
                                        std::string("largest=") + (largest ? "true" : "false"),
                                        std::string("sorted=") + (sorted ? "true" : "false")};
  auto r = run("topk", {x}, kvs);
  const int64_t rank = x.rank(), d = dim < 0 ? dim + rank : dim;
  Shape want = x.shape();
  want[d] = k;
  ASSERT_EQ(r[0].shape(), want);
  ASSERT_EQ(r[1].dtype(), DType::I32);
  ASSERT_EQ(r[0].dtype(), x.dtype());
  const int64_t n = x.shape()[d];
  int64_t inner = 1;
  for (int64_t i = d + 1; i < rank; ++i) inner *= x.shape()[i];
  const int64_t outer = x.numel() / std::max<int64_t>(n, 1);
  for (int64_t o = 0; o < (n ? outer : 0); ++o) {
    const int64_t base = (o / inner) * n * inner + o % inner;
    const int64_t obase = (o / inner) * k * inner + o % inner;
    std::vector<double> row(n);
    std::vector<int64_t> want_ix(n), got_ix(k);
    for (int64_t j = 0; j < n; ++j) row[j] = x.get(base + j * inner), want_ix[j] = j;
    std::stable_sort(want_ix.begin(), want_ix.end(),
                     [&](int64_t a, int64_t b) { return before(row[a], row[b], largest); });
    for (int64_t j = 0; j < k; ++j) {
      const double v = r[0].get(obase + j * inner);
      const int64_t ix = static_cast<int64_t>(r[1].get(obase + j * inner));
      ASSERT_GE(ix, 0);
      ASSERT_LT(ix, n);
      // The exact element: same value, and the sign of a zero.
      ASSERT_TRUE(same(row[ix], v)) << "index does not point at its value";
      ASSERT_EQ(std::signbit(row[ix]), std::signbit(v)) << "row " << o << " j " << j;
      got_ix[j] = ix;
    }
    want_ix.resize(k);
    if (!sorted) {
      std::sort(got_ix.begin(), got_ix.end());
      std::sort(want_ix.begin(), want_ix.end());
    }
    for (int64_t j = 0; j < k; ++j)
      ASSERT_EQ(got_ix[j], want_ix[j]) << "row " << o << " j " << j << " n " << n;
  }
}

// A row of f32 or bf16 values, exactly representable in both.
Tensor row_of(const std::vector<double>& v, DType t) {
  Tensor x = Tensor::empty({static_cast<int64_t>(v.size())}, t);
  for (size_t i = 0; i < v.size(); ++i) x.set(static_cast<int64_t>(i), v[i]);
  return x;
}

}  // namespace

// Rows of up to 8 and short rows with k <= 16 take the insertion buffer, rows up
// to the sorting network's size (AVX-512: 128 f32 or 256 bf16 keys, AVX2: half)
// the network, longer ones vqsort (f32 from 512: libhwy_contrib's).
TEST(TopK, MatchesReferenceOverArguments) {
  for_each_simd_target([] {
    uint32_t seed = 1;
    for (DType t : {DType::F32, DType::BF16})
      for (const Shape& s :
           {Shape{17}, Shape{4, 9}, Shape{3, 1, 5}, Shape{2, 3, 4, 7}, Shape{2, 1, 3, 2, 6},
            Shape{3, 96}, Shape{2, 130}, Shape{1, 300}, Shape{2, 1200}})
        for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size());
             ++dim) {
          const int64_t n = s[dim < 0 ? dim + s.size() : dim];
          Tensor x = input(s, t, seed++);
          for (int64_t k : {int64_t{0}, int64_t{1}, std::min<int64_t>(n, 8),
                            std::min<int64_t>(n, 16), std::min<int64_t>(n, 17), n / 2, n})
            for (bool largest : {true, false})
              for (bool sorted : {true, false}) check(x, k, dim, largest, sorted);
        }
  });
}

// Index ties: NaNs of either sign tie (above +inf for largest, after it for
// smallest), -0.0 ties +0.0; values keep their sign.
TEST(TopK, ZerosNansAndInfinitiesTieByIndex) {
  const double nan = std::nan(""), mnan = std::copysign(std::nan(""), -1.0);
  const std::vector<double> v = {0.0,  -0.0, nan, 1.0,  -INFINITY, INFINITY,
                                 -0.0, mnan, 0.0, -1.0, INFINITY};
  const std::vector<int32_t> big = {2, 7, 5, 10, 3, 0, 1, 6, 8, 9, 4};
  const std::vector<int32_t> small = {4, 9, 0, 1, 6, 8, 3, 5, 10, 2, 7};
  for_each_simd_target([&] {
    for (DType t : {DType::F32, DType::BF16})
      for (bool largest : {true, false})
        for (int64_t k : {int64_t{3}, int64_t{9}, int64_t{11}}) {
          Tensor x = row_of(v, t);
          check(x, k, 0, largest, true);
          check(x, k, 0, largest, false);
          auto r = run("topk", {x},
                       {"k=" + std::to_string(k), largest ? "largest=true" : "largest=false"});
          for (int64_t j = 0; j < k; ++j) {
            const int32_t want = (largest ? big : small)[j];
            EXPECT_EQ(r[1].get(j), want) << j;
            EXPECT_EQ(std::signbit(r[0].get(j)), std::signbit(v[want])) << j;
          }
        }
  });
}

// Equal values everywhere: indices in order (largest and smallest), in rows
// for every selection path, along the last and a middle dim.
TEST(TopK, EqualValuesComeOutInIndexOrder) {
  for_each_simd_target([] {
    for (DType t : {DType::F32, DType::BF16})
      for (int64_t n : {3, 16, 96, 200, 700}) {
        Tensor x = Tensor::empty({2, n, 3}, t);
        for (int64_t i = 0; i < x.numel(); ++i) x.set(i, (i / 3) % 2 ? -0.0 : 0.0);
        for (int64_t k : {int64_t{1}, std::min<int64_t>(n, 10), n / 2, n})
          for (bool largest : {true, false}) {
            check(x, k, 1, largest, true);
            auto r = run(
                "topk", {x},
                {"k=" + std::to_string(k), "dim=1", largest ? "largest=true" : "largest=false"});
            for (int64_t j = 0; j < k; ++j) ASSERT_EQ(r[1].get(j * 3 + 2), j);
          }
      }
  });
}

// Rows past the 16-bit index part of bf16 keys and long f32 rows.
TEST(TopK, LongRows) {
  Tensor b = input({70000}, DType::BF16, 11), f = input({2, 5000}, DType::F32, 12);
  for (int64_t k : {int64_t{5}, int64_t{300}, int64_t{70000}}) check(b, k, 0, true, true);
  check(b, 1000, 0, false, false);
  for (int64_t k : {int64_t{7}, int64_t{40}, int64_t{5000}})
    for (bool largest : {true, false}) check(f, k, 1, largest, true);
}

TEST(TopK, StridedEmptyAndScalarInputs) {
  Tensor x = input({6, 11}, DType::BF16, 3);
  check(x.transpose(0, 1), 3, 0, true, true);
  check(x.transpose(0, 1), 2, -1, false, true);
  check(input({3, 0}, DType::F32, 1), 0, 1, true, true);
  check(input({3, 0}, DType::F32, 1), 1, 0, true, true);
  Tensor s = input({}, DType::F32, 2);
  for (const char* k : {"k=0", "k=1"}) {
    auto r = run("topk", {s}, {k});
    EXPECT_EQ(r[0].shape(), Shape{});
    EXPECT_TRUE(same(r[0].get(0), s.get(0)));
    EXPECT_EQ(r[1].get(0), 0);
  }
  // torch 1.13: topk([1, nan, 3], 2) = [nan, 3] at [1, 2]; smallest = [1, 3] at [0, 2].
  Tensor v = Tensor::empty({3}, DType::F32);
  v.set(0, 1);
  v.set(1, std::nan(""));
  v.set(2, 3);
  auto l = run("topk", {v}, {"k=2"});
  EXPECT_TRUE(std::isnan(l[0].get(0)));
  EXPECT_EQ(l[0].get(1), 3);
  EXPECT_EQ(l[1].get(0), 1);
  EXPECT_EQ(l[1].get(1), 2);
  auto m = run("topk", {v}, {"k=2", "largest=false"});
  EXPECT_EQ(m[0].get(0), 1);
  EXPECT_EQ(m[0].get(1), 3);
}

TEST(TopK, Errors) {
  Tensor x = input({3, 4}, DType::F32, 1);
  expect_error([&] { run("topk", {x}, {"k=5"}); }, "topk");
  expect_error([&] { run("topk", {x}, {"k=-1"}); }, "topk");
  expect_error([&] { run("topk", {x}, {"k=1", "dim=2"}); }, "topk");
  expect_error([&] { run("topk", {input({}, DType::F32, 1)}, {"k=2"}); }, "topk");
  expect_error([&] { run("topk", {input({3, 0}, DType::F32, 1)}, {"k=1", "dim=1"}); }, "topk");
  expect_error([&] { run("topk", {x, x}, {"k=1"}); }, "topk");
}
