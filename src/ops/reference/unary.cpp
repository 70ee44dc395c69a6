// Reference of the elementwise unary ops, in double from torch's definitions, using
// forms that neither overflow nor cancel so the double result is exact to ~1e-16.
//
// Error bounds of the f32 computation (u = 2^-24):
//  - relu, hardtanh, clamp, clamp_min: exact (select x or a bound).
//  - leaky_relu: x > 0 exact; else 2u|ref| (slope held as float, one product).
//  - sigmoid, tanh, silu, mish: 16u|ref|: a vectorised exp/log1p/tanh accurate to a
//    few ulps plus the handful of roundings around it; all relative-accurate forms.
//  - softplus: 16u|ref|, + u|x|sigmoid(beta x) when beta != 1 (beta x is rounded before
//    the exp), + the jump between the two branches when beta x is within rounding of
//    the threshold (float and double compares may disagree there).
//  - gelu (none and tanh): 16u(|ref| + |x|): torch's 0.5x(1 + erf(.)) form cancels for
//    negative x, losing up to a few u of |x|.
//  - log: 16u(|ref| + 1): range reduction (k ln2 + log m) cancels near x = 1.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

constexpr double kTranscendental = 16;  // ulps allowed for an f32 transcendental chain

double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// log(1 + e^z), without overflow for large z or cancellation for very negative z.
double log1p_exp(double z) {
  return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z)));
}

double softplus(double x, double beta, double threshold) {
  if (x * beta > threshold) return x;
  return log1p_exp(x * beta) / beta;
}

// 0.5 x (1 + tanh z) == x sigmoid(2z), which does not cancel for negative x.
double gelu_tanh(double x) {
  const double z = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x);
  return x * sigmoid(2.0 * z);
}

// 0.5 x (1 + erf(x / sqrt 2)) == 0.5 x erfc(-x / sqrt 2).
double gelu_erf(double x) {
  return 0.5 * x * std::erfc(-x / std::numbers::sqrt2);
}

// torch's clamp: min(max(x, lo), hi), NaN propagates, None (or no) bounds are skipped.
double clamp(double x, const Args& a, const char* lo, const char* hi) {
  if (std::isnan(x)) return x;
  if (!a.is_none(lo)) x = std::max(x, a.get_float(lo));
  if (hi && !a.is_none(hi)) x = std::min(x, a.get_float(hi));
  return x;
}

bool gelu_is_tanh(const OpCall& call) {
  const std::string& mode = call.args.get_str("approximate");
  if (mode == "tanh") return true;
  if (mode == "none") return false;
  bad(call, "approximate must be 'none' or 'tanh', got '" + mode + "'");
}

}  // namespace

double unary_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "unary ops have one output");
  const double x = at(input(call, 0), idx);
  const Args& a = call.args;
  switch (static_cast<UnaryOp>(call.op.variant)) {
    case UnaryOp::Relu:
      return std::isnan(x) ? x : std::max(x, 0.0);
    case UnaryOp::Sigmoid:
      return sigmoid(x);
    case UnaryOp::Silu:
    case UnaryOp::SiluInplace:
      return x * sigmoid(x);
    case UnaryOp::Tanh:
      return std::tanh(x);
    case UnaryOp::Mish:
      return x * std::tanh(log1p_exp(x));
    case UnaryOp::Softplus:
      return softplus(x, a.get_float("beta"), a.get_float("threshold"));
    case UnaryOp::Hardtanh:
      return clamp(x, a, "min_val", "max_val");
    case UnaryOp::LeakyRelu:
      return x > 0 || std::isnan(x) ? x : x * a.get_float("negative_slope");
    case UnaryOp::Gelu:
      return gelu_is_tanh(call) ? gelu_tanh(x) : gelu_erf(x);
    case UnaryOp::Log:
      return std::log(x);
    case UnaryOp::Clamp:
      return clamp(x, a, "min", "max");
    case UnaryOp::ClampMin:
      return clamp(x, a, "min", nullptr);
  }
  bad(call, "unknown unary variant");
}

Bound unary_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double ref) {
  const double x = at(input(call, 0), idx);
  const double r = std::fabs(ref);
  constexpr double k = kTranscendental * kU;
  switch (static_cast<UnaryOp>(call.op.variant)) {
    case UnaryOp::Relu:
    case UnaryOp::Hardtanh:
    case UnaryOp::Clamp:
    case UnaryOp::ClampMin:
      return exact_bound();
    case UnaryOp::LeakyRelu:
      return x > 0 ? exact_bound() : error_bound(2 * kU * r);
    case UnaryOp::Sigmoid:
    case UnaryOp::Tanh:
    case UnaryOp::Silu:
    case UnaryOp::SiluInplace:
    case UnaryOp::Mish:
      return error_bound(k * r);
    case UnaryOp::Softplus: {
      const double beta = call.args.get_float("beta");
      const double threshold = call.args.get_float("threshold");
      double e = k * r;
      if (beta != 1) e += kU * std::fabs(x) * sigmoid(beta * x);
      const double z = beta * x;
      if (std::fabs(z - threshold) <= 4 * kU * (std::fabs(z) + std::fabs(threshold))) {
        const double other = z > threshold ? log1p_exp(z) / beta : x;
        e += std::fabs(other - ref);
      }
      return error_bound(e);
    }
    case UnaryOp::Gelu:
      return error_bound(k * (r + std::fabs(x)));
    case UnaryOp::Log:
      return error_bound(k * (r + 1));
  }
  bad(call, "unknown unary variant");
}

}  // namespace oomless::ops::ref
