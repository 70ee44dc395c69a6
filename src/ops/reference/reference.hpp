// The slow, exact reference that `oomless run` verifies the fast kernels against.
//
// Everything here is computed in double, element by element, straight from the op's
// definition (torch 1.13 semantics), and shares no code with the kernels in
// src/ops/<family>/. One output element costs O(its reduction length): a softmax
// element is one pass over its row, a norm or mean element one pass over its reduced
// slice, a matmul element one dot product, a batch-norm element one pass over its
// channel (the batch statistics are cached per channel, see reference_clear_cache).
//
// Caller's contract
//  - `call.inputs` are the inputs *as they were before the run*: ops that write an
//    input (silu_inplace; native_batch_norm's running stats in training) must be
//    verified against a copy taken before the kernel ran.
//  - `output_shapes` are the shapes of the call's outputs (from infer); `index` is a
//    multi-index into output_shapes[output].
//  - Float outputs: compare with reference_value_ok(got, reference_at(...),
//    reference_tolerance(...), dtype), which also handles NaN, infinities and overflow.
//  - Index outputs (reference_is_index_output: maxpool2d and topk output 1) are checked
//    with reference_index_ok: the index must point at an input element holding the
//    reference value (ties may pick any such element).
//  - topk with sorted=false: the order of the k results is unspecified, so the caller
//    sorts each produced values slice along `dim` into the reference order first
//    (descending for largest=true, ascending otherwise, NaN counting as the largest
//    value) and then compares it with reference_at, which returns the sorted values;
//    reference_index_ok then only asks that the index points into the top-k set. The
//    caller should also check that values[j] == input[indices[j]] (topk copies values).
//  - dropout: the mask is random, so output 0 is checked with reference_dropout_ok (out
//    is either x / (1 - p) or 0, consistent with the produced mask when the caller has
//    it). reference_at gives the kept value for output 0 and 1 for the mask (both 0
//    when p == 1, where everything is dropped).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.hpp"
#include "core/shape.hpp"
#include "ops/op.hpp"

namespace oomless::ops {

// The exact value (computed in double from the inputs as given, before any rounding
// to the output dtype) of element `index` of output `output` of the call. For index
// outputs this is the flat index torch would return (first maximum / stable order);
// prefer reference_index_ok to check those. Throws InvalidArgument for an output or
// index that does not exist.
double reference_at(const OpCall& call, const std::vector<Shape>& output_shapes, size_t output,
                    const std::vector<int64_t>& index);

// The allowed absolute error of a kernel output of `dtype` at this element, given the
// reference value `ref`:
//  - ops that only select or copy values (movement, cat/stack, split, ones, upsample,
//    maxpool values, topk values, relu, hardtanh, clamp, clamp_min, norm ord inf/-inf/0):
//    the distance from ref to its rounding to dtype (0 when ref is representable), also
//    allowing a round trip through f32 (the kernels convert double args to float);
//  - computed ops: 1 ulp of dtype at |ref| (bf16: rounding once after f32 arithmetic;
//    f32: the final rounding) plus an a-priori bound of the f32 arithmetic's error for
//    that op and element (see the family files), plus a flush-to-zero allowance of
//    the smallest normal 2^-126 (scaled by the bound) for results in the subnormal range.
//    Sums (softmax, mean, norms, batch-norm statistics, dot products) are bounded as f32
//    sums done recursively within blocks of at most 4096 terms (detail.hpp sum_gamma):
//    kernels accumulating long sums must be at least that accurate (blocked, SIMD
//    lanes over blocks, pairwise, or in double).
double reference_tolerance(const OpCall& call, const std::vector<Shape>& output_shapes,
                           size_t output, const std::vector<int64_t>& index, double ref,
                           DType dtype);

// True when `got` is within `tol` of `ref`. NaN must match NaN and an infinite ref must
// be matched exactly; an infinite `got` is accepted only when ref (+ tol) is at or past
// the point where dtype overflows to infinity with the same sign.
bool reference_value_ok(double got, double ref, double tol, DType dtype);

// Whether output `output` of the call holds int32 indices (maxpool2d, topk: output 1).
bool reference_is_index_output(const OpCall& call, size_t output);

// Integer outputs (maxpool2d: flat h * W + w within the (n, c) plane; topk: position
// along dim) are valid when they are integers in range, (maxpool) lie inside the
// element's pooling window and not in the padding, and point at an input value equal
// to the reference value (NaN equal to NaN). topk sorted=false: the value pointed at
// must belong to the top-k set (compare with the k-th value).
bool reference_index_ok(const OpCall& call, const std::vector<Shape>& output_shapes, size_t output,
                        const std::vector<int64_t>& index, double got_index);

// dropout (native_dropout) element `index`: in training, `got_out` must be x / (1 - p)
// (within reference_tolerance) where the mask keeps the element and 0 where it drops it
// (torch's x * 0 is also accepted: NaN for a non-finite x); p == 0 keeps everything and
// p == 1 drops everything. In eval, out == x and the mask is all ones. Pass the produced
// mask value (0 or 1) in `got_mask`, or NaN when the mask is not available (then either
// outcome is accepted per element).
bool reference_dropout_ok(const OpCall& call, const std::vector<Shape>& output_shapes,
                          const std::vector<int64_t>& index, double got_out, double got_mask,
                          DType dtype);

// 1 ulp of `dtype` at |v| (the spacing of representable values around v: bf16 at 1.0 is
// 2^-7, at 3.0 2^-6); subnormal spacing below the smallest normal, the largest binade's
// spacing beyond the largest finite value. Integer dtypes: 1.
double reference_ulp(DType dtype, double v);

// v correctly rounded (to nearest, ties to even) to `dtype`; may overflow to +-inf.
double reference_round(DType dtype, double v);

// native_batch_norm's per-channel batch statistics are cached (keyed by the input's
// storage identity, view and channel; entries die with the storage). Call this after
// writing new values into an input's storage in place while it stays alive.
void reference_clear_cache();

}  // namespace oomless::ops
