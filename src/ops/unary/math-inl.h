// f32 functors of the unary kernels (include after simd_io-inl.h inside a
// foreach_target TU; numerics in unary/kernels.hpp). One functor per op; the
// loop lives in MapF32.
#if defined(OOMLESS_OPS_UNARY_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OOMLESS_OPS_UNARY_MATH_INL_H_
#undef OOMLESS_OPS_UNARY_MATH_INL_H_
#else
#define OOMLESS_OPS_UNARY_MATH_INL_H_
#endif

#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {

template <class D, class V>
HWY_INLINE V KeepNaN(D, V x, V r) {
  return hn::IfThenElse(hn::IsNaN(x), x, r);
}

// exp(-t) for the logistic forms (overflow to inf is harmless there).
template <class D, class V>
HWY_INLINE V ExpNeg(D d, V t) {
  return FastExp(d, hn::Neg(t));
}

struct Relu {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Zero(d), x);
  }
};

struct Sigmoid {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V one = hn::Set(d, 1.f);
    return KeepNaN(d, x, hn::Div(one, hn::Add(one, ExpNeg(d, x))));
  }
};

struct Silu {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return KeepNaN(d, x, hn::Div(x, hn::Add(hn::Set(d, 1.f), ExpNeg(d, x))));
  }
};

struct Tanh {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // Highway's Tanh is specified for finite inputs only.
    const V big = hn::Set(d, 10.f);  // tanh(10) rounds to 1 in f32
    const V r = hn::Tanh(d, hn::Min(hn::Max(x, hn::Neg(big)), big));
    return KeepNaN(d, x, r);
  }
};

struct Mish {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // tanh(log1p(e)) = n / (n + 2) with n = e (e + 2); e^20 keeps n finite and
    // already makes the ratio exactly 1 in f32.
    // hn::Exp keeps subnormal e^x: x e^x is still normal down to x ~ -88.7.
    const V e = hn::Exp(d, hn::Min(x, hn::Set(d, 20.f)));
    const V n = hn::Mul(e, hn::Add(e, hn::Set(d, 2.f)));
    return KeepNaN(d, x, hn::Mul(x, hn::Div(n, hn::Add(n, hn::Set(d, 2.f)))));
  }
};

// kUnit: beta == 1 (the default) skips the multiply and divide (both exact).
template <bool kUnit>
struct Softplus {
  float beta, threshold;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V bx = kUnit ? x : hn::Mul(x, hn::Set(d, beta));
    const V soft =
        hn::Add(hn::Max(bx, hn::Zero(d)), hn::Log1p(d, FastExp(d, hn::Neg(hn::Abs(bx)))));
    const V r = kUnit ? soft : hn::Div(soft, hn::Set(d, beta));
    return KeepNaN(d, x, hn::IfThenElse(hn::Gt(bx, hn::Set(d, threshold)), x, r));
  }
};

// lo <= x <= hi by comparisons so NaN passes through (torch clamp semantics;
// lo > hi gives hi like torch).
struct Clamp {
  float lo, hi;
  bool has_lo, has_hi;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    if (has_lo) {
      const V l = hn::Set(d, lo);
      x = hn::IfThenElse(hn::Lt(x, l), l, x);
    }
    if (has_hi) {
      const V h = hn::Set(d, hi);
      x = hn::IfThenElse(hn::Gt(x, h), h, x);
    }
    return x;
  }
};

struct LeakyRelu {
  float slope;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(x, hn::Set(d, slope)));
  }
};

struct GeluErf {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // erfc(z), z = |x|/sqrt2 >= 0: Numerical Recipes erfcc, rel. error < 1.2e-7.
    const V z = hn::Mul(hn::Abs(x), hn::Set(d, 0.70710678118654752f));
    const V t = hn::Div(hn::Set(d, 1.f), hn::MulAdd(z, hn::Set(d, 0.5f), hn::Set(d, 1.f)));
    // Estrin: shorter dependency chains than Horner for the 10 terms.
    const V p =
        hn::impl::Estrin(t, hn::Set(d, -1.26551223f), hn::Set(d, 1.00002368f),
                         hn::Set(d, 0.37409196f), hn::Set(d, 0.09678418f), hn::Set(d, -0.18628806f),
                         hn::Set(d, 0.27886807f), hn::Set(d, -1.13520398f), hn::Set(d, 1.48851587f),
                         hn::Set(d, -0.82215223f), hn::Set(d, 0.17087277f));
    const V erfc_z = hn::Mul(t, FastExp(d, hn::Sub(p, hn::Mul(z, z))));
    // Phi(x) = erfc(-x/sqrt2) / 2; for x > 0 use erfc(-z) = 2 - erfc(z).
    const V twice_phi =
        hn::IfThenElse(hn::Lt(x, hn::Zero(d)), erfc_z, hn::Sub(hn::Set(d, 2.f), erfc_z));
    // NaN needs no fix-up: the product with x keeps it.
    return hn::Mul(hn::Mul(x, hn::Set(d, 0.5f)), twice_phi);
  }
};

struct GeluTanh {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // 0.5 x (1 + tanh u) = x / (1 + exp(-2u)): no cancellation for x << 0.
    const V x3 = hn::Mul(hn::Mul(x, x), x);
    const V u =
        hn::Mul(hn::Set(d, 0.7978845608028654f), hn::Add(x, hn::Mul(hn::Set(d, 0.044715f), x3)));
    const V r = hn::Div(x, hn::Add(hn::Set(d, 1.f), ExpNeg(d, hn::Add(u, u))));
    return KeepNaN(d, x, r);
  }
};

struct Log {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V inf = hn::Set(d, HUGE_VALF);
    V r = hn::Log(d, x);
    r = hn::IfThenElse(hn::Eq(x, hn::Zero(d)), hn::Neg(inf), r);
    r = hn::IfThenElse(hn::Eq(x, inf), inf, r);
    r = hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Set(d, NAN), r);
    return KeepNaN(d, x, r);
  }
};

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_UNARY_MATH_INL_H_
