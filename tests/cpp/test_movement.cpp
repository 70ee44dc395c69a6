// Movement ops against slow references over Tensor::get: views share storage,
// clone/copy allocate once, values are bit-exact; error paths name the op.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "kernel_test_util.hpp"
#include "ops/movement/copy.hpp"
#include "ops/movement/kernels.hpp"
#include "ops/op.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

// Distinct, bf16-exact values (integers and halves), so any misplaced element shows.
Tensor iota(const Shape& s, DType t, int64_t start = 1) {
  Tensor x = Tensor::empty(s, t);
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<double>((start + i) % 251) * 0.5);
  return x;
}

void expect_same_values(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.get(i), y = b.get(i);
    if (std::isnan(x) && std::isnan(y)) continue;
    ASSERT_EQ(x, y) << "at linear index " << i;
  }
}

const DType kDtypes[] = {DType::F32, DType::BF16};

}  // namespace

TEST(Movement, PermuteIsAViewWithPermutedValues) {
  struct Case {
    Shape shape;
    std::string dims;
    std::vector<int64_t> perm;  // normalized
  };
  const Case cases[] = {
      {{7}, "0", {0}},
      {{3, 5}, "1,0", {1, 0}},
      {{2, 3, 5}, "-1,0,1", {2, 0, 1}},
      {{1, 3, 7, 9}, "0,2,3,1", {0, 2, 3, 1}},
      {{2, 1, 3, 4, 5}, "4,-2,0,2,1", {4, 3, 0, 2, 1}},
      {{2, 0, 3}, "2,1,0", {2, 1, 0}},
  };
  for (DType t : kDtypes)
    for (const auto& c : cases) {
      Tensor x = iota(c.shape, t);
      Tensor y = run("permute", {x}, {"dims=" + c.dims})[0];
      EXPECT_EQ(y.storage(), x.storage());
      Shape want(c.perm.size());
      for (size_t i = 0; i < c.perm.size(); ++i) want[i] = c.shape[c.perm[i]];
      ASSERT_EQ(y.shape(), want);
      for (int64_t i = 0; i < y.numel(); ++i) {
        auto oi = unravel(i, want);
        std::vector<int64_t> ii(oi.size());
        for (size_t k = 0; k < oi.size(); ++k) ii[c.perm[k]] = oi[k];
        ASSERT_EQ(y.get(i), x.get(ravel(ii, c.shape)));
      }
    }
}

TEST(Movement, PermuteErrors) {
  Tensor x = iota({2, 3, 4}, DType::F32);
  expect_error([&] { run("permute", {x}, {"dims=0,1"}); }, "permute");
  expect_error([&] { run("permute", {x}, {"dims=0,1,1"}); }, "permute");
  expect_error([&] { run("permute", {x}, {"dims=0,1,3"}); }, "permute");
  expect_error([&] { run("permute", {x, x}, {"dims=0,1,2"}); }, "permute");
}

TEST(Movement, TransposeSwapsDims) {
  for (DType t : kDtypes) {
    Tensor x = iota({2, 3, 4, 5}, t);
    Tensor y = run("transpose", {x}, {"dim0=-1", "dim1=1"})[0];
    EXPECT_EQ(y.storage(), x.storage());
    ASSERT_EQ(y.shape(), (Shape{2, 5, 4, 3}));
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto o = unravel(i, y.shape());
      ASSERT_EQ(y.get(i), x.get(ravel({o[0], o[3], o[2], o[1]}, x.shape())));
    }
    Tensor s = iota({}, t);
    EXPECT_EQ(run("transpose", {s}, {"dim0=0", "dim1=-1"})[0].get(0), s.get(0));
    Tensor same = run("transpose", {x}, {"dim0=2", "dim1=2"})[0];
    expect_same_values(same, x);
  }
  Tensor x = iota({2, 3}, DType::F32);
  expect_error([&] { run("transpose", {x}, {"dim0=2", "dim1=0"}); }, "transpose");
  expect_error([&] { run("transpose", {x}, {"dim0=0", "dim1=-3"}); }, "transpose");
}

TEST(Movement, ViewAndUnsafeView) {
  for (const char* op : {"view", "unsafeview", "_unsafe_view"})
    for (DType t : kDtypes) {
      const std::string name(ops::find_op(op).name);
      Tensor x = iota({2, 3, 4}, t);
      Tensor y = run(op, {x}, {"size=4,-1"})[0];
      EXPECT_EQ(y.storage(), x.storage());
      ASSERT_EQ(y.shape(), (Shape{4, 6}));
      for (int64_t i = 0; i < 24; ++i) ASSERT_EQ(y.get(i), x.get(i));
      EXPECT_EQ(run(op, {x}, {"size=24"})[0].shape(), (Shape{24}));
      EXPECT_EQ(run(op, {x}, {"shape=1,2,1,12,1"})[0].shape(), (Shape{1, 2, 1, 12, 1}));
      // A permuted tensor can be viewed when the merged dims stay contiguous.
      Tensor p = x.permute({1, 2, 0});  // [3,4,2] strides [4,1,12]
      Tensor pv = run(op, {p}, {"size=12,2"})[0];
      EXPECT_EQ(pv.storage(), x.storage());
      for (int64_t i = 0; i < 24; ++i) ASSERT_EQ(pv.get(i), p.get(i));
      expect_error([&] { run(op, {p}, {"size=-1"}); }, name);
      // 0-d and empty tensors.
      Tensor s = iota({}, t);
      Tensor sv = run(op, {s}, {"size=1,1"})[0];
      EXPECT_EQ(sv.shape(), (Shape{1, 1}));
      EXPECT_EQ(sv.get(0), s.get(0));
      EXPECT_EQ(run(op, {sv}, {"size=[]"})[0].shape(), Shape{});
      Tensor e = iota({2, 0, 3}, t);
      EXPECT_EQ(run(op, {e}, {"size=0,6"})[0].shape(), (Shape{0, 6}));
      EXPECT_EQ(run(op, {e}, {"size=3,-1"})[0].shape(), (Shape{3, 0}));
      expect_error([&] { run(op, {e}, {"size=-1,0"}); }, name);
      expect_error([&] { run(op, {x}, {"size=-1,-1"}); }, name);
      expect_error([&] { run(op, {x}, {"size=-2,-12"}); }, name);
      expect_error([&] { run(op, {x}, {"size=5,-1"}); }, name);
      expect_error([&] { run(op, {x}, {"size=5,5"}); }, name);
    }
}

TEST(Movement, UnsqueezeEveryPosition) {
  for (DType t : kDtypes) {
    Tensor x = iota({3, 4}, t);
    for (int64_t d = -3; d <= 2; ++d) {
      Tensor y = run("unsqueeze", {x}, {"dim=" + std::to_string(d)})[0];
      EXPECT_EQ(y.storage(), x.storage());
      Shape want = {3, 4};
      want.insert(want.begin() + (d < 0 ? d + 3 : d), 1);
      ASSERT_EQ(y.shape(), want);
      for (int64_t i = 0; i < 12; ++i) ASSERT_EQ(y.get(i), x.get(i));
    }
    EXPECT_EQ(run("unsqueeze", {iota({}, t)}, {"dim=-1"})[0].shape(), (Shape{1}));
  }
  Tensor x = iota({3, 4}, DType::F32);
  expect_error([&] { run("unsqueeze", {x}, {"dim=3"}); }, "unsqueeze");
  expect_error([&] { run("unsqueeze", {x}, {"dim=-4"}); }, "unsqueeze");
}

TEST(Movement, ExpandBroadcastsWithoutCopy) {
  for (DType t : kDtypes) {
    Tensor x = iota({3, 1, 2}, t);
    Tensor y = run("expand", {x}, {"size=2,3,5,-1"})[0];
    EXPECT_EQ(y.storage(), x.storage());
    ASSERT_EQ(y.shape(), (Shape{2, 3, 5, 2}));
    EXPECT_EQ(y.strides()[0], 0);
    EXPECT_EQ(y.strides()[2], 0);
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto o = unravel(i, y.shape());
      ASSERT_EQ(y.get(i), x.get(ravel({o[1], 0, o[3]}, x.shape())));
    }
    EXPECT_EQ(run("expand", {x}, {"size=3,0,2"})[0].numel(), 0);
    EXPECT_EQ(run("expand", {iota({}, t)}, {"size=4"})[0].shape(), (Shape{4}));
  }
  Tensor x = iota({3, 1}, DType::F32);
  expect_error([&] { run("expand", {x}, {"size=4,1"}); }, "expand");
  expect_error([&] { run("expand", {x}, {"size=3"}); }, "expand");
  expect_error([&] { run("expand", {x}, {"size=-1,3,1"}); }, "expand");
  expect_error([&] { run("expand", {x}, {"size=3,-2"}); }, "expand");
}

TEST(Movement, IdentityIsTheInput) {
  Tensor x = iota({2, 3}, DType::BF16).transpose(0, 1);
  Tensor y = run("identity", {x})[0];
  EXPECT_EQ(y.storage(), x.storage());
  EXPECT_EQ(y.strides(), x.strides());
  EXPECT_EQ(y.offset(), x.offset());
}

// Strided inputs exercising each copy mode: contiguous, transposed (tiled),
// narrowed, expanded (stride 0) and stepped.
std::vector<Tensor> strided_inputs(DType t) {
  std::vector<Tensor> v;
  v.push_back(iota({}, t));
  v.push_back(iota({0, 5}, t));
  v.push_back(iota({37}, t));
  v.push_back(iota({2, 3, 5, 7, 3}, t));
  v.push_back(iota({1, 3, 67, 131}, t).permute({0, 2, 3, 1}));  // NCHW -> NHWC
  v.push_back(iota({2, 96, 45}, t).transpose(1, 2));
  v.push_back(iota({5, 70, 33}, t).permute({2, 0, 1}));
  v.push_back(iota({4, 9, 11}, t).narrow(2, 3, 5));
  v.push_back(iota({4, 9, 11}, t).narrow(1, 2, 6).transpose(0, 2));
  v.push_back(iota({3, 1, 5}, t).expand({2, 3, 4, 5}));
  v.push_back(iota({7, 1}, t).expand({7, 300}).transpose(0, 1));
  Tensor big = iota({6, 8}, t);
  v.push_back(Tensor::wrap(big.storage(), {3, 4}, {16, 2}, t, 1));  // stepped
  v.push_back(iota({2, 3, 2, 3, 2, 3}, t).permute({5, 3, 1, 4, 2, 0}));
  return v;
}

TEST(Movement, CloneIsContiguousNewStorage) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    for (DType t : kDtypes)
      for (const Tensor& x : strided_inputs(t)) {
        Tensor y = run("clone", {x})[0];
        EXPECT_NE(y.storage(), x.storage());
        EXPECT_TRUE(y.is_contiguous());
        EXPECT_EQ(y.dtype(), t);
        expect_same_values(y, x);
      }
  });
}

TEST(Movement, CopyKernelChunkingIsExact) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    // Any split of the plan's range gives the same bytes as one whole copy.
    for (DType t : kDtypes)
      for (const Tensor& x : strided_inputs(t)) {
        Tensor out = Tensor::zeros(x.shape(), t);
        auto plan = ops::plan_copy(x.shape(), x.strides(), out.strides(), element_size(t), "test");
        const int64_t n = plan.numel;
        for (int64_t a = 0; a < n;) {
          int64_t b = std::min(n, a + 1 + (a * 7919) % 173);
          ops::copy_range(plan, x.raw(), out.raw(), a, b);
          a = b;
        }
        expect_same_values(out, x);
      }
  });
}

TEST(Movement, CopyBroadcastsAndConverts) {
  // bf16 self, f32 src: values round to nearest even once.
  Tensor self = iota({2, 3}, DType::BF16);
  Tensor src = Tensor::empty({3}, DType::F32);
  const float vals[3] = {1.00390625f, 1.01171875f, -3.3f};  // ties to even, then a plain round
  for (int i = 0; i < 3; ++i) src.set(i, vals[i]);
  Tensor y = run("copy", {self, src})[0];
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.dtype(), DType::BF16);
  EXPECT_NE(y.storage(), self.storage());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(y.get(i), round_bf16(vals[i % 3]));
  EXPECT_EQ(y.get(0), 1.0);
  EXPECT_EQ(y.get(1), 1.015625);
  // f32 self from a transposed bf16 src: exact widening.
  Tensor s2 = iota({4, 2}, DType::BF16).transpose(0, 1);
  Tensor y2 = run("copy", {iota({2, 4}, DType::F32), s2}, {"non_blocking=true"})[0];
  EXPECT_EQ(y2.dtype(), DType::F32);
  expect_same_values(y2, s2);
  // Same dtype, expanded src.
  Tensor y3 = run("copy", {iota({5, 2, 3}, DType::F32), iota({2, 1}, DType::F32)})[0];
  for (int64_t i = 0; i < y3.numel(); ++i)
    ASSERT_EQ(y3.get(i), iota({2, 1}, DType::F32).get((i / 3) % 2));
  expect_error([&] { run("copy", {iota({2, 3}, DType::F32), iota({3, 2}, DType::F32)}); }, "copy");
  expect_error([&] { run("copy", {iota({3}, DType::F32), iota({2, 3}, DType::F32)}); }, "copy");
  expect_error([&] { run("copy", {iota({3}, DType::F32)}); }, "copy");
}

TEST(Movement, LargeTransposeMatchesReference) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    // Big enough for the threaded split; NCHW -> NHWC as the seed tests do.
    for (DType t : kDtypes) {
      Tensor x = iota({2, 5, 160, 203}, t).permute({0, 2, 3, 1});
      Tensor y = run("clone", {x})[0];
      expect_same_values(y, x);
      Tensor z = iota({3, 333, 517}, t).transpose(1, 2);
      expect_same_values(run("clone", {z})[0], z);
    }
  });
}

TEST(Creation, OnesFillsEveryElement) {
  for (const Shape& s :
       {Shape{}, Shape{7}, Shape{2, 0, 3}, Shape{3, 5, 1, 2, 4}, Shape{1000, 700}}) {
    Tensor y = run("ones", {}, {fmt::format("size=[{}]", fmt::join(s, ","))})[0];
    ASSERT_EQ(y.shape(), s);
    EXPECT_EQ(y.dtype(), DType::BF16);  // until --dtype is wired (see creation/exec.cpp)
    EXPECT_TRUE(y.is_contiguous());
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.get(i), 1.0);
  }
  expect_error([] { run("ones", {}, {"size=2,-1"}); }, "ones");
  expect_error([] { run("ones", {iota({2}, DType::F32)}, {"size=2"}); }, "ones");
}
