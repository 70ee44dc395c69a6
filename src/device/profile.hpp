// A device profile: the numbers tt-metal's allocator works with. Profiles are
// data files (devices/*.json, embedded at build time) or a user's JSON file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "device/tt_messages.hpp"

namespace oomless::device {

struct Profile {
  std::string name;                // e.g. "wormhole_b0"
  std::string description;         // board, source of the numbers
  std::string arch;                // wormhole_b0, blackhole, grayskull
  int64_t grid_x = 8, grid_y = 8;  // compute grid (L1 banks = grid_x * grid_y)
  int64_t l1_banks = 64;
  int64_t l1_size = 0;             // bytes of L1 per core
  int64_t l1_unreserved_base = 0;  // first address free for CBs and buffers
  // The bases tt-metal versions have used on this architecture (explain reads
  // a message's bank size against them); default [base, base].
  int64_t l1_base_lo = 0, l1_base_hi = 0;
  int64_t l1_small_size = 0;  // L1_SMALL region, carved from the top of the bank
  int64_t l1_alignment = 16;
  int64_t dram_banks = 12;
  int64_t dram_bank_size = 0;  // usable bytes per DRAM bank
  int64_t dram_unreserved_base = 0;
  int64_t dram_alignment = 32;
  int64_t trace_region_size = 0;  // carved from the top of each DRAM bank
  // The tt-metal version whose message words the device speaks.
  MessageFormat message_format;
  // Where each fact comes from: field name -> public source.
  std::map<std::string, std::string> sources;

  // Allocatable range of an L1 bank for interleaved/sharded buffers.
  int64_t l1_bank_lo() const { return l1_unreserved_base; }
  int64_t l1_bank_hi() const { return l1_size - l1_small_size; }
  int64_t l1_bank_size() const { return l1_bank_hi() - l1_bank_lo(); }
  int64_t dram_bank_lo() const { return dram_unreserved_base; }
  int64_t dram_bank_hi() const { return dram_bank_size - trace_region_size; }
  int64_t dram_allocatable() const { return dram_bank_hi() - dram_bank_lo(); }
};

// Built-in profile by name, or a path to a JSON file. Throws InvalidArgument
// listing the known names.
Profile load_profile(const std::string& name_or_path);
Profile parse_profile(const std::string& json_text, const std::string& origin);
std::vector<std::string> builtin_profile_names();
// The profile speaking another tt-metal version's messages (a format spec as
// parse_message_format takes it; empty: unchanged).
Profile with_message_format(Profile p, std::string_view spec);
inline const char* kDefaultProfile = "wormhole_b0";

}  // namespace oomless::device
