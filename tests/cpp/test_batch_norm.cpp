// native_batch_norm against a double-precision reference: training and eval,
// 2-D to 5-D, channels_last, every optional input, mixed f32/bf16 params,
// data far from zero, in-place running stats, thread-count determinism and
// error paths.
#include <fmt/format.h>

#include <cmath>

#include "kernel_test_util.hpp"

using namespace oomless;
using namespace oomless::testing;

namespace {

struct Ref {
  std::vector<double> out, mean, invstd, rm, rv, a, b;
};

// Channel of element i (NCHW, or NHWC when channels_last).
int64_t channel_of(const Shape& s, bool cl, int64_t i) {
  if (cl) return i % s[3];
  int64_t inner = 1;
  for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
  return (i / inner) % s[1];
}

Ref ref_bn(const std::vector<Tensor>& in, bool training, bool cl, double momentum, double eps) {
  const Tensor& x = in[0];
  const int64_t C = cl ? x.shape()[3] : x.shape()[1];
  auto p = [&](size_t k, int64_t c, double d) {
    return k < in.size() && in[k].defined() ? in[k].get(c) : d;
  };
  Ref r;
  r.mean.assign(C, 0);
  std::vector<double> var(C, 0), cnt(C, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    r.mean[channel_of(x.shape(), cl, i)] += x.get(i);
    cnt[channel_of(x.shape(), cl, i)] += 1;
  }
  for (int64_t c = 0; c < C; ++c) r.mean[c] /= cnt[c];
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = channel_of(x.shape(), cl, i);
    var[c] += (x.get(i) - r.mean[c]) * (x.get(i) - r.mean[c]);
  }
  r.invstd.assign(C, 0);
  r.a.assign(C, 0);
  r.b.assign(C, 0);
  for (int64_t c = 0; c < C; ++c) {
    if (training) {
      r.invstd[c] = 1 / std::sqrt(var[c] / cnt[c] + eps);
      r.rm.push_back(momentum * r.mean[c] + (1 - momentum) * p(3, c, 0));
      r.rv.push_back(momentum * var[c] / (cnt[c] - 1) + (1 - momentum) * p(4, c, 0));
    } else {
      r.mean[c] = p(3, c, 0);
      r.invstd[c] = 1 / std::sqrt(p(4, c, 1) + eps);
    }
    r.a[c] = r.invstd[c] * p(1, c, 1);
    r.b[c] = p(2, c, 0) - r.mean[c] * r.a[c];
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = channel_of(x.shape(), cl, i);
    r.out.push_back((x.get(i) - r.mean[c]) * r.invstd[c] * p(1, c, 1) + p(2, c, 0));
  }
  return r;
}

std::vector<Tensor> copies(const std::vector<Tensor>& in) {
  std::vector<Tensor> c;
  for (const auto& t : in) c.push_back(t.defined() ? t.clone() : t);
  return c;
}

bool close_dt(DType dt, double got, double ref, double abs_tol = 0) {
  return dt == DType::F32 ? close_f32(got, ref, 1, abs_tol) : close_bf16(got, ref, abs_tol);
}

void check_bn(const std::vector<Tensor>& inputs, bool training, bool cl = false,
              double momentum = 0.1, double eps = 1e-5) {
  const auto keep = copies(inputs);  // running stats are updated in place
  std::vector<std::string> args = {fmt::format("training={}", training),
                                   fmt::format("momentum={}", momentum), fmt::format("eps={}", eps),
                                   fmt::format("channels_last={}", cl)};
  auto out = run_op("native_batch_norm", inputs, args);
  ASSERT_EQ(out.size(), 3u);
  const Ref r = ref_bn(keep, training, cl, momentum, eps);
  const Tensor& x = keep[0];
  const DType dt = x.dtype();
  const std::string what = fmt::format("{} {} training={} cl={} inputs={}", shape_str(x.shape()),
                                       dtype_name(dt), training, cl, inputs.size());
  ASSERT_EQ(out[0].shape(), x.shape()) << what;
  ASSERT_EQ(out[0].dtype(), dt) << what;
  int bad = 0;
  for (int64_t i = 0; i < x.numel() && bad < 5; ++i) {
    const int64_t c = channel_of(x.shape(), cl, i);
    // f32 x * a + b: two roundings of terms as large as |x a| and |b|.
    const double tol = 2 * 0x1p-24 * (std::fabs(x.get(i) * r.a[c]) + std::fabs(r.b[c]));
    const double got = out[0].get(i), ref = r.out[static_cast<size_t>(i)];
    const bool ok = dt == DType::F32 ? close_f32(got, ref, 1, tol) : close_bf16(got, ref, tol);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << " out at " << i << ": got=" << got << " ref=" << ref;
    }
  }
  const int64_t C = static_cast<int64_t>(r.mean.size());
  if (!training) {
    EXPECT_EQ(out[1].shape(), Shape{0});
    EXPECT_EQ(out[2].shape(), Shape{0});
    return;
  }
  ASSERT_EQ(out[1].shape(), Shape{C});
  ASSERT_EQ(out[2].shape(), Shape{C});
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_TRUE(close_dt(out[1].dtype(), out[1].get(c), r.mean[c], 1e-12)) << what << " mean";
    EXPECT_TRUE(close_dt(out[2].dtype(), out[2].get(c), r.invstd[c])) << what << " invstd";
    if (inputs.size() > 4) {
      EXPECT_TRUE(close_dt(inputs[3].dtype(), inputs[3].get(c), r.rm[c], 1e-12)) << what << " rm";
      EXPECT_TRUE(close_dt(inputs[4].dtype(), inputs[4].get(c), r.rv[c])) << what << " rv";
    }
  }
}

std::vector<Tensor> make_inputs(const Shape& s, DType dt, DType pdt, int n_params, uint32_t seed,
                                bool cl = false, double lo = -3, double hi = 5) {
  const int64_t C = cl ? s[3] : s[1];
  std::vector<Tensor> in = {random_tensor(s, dt, seed, lo, hi)};
  if (n_params >= 1) in.push_back(random_tensor({C}, pdt, seed + 1, 0.5, 2));
  if (n_params >= 2) in.push_back(random_tensor({C}, pdt, seed + 2, -1, 1));
  if (n_params >= 3) in.push_back(random_tensor({C}, pdt, seed + 3, -1, 1));
  if (n_params >= 4) in.push_back(random_tensor({C}, pdt, seed + 4, 0.5, 2));
  return in;
}

}  // namespace

TEST(BatchNorm, TrainingShapesAndOptionalInputs) {
  for_each_simd_target([&] {
    const std::vector<Shape> shapes = {{64, 7},       {5, 3, 33},     {2, 3, 4, 5},
                                       {3, 4, 1, 1},  {2, 3, 70, 70}, {2, 3, 2, 3, 4},
                                       {1, 2, 9, 11}, {200, 4, 2, 2}};
    uint32_t seed = 1;
    for (DType dt : {DType::F32, DType::BF16})
      for (const Shape& s : shapes)
        for (int np : {0, 1, 2, 4}) {
          check_bn(make_inputs(s, dt, dt, np, seed), true);
          seed += 10;
        }
  });
}

TEST(BatchNorm, Eval) {
  for_each_simd_target([&] {
    uint32_t seed = 500;
    for (DType dt : {DType::F32, DType::BF16})
      for (const Shape& s :
           std::vector<Shape>{{10, 3}, {2, 5, 6, 7}, {2, 3, 2, 3, 4}, {0, 3, 4, 4}}) {
        check_bn(make_inputs(s, dt, dt, 4, seed), false, false, 0.1, 1e-3);
        seed += 10;
      }
  });
}

TEST(BatchNorm, ChannelsLast) {
  for_each_simd_target([&] {
    uint32_t seed = 700;
    for (DType dt : {DType::F32, DType::BF16})
      for (const Shape& s : std::vector<Shape>{{2, 5, 6, 7}, {3, 9, 10, 96}, {1, 1, 1, 3}}) {
        check_bn(make_inputs(s, dt, dt, 4, seed, true), true, true, 0.3, 1e-4);
        check_bn(make_inputs(s, dt, dt, 4, seed + 5, true), false, true);
        seed += 10;
      }
  });
}

TEST(BatchNorm, MixedParamDtypesAndMissingAffine) {
  // bf16 input with f32 weight/bias/running stats (torch's mixed mode).
  check_bn(make_inputs({4, 6, 5, 5}, DType::BF16, DType::F32, 4, 900), true);
  check_bn(make_inputs({4, 6, 5, 5}, DType::BF16, DType::F32, 4, 910), false);
  // weight and bias None, running stats given.
  auto in = make_inputs({3, 4, 5, 6}, DType::F32, DType::F32, 4, 920);
  in[1] = Tensor();
  in[2] = Tensor();
  check_bn(in, true);
  check_bn(in, false);
}

TEST(BatchNorm, DataFarFromZeroKeepsVariance) {
  // Mean 1000, std ~0.3: naive E[x^2] - E[x]^2 in f32 would lose everything.
  auto in = make_inputs({4, 3, 40, 40}, DType::F32, DType::F32, 4, 950, false, 999.5, 1000.5);
  check_bn(in, true);
}

TEST(BatchNorm, RunningStatsUpdatedInPlace) {
  auto in = make_inputs({2, 3, 4, 4}, DType::F32, DType::F32, 4, 960);
  Tensor rm = in[3], rv = in[4];
  const double before = rm.get(0);
  run_op("native_batch_norm", in, {"training=true"});
  EXPECT_NE(rm.get(0), before);
  // Eval leaves them alone.
  const double after = rm.get(0);
  run_op("native_batch_norm", in, {"training=false"});
  EXPECT_EQ(rm.get(0), after);
  // One value per channel: unbiased variance is NaN, as in torch.
  auto one = make_inputs({1, 3, 1, 1}, DType::F32, DType::F32, 4, 970);
  run_op("native_batch_norm", one, {"training=true"});
  EXPECT_TRUE(std::isnan(one[4].get(0)));
}

TEST(BatchNorm, StridedInput) {
  auto in = make_inputs({3, 4, 5, 6}, DType::F32, DType::F32, 4, 980);
  in[0] = strided_copy(in[0]);
  ASSERT_FALSE(in[0].is_contiguous());
  check_bn(in, true);
}

TEST(BatchNorm, DeterministicAcrossThreadCounts) {
  for (DType dt : {DType::F32, DType::BF16}) {
    auto a = make_inputs({4, 16, 60, 70}, dt, dt, 2, 990);
    auto b = make_inputs({2, 40, 50, 32}, dt, dt, 2, 995, true);
    auto [one, two] = with_1_and_2_threads([&] {
      auto r = run_op("native_batch_norm", a, {"training=true"});
      auto q = run_op("native_batch_norm", b, {"training=true", "channels_last=true"});
      r.insert(r.end(), q.begin(), q.end());
      return r;
    });
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
  }
}

TEST(BatchNorm, Errors) {
  auto in = make_inputs({2, 3, 4, 4}, DType::F32, DType::F32, 2, 1);
  expect_invalid([&] { run_op("native_batch_norm", in, {"training=false"}); }, "native_batch_norm",
                 {"running_mean"});
  auto bad = make_inputs({2, 3, 4, 4}, DType::F32, DType::F32, 0, 2);
  bad.push_back(random_tensor({4}, DType::F32, 3));
  expect_invalid([&] { run_op("native_batch_norm", bad); }, "native_batch_norm", {"weight"});
  expect_invalid([&] { run_op("native_batch_norm", {random_tensor({5}, DType::F32, 4)}); },
                 "native_batch_norm", {"[5]"});
  expect_invalid(
      [&] {
        run_op("native_batch_norm", {random_tensor({2, 3, 4}, DType::F32, 5)},
               {"channels_last=true"});
      },
      "native_batch_norm", {"channels_last"});
  expect_invalid(
      [&] {
        run_op("native_batch_norm", {Tensor::zeros({2, 3}, DType::I32)});
      },
      "native_batch_norm", {"int32"});
}
