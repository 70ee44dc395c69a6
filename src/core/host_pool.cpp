#include "core/host_pool.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>

#include "core/error.hpp"

namespace oomless::host_pool {

namespace {

constexpr size_t kHuge = size_t{2} << 20;
constexpr size_t kMaxArenas = 4;

struct Block {
  void* p;
  size_t bytes;
};

size_t physical_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

void* map(size_t bytes, bool noreserve) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED)
    throw HostOutOfMemory(fmt::format("cannot map {} B of host memory", bytes),
                          static_cast<int64_t>(bytes));
  madvise(p, bytes, MADV_HUGEPAGE);  // best effort: fewer faults, fewer TLB misses
  return p;
}

// Large blocks come first-fit from one reserved slab, so blocks of any size
// reuse the same low (warm) addresses; freed ranges coalesce. Pages above the
// keep line go back to the kernel when freed, which bounds what stays resident.
struct Pool {
  std::mutex mu;
  char* slab = nullptr;
  size_t slab_bytes = 0, keep = resident_cap("OOMLESS_HOST_POOL");
  std::map<size_t, size_t> free;  // offset -> bytes
  std::list<Block> arenas;        // most recently released first
  int64_t hits = 0, misses = 0;
  size_t high_water = 0;  // highest slab offset ever handed out (its pages were touched)

  Pool() {
    // Under RLIMIT_AS, reserved address space counts: no slab, so a block
    // costs only its own size (and is unmapped when freed).
    rlimit rl{};
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) return;
    slab_bytes = std::max(physical_bytes() * 2, size_t{8} << 30) / kHuge * kHuge;
    void* p = mmap(nullptr, slab_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      slab_bytes = 0;  // no slab: every block is mapped on its own
      return;
    }
    slab = static_cast<char*>(p);
    madvise(slab, slab_bytes, MADV_HUGEPAGE);
    free[0] = slab_bytes;
  }
  bool owns(const void* p) const {
    return slab && p >= slab && static_cast<const char*>(p) < slab + slab_bytes;
  }
};

// Blocks and arenas handed out and not yet given back (the leak check of the
// allocation-failure tests).
std::atomic<int64_t> g_blocks_out{0}, g_arenas_out{0};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: blocks may be released at exit
  return *p;
}

// Smallest cached arena of at least `bytes`.
std::list<Block>::iterator best_fit(std::list<Block>& l, size_t bytes) {
  auto best = l.end();
  for (auto it = l.begin(); it != l.end(); ++it)
    if (it->bytes >= bytes && (best == l.end() || it->bytes < best->bytes)) best = it;
  return best;
}

}  // namespace

size_t resident_cap(const char* env_var) {
  if (const char* env = std::getenv(env_var)) return std::strtoull(env, nullptr, 10);
  return std::min(physical_bytes() / 6, size_t{4} << 30);
}

void* acquire(size_t bytes, size_t* got) {
  inject::check(bytes, "pool block");
  size_t rounded = (std::max(bytes, size_t{1}) + kHuge - 1) / kHuge * kHuge;
  Pool& P = pool();
  ++g_blocks_out;
  {
    std::lock_guard lock(P.mu);
    for (auto it = P.free.begin(); it != P.free.end(); ++it) {
      if (it->second < rounded) continue;
      size_t off = it->first, left = it->second - rounded;
      P.free.erase(it);
      if (left) P.free[off + rounded] = left;
      // Warm when it lies below what earlier blocks touched.
      if (off + rounded <= P.high_water && off + rounded <= P.keep)
        ++P.hits;
      else
        ++P.misses;
      P.high_water = std::max(P.high_water, off + rounded);
      *got = rounded;
      return P.slab + off;
    }
    ++P.misses;
  }
  *got = rounded;
  try {
    return map(rounded, false);
  } catch (...) {
    --g_blocks_out;
    throw;
  }
}

void release(void* p, size_t bytes) {
  if (!p) return;
  --g_blocks_out;
  Pool& P = pool();
  if (!P.owns(p)) {
    munmap(p, bytes);
    return;
  }
  size_t off = static_cast<size_t>(static_cast<char*>(p) - P.slab), end = off + bytes;
  if (end > P.keep) drop_pages(P.slab + std::max(off, P.keep), end - std::max(off, P.keep));
  std::lock_guard lock(P.mu);
  auto next = P.free.lower_bound(off);
  if (next != P.free.end() && next->first == end) {
    bytes += next->second;
    next = P.free.erase(next);
  }
  if (next != P.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += bytes;
      return;
    }
  }
  P.free[off] = bytes;
}

void* acquire_arena(size_t bytes, size_t* got) {
  inject::check(bytes, "device arena");
  Pool& P = pool();
  {
    std::lock_guard lock(P.mu);
    auto it = best_fit(P.arenas, bytes);
    if (it != P.arenas.end()) {
      Block b = *it;
      P.arenas.erase(it);
      *got = b.bytes;
      ++g_arenas_out;
      return b.p;
    }
  }
  *got = bytes;
  void* p = map(bytes, true);
  ++g_arenas_out;
  return p;
}

void release_arena(void* p, size_t bytes) {
  if (!p) return;
  --g_arenas_out;
  rlimit rl{};
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    munmap(p, bytes);  // a cached arena would hold address space RLIMIT_AS counts
    return;
  }
  Pool& P = pool();
  std::list<Block> evicted;
  {
    std::lock_guard lock(P.mu);
    P.arenas.push_front({p, bytes});
    while (P.arenas.size() > kMaxArenas) {
      evicted.push_back(P.arenas.back());
      P.arenas.pop_back();
    }
  }
  for (const auto& b : evicted) munmap(b.p, b.bytes);
}

void drop_pages(void* p, size_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  auto hi = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

Stats stats() {
  Pool& P = pool();
  std::lock_guard lock(P.mu);
  return {P.hits,
          P.misses,
          static_cast<int64_t>(std::min(P.high_water, P.keep)),
          static_cast<int64_t>(P.keep),
          g_blocks_out.load(),
          g_arenas_out.load()};
}

void trim() {
  Pool& P = pool();
  std::list<Block> arenas;
  {
    std::lock_guard lock(P.mu);
    arenas.splice(arenas.end(), P.arenas);
    // Free ranges of the slab give their pages back.
    for (const auto& [off, bytes] : P.free) drop_pages(P.slab + off, bytes);
  }
  for (const auto& b : arenas) munmap(b.p, b.bytes);
}

namespace inject {

namespace {
std::atomic<int64_t> g_count{0}, g_armed{0};
struct FromEnv {
  FromEnv() {
    if (const char* e = std::getenv("OOMLESS_FAIL_ALLOC"); e && *e)
      arm(std::strtoll(e, nullptr, 10));
  }
} g_from_env;
}  // namespace

void arm(int64_t k) {
  g_count = 0;
  g_armed = k;
}
void disarm() {
  g_armed = 0;
}
void reset_count() {
  g_count = 0;
}
int64_t count() {
  return g_count;
}
void check(size_t bytes, const char* what) {
  int64_t n = ++g_count;
  if (g_armed > 0 && n == g_armed)
    throw HostOutOfMemory(
        fmt::format("host allocation {} of {} B ({}) failed (injected)", n, bytes, what),
        static_cast<int64_t>(bytes));
}

}  // namespace inject

}  // namespace oomless::host_pool
