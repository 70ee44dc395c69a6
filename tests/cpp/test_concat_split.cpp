// cat / concat / stack / split / split_with_sizes against slow references.
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

Tensor iota(const Shape& s, DType t, int64_t start = 1) {
  Tensor x = Tensor::empty(s, t);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<double>((start + i) % 241) * 0.5);
  return x;
}

// Slow cat: walk the output and find the input holding each element.
void expect_cat(const Tensor& y, const std::vector<Tensor>& xs, int64_t d) {
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto idx = unravel(i, y.shape());
    int64_t at = idx[d];
    for (const auto& x : xs) {
      if (x.rank() == 1 && x.numel() == 0) continue;
      if (at < x.shape()[d]) {
        idx[d] = at;
        ASSERT_EQ(y.get(i), x.get(ravel(idx, x.shape()))) << "output index " << i;
        break;
      }
      at -= x.shape()[d];
    }
  }
}

const DType kDtypes[] = {DType::F32, DType::BF16};

}  // namespace

TEST(Concat, CatEveryDimAndRank) {
  for (DType t : kDtypes)
    for (int rank = 1; rank <= 5; ++rank)
      for (int d = -rank; d < rank; ++d) {
        const int64_t dd = d < 0 ? d + rank : d;
        std::vector<Tensor> xs;
        const int64_t sizes[] = {3, 1, 0, 5};
        for (int k = 0; k < 4; ++k) {
          Shape s;
          for (int r = 0; r < rank; ++r) s.push_back(r == dd ? sizes[k] : 2 + (r % 3));
          xs.push_back(iota(s, t, 17 * k + 1));
        }
        if (rank >= 2)
          xs[1] = iota(Shape(xs[1].shape().rbegin(), xs[1].shape().rend()), t, 5).permute([&] {
            std::vector<int64_t> p(rank);
            for (int r = 0; r < rank; ++r) p[r] = rank - 1 - r;
            return p;
          }());  // a strided input
        for (const char* op : {"cat", "concat"}) {
          Tensor y = run(op, xs, {"dim=" + std::to_string(d)})[0];
          ASSERT_EQ(y.shape()[dd], 9);
          EXPECT_TRUE(y.is_contiguous());
          EXPECT_EQ(y.dtype(), t);
          expect_cat(y, xs, dd);
        }
      }
}

TEST(Concat, CatSkipsLegacyEmptyAndPromotes) {
  Tensor a = iota({2, 3}, DType::BF16), b = iota({2, 4}, DType::F32, 50);
  Tensor e = Tensor::empty({0}, DType::F32);
  Tensor y = run("cat", {e, a, e, b}, {"dim=1"})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 7}));
  EXPECT_EQ(y.dtype(), DType::F32);
  expect_cat(y, {e, a, e, b}, 1);
  Tensor z = run("cat", {e, e}, {"dim=3"})[0];
  EXPECT_EQ(z.shape(), (Shape{0}));
  // One big contiguous input per side: exercises the threaded memcpy split.
  Tensor big1 = iota({3, 200, 700}, DType::BF16), big2 = iota({3, 100, 700}, DType::BF16, 9);
  expect_cat(run("cat", {big1, big2}, {"dim=-2"})[0], {big1, big2}, 1);
}

TEST(Concat, CatErrors) {
  Tensor a = iota({2, 3}, DType::F32);
  expect_error([&] { run("cat", {a, iota({2, 4}, DType::F32)}, {"dim=0"}); }, "cat");
  expect_error([&] { run("cat", {a, iota({2, 3, 1}, DType::F32)}, {"dim=0"}); }, "cat");
  expect_error([&] { run("cat", {a, a}, {"dim=2"}); }, "cat");
  expect_error([&] { run("cat", {a, a}, {"dim=-3"}); }, "cat");
  expect_error([&] { run("cat", {iota({}, DType::F32)}, {"dim=0"}); }, "cat");
  expect_error([&] { run("concat", {a, iota({3, 3}, DType::F32)}, {"dim=1"}); }, "concat");
  expect_error([&] { run("cat", {}, {"dim=0"}); }, "cat");
}

TEST(Concat, StackEveryDim) {
  for (DType t : kDtypes)
    for (const Shape& s : {Shape{}, Shape{4}, Shape{2, 3}, Shape{2, 0, 3}, Shape{1, 2, 3, 2}}) {
      const int64_t r = static_cast<int64_t>(s.size());
      for (int64_t d = -r - 1; d <= r; ++d) {
        std::vector<Tensor> xs = {iota(s, t, 1), iota(s, t, 100), iota(s, t, 200)};
        xs[1] = xs[1].clone();
        Tensor y = run("stack", xs, {"dim=" + std::to_string(d)})[0];
        const int64_t dd = d < 0 ? d + r + 1 : d;
        Shape want = s;
        want.insert(want.begin() + dd, 3);
        ASSERT_EQ(y.shape(), want);
        for (int64_t i = 0; i < y.numel(); ++i) {
          auto idx = unravel(i, want);
          const int64_t which = idx[dd];
          idx.erase(idx.begin() + dd);
          ASSERT_EQ(y.get(i), xs[which].get(ravel(idx, s)));
        }
      }
    }
  Tensor a = iota({2, 3}, DType::F32);
  expect_error([&] { run("stack", {a, iota({2, 4}, DType::F32)}, {"dim=0"}); }, "stack");
  expect_error([&] { run("stack", {a, a}, {"dim=3"}); }, "stack");
  expect_error([&] { run("stack", {a, a}, {"dim=-4"}); }, "stack");
}

TEST(Split, SplitReturnsViews) {
  for (DType t : kDtypes) {
    Tensor x = iota({5, 7, 3}, t);
    struct Case {
      int64_t size, dim;
      std::vector<int64_t> want;
    };
    const Case cases[] = {
        {2, 1, {2, 2, 2, 1}}, {7, 1, {7}}, {9, -2, {7}}, {1, 0, {1, 1, 1, 1, 1}}, {2, -1, {2, 1}}};
    for (const auto& c : cases) {
      auto ys = run("split", {x},
                    {"split_size=" + std::to_string(c.size), "dim=" + std::to_string(c.dim)});
      const int64_t d = c.dim < 0 ? c.dim + 3 : c.dim;
      ASSERT_EQ(ys.size(), c.want.size());
      int64_t at = 0;
      for (size_t k = 0; k < ys.size(); ++k) {
        EXPECT_EQ(ys[k].storage(), x.storage());
        ASSERT_EQ(ys[k].shape()[d], c.want[k]);
        for (int64_t i = 0; i < ys[k].numel(); ++i) {
          auto idx = unravel(i, ys[k].shape());
          idx[d] += at;
          ASSERT_EQ(ys[k].get(i), x.get(ravel(idx, x.shape())));
        }
        at += c.want[k];
      }
    }
    auto e = run("split", {iota({0, 3}, t)}, {"split_size=2"});
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].shape(), (Shape{0, 3}));
    EXPECT_EQ(run("split", {iota({0, 3}, t)}, {"split_size=0"}).size(), 1u);
  }
  Tensor x = iota({5, 3}, DType::F32);
  expect_error([&] { run("split", {x}, {"split_size=0"}); }, "split");
  expect_error([&] { run("split", {x}, {"split_size=-1"}); }, "split");
  expect_error([&] { run("split", {x}, {"split_size=2", "dim=2"}); }, "split");
  expect_error([&] { run("split", {iota({}, DType::F32)}, {"split_size=1"}); }, "split");
}

TEST(Split, SplitWithSizes) {
  for (const char* op : {"split_with_sizes", "splitwithsizes"})
    for (DType t : kDtypes) {
      Tensor x = iota({4, 6}, t).transpose(0, 1);  // strided input: views stay strided
      auto ys = run(op, {x}, {"split_sizes=1,0,3,2", "dim=-2"});
      ASSERT_EQ(ys.size(), 4u);
      const int64_t want[] = {1, 0, 3, 2};
      int64_t at = 0;
      for (size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(ys[k].storage(), x.storage());
        ASSERT_EQ(ys[k].shape(), (Shape{want[k], 4}));
        for (int64_t i = 0; i < ys[k].numel(); ++i) ASSERT_EQ(ys[k].get(i), x.get(i + at * 4));
        at += want[k];
      }
      auto one = run(op, {x}, {"sizes=4", "dim=1"});
      ASSERT_EQ(one.size(), 1u);
      EXPECT_EQ(one[0].shape(), (Shape{6, 4}));
      const std::string name(ops::find_op(op).name);
      expect_error([&] { run(op, {x}, {"split_sizes=2,2", "dim=0"}); }, name);
      expect_error([&] { run(op, {x}, {"split_sizes=7,-1", "dim=0"}); }, name);
      expect_error([&] { run(op, {x}, {"split_sizes=6", "dim=2"}); }, name);
    }
}
