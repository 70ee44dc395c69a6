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

VerifyResult verify_outputs(const ops::OpCall& call, const std::vector<Tensor>& outputs,
                            int64_t samples, uint64_t seed) {
  VerifyResult v;
  std::vector<Shape> shapes;
  for (const auto& t : outputs) shapes.push_back(t.shape());
  for (size_t o = 0; o < outputs.size(); ++o) {
    const Tensor& out = outputs[o];
    bool is_index = out.dtype() == DType::I32 || out.dtype() == DType::U32;
    for (int64_t linear : sample(out.numel(), samples, seed + o)) {
      std::vector<int64_t> idx = unravel(linear, out.shape());
      double got = out.get(linear);
      bool ok;
      std::string expect;
      if (is_index) {
        ok = ops::reference_index_ok(call, shapes, o, idx, got);
        expect = "a valid index";
      } else {
        double ref = ops::reference_at(call, shapes, o, idx);
        double tol = ops::reference_tolerance(call, shapes, o, idx, ref, out.dtype());
        double err = std::fabs(got - ref);
        ok = (std::isnan(ref) && std::isnan(got)) || got == ref || err <= tol;
        if (!std::isnan(err) && !std::isinf(err)) v.max_abs_error = std::max(v.max_abs_error, err);
        expect = fmt::format("{} (tolerance {:.3g})", ref, tol);
      }
      ++v.checked;
      if (!ok && v.failed++ == 0)
        v.first_failure = fmt::format("output {} {}: got {}, expected {}", o, shape_str(idx), got, expect);
    }
  }
  return v;
}

}  // namespace oomless::exec
