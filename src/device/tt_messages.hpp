// tt-metal's out-of-memory messages, every version of their words, both ways:
// written from the emulated allocator's state (Device) and read back from a
// log (`oomless explain`). One place holds the texts so the two cannot drift.
//
// Sources (format strings, not code): tenstorrent/tt-metal
//   tt_metal/impl/allocator/bank_manager.cpp  BankManager::allocate_buffer:
//     until mid-2025 "... where each bank needs to store {} B";
//     by Sep 2025 ", but bank size is only {} B" (e.g. tt-metal#35431, tt-xla#1722);
//     PR 32150 (Nov 2025) ", but bank size is {} B (allocated: {} B, free: {} B,
//     largest free block: {} B)" (e.g. tt-mlir#8044, tt-xla#4128);
//     with overlapped allocators (sub-devices / submeshes, PR 27606, Sep 2025)
//     "Not enough space after considering dependencies to allocate {} B {} across
//     {} banks ({} B per bank)", later with the statistics and then with
//     ". After subtracting ... remained placeable ..." (read only).
//   tt_metal/impl/program/program.cpp  validate_circular_buffer_region: the
//     "grow to ... beyond max L1 size" and "clash with L1 buffers" texts.
//   CoreRange's text: "[(x=0,y=0) - (x=7,y=7)]" until early 2026 (tt-xla#522,
//     tt-metal#28835), "[0-0 - 7-7]" since (tt-metal#46608, #54876).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "device/bank_manager.hpp"

namespace oomless::device {

enum class AllocatorWords : uint8_t {
  Mid2025,       // "..., where each bank needs to store {per} B"
  BankSizeOnly,  // "..., but bank size is only {bank} B"
  Stats,      // "..., but bank size is {bank} B (allocated: .., free: .., largest free block: ..)"
  SubDevice,  // "... after considering dependencies ... ({per} B per bank), bank size is ..."
};
enum class CoreRangeWords : uint8_t { XY, Dash };

// The message style a profile speaks. Named formats (parse_message_format):
//   mid-2025 (the seed's, default), sep-2025, nov-2025, 2026 (nov-2025 words,
//   new core ranges), sub-device; "+xy-ranges" / "+dash-ranges" override the
//   core-range words of any of them.
struct MessageFormat {
  AllocatorWords allocator = AllocatorWords::Mid2025;
  CoreRangeWords ranges = CoreRangeWords::XY;
  std::string name() const;  // canonical spec, parse_message_format(name()) == *this
  bool operator==(const MessageFormat&) const = default;
};
inline constexpr std::string_view kDefaultMessageFormat = "mid-2025";
// Throws InvalidArgument listing the names.
MessageFormat parse_message_format(std::string_view spec);
// (name, what it prints) for help texts.
std::vector<std::pair<std::string, std::string>> message_format_names();
std::string_view allocator_words_name(AllocatorWords w);  // "mid-2025", ... "sub-device"

// An inclusive rectangle of logical worker cores.
struct CoreRect {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int64_t cores() const { return (x1 - x0 + 1) * (y1 - y0 + 1); }
  bool operator==(const CoreRect&) const = default;
};
std::string core_range_text(CoreRangeWords w, const CoreRect& r);

// A buffer no bank range could hold: what the allocator knew when it failed.
struct AllocatorFailure {
  std::string buffer_type;  // "L1", "DRAM", "L1_SMALL" as tt-metal names them
  int64_t total_bytes = 0, banks = 0, bytes_per_bank = 0;
  BankStats stats;  // bank_size, allocated, free, largest_free_block
};
std::string allocator_message(const MessageFormat& f, const AllocatorFailure& a);
std::string cb_beyond_l1_message(const MessageFormat& f, const std::vector<CoreRect>& range,
                                 int64_t cb_end, int64_t l1_size);
std::string cb_clash_message(const MessageFormat& f, int64_t program_id,
                             const std::vector<CoreRect>& range, int64_t l1_buffer_address,
                             int64_t cb_end);

// One out-of-memory message found in a text.
struct OomMessage {
  enum class Kind : uint8_t { Allocator, CbBeyondL1, CbClash };
  Kind kind = Kind::Allocator;
  AllocatorWords words = AllocatorWords::Mid2025;  // allocator messages
  std::optional<CoreRangeWords> range_words;       // CB messages
  std::string buffer_type;                         // as printed
  int64_t total_bytes = 0, banks = 0, bytes_per_bank = 0;
  std::optional<int64_t> bank_size, allocated, free, largest_free_block;
  std::optional<int64_t> placeable, largest_placeable;  // newest sub-device suffix
  std::vector<CoreRect> range;
  std::string range_text;  // as printed
  int64_t cb_end = 0, l1_size = 0, program_id = -1, l1_buffer_address = 0;
  std::string text;    // the message, whitespace runs folded to one space
  std::string prefix;  // "TT_FATAL", "TT_THROW", "critical" ... when seen on its line
  int64_t line = 0;    // 1-based line of the text where it starts
  int64_t occurrences = 1;
  int64_t cores() const;  // cores in `range`
};
std::string_view oom_kind_name(OomMessage::Kind k);  // "allocator", "cb_beyond_l1", "cb_clash"

// Every distinct OOM message in a log (wrapped lines, TT_FATAL/TT_THROW
// prefixes, "(assert.hpp:N)" suffixes and backtraces are fine); a message
// repeated verbatim is one entry with its count.
std::vector<OomMessage> find_oom_messages(std::string_view text);

// The message in another format (nullopt when the message lacks the numbers
// that format prints, e.g. the allocator statistics before Nov 2025).
std::optional<std::string> render(const OomMessage& m, const MessageFormat& f);

}  // namespace oomless::device
