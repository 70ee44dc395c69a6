// `oomless explain`: a tt-metal out-of-memory message read backwards. From the
// numbers alone: which pages (size and count) give exactly those bytes per
// bank, which devices have that many banks and what the bank size says about
// their l1_small_size, base or trace region, the CB region and its overflow,
// whether it is fragmentation, and what to do; with an op call, the plan.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "device/profile.hpp"
#include "device/tt_messages.hpp"
#include "plan/precheck.hpp"

namespace oomless::explain {

// Pages that give the message's bytes: pages * page_size == total bytes and
// ceil(pages / banks) * round_up(page_size, alignment) == bytes per bank
// (interleaved), or, marked sharded, pages in shards of bytes_per_bank.
struct PageCandidate {
  int64_t page_size = 0, pages = 0;
  int64_t alignment = 0, aligned_page = 0, pages_per_bank = 0;
  std::string layout;  // "TILE" | "ROW_MAJOR"
  std::string dtype;   // "bfloat16" | "float32" | "bfloat8_b" | "bfloat4_b"
  int64_t width = 0;   // ROW_MAJOR: elements per row (page)
  bool sharded = false;
  std::vector<Shape> examples;  // padded shapes with exactly these pages
};

// A built-in (or given) device read against the message.
struct DeviceMatch {
  std::string name;
  bool matches = false;     // bank count (allocator) or L1 size and grid (CBs) agree
  bool possible = false;    // fewer banks than its grid: a sharded buffer or a sub-grid
  bool whole_grid = false;  // CB messages: the range is exactly its worker grid
  std::string why;          // what agrees or not
  // Allocator messages with a bank size: the l1_small_size and unreserved base
  // that give it (round: a usual l1_small_size with a base this architecture
  // has used), or the trace region (DRAM).
  std::optional<int64_t> l1_small_size, unreserved_base;
  bool round = false;
  std::optional<int64_t> trace_region_size;
  // CB messages: the region per core from this device's unreserved base.
  std::optional<int64_t> cb_region_bytes;
};

struct Explanation {
  device::OomMessage message;
  std::vector<PageCandidate> pages;
  int64_t pages_total = 0;  // candidates found (pages may be cut to a limit)
  std::vector<DeviceMatch> devices;
  std::optional<int64_t> l1_small_size;  // the best reading of the bank size
  std::string l1_small_note;             // how it was read
  std::optional<bool> fragmentation;     // free >= need > largest free block
  std::optional<int64_t> cb_overflow_bytes, clash_bytes;
  std::vector<std::string> advice;
  // With an op call: the requested placement's pre-check on the best device
  // (does it give this message?) and the plan that fits.
  std::optional<nlohmann::json> plan;
  std::optional<std::string> rendered;  // the message in --tt-metal-format's words
  bool render_failed = false;           // that format prints numbers the message lacks
};

struct Options {
  std::vector<device::Profile> devices;  // empty: every built-in profile
  std::optional<plan::CallSpec> call;
  std::optional<device::MessageFormat> render_as;
  size_t max_pages = 64;  // candidates kept per message (all are counted)
};

Explanation explain(const device::OomMessage& m, const Options& o);
// Every page candidate, uncut (for tests and tools).
std::vector<PageCandidate> page_candidates(const device::OomMessage& m,
                                           const std::vector<int64_t>& alignments);

nlohmann::json to_json(const Explanation& e);
std::string to_text(const Explanation& e, size_t index);

}  // namespace oomless::explain
