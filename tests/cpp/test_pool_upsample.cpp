// max_pool2d_with_indices and upsample_nearest2d against slow references
// (scalar loops over Tensor::get), NCHW, CHW and channels_last, f32 and bf16.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "kernel_test_util.hpp"
#include "ops/max_pool2d/kernels.hpp"
#include "ops/op.hpp"
#include "ops/upsample/kernels.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

// Few distinct values (ties), plus NaN and -inf sprinkled in.
Tensor pool_input(const Shape& s, DType t, uint32_t seed, bool specials) {
  Tensor x = Tensor::empty(s, t);
  uint32_t r = seed * 2654435761u + 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    r = r * 1664525u + 1013904223u;
    double v = static_cast<double>((r >> 16) % 23) - 11.0;
    if (specials && (r >> 8) % 97 == 0) v = std::nan("");
    if (specials && (r >> 8) % 89 == 1) v = -std::numeric_limits<double>::infinity();
    x.set(i, v);
  }
  return x;
}

struct PoolArgs {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil;
};

int64_t out_size(int64_t in, int64_t k, int64_t p, int64_t s, int64_t d, bool ceil) {
  double v = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / static_cast<double>(s);
  int64_t o = static_cast<int64_t>(ceil ? std::ceil(v) : std::floor(v)) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

// Reference for one plane value/index: taps in row-major order, NaN wins, ties keep the first;
// the index of an all -inf window is its first in-bounds tap (torch's initial value).
void ref_pool(const Tensor& x, int64_t base, int64_t H, int64_t W, const PoolArgs& a, int64_t oh,
              int64_t ow, double& mv, int64_t& mi) {
  int64_t h0 = oh * a.sh - a.ph, w0 = ow * a.sw - a.pw;
  while (h0 < 0) h0 += a.dh;
  while (w0 < 0) w0 += a.dw;
  mv = -std::numeric_limits<double>::infinity();
  mi = h0 * W + w0;
  for (int64_t i = 0; i < a.kh; ++i)
    for (int64_t j = 0; j < a.kw; ++j) {
      int64_t ih = oh * a.sh - a.ph + i * a.dh, iw = ow * a.sw - a.pw + j * a.dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      double v = x.get(base + ih * W + iw);
      if (v > mv || std::isnan(v)) {
        mv = v;
        mi = ih * W + iw;
      }
    }
}

std::vector<std::string> pool_kvs(const PoolArgs& a, bool nhwc) {
  auto pair = [](int64_t h, int64_t w) { return std::to_string(h) + "," + std::to_string(w); };
  return {"kernel_size=" + pair(a.kh, a.kw),
          "stride=" + pair(a.sh, a.sw),
          "padding=" + pair(a.ph, a.pw),
          "dilation=" + pair(a.dh, a.dw),
          std::string("ceil_mode=") + (a.ceil ? "true" : "false"),
          std::string("channels_last=") + (nhwc ? "true" : "false")};
}

void check_pool(const Shape& nchw, DType t, const PoolArgs& a, uint32_t seed) {
  const bool batched = nchw.size() == 4;
  const int64_t N = batched ? nchw[0] : 1, C = nchw[nchw.size() - 3], H = nchw[nchw.size() - 2],
                W = nchw.back();
  Tensor x = pool_input(nchw, t, seed, true);
  const int64_t OH = out_size(H, a.kh, a.ph, a.sh, a.dh, a.ceil);
  const int64_t OW = out_size(W, a.kw, a.pw, a.sw, a.dw, a.ceil);
  auto r = run("max_pool2d", {x}, pool_kvs(a, false));
  Shape want = batched ? Shape{N, C, OH, OW} : Shape{C, OH, OW};
  ASSERT_EQ(r[0].shape(), want);
  ASSERT_EQ(r[1].shape(), want);
  ASSERT_EQ(r[1].dtype(), DType::I32);
  ASSERT_EQ(r[0].dtype(), t);
  // channels_last: the same data stored NHWC.
  std::vector<Tensor> rl;
  if (batched) rl = run("max_pool2d", {x.permute({0, 2, 3, 1}).clone()}, pool_kvs(a, true));
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double mv;
        int64_t mi;
        ref_pool(x, p * H * W, H, W, a, oh, ow, mv, mi);
        const int64_t o = (p * OH + oh) * OW + ow;
        ASSERT_TRUE(same(r[0].get(o), mv)) << "plane " << p << " (" << oh << "," << ow << ")";
        ASSERT_EQ(r[1].get(o), mi) << "plane " << p << " (" << oh << "," << ow << ")";
        if (!batched) continue;
        const int64_t n = p / C, c = p % C, ol = ((n * OH + oh) * OW + ow) * C + c;
        ASSERT_TRUE(same(rl[0].get(ol), mv))
            << "NHWC plane " << p << " (" << oh << "," << ow << ")";
        ASSERT_EQ(rl[1].get(ol), mi);
      }
}

const DType kDtypes[] = {DType::F32, DType::BF16};

}  // namespace

TEST(Pool, MatchesReferenceOverArguments) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    const PoolArgs args[] = {
        {2, 2, 2, 2, 0, 0, 1, 1, false}, {2, 2, 2, 2, 0, 0, 1, 1, true},
        {3, 3, 1, 1, 1, 1, 1, 1, false}, {5, 5, 1, 1, 2, 2, 1, 1, false},
        {3, 3, 2, 2, 1, 1, 1, 1, true},  {3, 2, 2, 1, 1, 0, 2, 1, false},
        {1, 1, 1, 1, 0, 0, 1, 1, false}, {3, 3, 3, 3, 1, 1, 2, 2, true},
        {2, 3, 1, 2, 1, 1, 3, 2, true},  {4, 4, 3, 3, 2, 2, 1, 1, true},
        {1, 4, 1, 3, 0, 2, 1, 1, false},
    };
    uint32_t seed = 1;
    for (DType t : kDtypes)
      for (const auto& a : args) {
        check_pool({2, 3, 9, 41}, t, a, seed++);
        check_pool({1, 2, 7, 9}, t, a, seed++);
        check_pool({3, 17, 35}, t, a, seed++);
        check_pool({1, 1, 20, 67}, t, a, seed++);
        check_pool({1, 19, 6, 7}, t, a, seed++);  // NHWC: vectors over C plus an overlapping tail
        check_pool({2, 32, 5, 9}, t, a, seed++);
      }
  });
}

TEST(Pool, KnownTorchResults) {
  // torch 1.13: max_pool2d_with_indices on [[1,nan,2,nan],[5,6,7,8]].
  Tensor x = Tensor::empty({1, 2, 4}, DType::F32);
  const double v[] = {1, std::nan(""), 2, std::nan(""), 5, 6, 7, 8};
  for (int i = 0; i < 8; ++i) x.set(i, v[i]);
  auto r = run("max_pool2d", {x}, {"kernel_size=2", "stride=2"});
  EXPECT_EQ(r[0].shape(), (Shape{1, 1, 2}));
  EXPECT_TRUE(std::isnan(r[0].get(0)) && std::isnan(r[0].get(1)));
  EXPECT_EQ(r[1].get(0), 1);
  EXPECT_EQ(r[1].get(1), 3);
  auto q = run("max_pool2d", {x}, {"kernel_size=1,2", "stride=1", "padding=0,1"});
  const int64_t qi[] = {0, 1, 1, 3, 3, 4, 5, 6, 7, 7};
  ASSERT_EQ(q[1].shape(), (Shape{1, 2, 5}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q[1].get(i), qi[i]);
  // All -inf with padding: index of the first in-bounds tap.
  Tensor m = Tensor::empty({1, 1, 2, 2}, DType::BF16);
  for (int i = 0; i < 4; ++i) m.set(i, -std::numeric_limits<double>::infinity());
  auto mr = run("max_pool2d", {m}, {"kernel_size=2", "stride=2", "padding=1"});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(mr[1].get(i), i);
  // Output sizes with ceil_mode on a 7x9 input.
  Tensor y = pool_input({1, 1, 7, 9}, DType::F32, 3, false);
  EXPECT_EQ(run("max_pool2d", {y}, {"kernel_size=3", "stride=2", "padding=1", "ceil_mode=true"})[0]
                .shape(),
            (Shape{1, 1, 4, 5}));
  EXPECT_EQ(run("max_pool2d", {y},
                {"kernel_size=3", "stride=3", "padding=1", "dilation=2", "ceil_mode=true"})[0]
                .shape(),
            (Shape{1, 1, 3, 3}));
  // stride defaults to kernel_size (None or empty).
  EXPECT_EQ(run("max_pool2d", {y}, {"kernel_size=3", "stride=[]"})[0].shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(
      run("max_pool2d", {pool_input({0, 2, 5, 5}, DType::F32, 1, false)}, {"kernel_size=2"})[0]
          .shape(),
      (Shape{0, 2, 2, 2}));
}

TEST(Pool, StridedInputAndChunkedRows) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    // A transposed (non-contiguous) input gives the result of its contiguous copy.
    Tensor x = pool_input({1, 2, 33, 19}, DType::BF16, 9, true);
    auto a = run("max_pool2d", {x.transpose(2, 3)}, {"kernel_size=3", "stride=2", "padding=1"});
    auto b =
        run("max_pool2d", {x.transpose(2, 3).clone()}, {"kernel_size=3", "stride=2", "padding=1"});
    for (int64_t i = 0; i < a[0].numel(); ++i) {
      ASSERT_TRUE(same(a[0].get(i), b[0].get(i)));
      ASSERT_EQ(a[1].get(i), b[1].get(i));
    }
    // The row kernel on [0, OH) equals two chunks with their own input halo.
    ops::PoolGeom g{33, 19, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1};
    g.OH = ops::pool_output_size(33, 3, 1, 2, 1, false);
    g.OW = ops::pool_output_size(19, 3, 1, 2, 1, false);
    Tensor plane = x.narrow(1, 0, 1).contiguous();
    std::vector<uint16_t> o1(g.OH * g.OW), o2(g.OH * g.OW);
    std::vector<int32_t> i1(g.OH * g.OW), i2(g.OH * g.OW);
    ops::max_pool2d_rows(g, DType::BF16, plane.raw(), 0, o1.data(), i1.data(), 0, g.OH);
    const int64_t split = 7, row0 = split * 2 - 1;  // first input row output row 7 reads
    ops::max_pool2d_rows(g, DType::BF16, plane.raw(), 0, o2.data(), i2.data(), 0, split);
    ops::max_pool2d_rows(g, DType::BF16, plane.data<uint16_t>() + row0 * 19, row0,
                         o2.data() + split * g.OW, i2.data() + split * g.OW, split, g.OH);
    EXPECT_EQ(o1, o2);
    EXPECT_EQ(i1, i2);
  });
}

TEST(Pool, Errors) {
  Tensor x = pool_input({1, 1, 5, 5}, DType::F32, 1, false);
  const std::string op = "maxpool2d";
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=0,3"}); }, op);
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=3,3,3"}); }, op);
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=3", "stride=0"}); }, op);
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=3", "padding=2"}); }, op);
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=3", "padding=-1"}); }, op);
  expect_error([&] { run("max_pool2d", {x}, {"kernel_size=3", "dilation=0"}); }, op);
  expect_error(
      [&] {
        run("max_pool2d", {pool_input({1, 1, 2, 2}, DType::F32, 1, false)}, {"kernel_size=3"});
      },
      op);
  expect_error(
      [&] {
        run("max_pool2d", {pool_input({5, 5}, DType::F32, 1, false)}, {"kernel_size=2"});
      },
      op);
  expect_error(
      [&] {
        run("max_pool2d", {pool_input({1, 0, 5, 5}, DType::F32, 1, false)}, {"kernel_size=2"});
      },
      op);
  expect_error([&] { run("max_pool2d", {x, x}, {"kernel_size=2"}); }, op);
  expect_error(
      [&] {
        run("max_pool2d", {pool_input({3, 5, 5}, DType::F32, 1, false)},
            {"kernel_size=2", "channels_last=true"});
      },
      op);
}

TEST(Upsample, IndexRuleMatchesTorch) {
  // Printed by torch 1.13 (aten.upsample_nearest2d.vec) for one axis.
  struct Case {
    int64_t in, out;
    std::optional<double> sf;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      {3, 7, std::nullopt, {0, 0, 0, 1, 1, 2, 2}},
      {5, 3, std::nullopt, {0, 1, 3}},
      {7, 3, std::nullopt, {0, 2, 4}},
      {10, 13, std::nullopt, {0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9}},
      {13, 10, std::nullopt, {0, 1, 2, 3, 5, 6, 7, 9, 10, 11}},
      {4, 8, std::nullopt, {0, 0, 1, 1, 2, 2, 3, 3}},
      {3, -1, 2.5, {0, 0, 0, 1, 1, 2, 2}},
      {5, -1, 0.7, {0, 1, 2}},
      {3, -1, 2.3333333333333335, {0, 0, 0, 1, 1, 2, 2}},
      {10, -1, 1.3, {0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9}},
      {9, -1, 0.3333333333333333, {0, 3, 6}},
      {6, -1, 1.7, {0, 0, 1, 1, 2, 2, 3, 4, 4, 5}},
      {11, -1, 2.2, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10}},
  };
  for (DType t : kDtypes)
    for (const auto& c : cases) {
      Tensor x = Tensor::empty({1, 1, c.in, 1}, t);
      for (int64_t i = 0; i < c.in; ++i) x.set(i, static_cast<double>(i));
      std::vector<std::string> kvs;
      if (c.sf) {
        // One factor for both axes: W = 1 becomes floor(sf) wide; read column 0.
        kvs = {"scale_factor=" + fmt::format("{}", *c.sf)};
      } else {
        kvs = {"output_size=" + std::to_string(c.out) + ",1"};
      }
      if (c.sf && *c.sf < 1) continue;  // W would be 0; covered by the NCHW test below
      Tensor y = run("upsample_nearest2d", {x}, kvs)[0];
      ASSERT_EQ(y.shape()[2], static_cast<int64_t>(c.want.size()));
      const int64_t w = y.shape()[3];
      for (size_t o = 0; o < c.want.size(); ++o)
        EXPECT_EQ(y.get(static_cast<int64_t>(o) * w), static_cast<double>(c.want[o]))
            << c.in << " -> " << c.want.size() << " at " << o;
    }
  for (const auto& c : cases)
    EXPECT_EQ(ops::nearest_source_index(c.in, static_cast<int64_t>(c.want.size()), c.sf), c.want);
}

TEST(Upsample, MatchesReferenceNCHWAndChannelsLast) {
  for_each_simd_target(kSimdTargetsWithSse4, [&] {
    struct Case {
      Shape nchw;
      std::vector<std::string> kvs;
    };
    const Case cases[] = {
        {{2, 3, 5, 7}, {"scale_factor=2"}},     {{1, 2, 9, 37}, {"scale_factor=2.0"}},
        {{1, 3, 6, 6}, {"output_size=6,6"}},    {{2, 2, 5, 11}, {"output_size=13,4"}},
        {{1, 1, 10, 9}, {"scale_factor=0.7"}},  {{1, 2, 4, 5}, {"scale_factor=3"}},
        {{1, 3, 3, 50}, {"output_size=7,100"}}, {{0, 3, 3, 5}, {"scale_factor=2"}},
    };
    for (DType t : kDtypes)
      for (const auto& c : cases) {
        Tensor x = pool_input(c.nchw, t, 5, true);
        Tensor y = run("upsample_nearest2d", {x}, c.kvs)[0];
        auto kl = c.kvs;
        kl.push_back("channels_last=true");
        Tensor yl = run("upsample", {x.permute({0, 2, 3, 1}).clone()}, kl)[0];
        const int64_t N = c.nchw[0], C = c.nchw[1], H = c.nchw[2], W = c.nchw[3];
        const int64_t OH = y.shape()[2], OW = y.shape()[3];
        ASSERT_EQ(yl.shape(), (Shape{N, OH, OW, C}));
        std::optional<double> sf;
        if (c.kvs[0].rfind("scale_factor=", 0) == 0) sf = std::stod(c.kvs[0].substr(13));
        if (sf) {
          ASSERT_EQ(OH, static_cast<int64_t>(H * *sf));
          ASSERT_EQ(OW, static_cast<int64_t>(W * *sf));
        }
        // Reference: float scale, floor, clamp (with torch's 1x and 2x shortcuts).
        auto src = [&](int64_t o, int64_t in, int64_t out) -> int64_t {
          if (out == in) return o;
          if (out == 2 * in) return o / 2;
          float s =
              sf ? static_cast<float>(1.0 / *sf) : static_cast<float>(in) / static_cast<float>(out);
          return std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(o) * s)),
                                   in - 1);
        };
        for (int64_t n = 0; n < N; ++n)
          for (int64_t ch = 0; ch < C; ++ch)
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                double want = x.get(((n * C + ch) * H + src(oh, H, OH)) * W + src(ow, W, OW));
                ASSERT_TRUE(same(y.get(((n * C + ch) * OH + oh) * OW + ow), want));
                ASSERT_TRUE(same(yl.get(((n * OH + oh) * OW + ow) * C + ch), want));
              }
      }
  });
}

TEST(Upsample, Errors) {
  Tensor x = pool_input({1, 1, 3, 3}, DType::F32, 1, false);
  const std::string op = "upsample_nearest2d";
  expect_error([&] { run(op, {x}, {}); }, op);
  expect_error([&] { run(op, {x}, {"output_size=2,2", "scale_factor=2"}); }, op);
  expect_error([&] { run(op, {x}, {"output_size=2"}); }, op);
  expect_error([&] { run(op, {x}, {"output_size=0,2"}); }, op);
  expect_error([&] { run(op, {x}, {"scale_factor=0.1"}); }, op);
  expect_error([&] { run(op, {x}, {"scale_factor=-2"}); }, op);
  expect_error([&] { run(op, {x}, {"scale_factor=2", "scales=2,2"}); }, op);
  expect_error(
      [&] {
        run(op, {pool_input({1, 3, 3}, DType::F32, 1, false)}, {"scale_factor=2"});
      },
      op);
  expect_error(
      [&] {
        run(op, {pool_input({1, 0, 3, 3}, DType::F32, 1, false)}, {"scale_factor=2"});
      },
      op);
}
