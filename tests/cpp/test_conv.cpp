// convolution against the slow exact reference (ops/reference/conv.cpp: every
// element within its error bound) on every SIMD target, NCHW and channels_last,
// f32 and bf16; then determinism (bits independent of threads, row slices,
// channel and batch chunks, layout) and the error paths.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/host_pool.hpp"
#include "device/device.hpp"
#include "exec/runner.hpp"
#include "exec/verify.hpp"
#include "kernel_test_util.hpp"
#include "ops/conv/kernels.hpp"

namespace oomless {
namespace {

using testing::bitwise_equal;
using testing::expect_invalid;
using testing::random_tensor;
using testing::run;

// One call in NCHW terms: input [N,C,H,W] (or [C,H,W]), weight, optional bias.
struct Case {
  Shape x, w;
  bool bias = false;
  std::vector<std::string> args;  // besides channels_last
  std::string label() const {
    return fmt::format("x{} w{}{} {}", shape_str(x), shape_str(w), bias ? " bias" : "",
                       fmt::join(args, " "));
  }
};

// NCHW -> NHWC values (a contiguous copy), and back as a view.
Tensor to_nhwc(const Tensor& t) {
  return t.permute({0, 2, 3, 1}).contiguous();
}
Tensor from_nhwc(const Tensor& t) {
  return t.permute({0, 3, 1, 2});
}

std::vector<Tensor> inputs_of(const Case& c, DType dt, uint32_t seed) {
  std::vector<Tensor> in = {random_tensor(c.x, dt, seed, -2, 2),
                            random_tensor(c.w, dt, seed + 1, -1, 1)};
  if (c.bias) in.push_back(random_tensor({c.w[0]}, dt, seed + 2, -3, 3));
  return in;
}

std::vector<std::string> with_layout(std::vector<std::string> args, bool cl) {
  if (cl) args.push_back("channels_last=true");
  return args;
}

// Runs the call and checks every output element (or `samples` of them, both
// ends included) against the reference.
Tensor expect_reference(const std::vector<Tensor>& in, const std::vector<std::string>& args,
                        const std::string& what, int64_t samples = 0) {
  SCOPED_TRACE(what);
  const auto& op = ops::find_op("convolution");
  Tensor out = run("convolution", in, args)[0];
  ops::OpCall call{op, in, ops::parse_args(op.name, op.args, args)};
  exec::VerifyResult v = exec::verify_outputs(call, {out}, samples, 1);
  EXPECT_TRUE(v.ok()) << v.failed << " of " << v.checked << " wrong; " << v.first_failure;
  EXPECT_EQ(v.checked, samples > 0 ? std::min(samples, out.numel()) : out.numel());
  return out;
}

const std::vector<Case>& shapes() {
  static const std::vector<Case> k = {
      {{2, 8, 5, 7}, {12, 8, 1, 1}, true, {}},                             // 1x1
      {{1, 5, 9, 11}, {7, 5, 3, 3}, false, {"padding=1"}},                 // 3x3
      {{2, 3, 17, 15}, {16, 3, 3, 3}, true, {"stride=2", "padding=1"}},    // stem-like
      {{1, 20, 13, 18}, {20, 1, 7, 7}, true, {"padding=3", "groups=20"}},  // 7x7 dw
      {{1, 35, 9, 21}, {35, 1, 3, 3}, false, {"padding=1", "groups=35"}},  // dw, tail
      {{1, 18, 11, 9}, {18, 1, 3, 3}, true, {"stride=2", "padding=1", "groups=18"}},
      {{1, 4, 12, 14}, {6, 4, 3, 3}, true, {"padding=2", "dilation=2"}},  // dilation
      {{1, 3, 13, 17}, {5, 3, 3, 2}, false, {"stride=1,2", "padding=1,3", "dilation=2,1"}},
      {{3, 3, 7, 5}, {5, 3, 2, 3}, true, {"stride=3"}},                 // odd sizes
      {{1, 2, 4, 5}, {3, 2, 3, 3}, true, {"padding=4"}},                // pad > k/2
      {{2, 8, 9, 9}, {12, 4, 3, 3}, true, {"padding=1", "groups=2"}},   // groups 2
      {{1, 12, 6, 7}, {8, 3, 3, 3}, false, {"padding=1", "groups=4"}},  // 2 per group
      {{1, 6, 8, 8}, {12, 1, 3, 3}, true, {"padding=1", "groups=6"}},   // multiplier 2
      {{1, 4, 6, 40}, {70, 4, 3, 3}, true, {"padding=1"}},              // wide K
      {{1, 6, 9, 9}, {4, 6, 1, 1}, false, {"stride=2"}},                // 1x1 s2
      {{1, 3, 5, 3}, {4, 3, 3, 3}, true, {}},                           // OW = 1
      {{1, 3, 4, 70}, {5, 3, 3, 3}, false, {"padding=1"}},              // long rows
      {{1, 2, 3, 30}, {3, 2, 1, 9}, true, {"padding=0,4"}},             // 1x9
      {{0, 3, 5, 5}, {4, 3, 3, 3}, true, {"padding=1"}},                // batch 0
      {{3, 10, 9}, {4, 3, 3, 3}, true, {"padding=1"}},                  // unbatched
      {{1, 520, 5, 6}, {5, 520, 3, 3}, true, {"padding=1"}},            // 4680 terms: 2 blocks
      {{1, 4200, 2, 3}, {3, 4200, 1, 1}, false, {}},  // one tap cut in channel runs
  };
  return k;
}

TEST(Conv, MatchesTheReferenceOnEveryTarget) {
  // Every element on the best target, a sample on the others (the reference
  // costs a dot product per element). The sanitizer build (-O0) samples the
  // best target only.
#ifdef __SANITIZE_ADDRESS__
  const bool sanitized = true;
#else
  const bool sanitized = false;
#endif
  uint32_t seed = 1;
  bool first = true;
  testing::for_each_simd_target([&] {
    if (sanitized && !first) return;
    const int64_t samples = first && !sanitized ? 0 : 61;
    first = false;
    for (const Case& c : shapes())
      for (DType dt : {DType::F32, DType::BF16})
        for (bool cl : {false, true}) {
          if (cl && c.x.size() != 4) continue;
          std::vector<Tensor> in = inputs_of(c, dt, seed++);
          if (cl) in[0] = to_nhwc(in[0]);
          expect_reference(in, with_layout(c.args, cl),
                           fmt::format("{} {}{}", c.label(), dtype_name(dt), cl ? " NHWC" : ""),
                           samples);
        }
  });
}

TEST(Conv, ReferenceCheckCatchesAWrongElement) {
  // The harness can fail: one element off by 1/256 of its value is caught.
  const Case c{{1, 3, 6, 6}, {4, 3, 3, 3}, true, {"padding=1"}};
  std::vector<Tensor> in = inputs_of(c, DType::F32, 3);
  Tensor out = run("convolution", in, c.args)[0];
  out.set(17, out.get(17) * (1 + 1.0 / 256));
  const auto& op = ops::find_op("convolution");
  ops::OpCall call{op, in, ops::parse_args(op.name, op.args, c.args)};
  exec::VerifyResult v = exec::verify_outputs(call, {out}, 0, 0);
  EXPECT_EQ(v.failed, 1);
}

TEST(Conv, StridedInputsAreReadInPlaceOrCopied) {
  for (DType dt : {DType::F32, DType::BF16}) {
    // Rows and channels narrowed (unit column stride: read in place).
    Tensor big = random_tensor({2, 9, 14, 12}, dt, 5, -2, 2);
    Tensor x = big.narrow(1, 2, 5).narrow(2, 3, 9);
    Tensor w = random_tensor({6, 5, 3, 3}, dt, 6, -1, 1), b = random_tensor({6}, dt, 7);
    Tensor got = expect_reference({x, w, b}, {"padding=1"}, "narrowed NCHW");
    EXPECT_TRUE(bitwise_equal(got, run("convolution", {x.contiguous(), w, b}, {"padding=1"})[0]));
    // Columns strided (a transposed view): copied first.
    Tensor xt = random_tensor({2, 5, 9, 7}, dt, 8).transpose(2, 3);
    expect_reference({xt, w, b}, {"stride=2"}, "transposed NCHW");
    // Channels-last input given as an NCHW tensor permuted (channel stride H*W).
    Tensor nchw = random_tensor({1, 5, 8, 9}, dt, 9);
    Tensor perm = nchw.permute({0, 2, 3, 1});
    Tensor a = expect_reference({perm, w, b}, {"padding=1", "channels_last=true"}, "permuted");
    EXPECT_TRUE(bitwise_equal(
        a, run("convolution", {perm.contiguous(), w, b}, {"padding=1", "channels_last=true"})[0]));
    // A strided weight and bias are copied.
    Tensor wt = random_tensor({5, 6, 3, 3}, dt, 10).transpose(0, 1);
    Tensor bs = testing::strided_copy(b);
    expect_reference({nchw, wt, bs}, {"padding=1"}, "strided weight and bias");
  }
}

TEST(Conv, NonFiniteValuesAndPaddingTaps) {
  for (DType dt : {DType::F32, DType::BF16})
    for (bool cl : {false, true}) {
      // An infinite weight on a tap that only ever reads padding for the
      // first row and column: those outputs stay finite (taps in the padding
      // are skipped, as the reference and torch's depthwise and bf16 kernels do).
      Tensor x = Tensor::zeros({1, 2, 5, 6}, dt);
      for (int64_t i = 0; i < x.numel(); ++i) x.set(i, 1.0);
      x.set(2 * 5 * 6 - 1, std::numeric_limits<double>::quiet_NaN());  // last element
      Tensor w = Tensor::zeros({3, 2, 3, 3}, dt);
      for (int64_t i = 0; i < w.numel(); ++i) w.set(i, 0.5);
      w.set(0, std::numeric_limits<double>::infinity());  // w[0,0,0,0]
      std::vector<Tensor> in = {cl ? to_nhwc(x) : x, w};
      Tensor out = expect_reference(in, with_layout({"padding=1"}, cl),
                                    fmt::format("{} {}", dtype_name(dt), cl ? "NHWC" : "NCHW"));
      Tensor o = cl ? from_nhwc(out) : out;
      const Shape s = o.shape();
      EXPECT_EQ(o.get(testing::ravel({0, 0, 0, 0}, s)), 0.5 * 2 * 4);  // corner: 4 taps x 2
      EXPECT_TRUE(std::isinf(o.get(testing::ravel({0, 0, 1, 1}, s))));
      EXPECT_TRUE(std::isnan(o.get(testing::ravel({0, 1, 4, 5}, s))));
      EXPECT_EQ(o.get(testing::ravel({0, 1, 0, 0}, s)), 0.5 * 2 * 4);
    }
}

// ---- determinism ---------------------------------------------------------------

// The cases the bit-identity tests cut: every kernel (dense NCHW / NHWC,
// depthwise NCHW / NHWC, grouped, multiplier), stride, dilation, padding, two
// reduction blocks.
const std::vector<Case>& cut_cases() {
  static const std::vector<Case> k = {
      {{2, 6, 23, 37}, {20, 6, 3, 3}, true, {"stride=2", "padding=1"}},
      {{1, 24, 19, 21}, {24, 1, 7, 7}, true, {"padding=3", "groups=24"}},
      {{1, 20, 17, 18}, {20, 1, 3, 3}, false, {"padding=2", "dilation=2", "groups=20"}},
      {{2, 8, 15, 13}, {12, 4, 3, 3}, true, {"padding=1", "groups=2"}},
      {{1, 6, 12, 12}, {12, 1, 3, 3}, true, {"padding=1", "groups=6"}},
      {{1, 9, 14, 33}, {17, 9, 5, 3}, false, {"stride=1,2", "padding=4,1"}},
      {{1, 470, 9, 7}, {9, 470, 3, 3}, true, {"padding=1"}},  // 2 reduction blocks
  };
  return k;
}

struct Layouts {
  int c = 1, h = 2;  // dims of the output (and input) the cuts act on
};
Layouts dims(bool cl) {
  return cl ? Layouts{3, 1} : Layouts{1, 2};
}

TEST(ConvDeterminism, NchwAndChannelsLastAreBitIdentical) {
  for (const Case& c : cut_cases())
    for (DType dt : {DType::F32, DType::BF16}) {
      SCOPED_TRACE(c.label() + " " + std::string(dtype_name(dt)));
      std::vector<Tensor> in = inputs_of(c, dt, 21);
      Tensor a = run("convolution", in, c.args)[0];
      in[0] = to_nhwc(in[0]);
      Tensor b = run("convolution", in, with_layout(c.args, true))[0];
      EXPECT_TRUE(bitwise_equal(a, from_nhwc(b)));
    }
}

TEST(ConvDeterminism, OneAndTwoThreadsAreBitIdentical) {
  for (const Case& c : cut_cases())
    for (DType dt : {DType::F32, DType::BF16})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(c.label() + " " + std::string(dtype_name(dt)) + (cl ? " NHWC" : ""));
        std::vector<Tensor> in = inputs_of(c, dt, 22);
        if (cl) in[0] = to_nhwc(in[0]);
        auto [one, two] = testing::with_1_and_2_threads(
            [&] { return run("convolution", in, with_layout(c.args, cl)); });
        EXPECT_TRUE(bitwise_equal(one[0], two[0]));
      }
}

// Output rows [r0, r0 + n) from just their halo of input rows, as the
// planner's row chunks call it, equal those rows of the whole call.
TEST(ConvDeterminism, RowSlicesEqualTheWholeCall) {
  for (const Case& c : cut_cases())
    for (DType dt : {DType::F32, DType::BF16})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(c.label() + " " + std::string(dtype_name(dt)) + (cl ? " NHWC" : ""));
        std::vector<Tensor> in = inputs_of(c, dt, 23);
        if (cl) in[0] = to_nhwc(in[0]);
        const std::vector<std::string> args = with_layout(c.args, cl);
        const Tensor whole = run("convolution", in, args)[0];
        const auto& op = ops::find_op("convolution");
        const ops::Args a = ops::parse_args(op.name, op.args, args);
        const auto pair = [&](std::string_view name) {
          auto v = a.get_ints(name);
          return std::pair{v[0], v.size() > 1 ? v[1] : v[0]};
        };
        const int64_t sh = pair("stride").first, ph = pair("padding").first,
                      dh = pair("dilation").first, kh = c.w[2];
        const Layouts L = dims(cl);
        const int64_t H = in[0].size(L.h), OH = whole.size(L.h);
        for (auto [r0, n] : std::vector<std::pair<int64_t, int64_t>>{
                 {0, 1}, {0, 3}, {1, 2}, {OH / 2, 1}, {OH / 3, OH / 2}, {OH - 1, 1}, {2, OH - 2}}) {
          if (n < 1 || r0 + n > OH) continue;
          SCOPED_TRACE(fmt::format("rows [{}, {})", r0, r0 + n));
          const int64_t first = std::clamp<int64_t>(r0 * sh - ph, 0, H);
          const int64_t last =
              std::clamp<int64_t>((r0 + n - 1) * sh - ph + (kh - 1) * dh + 1, 0, H);
          std::vector<std::string> sargs = args;
          sargs.push_back(fmt::format("rows_of={}", H));
          sargs.push_back(fmt::format("out_row0={}", r0));
          sargs.push_back(fmt::format("out_rows={}", n));
          for (int64_t extra : {int64_t{0}, H - last}) {  // the halo, or to the plane's end
            std::vector<Tensor> sin = in;
            sin[0] = in[0].narrow(L.h, first, last - first + extra);
            const Tensor got = run("convolution", sin, sargs)[0];
            EXPECT_TRUE(bitwise_equal(got, whole.narrow(L.h, r0, n))) << "extra " << extra;
          }
        }
      }
}

// Output channels [k0, k0 + n) (with their weights and bias; depthwise also
// their input channels) and images equal those of the whole call.
TEST(ConvDeterminism, ChannelAndBatchChunksEqualTheWholeCall) {
  for (const Case& c : cut_cases())
    for (DType dt : {DType::F32, DType::BF16})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(c.label() + " " + std::string(dtype_name(dt)) + (cl ? " NHWC" : ""));
        std::vector<Tensor> in = inputs_of(c, dt, 24);
        if (cl) in[0] = to_nhwc(in[0]);
        const std::vector<std::string> args = with_layout(c.args, cl);
        const Tensor whole = run("convolution", in, args)[0];
        const Layouts L = dims(cl);
        const int64_t K = c.w[0], C = c.x[1], groups = C / c.w[1];
        const bool depthwise = groups == C && K == C;
        if (groups == 1 || depthwise)
          for (auto [k0, n] : std::vector<std::pair<int64_t, int64_t>>{
                   {0, 1}, {1, K / 2}, {K / 3, K - K / 3}, {K - 1, 1}, {3, 5}}) {
            if (n < 1 || k0 + n > K) continue;
            SCOPED_TRACE(fmt::format("channels [{}, {})", k0, k0 + n));
            std::vector<Tensor> cin = in;
            cin[1] = in[1].narrow(0, k0, n);
            if (c.bias) cin[2] = in[2].narrow(0, k0, n);
            std::vector<std::string> cargs;
            for (const auto& kv : args)
              if (!depthwise || kv.rfind("groups=", 0) != 0) cargs.push_back(kv);
            if (depthwise) {
              cin[0] = in[0].narrow(L.c, k0, n);
              cargs.push_back(fmt::format("groups={}", n));
            }
            const Tensor got = run("convolution", cin, cargs)[0];
            EXPECT_TRUE(bitwise_equal(got, whole.narrow(L.c, k0, n)));
          }
        if (c.x[0] > 1) {
          std::vector<Tensor> bin = in;
          bin[0] = in[0].narrow(0, 1, 1);
          EXPECT_TRUE(bitwise_equal(run("convolution", bin, args)[0], whole.narrow(0, 1, 1)));
        }
      }
}

// ---- errors ----------------------------------------------------------------------

struct Bad {
  std::vector<Shape> shapes;
  std::vector<std::string> args;
  std::vector<std::string> needles;
};

TEST(ConvErrors, NameTheOpAndTheValueBeforeAllocating) {
  const std::vector<Bad> bad = {
      {{{1, 3, 600, 600}, {4, 3, 3}}, {}, {"weight of size [4,3,3]"}},
      {{{1, 4, 600, 600}, {8, 3, 3, 3}}, {}, {"3 channels", "got 4 channels"}},
      {{{1, 6, 600, 600}, {6, 2, 3, 3}}, {"groups=4"}, {"groups=4", "divisible by 4"}},
      {{{1, 6, 600, 600}, {8, 2, 3, 3}}, {"groups=4"}, {"8 channels", "got 6"}},
      {{{1, 2, 600, 600}, {1, 1, 3, 3}}, {"groups=2"}, {"at least 2"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"stride=0"}, {"stride=[0, 0]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"stride=1,-2"}, {"stride=[1, -2]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"dilation=0,1"}, {"dilation=[0, 1]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"padding=-1"}, {"padding=[-1, -1]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"stride=1,1,1"}, {"stride=[1,1,1]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"groups=0"}, {"groups=0"}},
      {{{1, 3, 2, 600}, {4, 3, 3, 3}}, {}, {"(2 x 600)", "(3 x 3)"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}}, {"transposed=true"}, {"transposed"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}, {5}}, {}, {"bias of size [5]"}},
      {{{1, 3, 600, 600}, {4, 3, 3, 3}, {4, 1}}, {}, {"bias of size [4,1]"}},
      {{{3, 600, 600}, {4, 3, 3, 3}}, {"channels_last=true"}, {"[3,600,600]"}},
      {{{600, 600}, {4, 3, 3, 3}}, {}, {"[600,600]"}},
      {{{1, 3, 600, 600}, {4, 3, 0, 3}}, {}, {"[4,3,0,3]"}},
      // A row slice must hold its halo: output rows [2, 5) read rows [3, 10).
      {{{1, 3, 6, 600}, {4, 3, 3, 3}},
       {"stride=2", "padding=1", "rows_of=20", "out_row0=2", "out_rows=3"},
       {"input rows [3, 10)"}},
  };
  const device::Profile prof = device::load_profile("wormhole_b0");
  for (DType dt : {DType::F32, DType::BF16})
    for (const Bad& b : bad) {
      SCOPED_TRACE(fmt::format("{} {}", fmt::join(b.args, " "), dtype_name(dt)));
      std::vector<Tensor> in;
      for (const Shape& s : b.shapes) in.push_back(Tensor::zeros(s, dt));
      const host_pool::Stats before = host_pool::stats();
      expect_invalid([&] { run("convolution", in, b.args); }, "[convolution]", b.needles);
      const host_pool::Stats after = host_pool::stats();
      EXPECT_EQ(after.hits + after.misses, before.hits + before.misses) << "host blocks taken";
      // Through the device: rejected before any buffer is placed.
      plan::CallSpec call;
      call.op = &ops::find_op("convolution");
      for (const Tensor& t : in) call.inputs.push_back({t.shape(), dt});
      call.dtype = dt;
      device::Device dev(prof);
      expect_invalid(
          [&] {
            call.args = ops::parse_args(call.op->name, call.op->args, b.args);
            exec::run_strict(dev, call, in);
          },
          "[convolution]", b.needles);
      EXPECT_EQ(dev.peak_l1_per_core(), 0);
      EXPECT_EQ(dev.peak_dram_per_bank(), 0);
    }
  // Mixed dtypes.
  expect_invalid(
      [&] {
        run("convolution",
            {Tensor::zeros({1, 3, 5, 5}, DType::F32), Tensor::zeros({2, 3, 3, 3}, DType::BF16)});
      },
      "[convolution]", {"bfloat16"});
}

}  // namespace
}  // namespace oomless
