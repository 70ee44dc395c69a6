// A pool of large host blocks. First touch of fresh memory is the slowest thing
// this machine does (0.1-0.7 GB/s, DESIGN.md section 5), so big tensors and
// device arenas take memory that was touched before, and give it back instead
// of unmapping it. Memory is mmap'd with transparent huge pages.
#pragma once
#include <cstddef>
#include <cstdint>

namespace oomless::host_pool {

// Blocks below this size come from malloc; the pool is for staging and arenas.
inline constexpr size_t kMinBlock = size_t{1} << 20;

// Bytes of pooled memory kept resident between uses, for the host slab and
// for DRAM arenas each: a sixth of physical memory, at most 4 GiB, or the
// value of `env_var` (bytes) when set.
size_t resident_cap(const char* env_var);

// A block of at least `bytes` (page-aligned); `*got` receives its real size,
// which must be passed back to release().
void* acquire(size_t bytes, size_t* got);
void release(void* p, size_t bytes);

// Address space for a device arena: reserved, not committed (MAP_NORESERVE),
// reused across devices so pages touched by one run are warm for the next.
void* acquire_arena(size_t bytes, size_t* got);
// Returns an arena for reuse; its resident pages stay (the caller trims what it
// does not want kept with drop_pages).
void release_arena(void* p, size_t bytes);
// Gives [p, p + bytes) back to the kernel (rounded inward to whole pages).
void drop_pages(void* p, size_t bytes);

struct Stats {
  int64_t hits = 0, misses = 0;  // acquire() served from warm pages / not
  int64_t warm_bytes = 0;        // pooled bytes whose pages stay resident
  int64_t keep_bytes = 0;        // most bytes kept warm
  int64_t blocks_in_use = 0;     // acquire() minus release()
  int64_t arenas_in_use = 0;     // acquire_arena() minus release_arena()
};
Stats stats();
// Gives the pages of free blocks and cached arenas back to the kernel.
void trim();

// Allocation-failure injection, for tests: once armed with k >= 1, the k-th
// host allocation from then on (pool block, arena, tensor storage, mapped
// file) throws HostOutOfMemory, as a real failure would. OOMLESS_FAIL_ALLOC=k
// arms it at start-up. count() is the number of allocations since the last
// arm() or reset_count().
namespace inject {
void arm(int64_t k);
void disarm();
void reset_count();
int64_t count();
// Called by every allocation site; throws when this allocation is the armed one.
void check(size_t bytes, const char* what);
}  // namespace inject

}  // namespace oomless::host_pool
