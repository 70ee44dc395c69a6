#include "ops/conv/weight_cache.hpp"

#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::conv {

namespace {

using gemm::detail::kMR;

bool finite_bits(const void* w, int64_t n, bool bf16) {
  if (bf16) {
    const uint16_t* h = static_cast<const uint16_t*>(w);
    for (int64_t i = 0; i < n; ++i)
      if ((h[i] & 0x7f80u) == 0x7f80u) return false;
    return true;
  }
  const uint32_t* f = static_cast<const uint32_t*>(w);
  for (int64_t i = 0; i < n; ++i)
    if ((f[i] & 0x7f800000u) == 0x7f800000u) return false;
  return true;
}

// The weights of group g as a k-major matrix (row (t, c) with c < 2 upt in bf16,
// the pad channel zero) when `k_major`, else output-channel-major: row k, columns
// (t, c). Values keep the dtype (raw bits).
template <class T>
std::vector<T> regroup(const PackedWeights& p, const T* w, int64_t g, bool k_major) {
  const int64_t cp = p.dtype == DType::BF16 ? 2 * p.upt : p.upt;  // channels per tap, padded
  const int64_t kk = p.T * cp;
  std::vector<T> m(static_cast<size_t>(kk * p.kpg), T{0});
  for (int64_t k = 0; k < p.kpg; ++k)
    for (int64_t c = 0; c < p.cpg; ++c)
      for (int64_t t = 0; t < p.T; ++t) {
        const T v = w[((g * p.kpg + k) * p.cpg + c) * p.T + t];
        const int64_t r = t * cp + c;
        m[static_cast<size_t>(k_major ? r * p.kpg + k : k * kk + r)] = v;
      }
  return m;
}

std::shared_ptr<PackedWeights> pack(const ConvGeom& g, DType dt, const void* w, Packing packing) {
  auto p = std::make_shared<PackedWeights>();
  const bool bf16 = dt == DType::BF16;
  p->dtype = dt;
  p->groups = g.groups;
  p->kpg = g.cout_per_group();
  p->cpg = g.cin_per_group();
  p->T = g.kh * g.kw;
  p->upt = bf16 ? (p->cpg + 1) / 2 : p->cpg;
  p->steps = p->T * p->upt;
  p->packing = packing;
  p->finite = finite_bits(w, g.K * p->cpg * p->T, bf16);
  const int64_t kk = p->T * (bf16 ? 2 * p->upt : p->upt);  // k length with pad channels
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    std::vector<uint16_t> h;
    std::vector<float> f;
    const void* m;
    if (bf16) {
      h = regroup(*p, static_cast<const uint16_t*>(w), grp, packing == Packing::kPanelsB);
      m = h.data();
    } else {
      f = regroup(*p, static_cast<const float*>(w), grp, packing == Packing::kPanelsB);
      m = f.data();
    }
    if (packing == Packing::kPanelsB) {
      p->b.emplace_back(gemm::MatView{m, dt, kk, p->kpg, p->kpg, 1});
      p->bytes += p->b.back().bytes();
      continue;
    }
    if (grp == 0) {
      p->a_panels = (p->kpg + kMR - 1) / kMR;
      const size_t units =
          static_cast<size_t>(std::max<int64_t>(g.groups * p->a_panels * p->steps * kMR, 16));
      p->bytes = units * 4;
      void* mem = std::aligned_alloc(64, (p->bytes + 63) / 64 * 64);
      if (!mem) throw Error("[convolution] out of memory for packed weights");
      p->a.reset(static_cast<uint32_t*>(mem), [](uint32_t* q) { std::free(q); });
    }
    uint32_t* dst = p->a.get() + grp * p->a_panels * p->steps * kMR;
    gemm::detail::isa().pack(dst, kMR, m, bf16, p->kpg, kk, kk, 1);
  }
  return p;
}

struct Key {
  const void* w = nullptr;
  DType dt = DType::F32;
  int64_t K = 0, cpg = 0, kh = 0, kw = 0, groups = 0;
  Packing packing = Packing::kPanelsB;
  bool operator==(const Key&) const = default;
};

struct Entry {
  Key key;
  std::vector<char> copy;  // the weight bytes the packing was made from
  std::shared_ptr<const PackedWeights> packed;
  size_t bytes() const { return copy.size() + packed->bytes; }
};

struct Cache {
  std::mutex mu;
  std::list<Entry> lru;  // most recent first
  size_t bytes = 0, budget = 0;
  int64_t hits = 0, misses = 0;

  Cache() {
    const char* env = std::getenv("OOMLESS_CONV_WEIGHT_CACHE_MB");
    budget = (env && *env ? std::strtoull(env, nullptr, 10) : 512ull) << 20;
  }
  void evict_to(size_t limit) {
    while (bytes > limit && !lru.empty()) {
      bytes -= lru.back().bytes();
      lru.pop_back();
    }
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

const uint32_t* PackedWeights::a_panel(int64_t g, int64_t ip) const {
  return a.get() + (g * a_panels + ip) * steps * kMR;
}

std::shared_ptr<const PackedWeights> packed_weights(const ConvGeom& g, DType dt, const void* w,
                                                    Packing packing) {
  const Key key{w, dt, g.K, g.cin_per_group(), g.kh, g.kw, g.groups, packing};
  const size_t nbytes =
      static_cast<size_t>(g.K * g.cin_per_group() * g.kh * g.kw) * (dt == DType::BF16 ? 2 : 4);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto it = c.lru.begin(); it != c.lru.end(); ++it) {
      if (!(it->key == key)) continue;
      if (std::memcmp(it->copy.data(), w, nbytes) == 0) {
        ++c.hits;
        c.lru.splice(c.lru.begin(), c.lru, it);
        return it->packed;
      }
      c.bytes -= it->bytes();  // the memory now holds other weights
      c.lru.erase(it);
      break;
    }
    ++c.misses;
  }
  std::shared_ptr<const PackedWeights> packed = pack(g, dt, w, packing);
  std::lock_guard<std::mutex> lock(c.mu);
  if (nbytes + packed->bytes > c.budget) return packed;
  for (auto it = c.lru.begin(); it != c.lru.end(); ++it)
    if (it->key == key) {  // packed by another thread meanwhile
      c.bytes -= it->bytes();
      c.lru.erase(it);
      break;
    }
  c.evict_to(c.budget - nbytes - packed->bytes);
  Entry e;
  e.key = key;
  e.copy.assign(static_cast<const char*>(w), static_cast<const char*>(w) + nbytes);
  e.packed = packed;
  c.bytes += e.bytes();
  c.lru.push_front(std::move(e));
  return packed;
}

WeightCacheStats weight_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.hits, c.misses, static_cast<int64_t>(c.lru.size()), c.bytes, c.budget};
}

void clear_weight_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.lru.clear();
  c.bytes = 0;
}

}  // namespace oomless::ops::conv
