#include "device/bank_manager.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"

namespace oomless::device {

BankManager::BankManager(int64_t num_banks, int64_t lo, int64_t hi, int64_t alignment,
                         bool top_down)
    : num_banks_(num_banks), lo_(lo), hi_(hi), alignment_(alignment), top_down_(top_down) {
  if (hi > lo) free_[lo] = hi - lo;
}

std::optional<int64_t> BankManager::allocate(int64_t bytes_per_bank) {
  int64_t size = (std::max<int64_t>(bytes_per_bank, 1) + alignment_ - 1) / alignment_ * alignment_;
  auto take = [&](std::map<int64_t, int64_t>::iterator it) -> int64_t {
    int64_t block_addr = it->first, block_size = it->second;
    free_.erase(it);
    int64_t addr;
    if (top_down_) {
      // Highest aligned address whose block still fits below the block's end.
      addr = (block_addr + block_size - size) / alignment_ * alignment_;
      if (addr + size < block_addr + block_size)
        free_[addr + size] = block_addr + block_size - addr - size;
      if (addr > block_addr) free_[block_addr] = addr - block_addr;
    } else {
      addr = block_addr;
      if (block_size > size) free_[addr + size] = block_size - size;
    }
    alloc_[addr] = size;
    allocated_ += size;
    peak_ = std::max(peak_, allocated_);
    return addr;
  };
  auto fits = [&](int64_t block_addr, int64_t block_size) {
    if (block_size < size) return false;
    if (!top_down_) return true;
    return (block_addr + block_size - size) / alignment_ * alignment_ >= block_addr;
  };
  if (top_down_) {
    for (auto it = free_.end(); it != free_.begin();) {
      --it;
      if (fits(it->first, it->second)) return take(it);
    }
  } else {
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (fits(it->first, it->second)) return take(it);
  }
  return std::nullopt;
}

void BankManager::deallocate(int64_t addr) {
  auto it = alloc_.find(addr);
  if (it == alloc_.end()) throw Error(fmt::format("deallocate: no buffer at address {}", addr));
  int64_t size = it->second;
  alloc_.erase(it);
  allocated_ -= size;
  auto [pos, ok] = free_.emplace(addr, size);
  (void)ok;
  // Coalesce with the next and the previous free block.
  auto next = std::next(pos);
  if (next != free_.end() && pos->first + pos->second == next->first) {
    pos->second += next->second;
    free_.erase(next);
  }
  if (pos != free_.begin()) {
    auto prev = std::prev(pos);
    if (prev->first + prev->second == pos->first) {
      prev->second += pos->second;
      free_.erase(pos);
    }
  }
}

void BankManager::deallocate_all() {
  alloc_.clear();
  free_.clear();
  allocated_ = 0;
  if (hi_ > lo_) free_[lo_] = hi_ - lo_;
}

BankStats BankManager::stats() const {
  BankStats s;
  s.bank_size = hi_ - lo_;
  s.allocated = allocated_;
  s.free = s.bank_size - allocated_;
  for (const auto& [a, sz] : free_) s.largest_free_block = std::max(s.largest_free_block, sz);
  s.peak_allocated = peak_;
  s.num_allocations = static_cast<int64_t>(alloc_.size());
  return s;
}

std::optional<int64_t> BankManager::lowest_allocated() const {
  if (alloc_.empty()) return std::nullopt;
  return alloc_.begin()->first;
}

int64_t BankManager::block_size(int64_t addr) const {
  auto it = alloc_.find(addr);
  return it == alloc_.end() ? 0 : it->second;
}

}  // namespace oomless::device
