// One address range replicated over N banks in lock-step, as tt-metal's
// BankManager: an allocation takes the same [addr, addr + bytes_per_bank) in
// every bank. First-fit free list with neighbour coalescing; L1 searches and
// places top-down, DRAM bottom-up.
#pragma once
#include <cstdint>
#include <map>
#include <optional>

namespace oomless::device {

struct BankStats {
  int64_t bank_size = 0;  // allocatable bytes per bank
  int64_t allocated = 0;  // bytes per bank in live allocations
  int64_t free = 0;       // bank_size - allocated
  int64_t largest_free_block = 0;
  int64_t peak_allocated = 0;  // high-water mark of `allocated`
  int64_t num_allocations = 0;
};

class BankManager {
 public:
  BankManager(int64_t num_banks, int64_t lo, int64_t hi, int64_t alignment, bool top_down);

  // Address of a new block of `bytes_per_bank` (rounded up to the alignment), or
  // nullopt when no free block is large enough.
  std::optional<int64_t> allocate(int64_t bytes_per_bank);
  // Frees the block at `addr`; throws if there is none.
  void deallocate(int64_t addr);
  void deallocate_all();

  BankStats stats() const;
  // Lowest address of a live allocation (CBs must stay below it).
  std::optional<int64_t> lowest_allocated() const;
  int64_t num_banks() const { return num_banks_; }
  int64_t lo() const { return lo_; }
  int64_t hi() const { return hi_; }
  int64_t alignment() const { return alignment_; }
  bool top_down() const { return top_down_; }
  // Size of the live block at addr (0 if none).
  int64_t block_size(int64_t addr) const;
  // The high-water mark, settable: what-if placements restore it (they leave no
  // trace), a run measures one stretch by lowering it to the current level.
  void set_peak(int64_t peak) { peak_ = peak; }

 private:
  int64_t num_banks_, lo_, hi_, alignment_;
  bool top_down_;
  std::map<int64_t, int64_t> free_;   // addr -> size, coalesced
  std::map<int64_t, int64_t> alloc_;  // addr -> size
  int64_t allocated_ = 0, peak_ = 0;
};

}  // namespace oomless::device
