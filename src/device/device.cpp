#include "device/device.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/host_pool.hpp"

namespace oomless::device {

std::string_view buffer_type_name(BufferType t) {
  switch (t) {
    case BufferType::L1:
      return "L1";
    case BufferType::L1_SMALL:
      return "L1_SMALL";
    case BufferType::DRAM:
      return "DRAM";
  }
  return "?";
}

std::string_view memory_layout_name(MemoryLayout l) {
  switch (l) {
    case MemoryLayout::Interleaved:
      return "interleaved";
    case MemoryLayout::HeightSharded:
      return "height sharded";
    case MemoryLayout::BlockSharded:
      return "block sharded";
    case MemoryLayout::WidthSharded:
      return "width sharded";
  }
  return "?";
}

BufferType parse_buffer_type(std::string_view s, std::string_view op) {
  if (s == "l1" || s == "L1") return BufferType::L1;
  if (s == "dram" || s == "DRAM") return BufferType::DRAM;
  fail(op, fmt::format("unknown memory '{}' (expected l1 or dram)", s));
}

std::string OutOfMemory::detail() const {
  if (kind != Kind::Buffer) return what();
  BankStats s;
  s.bank_size = bank_size;
  s.allocated = allocated;
  s.free = free;
  s.largest_free_block = largest_free_block;
  return allocator_message(
      {AllocatorWords::Stats, CoreRangeWords::XY},
      {std::string(buffer_type_name(buffer_type)), total_bytes, banks, bytes_per_bank, s});
}

static char* reserve(size_t bytes, size_t* got) {
  *got = 0;
  if (bytes == 0) return nullptr;
  return static_cast<char*>(host_pool::acquire_arena(bytes, got));
}

Device::Device(Profile profile, bool backed)
    : profile_(std::move(profile)),
      backed_(backed),
      l1_(profile_.l1_banks, profile_.l1_bank_lo(), profile_.l1_bank_hi(), profile_.l1_alignment,
          /*top_down=*/true),
      dram_(profile_.dram_banks, profile_.dram_bank_lo(), profile_.dram_bank_hi(),
            profile_.dram_alignment, /*top_down=*/false),
      // L1_SMALL spans [l1_size - l1_small_size, l1_size) of every L1 bank. Its
      // direction only moves addresses inside the region; top-down like L1.
      l1_small_(profile_.l1_banks, profile_.l1_bank_hi(), profile_.l1_size, profile_.l1_alignment,
                /*top_down=*/true) {
  cbs_ = {profile_.l1_unreserved_base, profile_.l1_unreserved_base};
  if (backed_) {
    l1_arena_bytes_ = static_cast<size_t>(profile_.l1_banks * arena_bank_stride(BufferType::L1));
    dram_arena_bytes_ =
        static_cast<size_t>(profile_.dram_banks * arena_bank_stride(BufferType::DRAM));
    l1_arena_ = reserve(l1_arena_bytes_, &l1_arena_bytes_);
    try {
      dram_arena_ = reserve(dram_arena_bytes_, &dram_arena_bytes_);
    } catch (...) {  // no destructor runs for a constructor that throws
      host_pool::release_arena(l1_arena_, l1_arena_bytes_);
      throw;
    }
  }
}

Device::~Device() {
  if (dram_arena_) {
    // Each bank keeps its lowest pages (DRAM fills bottom-up); beyond that, and
    // beyond this profile's banks, pages go back to the kernel.
    auto stride = static_cast<size_t>(arena_bank_stride(BufferType::DRAM));
    // Resident between runs: enough that steady-state sweeps reuse warm pages,
    // bounded so that arenas and host staging together stay well inside RAM.
    size_t keep = std::min(stride, host_pool::resident_cap("OOMLESS_DEVICE_POOL") /
                                       static_cast<size_t>(profile_.dram_banks));
    for (int64_t b = 0; b < profile_.dram_banks; ++b)
      host_pool::drop_pages(dram_arena_ + b * stride + keep, stride - keep);
    size_t used = stride * static_cast<size_t>(profile_.dram_banks);
    host_pool::drop_pages(dram_arena_ + used, dram_arena_bytes_ - used);
  }
  host_pool::release_arena(l1_arena_, l1_arena_bytes_);
  host_pool::release_arena(dram_arena_, dram_arena_bytes_);
}

int64_t Device::arena_bank_stride(BufferType t) const {
  return t == BufferType::DRAM ? profile_.dram_bank_size : profile_.l1_size;
}

const BankManager& Device::bank(BufferType t) const {
  return t == BufferType::L1 ? l1_ : t == BufferType::L1_SMALL ? l1_small_ : dram_;
}

BankManager& Device::bank_mut(BufferType t) {
  return t == BufferType::L1 ? l1_ : t == BufferType::L1_SMALL ? l1_small_ : dram_;
}

std::unique_ptr<Device> Device::snapshot() const {
  auto d = std::make_unique<Device>(profile_, /*backed=*/false);
  d->l1_ = l1_;
  d->dram_ = dram_;
  d->l1_small_ = l1_small_;
  d->cbs_ = cbs_;
  d->peak_l1_core_ = peak_l1_core_;
  d->next_program_id_ = next_program_id_;
  return d;
}

CoreRect Device::worker_grid() const {
  return {0, 0, profile_.grid_x - 1, profile_.grid_y - 1};
}

std::string Device::core_range_str() const {
  return core_range_text(profile_.message_format.ranges, worker_grid());
}

Footprint Device::footprint(BufferType type, MemoryLayout layout, int64_t num_pages,
                            int64_t page_size, int64_t shard_pages, int64_t cores) const {
  const BankManager& bm = bank(type);
  Footprint f;
  f.num_pages = num_pages;
  f.page_size = page_size;
  f.aligned_page = (page_size + bm.alignment() - 1) / bm.alignment() * bm.alignment();
  if (layout == MemoryLayout::Interleaved) {
    f.banks = bm.num_banks();
    f.pages_per_bank = (num_pages + f.banks - 1) / f.banks;
  } else {
    if (shard_pages <= 0)
      fail("device", fmt::format("{} buffer needs shard_pages > 0, got {}",
                                 memory_layout_name(layout), shard_pages));
    f.banks = cores > 0 ? cores : (num_pages + shard_pages - 1) / shard_pages;
    f.pages_per_bank = shard_pages;
    if (f.banks > bm.num_banks())
      fail("device", fmt::format("{} buffer of {} pages in shards of {} needs {} cores; the "
                                 "device has {}",
                                 memory_layout_name(layout), num_pages, shard_pages, f.banks,
                                 bm.num_banks()));
  }
  f.bytes_per_bank = f.pages_per_bank * f.aligned_page;
  return f;
}

std::shared_ptr<Buffer> Device::allocate(BufferType type, int64_t num_pages, int64_t page_size,
                                         MemoryLayout layout, int64_t shard_pages, int64_t cores) {
  Footprint f = footprint(type, layout, num_pages, page_size, shard_pages, cores);
  std::shared_ptr<Buffer> b(new Buffer());
  b->dev_ = this;
  b->type_ = type;
  b->layout_ = layout;
  b->fp_ = f;
  if (f.bytes_per_bank == 0) return b;  // nothing to place
  BankManager& bm = bank_mut(type);
  std::optional<int64_t> addr = bm.allocate(f.bytes_per_bank);
  if (!addr) {
    BankStats s = bm.stats();
    // Sharded buffers report the cores they span, as tt-metal does; the words
    // are the profile's tt-metal version, the statistics the allocator's own.
    OutOfMemory e(allocator_message(
        profile_.message_format,
        {std::string(buffer_type_name(type)), f.total_bytes(), f.banks, f.bytes_per_bank, s}));
    e.kind = OutOfMemory::Kind::Buffer;
    e.buffer_type = type;
    e.total_bytes = f.total_bytes();
    e.banks = f.banks;
    e.bytes_per_bank = f.bytes_per_bank;
    e.bank_size = s.bank_size;
    e.allocated = s.allocated;
    e.free = s.free;
    e.largest_free_block = s.largest_free_block;
    throw e;
  }
  b->address_ = *addr;
  update_peak();
  return b;
}

void Device::free_buffer(Buffer& b) {
  if (b.address_ < 0) return;
  if (drop_freed_dram_ && dram_arena_ && b.type_ == BufferType::DRAM &&
      b.fp_.bytes_per_bank >= (int64_t{1} << 20)) {
    auto stride = static_cast<size_t>(arena_bank_stride(BufferType::DRAM));
    for (int64_t bank = 0; bank < profile_.dram_banks; ++bank)
      host_pool::drop_pages(dram_arena_ + static_cast<size_t>(bank) * stride + b.address_,
                            static_cast<size_t>(b.fp_.bytes_per_bank));
  }
  bank_mut(b.type_).deallocate(b.address_);
  b.address_ = -1;
}

Buffer::~Buffer() {
  if (dev_) dev_->free_buffer(*this);
}

char* Buffer::page(int64_t i) const {
  char* base = dev_->arena(type_);
  if (!base || address_ < 0) return nullptr;
  int64_t bank, slot;
  if (layout_ == MemoryLayout::Interleaved) {
    bank = i % fp_.banks;
    slot = i / fp_.banks;
  } else {
    bank = i / fp_.pages_per_bank;
    slot = i % fp_.pages_per_bank;
  }
  return base + bank * dev_->arena_bank_stride(type_) + address_ + slot * fp_.aligned_page;
}

Device::Peaks Device::peaks() const {
  return {peak_l1_core_, l1_.stats().peak_allocated, dram_.stats().peak_allocated,
          l1_small_.stats().peak_allocated};
}

void Device::set_peaks(const Peaks& p) {
  peak_l1_core_ = p.l1_core;
  l1_.set_peak(p.l1);
  dram_.set_peak(p.dram);
  l1_small_.set_peak(p.l1_small);
}

void Device::reset_peaks() {
  set_peaks({l1_.stats().allocated + cbs_.bytes(), l1_.stats().allocated, dram_.stats().allocated,
             l1_small_.stats().allocated});
}

void Device::update_peak() {
  peak_l1_core_ = std::max(peak_l1_core_, l1_.stats().allocated + cbs_.bytes());
}

CbRegion Device::allocate_cbs(const std::vector<int64_t>& cb_bytes) {
  int64_t program_id = next_program_id_++;
  int64_t align = profile_.dram_alignment;
  int64_t end = cbs_.end;
  for (int64_t bytes : cb_bytes) {
    int64_t start = (end + align - 1) / align * align;
    end = start + bytes;
  }
  if (end > profile_.l1_size) {
    OutOfMemory e(
        cb_beyond_l1_message(profile_.message_format, {worker_grid()}, end, profile_.l1_size));
    e.kind = OutOfMemory::Kind::CbBeyondL1;
    e.core_range = core_range_str();
    e.cb_end = end;
    e.l1_size = profile_.l1_size;
    e.program_id = program_id;
    throw e;
  }
  // The L1_SMALL carve-out at the top of L1 counts as occupied: CBs never grow
  // into it (an assumption: tt-metal's check reads the L1 allocator only, and
  // CBs reaching L1_SMALL would need an almost empty L1).
  std::optional<int64_t> lowest = l1_.lowest_allocated();
  if (!lowest && profile_.l1_small_size > 0) lowest = profile_.l1_bank_hi();
  if (lowest && *lowest < end) {
    OutOfMemory e(
        cb_clash_message(profile_.message_format, program_id, {worker_grid()}, *lowest, end));
    e.kind = OutOfMemory::Kind::CbClash;
    e.core_range = core_range_str();
    e.cb_end = end;
    e.l1_size = profile_.l1_size;
    e.program_id = program_id;
    e.clash_address = *lowest;
    throw e;
  }
  cbs_.end = end;
  update_peak();
  return cbs_;
}

void Device::release_cbs() {
  cbs_.end = cbs_.start;
}

}  // namespace oomless::device
