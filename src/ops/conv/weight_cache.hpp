// Convolution weights packed for the GEMM micro-kernels (ops/gemm/ukernel.hpp),
// packed once per weight tensor and kept in a bounded process-wide cache, so planner
// chunks and repeated calls (a whole-model run) do not repack.
//
// The reduction index of a dense conv is k = (tap t = i * kw + j, input channel c),
// taps outer. In bf16 the kernels consume channel pairs (c, c + 1) of one tap as
// one 32-bit unit; a group with an odd channel count gets a zero channel at the end
// of every tap (zero input, zero weight), so a tap is always a whole number of units
// ("units per tap", upt) and runs of taps can be skipped or read in place.
//
// Two packings of a weight [K, C/groups, kh, kw]:
//   kPanelsB  channels-last: per group, B = [T * upt units] x [K/groups] in panels of
//             32 output channels (gemm::PackedB);
//   kPanelsA  NCHW: per group, A = [K/groups] x [T * upt units] in panels of 14 output
//             channels, step-major (the micro-kernel's packed-A layout).
//
// Cache key: the weight's address, dtype, shape, groups and packing; an entry is
// used only if the weight's bytes still equal the copy taken when it was packed
// (memcmp: borrowed torch/numpy memory can change or be reused behind our back), so
// a hit can never return stale weights. The cache holds at most
// OOMLESS_CONV_WEIGHT_CACHE_MB (default 512) MiB of copies plus packed data, least
// recently used entries evicted first; 0 disables it (every call packs).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.hpp"
#include "ops/conv/geometry.hpp"
#include "ops/gemm/gemm.hpp"

namespace oomless::ops::conv {

enum class Packing { kPanelsB, kPanelsA };

struct PackedWeights {
  DType dtype = DType::F32;
  int64_t groups = 1, kpg = 0, cpg = 0, T = 0;
  int64_t upt = 0;     // 32-bit units per tap: cpg (f32), ceil(cpg / 2) (bf16)
  int64_t steps = 0;   // T * upt: the chain length in kernel steps
  bool finite = true;  // no inf or NaN weight: a zero input times a weight adds nothing
  Packing packing = Packing::kPanelsB;
  std::vector<gemm::PackedB> b;  // kPanelsB: one per group
  std::shared_ptr<uint32_t> a;   // kPanelsA: panel ip of group g at a_panel(g, ip)
  int64_t a_panels = 0;          // panels per group
  size_t bytes = 0;              // packed data

  const uint32_t* a_panel(int64_t g, int64_t ip) const;
};

// The packed form of weight `w` ([K, C/groups, kh, kw] contiguous, dtype of the call),
// from the cache or packed now (and cached when it fits).
std::shared_ptr<const PackedWeights> packed_weights(const ConvGeom& g, DType dt, const void* w,
                                                    Packing packing);

struct WeightCacheStats {
  int64_t hits = 0, misses = 0, entries = 0;
  size_t bytes = 0, budget = 0;
};
WeightCacheStats weight_cache_stats();
void clear_weight_cache();

}  // namespace oomless::ops::conv
