#include "explain/explain.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"
#include "plan/planner.hpp"

namespace oomless::explain {

using device::OomMessage;
using device::Profile;
using nlohmann::json;

namespace {

bool is_l1(std::string_view t) {
  return t == "L1" || t == "L1_SMALL";
}

// Banks a device has for a buffer type as tt-metal prints it (0: unknown type).
int64_t device_banks(const Profile& p, std::string_view type) {
  if (is_l1(type)) return p.l1_banks;
  if (type == "DRAM" || type == "TRACE") return p.dram_banks;
  return 0;
}

int64_t device_alignment(const Profile& p, std::string_view type) {
  return is_l1(type) ? p.l1_alignment : p.dram_alignment;
}

// The allocatable bytes of one bank of `type` on the device as profiled.
int64_t device_bank_size(const Profile& p, std::string_view type) {
  if (type == "L1") return p.l1_bank_size();
  if (type == "L1_SMALL") return p.l1_small_size;
  return p.dram_allocatable();
}

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> d;
  for (int64_t i = 1; i <= n / i; ++i)
    if (n % i == 0) {
      d.push_back(i);
      if (i != n / i) d.push_back(n / i);
    }
  std::sort(d.begin(), d.end());
  return d;
}

// Up to three padded tile shapes of `tiles` tiles (width from narrow to wide).
std::vector<Shape> tile_examples(int64_t tiles) {
  std::vector<Shape> out;
  std::set<int64_t> widths;
  for (int64_t cap : {4, 32, 256}) {
    int64_t wt = 1;
    for (int64_t w = std::min(cap, tiles); w >= 1; --w)
      if (tiles % w == 0) {
        wt = w;
        break;
      }
    widths.insert(wt);
  }
  for (int64_t wt : widths) out.push_back({1, 1, kTileDim * (tiles / wt), kTileDim * wt});
  return out;
}

// Every reading of a page size: tiles of each dtype, rows of each element size.
std::vector<PageCandidate> readings(int64_t s, int64_t p) {
  std::vector<PageCandidate> v;
  auto tile = [&](std::string dtype) {
    PageCandidate c;
    c.page_size = s;
    c.pages = p;
    c.layout = "TILE";
    c.dtype = std::move(dtype);
    c.examples = tile_examples(p);
    v.push_back(c);
  };
  if (s == 2048) tile("bfloat16");
  if (s == 4096) tile("float32");
  if (s == 1088) tile("bfloat8_b");
  if (s == 576) tile("bfloat4_b");
  auto rows = [&](std::string dtype, int64_t elem) {
    if (s % elem) return;
    PageCandidate c;
    c.page_size = s;
    c.pages = p;
    c.layout = "ROW_MAJOR";
    c.dtype = std::move(dtype);
    c.width = s / elem;
    c.examples = {{1, 1, p, c.width}};
    v.push_back(c);
  };
  rows("bfloat16", 2);
  rows("float32", 4);
  if (s % 2) rows("uint8", 1);
  return v;
}

int rank_of(const PageCandidate& c) {
  static const std::vector<std::string> order = {"bfloat16", "float32", "bfloat8_b", "bfloat4_b"};
  int r = c.sharded ? 100 : 0;
  if (c.layout == "TILE")
    return r + static_cast<int>(std::find(order.begin(), order.end(), c.dtype) - order.begin());
  // Rows a tensor plausibly has: tile-aligned widths up to 8K elements first.
  return r + (c.width % kTileDim == 0 && c.width <= 8192 ? 10 : 20);
}

}  // namespace

std::vector<PageCandidate> page_candidates(const OomMessage& m,
                                           const std::vector<int64_t>& alignments) {
  std::vector<PageCandidate> out;
  if (m.kind != OomMessage::Kind::Allocator || m.total_bytes <= 0 || m.bytes_per_bank <= 0 ||
      m.banks <= 0)
    return out;
  const int64_t total = m.total_bytes, per_bank = m.bytes_per_bank, banks = m.banks;
  std::set<std::pair<int64_t, int64_t>> seen;  // (page, pages): the smallest alignment's
  const std::vector<int64_t> divs = divisors(per_bank);
  std::set<int64_t> aligns(alignments.begin(), alignments.end());
  for (int64_t a : aligns) {
    if (a <= 0) continue;
    for (int64_t d : divs) {
      if (d % a) continue;  // the aligned page divides the bank's bytes
      const int64_t k = per_bank / d;
      for (int64_t s = d; s > d - a && s > 0; --s) {
        if (total % s) continue;
        const int64_t p = total / s;
        const bool interleaved = (p + banks - 1) / banks == k;
        const bool sharded = !interleaved && p <= k * banks && p > k * (banks - 1);
        if ((!interleaved && !sharded) || !seen.insert({s, p}).second) continue;
        for (auto c : readings(s, p)) {
          c.alignment = a;
          c.aligned_page = d;
          c.pages_per_bank = k;
          c.sharded = sharded;
          out.push_back(std::move(c));
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const PageCandidate& x, const PageCandidate& y) {
    int rx = rank_of(x), ry = rank_of(y);
    return rx != ry ? rx < ry : x.page_size > y.page_size;
  });
  return out;
}

namespace {

// Round l1_small_size values TT-NN users pass (device_params, tt-mlir's runtime).
const std::vector<int64_t> kCommonL1Small = {0,     4096,  8192,  12288, 16384, 20480, 24576,
                                             32768, 49152, 65536, 81920, 98304, 131072};

DeviceMatch read_device(const OomMessage& m, const Profile& p) {
  DeviceMatch d;
  d.name = p.name;
  switch (m.kind) {
    case OomMessage::Kind::Allocator: {
      const int64_t banks = device_banks(p, m.buffer_type);
      d.matches = banks == m.banks;
      d.possible = is_l1(m.buffer_type) && m.banks < banks;
      if (banks == 0)
        d.why = fmt::format("no banks of type {}", m.buffer_type);
      else if (d.matches)
        d.why = fmt::format("{} {} banks", banks, m.buffer_type == "DRAM" ? "DRAM" : "L1");
      else if (d.possible)
        d.why =
            fmt::format("{} of its {} cores: a sharded buffer or a smaller grid", m.banks, banks);
      else
        d.why = fmt::format("{} {} banks, not {}", banks, is_l1(m.buffer_type) ? "L1" : "DRAM",
                            m.banks);
      if (!m.bank_size) break;
      const int64_t bank = *m.bank_size;
      if (m.buffer_type == "L1") {
        const int64_t sum = p.l1_size - bank;  // base + l1_small_size
        // The profile's own configuration first: several round values can
        // give the same sum with bases a few hundred bytes apart.
        if (p.l1_bank_size() == bank) {
          d.l1_small_size = p.l1_small_size;
          d.unreserved_base = p.l1_unreserved_base;
          d.round = true;
        }
        for (int64_t c : kCommonL1Small) {
          if (d.round) break;
          if (sum - c < p.l1_base_lo || sum - c > p.l1_base_hi) continue;
          d.l1_small_size = c;
          d.unreserved_base = sum - c;
          d.round = true;
          break;
        }
        if (!d.round && sum >= p.l1_unreserved_base) {
          d.l1_small_size = sum - p.l1_unreserved_base;
          d.unreserved_base = p.l1_unreserved_base;
        }
        // A bank larger than this device's L1 allows cannot be this device's.
        if (sum < p.l1_base_lo) {
          d.matches = d.possible = false;
          d.why += fmt::format("; but its banks hold at most {} B", p.l1_size - p.l1_base_lo);
        }
      } else if (m.buffer_type == "L1_SMALL") {
        d.l1_small_size = bank;
        d.round = true;
      } else {
        const int64_t trace = p.dram_bank_size - p.dram_unreserved_base - bank;
        if (trace >= 0) d.trace_region_size = trace;
        if (trace < 0) {
          d.matches = false;
          d.why += fmt::format("; but its banks hold at most {} B", p.dram_allocatable());
        }
      }
      break;
    }
    case OomMessage::Kind::CbBeyondL1:
    case OomMessage::Kind::CbClash: {
      bool fits_grid = true;
      for (const auto& r : m.range) fits_grid &= r.x1 < p.grid_x && r.y1 < p.grid_y;
      const bool l1_ok = m.kind == OomMessage::Kind::CbBeyondL1 ? p.l1_size == m.l1_size
                                                                : m.l1_buffer_address < p.l1_size;
      d.matches = fits_grid && l1_ok;
      const bool whole =
          m.range.size() == 1 && m.range[0] == device::CoreRect{0, 0, p.grid_x - 1, p.grid_y - 1};
      d.whole_grid = d.matches && whole;
      d.why = !l1_ok       ? fmt::format("L1 of {} B per core", p.l1_size)
              : !fits_grid ? fmt::format("the range is outside its {}x{} grid", p.grid_x, p.grid_y)
              : whole      ? fmt::format("its whole {}x{} grid", p.grid_x, p.grid_y)
                           : fmt::format("{} of its {} cores", m.cores(), p.l1_banks);
      d.cb_region_bytes = m.cb_end - p.l1_unreserved_base;
      break;
    }
  }
  return d;
}

std::string bytes(int64_t b) {
  return fmt::format("{} B", b);
}

}  // namespace

Explanation explain(const OomMessage& m, const Options& o) {
  Explanation e;
  e.message = m;
  std::vector<Profile> devices = o.devices;
  if (devices.empty())
    for (const auto& n : device::builtin_profile_names())
      devices.push_back(device::load_profile(n));

  for (const auto& p : devices) e.devices.push_back(read_device(m, p));
  // Matching devices first, in profile order.
  std::vector<size_t> order(devices.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // A CB range that is exactly a device's grid names that device best.
  auto tier = [&](size_t i) {
    const DeviceMatch& d = e.devices[i];
    return d.whole_grid ? 0 : d.matches ? 1 : d.possible ? 2 : 3;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return tier(a) < tier(b); });
  {
    std::vector<DeviceMatch> sorted;
    std::vector<Profile> sp;
    for (size_t i : order) {
      sorted.push_back(e.devices[i]);
      sp.push_back(devices[i]);
    }
    e.devices = std::move(sorted);
    devices = std::move(sp);
  }
  // The device to reason with: an exact match whose bank size reads as a usual
  // l1_small_size (or is its own), else the first match, else the first that
  // could host it on fewer cores.
  const Profile* best = nullptr;
  const DeviceMatch* best_read = nullptr;
  for (int tier_wanted : {0, 1})
    for (int want : {0, 1, 2})  // its own bank size; a usual reading; any
      for (size_t i = 0; i < devices.size() && !best; ++i) {
        const DeviceMatch& d = e.devices[i];
        if (tier_wanted == 0 ? !d.matches : !d.possible) continue;
        const bool own = m.kind == OomMessage::Kind::Allocator && m.bank_size &&
                         device_bank_size(devices[i], m.buffer_type) == *m.bank_size;
        if (want == 0 ? own : want == 1 ? (d.round || !m.bank_size) : true)
          best = &devices[i], best_read = &d;
      }
  if (best) {  // the device reasoned with leads the list
    const auto i = best - devices.data();
    std::rotate(devices.begin(), devices.begin() + i, devices.begin() + i + 1);
    std::rotate(e.devices.begin(), e.devices.begin() + i, e.devices.begin() + i + 1);
    best = &devices[0];
    best_read = &e.devices[0];
  }

  if (m.kind == OomMessage::Kind::Allocator) {
    std::vector<int64_t> aligns;
    for (size_t i = 0; i < devices.size(); ++i)
      if (e.devices[i].matches || e.devices[i].possible || !best)
        aligns.push_back(device_alignment(devices[i], m.buffer_type));
    if (aligns.empty()) aligns = {16, 32, 64};
    e.pages = page_candidates(m, aligns);
    e.pages_total = static_cast<int64_t>(e.pages.size());
    if (e.pages.size() > o.max_pages) e.pages.resize(o.max_pages);

    // What the bank size says about the device's configuration.
    if (m.bank_size && m.buffer_type == "L1_SMALL") {
      e.l1_small_size = *m.bank_size;
      e.l1_small_note = "an L1_SMALL bank is the device's whole l1_small_size";
    } else if (m.bank_size && m.buffer_type == "L1" && best_read && best_read->l1_small_size) {
      const int64_t sum = best->l1_size - *m.bank_size;
      e.l1_small_size = best_read->l1_small_size;
      e.l1_small_note =
          best_read->round
              ? fmt::format(
                    "bank {} B = L1 {} B - {} B: l1_small_size {} B with an unreserved "
                    "base of {} B ({}'s bases: {}-{} B)",
                    *m.bank_size, best->l1_size, sum, *e.l1_small_size, *best_read->unreserved_base,
                    best->name, best->l1_base_lo, best->l1_base_hi)
              : fmt::format(
                    "bank {} B = L1 {} B - {} B: l1_small_size {} B with {}'s base of "
                    "{} B (not a usual value: the base may differ in that tt-metal "
                    "version)",
                    *m.bank_size, best->l1_size, sum, *e.l1_small_size, best->name,
                    best->l1_unreserved_base);
    } else if (m.bank_size && best_read && best_read->trace_region_size) {
      e.l1_small_note = fmt::format("DRAM bank {} B on {}: a trace region of {} B per bank",
                                    *m.bank_size, best->name, *best_read->trace_region_size);
    }

    // Fragmentation: enough free bytes in total, no block large enough.
    const int64_t need = m.bytes_per_bank;
    std::optional<int64_t> bank = m.bank_size;
    // A device opened without L1_SMALL has no such bank to compare with.
    if (!bank && best && device_bank_size(*best, m.buffer_type) > 0)
      bank = device_bank_size(*best, m.buffer_type);
    if (m.placeable && m.largest_placeable)
      e.fragmentation = *m.placeable >= need && need > *m.largest_placeable;
    else if (m.free && m.largest_free_block)
      e.fragmentation = *m.free >= need && need > *m.largest_free_block;
    else if (bank && need > *bank)
      e.fragmentation = false;

    // Advice.
    const std::string where = m.buffer_type == "DRAM" ? "DRAM" : m.buffer_type;
    if (bank && need > *bank) {
      e.advice.push_back(fmt::format(
          "The buffer alone needs {} per bank, more than a whole empty {} bank ({}): no order of "
          "allocations makes it fit over {} banks.",
          bytes(need), where, bytes(*bank), m.banks));
      if (m.buffer_type == "L1" && best && !e.pages.empty()) {
        const PageCandidate& c = e.pages.front();
        const int64_t dram_page = round_up(c.page_size, best->dram_alignment);
        const int64_t dram_need = div_up(c.pages, best->dram_banks) * dram_page;
        e.advice.push_back(fmt::format(
            "Place it in DRAM (TT-NN's default, ops stream it through their CBs): as {} pages of "
            "{} it needs {} per DRAM bank of {} on {} ({}).",
            c.pages, bytes(c.page_size), bytes(dram_need), bytes(best->dram_allocatable()),
            best->name, dram_need <= best->dram_allocatable() ? "fits" : "does not fit either"));
      }
      if (*bank > 0)  // an L1_SMALL bank of 0 B: the device was opened without one
        e.advice.push_back(fmt::format(
            "Or split the op into at least {} chunks along an outer dim (oomless's chunked "
            "strategy double-buffers them through DRAM), or shard it over more cores.",
            div_up(need, *bank)));
    } else if (e.fragmentation && *e.fragmentation) {
      const int64_t free = m.placeable ? *m.placeable : m.free.value_or(0);
      const int64_t largest =
          m.largest_placeable ? *m.largest_placeable : m.largest_free_block.value_or(0);
      e.advice.push_back(fmt::format(
          "Fragmentation: {} free per bank is enough for the {} needed, but the largest free "
          "block is {}: the live buffers are scattered.",
          bytes(free), bytes(need), bytes(largest)));
      e.advice.push_back(
          "Allocate long-lived tensors first and free short-lived ones in reverse order, move one "
          "of the buffers around the hole to DRAM (ttnn.to_memory_config), or ttnn.reallocate a "
          "live tensor to compact the bank.");
      if (largest > 0)
        e.advice.push_back(fmt::format(
            "Or make the request fit the largest block: at least {} chunks of at most {} per "
            "bank.",
            div_up(need, largest), bytes(largest)));
    } else if (m.allocated || bank) {
      if (m.allocated)
        e.advice.push_back(fmt::format(
            "Other live buffers hold {} per bank ({} free): the {} needed would fit an empty "
            "bank. Deallocate tensors no longer needed (ttnn.deallocate) or move them to DRAM "
            "before this op.",
            bytes(*m.allocated), bytes(m.free.value_or(*bank - *m.allocated)), bytes(need)));
      else
        e.advice.push_back(fmt::format(
            "An empty {} bank holds {} on {}, the buffer needs {}: other live buffers hold more "
            "than {} per bank. Deallocate tensors no longer needed or move them to DRAM before "
            "this op (or the bank is smaller than profiled: see l1_small_size).",
            where, bytes(*bank), best ? best->name : "the device", bytes(need),
            bytes(*bank - need)));
    }
    if (m.buffer_type == "L1_SMALL")
      e.advice.push_back(fmt::format(
          "L1_SMALL holds conv2d's and pooling's sliding-window config tensors; open the device "
          "with a larger l1_small_size (device_params={{'l1_small_size': N}}), at least {} per "
          "bank more than now.",
          bytes(m.allocated ? *m.allocated + need - m.bank_size.value_or(0) : need)));
    if (m.buffer_type == "DRAM")
      e.advice.push_back(
          "DRAM itself is exhausted: free or reuse DRAM tensors (KV caches, weights), lower the "
          "trace region, chunk the op from host memory, or spread it over more devices.");
  } else {
    if (m.kind == OomMessage::Kind::CbBeyondL1) e.cb_overflow_bytes = m.cb_end - m.l1_size;
    if (m.kind == OomMessage::Kind::CbClash) e.clash_bytes = m.cb_end - m.l1_buffer_address;
    const int64_t base = best ? best->l1_unreserved_base : 0;
    const int64_t region = m.cb_end - base;
    const std::string on = best ? " on " + best->name : "";
    if (m.kind == OomMessage::Kind::CbBeyondL1) {
      e.advice.push_back(fmt::format(
          "The program's static circular buffers need {} per core (from the unreserved base {} "
          "to {}{}), {} more than L1 holds: even with no L1 tensor at all they cannot fit.",
          bytes(region), base, m.cb_end, on, bytes(*e.cb_overflow_bytes)));
      e.advice.push_back(
          "Shrink the op's per-core blocks (matmul per_core_M/N, in0_block_w, out_subblock; "
          "softmax or layernorm rows held whole; conv act_block_h), spread it over more cores, "
          "or split it into smaller calls (oomless streams such ops through small CBs or chunks "
          "them).");
    } else {
      e.advice.push_back(fmt::format(
          "The CB region ends at {} but the lowest L1 buffer starts at {}: they overlap by {} on "
          "every core of {}. L1 tensors are placed top-down and lower the CB ceiling of every "
          "core.",
          m.cb_end, m.l1_buffer_address, bytes(*e.clash_bytes), m.range_text));
      e.advice.push_back(fmt::format(
          "Move L1 tensors that are live during this op to DRAM or deallocate them first: the "
          "CBs need {} per core{}, {} is free below the lowest L1 buffer.",
          bytes(region), on, bytes(std::max<int64_t>(m.l1_buffer_address - base, 0))));
    }
  }

  // With the op call: pre-check it where the message came from, and plan it.
  if (o.call) {
    Profile p =
        best ? *best
             : (devices.empty() ? device::load_profile(device::kDefaultProfile) : devices[0]);
    p.message_format = {m.words, m.range_words.value_or(device::CoreRangeWords::XY)};
    if (m.kind != OomMessage::Kind::Allocator)
      p.message_format.allocator = device::AllocatorWords::Mid2025;
    if (e.l1_small_size && m.buffer_type == "L1" && *e.l1_small_size != p.l1_small_size &&
        p.l1_size - p.l1_unreserved_base - *e.l1_small_size > 0)
      p.l1_small_size = *e.l1_small_size;  // the device as the message shows it opened
    json j;
    j["device"] = p.name;
    j["l1_small_size"] = p.l1_small_size;
    try {
      plan::QueryResult q = plan::precheck(*o.call, p);
      j["precheck_fits"] = q.fits;
      j["precheck_error"] = q.fits ? json(nullptr) : json(q.error);
      j["reproduces_message"] = !q.fits && q.error == m.text;
      plan::Plan pl = plan::choose_plan(*o.call, p, {});
      j["plan"] = plan::plan_json(pl, p);
      std::string line = plan::plan_line(pl);
      if (line.starts_with("plan: ")) line = line.substr(6);
      j["plan_line"] = line;
      std::string shapes;
      for (const auto& t : o.call->inputs)
        shapes += (shapes.empty() ? "" : " x ") + shape_str(t.shape);
      e.advice.push_back(fmt::format("oomless's plan for {} {} on {}: {}", o.call->op->name, shapes,
                                     p.name, j["plan_line"].get<std::string>()));
      if (!q.fits)
        e.advice.push_back(fmt::format("oomless's pre-check of that call as requested: {}{}",
                                       q.error, q.error == m.text ? " (this message)" : ""));
      // The call reproduces the message: its allocator state gives the words
      // (and statistics) of any version.
      if (o.render_as && !q.fits && q.error == m.text) {
        Profile r = p;
        r.message_format = *o.render_as;
        e.rendered = plan::precheck(*o.call, r).error;
      }
    } catch (const Error& ex) {
      j["error"] = ex.what();
      e.advice.push_back(fmt::format("could not plan the call: {}", ex.what()));
    }
    e.plan = j;
  }
  if (o.render_as && !e.rendered) {
    e.rendered = device::render(m, *o.render_as);
    e.render_failed = !e.rendered;
  }
  return e;
}

namespace {

json opt(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string format_name(const OomMessage& m) {
  if (m.kind == OomMessage::Kind::Allocator)
    return std::string(device::allocator_words_name(m.words));
  return m.range_words == device::CoreRangeWords::Dash ? "dash-ranges" : "xy-ranges";
}

}  // namespace

json to_json(const Explanation& e) {
  const OomMessage& m = e.message;
  const bool alloc = m.kind == OomMessage::Kind::Allocator;
  json j;
  j["kind"] = device::oom_kind_name(m.kind);
  j["format"] = format_name(m);
  j["message"] = m.text;
  j["line"] = m.line;
  j["occurrences"] = m.occurrences;
  j["prefix"] = m.prefix.empty() ? json(nullptr) : json(m.prefix);
  j["buffer_type"] = alloc ? json(m.buffer_type) : json(nullptr);
  j["total_bytes"] = alloc ? json(m.total_bytes) : json(nullptr);
  j["banks"] = alloc ? json(m.banks) : json(nullptr);
  j["bytes_per_bank"] = alloc ? json(m.bytes_per_bank) : json(nullptr);
  j["bank_size"] = opt(m.bank_size);
  j["allocated"] = opt(m.allocated);
  j["free"] = opt(m.free);
  j["largest_free_block"] = opt(m.largest_free_block);
  j["placeable"] = opt(m.placeable);
  j["largest_placeable"] = opt(m.largest_placeable);
  j["core_range"] = alloc ? json(nullptr) : json(m.range_text);
  j["cores"] = alloc ? json(nullptr) : json(m.cores());
  j["cb_end"] = alloc ? json(nullptr) : json(m.cb_end);
  j["l1_size"] = m.kind == OomMessage::Kind::CbBeyondL1 ? json(m.l1_size) : json(nullptr);
  j["program_id"] = m.kind == OomMessage::Kind::CbClash ? json(m.program_id) : json(nullptr);
  j["l1_buffer_address"] =
      m.kind == OomMessage::Kind::CbClash ? json(m.l1_buffer_address) : json(nullptr);
  std::optional<int64_t> region;
  for (const auto& d : e.devices)
    if (d.matches && d.cb_region_bytes) {
      region = d.cb_region_bytes;
      break;
    }
  j["cb_region_bytes"] = opt(region);
  j["cb_overflow_bytes"] = opt(e.cb_overflow_bytes);
  j["clash_bytes"] = opt(e.clash_bytes);
  json pages = json::array();
  for (const auto& c : e.pages) {
    json examples = json::array();
    for (const auto& s : c.examples) examples.push_back(s);
    pages.push_back({{"page_size", c.page_size},
                     {"pages", c.pages},
                     {"layout", c.layout},
                     {"dtype", c.dtype},
                     {"width", c.layout == "ROW_MAJOR" ? json(c.width) : json(nullptr)},
                     {"alignment", c.alignment},
                     {"aligned_page", c.aligned_page},
                     {"pages_per_bank", c.pages_per_bank},
                     {"sharded", c.sharded},
                     {"examples", examples}});
  }
  j["page_candidates"] = pages;
  j["page_candidates_total"] = e.pages_total;
  json devs = json::array();
  for (const auto& d : e.devices)
    devs.push_back({{"name", d.name},
                    {"matches", d.matches},
                    {"possible", d.possible},
                    {"whole_grid", d.whole_grid},
                    {"why", d.why},
                    {"usual_l1_small_size", d.round},
                    {"l1_small_size", opt(d.l1_small_size)},
                    {"unreserved_base", opt(d.unreserved_base)},
                    {"trace_region_size", opt(d.trace_region_size)},
                    {"cb_region_bytes", opt(d.cb_region_bytes)}});
  j["devices"] = devs;
  j["l1_small_size"] = opt(e.l1_small_size);
  j["l1_small_note"] = e.l1_small_note.empty() ? json(nullptr) : json(e.l1_small_note);
  j["fragmentation"] = e.fragmentation ? json(*e.fragmentation) : json(nullptr);
  j["advice"] = e.advice;
  j["plan"] = e.plan ? *e.plan : json(nullptr);
  j["rendered"] = e.rendered ? json(*e.rendered) : json(nullptr);
  return j;
}

std::string to_text(const Explanation& e, size_t index) {
  const OomMessage& m = e.message;
  std::string s = fmt::format("message {} (line {}{}): {}, {} words\n  {}\n", index + 1, m.line,
                              m.occurrences > 1 ? fmt::format(", {} times", m.occurrences) : "",
                              device::oom_kind_name(m.kind), format_name(m), m.text);
  if (m.kind == OomMessage::Kind::Allocator) {
    s += fmt::format("  buffer: {} {} B over {} banks, {} B per bank\n", m.buffer_type,
                     m.total_bytes, m.banks, m.bytes_per_bank);
    if (m.bank_size)
      s += fmt::format(
          "  bank: {} B{}\n", *m.bank_size,
          m.allocated
              ? fmt::format(" (allocated {} B, free {} B, largest free block {} B)", *m.allocated,
                            m.free.value_or(0), m.largest_free_block.value_or(0))
              : "");
    if (m.placeable)
      s += fmt::format("  placeable after dependencies: {} B, largest window {} B\n", *m.placeable,
                       m.largest_placeable.value_or(0));
    if (!e.pages.empty()) {
      s += fmt::format("  pages ({} reading{} give exactly these bytes):\n", e.pages_total,
                       e.pages_total == 1 ? "" : "s");
      for (size_t i = 0; i < e.pages.size() && i < 6; ++i) {
        const auto& c = e.pages[i];
        std::string ex;
        for (const auto& sh : c.examples) ex += (ex.empty() ? "" : ", ") + shape_str(sh);
        s += fmt::format("    {} pages of {} B ({} {}{}{}), {} per bank of {} B aligned, e.g. {}\n",
                         c.pages, c.page_size, c.layout, c.dtype,
                         c.layout == "ROW_MAJOR" ? fmt::format(" rows of {}", c.width) : "",
                         c.sharded ? ", sharded" : "", c.pages_per_bank, c.aligned_page, ex);
      }
      if (e.pages_total > 6)
        s += fmt::format("    ... and {} more (--json lists them)\n", e.pages_total - 6);
    } else {
      s += "  pages: no page size and count give exactly these bytes at the devices' alignments\n";
    }
  } else {
    s += fmt::format("  core range {} ({} cores), CB region ends at {}", m.range_text, m.cores(),
                     m.cb_end);
    if (m.kind == OomMessage::Kind::CbBeyondL1)
      s += fmt::format(", L1 is {} B: over by {} B\n", m.l1_size, *e.cb_overflow_bytes);
    else
      s += fmt::format(", lowest L1 buffer at {}: overlap {} B (program {})\n", m.l1_buffer_address,
                       *e.clash_bytes, m.program_id);
  }
  std::string yes, maybe, no;
  for (const auto& d : e.devices) {
    std::string extra = d.cb_region_bytes ? fmt::format("; CB region {} B", *d.cb_region_bytes)
                        : d.trace_region_size
                            ? fmt::format("; trace region {} B", *d.trace_region_size)
                        : d.l1_small_size ? fmt::format("; l1_small_size {} B{}", *d.l1_small_size,
                                                        d.round ? "" : " with its base (unusual)")
                                          : "";
    std::string item = fmt::format("{} ({}{})", d.name, d.why, extra);
    std::string& list = d.matches ? yes : d.possible ? maybe : no;
    list += (list.empty() ? "" : ", ") + item;
  }
  s += fmt::format("  devices: {}\n",
                   yes.empty() ? "none of the profiles has exactly these banks" : yes);
  if (!maybe.empty()) s += fmt::format("  on fewer cores: {}\n", maybe);
  if (!no.empty()) s += fmt::format("  not: {}\n", no);
  if (!e.l1_small_note.empty()) s += fmt::format("  l1_small_size: {}\n", e.l1_small_note);
  if (m.kind == OomMessage::Kind::Allocator)
    s += fmt::format("  fragmentation: {}\n",
                     !e.fragmentation   ? "unknown (no allocator statistics in these words)"
                     : *e.fragmentation ? "yes"
                                        : "no");
  if (e.rendered) s += fmt::format("  in the requested format: {}\n", *e.rendered);
  if (e.render_failed)
    s += "  in the requested format: cannot say, these words lack the numbers it prints\n";
  s += "  advice:\n";
  for (const auto& a : e.advice) s += fmt::format("    - {}\n", a);
  return s;
}

}  // namespace oomless::explain
