// The emulated device: L1 and DRAM bank managers over a profile, buffers backed
// by host arenas (reserved lazily, so a 12 GiB DRAM costs nothing until used),
// and the circular-buffer region of a running program with tt-metal's checks.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "device/bank_manager.hpp"
#include "device/profile.hpp"

namespace oomless::device {

// L1_SMALL: a region carved from the top of every L1 bank at device open
// (`l1_small_size`), with its own allocator; conv2d and pooling keep their
// sliding-window config tensors there. Sized 0 by default, as TT-NN's device.
enum class BufferType : uint8_t { DRAM, L1, L1_SMALL };
// Sharded buffers put `shard_pages` pages on each of `cores` cores (one shard
// per core, the same address on every core). A page is a tile (TILE) or one
// shard-width row (ROW_MAJOR); height, block and width sharding differ only in
// how the tensor is cut, which the caller decides.
enum class MemoryLayout : uint8_t { Interleaved, HeightSharded, BlockSharded, WidthSharded };

std::string_view buffer_type_name(BufferType t);      // "DRAM" / "L1" / "L1_SMALL"
std::string_view memory_layout_name(MemoryLayout l);  // "interleaved", "height sharded", ...
BufferType parse_buffer_type(std::string_view s, std::string_view op = "memory");

// Device memory exhausted: a buffer that fits in no bank, or a CB region that
// overflows L1 or clashes with a live L1 buffer. what() is tt-metal's text.
struct OutOfMemory : Error {
  // Fatal: an op's own memory check gave up before allocating (TT_FATAL), e.g.
  // conv2d's DRAM auto slicing finding no slice count.
  enum class Kind : uint8_t { Buffer, CbBeyondL1, CbClash, Fatal };
  Kind kind = Kind::Buffer;
  BufferType buffer_type = BufferType::L1;
  int64_t total_bytes = 0, banks = 0, bytes_per_bank = 0;
  int64_t bank_size = 0, allocated = 0, free = 0, largest_free_block = 0;
  std::string core_range;
  int64_t cb_end = 0, l1_size = 0, program_id = 0, clash_address = 0;

  explicit OutOfMemory(const std::string& message) : Error(message) {}
  // The failure in the newest words (tt-metal PR 32150: bank size, allocated,
  // free, largest free block), whatever the profile's format; what() otherwise.
  std::string detail() const;
};

// Per-bank footprint of a buffer as tt-metal computes it.
struct Footprint {
  int64_t num_pages = 0, page_size = 0, aligned_page = 0;
  int64_t banks = 0, pages_per_bank = 0, bytes_per_bank = 0;
  int64_t total_bytes() const { return num_pages * page_size; }
};

class Device;

// A live allocation; frees itself. Page i of an interleaved buffer lives in bank
// i % banks at address + (i / banks) * aligned_page.
class Buffer {
 public:
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  BufferType type() const { return type_; }
  MemoryLayout layout() const { return layout_; }
  int64_t address() const { return address_; }
  const Footprint& footprint() const { return fp_; }
  // Host memory of page i inside the device arena (null for an unbacked device).
  char* page(int64_t i) const;

 private:
  friend class Device;
  Buffer() = default;
  Device* dev_ = nullptr;
  BufferType type_ = BufferType::L1;
  MemoryLayout layout_ = MemoryLayout::Interleaved;
  int64_t address_ = -1;  // -1: zero-size buffer, nothing allocated
  Footprint fp_;
};

struct CbRegion {
  int64_t start = 0, end = 0;  // [start, end) on every core
  int64_t bytes() const { return end - start; }
};

class Device {
 public:
  // backed=false models addresses only (the pre-check): no arena is reserved.
  explicit Device(Profile profile, bool backed = true);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const Profile& profile() const { return profile_; }
  // Sharded layouts: shard_pages pages per core over `cores` cores (0: as many
  // as the pages need).
  Footprint footprint(BufferType type, MemoryLayout layout, int64_t num_pages, int64_t page_size,
                      int64_t shard_pages = 0, int64_t cores = 0) const;
  // Throws OutOfMemory with tt-metal's message when no address range fits in every bank.
  std::shared_ptr<Buffer> allocate(BufferType type, int64_t num_pages, int64_t page_size,
                                   MemoryLayout layout = MemoryLayout::Interleaved,
                                   int64_t shard_pages = 0, int64_t cores = 0);

  // Places a program's static CBs (sizes in bytes, each start aligned to the DRAM
  // alignment) upward from the L1 unreserved base and runs tt-metal's two
  // checks. The region stays until release_cbs().
  CbRegion allocate_cbs(const std::vector<int64_t>& cb_bytes);
  void release_cbs();
  const CbRegion& cbs() const { return cbs_; }

  const BankManager& bank(BufferType t) const;
  BankStats stats(BufferType t) const { return bank(t).stats(); }
  // Peak of L1 buffers + CB region per core, and of DRAM per bank.
  int64_t peak_l1_per_core() const { return peak_l1_core_; }
  int64_t peak_dram_per_bank() const { return dram_.stats().peak_allocated; }
  // The worker grid, and as tt-metal prints it ("[(x=0,y=0) - (x=7,y=7)]" or
  // "[0-0 - 7-7]", by the profile's message format).
  CoreRect worker_grid() const;
  // High-water marks: L1 buffers + CBs per core, and per bank of each buffer type.
  struct Peaks {
    int64_t l1_core = 0, l1 = 0, dram = 0, l1_small = 0;
  };
  Peaks peaks() const;
  // Sets the marks (a trial's placements restore them, so they count nothing).
  void set_peaks(const Peaks& p);
  // Lowers the marks to what is allocated now (measures from here on).
  void reset_peaks();
  // The worker grid in the profile's words.
  std::string core_range_str() const;
  bool backed() const { return backed_; }
  // A whole-model run: the host pages of a freed DRAM buffer (1 MB per bank and
  // up) go back to the kernel, so host memory follows live DRAM, not its
  // high-water mark.
  void set_drop_freed_dram(bool on) { drop_freed_dram_ = on; }
  char* arena(BufferType t) const { return t == BufferType::DRAM ? dram_arena_ : l1_arena_; }
  int64_t arena_bank_stride(BufferType t) const;
  // An unbacked copy of the allocators' state (addresses, free lists, CB
  // region, peaks): what-if placements (the planner's slice search) run on it
  // without touching this device. Its allocations own no Buffer objects.
  std::unique_ptr<Device> snapshot() const;

 private:
  friend class Buffer;
  void free_buffer(Buffer& b);
  void update_peak();
  Profile profile_;
  bool backed_;
  bool drop_freed_dram_ = false;
  BankManager& bank_mut(BufferType t);
  BankManager l1_, dram_, l1_small_;
  CbRegion cbs_;
  int64_t peak_l1_core_ = 0;
  int64_t next_program_id_ = 0;
  char* l1_arena_ = nullptr;
  char* dram_arena_ = nullptr;
  size_t l1_arena_bytes_ = 0, dram_arena_bytes_ = 0;
};

}  // namespace oomless::device
