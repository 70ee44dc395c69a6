// topk against a slow reference: a stable sort of each row with torch's NaN
// order. Values must match exactly; indices must point at equal values.
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
    std::vector<double> row(n), got(k);
    for (int64_t j = 0; j < n; ++j) row[j] = x.get(base + j * inner);
    std::stable_sort(row.begin(), row.end(),
                     [&](double a, double b) { return before(a, b, largest); });
    for (int64_t j = 0; j < k; ++j) {
      got[j] = r[0].get(obase + j * inner);
      const int64_t ix = static_cast<int64_t>(r[1].get(obase + j * inner));
      ASSERT_GE(ix, 0);
      ASSERT_LT(ix, n);
      ASSERT_TRUE(same(x.get(base + ix * inner), got[j])) << "index does not point at its value";
    }
    if (!sorted)
      std::stable_sort(got.begin(), got.end(),
                       [&](double a, double b) { return before(a, b, largest); });
    for (int64_t j = 0; j < k; ++j) ASSERT_TRUE(same(got[j], row[j])) << "row " << o << " j " << j;
  }
}

}  // namespace

TEST(TopK, MatchesReferenceOverArguments) {
  uint32_t seed = 1;
  for (DType t : {DType::F32, DType::BF16})
    for (const Shape& s : {Shape{17}, Shape{4, 9}, Shape{3, 1, 5}, Shape{2, 3, 4, 7},
                           Shape{2, 1, 3, 2, 6}, Shape{1, 300}, Shape{2, 1200}})
      for (int64_t dim = -static_cast<int64_t>(s.size()); dim < static_cast<int64_t>(s.size());
           ++dim) {
        const int64_t n = s[dim < 0 ? dim + s.size() : dim];
        Tensor x = input(s, t, seed++);
        // k <= 16: insertion buffer; 17 with n >= 1088: partial_sort; else nth_element.
        for (int64_t k :
             {int64_t{0}, int64_t{1}, std::min<int64_t>(n, 16), std::min<int64_t>(n, 17), n / 2, n})
          for (bool largest : {true, false})
            for (bool sorted : {true, false}) check(x, k, dim, largest, sorted);
      }
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
