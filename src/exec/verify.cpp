#include "exec/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ops/reference/reference.hpp"

namespace oomless::exec {

namespace {

std::vector<int64_t> unravel(int64_t linear, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = linear % shape[d];
    linear /= shape[d];
  }
  return idx;
}

// Deterministic sample: both ends plus evenly spread pseudo-random elements.
std::vector<int64_t> sample(int64_t n, int64_t samples, uint64_t seed) {
  std::vector<int64_t> out;
  if (samples <= 0 || samples >= n) {
    out.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = i;
    return out;
  }
  out = {0, n - 1};
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  while (static_cast<int64_t>(out.size()) < samples) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out.push_back(static_cast<int64_t>(x % static_cast<uint64_t>(n)));
  }
  return out;
}

}  // namespace

// topk with sorted=false may return its k values in any order: compare each
// slice sorted (descending for largest, ascending otherwise) as the reference is.
static Tensor sorted_topk_values(const ops::OpCall& call, const Tensor& values) {
  const Shape& s = values.shape();
  if (s.empty()) return values;
  int64_t dim = normalize_dim(call.args.get_int("dim"), static_cast<int64_t>(s.size()), "topk");
  bool largest = call.args.get_bool("largest");
  Tensor moved = values.transpose(dim, -1).contiguous().to(DType::F32);
  int64_t k = s[static_cast<size_t>(dim)];
  float* p = moved.data<float>();
  for (int64_t r = 0; k > 0 && r < moved.numel() / k; ++r) {
    auto cmp = [largest](float a, float b) {
      if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && !std::isnan(b);  // NaN largest
      return largest ? a > b : a < b;
    };
    std::stable_sort(p + r * k, p + (r + 1) * k, cmp);
  }
  return moved.transpose(dim, -1).to(values.dtype());
}

VerifyResult verify_outputs(const ops::OpCall& call, const std::vector<Tensor>& outputs,
                            int64_t samples, uint64_t seed) {
  VerifyResult v;
  ops::reference_clear_cache();
  std::vector<Shape> shapes;
  for (const auto& t : outputs) shapes.push_back(t.shape());
  bool dropout = call.op.family == ops::Family::Dropout;
  bool unsorted_topk = call.op.family == ops::Family::TopK && !call.args.get_bool("sorted");
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (dropout && o == 1) continue;  // the mask is checked with output 0
    Tensor out = o == 0 && unsorted_topk ? sorted_topk_values(call, outputs[0]) : outputs[o];
    bool is_index = ops::reference_is_index_output(call, o);
    for (int64_t linear : sample(out.numel(), samples, seed + o)) {
      std::vector<int64_t> idx = unravel(linear, out.shape());
      double got = out.get(linear);
      bool ok;
      std::string expect;
      if (is_index) {
        ok = ops::reference_index_ok(call, shapes, o, idx, got);
        expect = "a valid index";
      } else if (dropout) {
        double mask = outputs.size() > 1 ? outputs[1].get(linear) : NAN;
        ok = ops::reference_dropout_ok(call, shapes, idx, got, mask, out.dtype());
        expect = fmt::format("0 or input / (1 - p) as the mask says (mask {})", mask);
      } else {
        double ref = ops::reference_at(call, shapes, o, idx);
        double tol = ops::reference_tolerance(call, shapes, o, idx, ref, out.dtype());
        ok = ops::reference_value_ok(got, ref, tol, out.dtype());
        double err = std::fabs(got - ref);
        if (std::isfinite(err)) v.max_abs_error = std::max(v.max_abs_error, err);
        expect = fmt::format("{} (tolerance {:.3g})", ref, tol);
      }
      ++v.checked;
      if (!ok && v.failed++ == 0)
        v.first_failure =
            fmt::format("output {} {}: got {}, expected {}", o, shape_str(idx), got, expect);
    }
  }
  return v;
}

}  // namespace oomless::exec
