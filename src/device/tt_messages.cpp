#include "device/tt_messages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.hpp"

namespace oomless::device {

// ---- Formats ---------------------------------------------------------------------------------

namespace {

struct NamedFormat {
  std::string_view name;
  MessageFormat format;
  std::string_view about;
};

const std::vector<NamedFormat>& named_formats() {
  static const std::vector<NamedFormat> k = {
      {"mid-2025",
       {AllocatorWords::Mid2025, CoreRangeWords::XY},
       "until mid-2025 (the seed's logs): '..., where each bank needs to store {} B'"},
      {"sep-2025",
       {AllocatorWords::BankSizeOnly, CoreRangeWords::XY},
       "by Sep 2025: '..., but bank size is only {} B'"},
      {"nov-2025",
       {AllocatorWords::Stats, CoreRangeWords::XY},
       "tt-metal PR 32150 (Nov 2025): '..., but bank size is {} B (allocated: {} B, free: {} "
       "B, largest free block: {} B)'"},
      {"2026",
       {AllocatorWords::Stats, CoreRangeWords::Dash},
       "nov-2025's words with core ranges as '[0-0 - 7-7]'"},
      {"sub-device",
       {AllocatorWords::SubDevice, CoreRangeWords::Dash},
       "overlapped allocators (sub-devices, submeshes): 'Not enough space after considering "
       "dependencies to allocate {} B {} across {} banks ({} B per bank), bank size is ...'"},
  };
  return k;
}

}  // namespace

std::string_view allocator_words_name(AllocatorWords w) {
  switch (w) {
    case AllocatorWords::Mid2025:
      return "mid-2025";
    case AllocatorWords::BankSizeOnly:
      return "sep-2025";
    case AllocatorWords::Stats:
      return "nov-2025";
    case AllocatorWords::SubDevice:
      return "sub-device";
  }
  return "?";
}

std::string MessageFormat::name() const {
  for (const auto& n : named_formats())
    if (n.format == *this) return std::string(n.name);
  // A named allocator style with the other core-range words.
  for (const auto& n : named_formats())
    if (n.format.allocator == allocator)
      return fmt::format("{}+{}", n.name,
                         ranges == CoreRangeWords::XY ? "xy-ranges" : "dash-ranges");
  return "?";
}

MessageFormat parse_message_format(std::string_view spec) {
  std::string_view base = spec, suffix;
  if (auto plus = spec.find('+'); plus != std::string_view::npos) {
    base = spec.substr(0, plus);
    suffix = spec.substr(plus + 1);
  }
  for (const auto& n : named_formats()) {
    if (n.name != base) continue;
    MessageFormat f = n.format;
    if (suffix == "xy-ranges")
      f.ranges = CoreRangeWords::XY;
    else if (suffix == "dash-ranges")
      f.ranges = CoreRangeWords::Dash;
    else if (!suffix.empty())
      break;
    return f;
  }
  std::string names;
  for (const auto& n : named_formats()) names += (names.empty() ? "" : ", ") + std::string(n.name);
  fail("tt-metal-format", fmt::format("unknown message format '{}' (known: {}; append "
                                      "+xy-ranges or +dash-ranges to change the core ranges)",
                                      spec, names));
}

std::vector<std::pair<std::string, std::string>> message_format_names() {
  std::vector<std::pair<std::string, std::string>> v;
  for (const auto& n : named_formats()) v.emplace_back(n.name, n.about);
  return v;
}

std::string core_range_text(CoreRangeWords w, const CoreRect& r) {
  if (w == CoreRangeWords::XY)
    return fmt::format("[(x={},y={}) - (x={},y={})]", r.x0, r.y0, r.x1, r.y1);
  return fmt::format("[{}-{} - {}-{}]", r.x0, r.y0, r.x1, r.y1);
}

static std::string ranges_text(CoreRangeWords w, const std::vector<CoreRect>& rs) {
  if (rs.size() == 1) return core_range_text(w, rs[0]);
  std::string s = "{";
  for (size_t i = 0; i < rs.size(); ++i) s += (i ? ", " : "") + core_range_text(w, rs[i]);
  return s + "}";
}

std::string allocator_message(const MessageFormat& f, const AllocatorFailure& a) {
  const BankStats& s = a.stats;
  switch (f.allocator) {
    case AllocatorWords::SubDevice:
      return fmt::format(
          "Out of Memory: Not enough space after considering dependencies to allocate {} B {} "
          "across {} banks ({} B per bank), bank size is {} B (allocated: {} B, free: {} B, "
          "largest free block: {} B)",
          a.total_bytes, a.buffer_type, a.banks, a.bytes_per_bank, s.bank_size, s.allocated, s.free,
          s.largest_free_block);
    case AllocatorWords::Mid2025:
    case AllocatorWords::BankSizeOnly:
    case AllocatorWords::Stats:
      break;
  }
  std::string m = fmt::format(
      "Out of Memory: Not enough space to allocate {} B {} buffer across {} banks, where each "
      "bank needs to store {} B",
      a.total_bytes, a.buffer_type, a.banks, a.bytes_per_bank);
  if (f.allocator == AllocatorWords::BankSizeOnly)
    m += fmt::format(", but bank size is only {} B", s.bank_size);
  else if (f.allocator == AllocatorWords::Stats)
    m += fmt::format(
        ", but bank size is {} B (allocated: {} B, free: {} B, largest free block: {} B)",
        s.bank_size, s.allocated, s.free, s.largest_free_block);
  return m;
}

std::string cb_beyond_l1_message(const MessageFormat& f, const std::vector<CoreRect>& range,
                                 int64_t cb_end, int64_t l1_size) {
  return fmt::format(
      "Statically allocated circular buffers on core range {} grow to {} B which is beyond max "
      "L1 size of {} B",
      ranges_text(f.ranges, range), cb_end, l1_size);
}

std::string cb_clash_message(const MessageFormat& f, int64_t program_id,
                             const std::vector<CoreRect>& range, int64_t l1_buffer_address,
                             int64_t cb_end) {
  return fmt::format(
      "Statically allocated circular buffers in program {} clash with L1 buffers on core range "
      "{}. L1 buffer allocated at {} and static circular buffer region ends at {}",
      program_id, ranges_text(f.ranges, range), l1_buffer_address, cb_end);
}

// ---- Reading messages back -------------------------------------------------------------------

namespace {

// Matches message words against a log: any run of whitespace in the log (a
// wrapped line) matches one space of the pattern; numbers may carry
// thousands separators.
struct Cursor {
  std::string_view s;
  size_t i = 0;

  bool at_space() const { return i < s.size() && std::isspace(static_cast<unsigned char>(s[i])); }
  void skip_space() {
    while (at_space()) {
      bool newline = s[i] == '\n';
      ++i;
      // pytest prefixes continuation lines of an error with "E   ".
      if (newline && i + 1 < s.size() && s[i] == 'E' && (s[i + 1] == ' ' || s[i + 1] == '\t')) ++i;
    }
  }
  bool lit(std::string_view w) {
    size_t save = i;
    for (size_t k = 0; k < w.size(); ++k) {
      if (w[k] == ' ') {
        if (!at_space()) return i = save, false;
        skip_space();
        continue;
      }
      if (i >= s.size() || s[i] != w[k]) return i = save, false;
      ++i;
    }
    return true;
  }
  bool digit(size_t k) const {
    return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]));
  }
  bool num(int64_t& v) {
    if (!digit(i)) return false;
    size_t j = i;
    int64_t x = 0;
    int group = 0;  // digits since the last thousands separator
    bool grouped = false;
    while (j < s.size()) {
      if (digit(j)) {
        if (x > (INT64_MAX - 9) / 10) return false;
        x = x * 10 + (s[j++] - '0');
        ++group;
      } else if (s[j] == ',' && group >= 1 && group <= 3 && (!grouped || group == 3) &&
                 digit(j + 1) && digit(j + 2) && digit(j + 3) && !digit(j + 4)) {
        grouped = true;
        group = 0;
        ++j;
      } else {
        break;
      }
    }
    v = x;
    i = j;
    return true;
  }
  bool word(std::string& w) {
    size_t b = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    w = std::string(s.substr(b, i - b));
    return i > b;
  }
};

std::string fold_space(std::string_view s) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (std::isspace(static_cast<unsigned char>(ch))) {
      space = true;
      if (ch == '\n' && i + 2 < s.size() && s[i + 1] == 'E' &&
          (s[i + 2] == ' ' || s[i + 2] == '\t'))
        ++i;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += ch;
  }
  return out;
}

std::vector<CoreRect> parse_ranges(std::string_view t, std::optional<CoreRangeWords>* words) {
  std::vector<CoreRect> out;
  *words = std::nullopt;
  size_t p = 0;
  while ((p = t.find('[', p)) != std::string_view::npos) {
    size_t q = t.find(']', p);
    if (q == std::string_view::npos) break;
    std::string_view g = t.substr(p + 1, q - p - 1);
    std::vector<int64_t> v;
    bool sane = true;
    for (size_t k = 0; k < g.size();) {
      if (std::isdigit(static_cast<unsigned char>(g[k]))) {
        int64_t x = 0;
        while (k < g.size() && std::isdigit(static_cast<unsigned char>(g[k]))) {
          x = x * 10 + (g[k++] - '0');
          sane &= x < (int64_t{1} << 20);  // core coordinates are small
          x = std::min<int64_t>(x, int64_t{1} << 20);
        }
        v.push_back(x);
      } else {
        ++k;
      }
    }
    CoreRect r;
    if (v.size() == 4)
      r = {v[0], v[1], v[2], v[3]};
    else if (v.size() == 2)
      r = {v[0], v[1], v[0], v[1]};
    else
      sane = false;
    if (sane && r.x1 >= r.x0 && r.y1 >= r.y0) out.push_back(r);
    *words = g.find("x=") != std::string_view::npos ? CoreRangeWords::XY : CoreRangeWords::Dash;
    p = q + 1;
  }
  return out;
}

// "... to allocate {} B {} buffer across {} banks, where ..." after the anchor.
bool parse_allocator(Cursor& c, OomMessage& m) {
  int64_t n = 0;
  if (c.lit("to allocate ")) {
    m.words = AllocatorWords::Mid2025;
    if (!c.num(m.total_bytes) || !c.lit(" B ") || !c.word(m.buffer_type) ||
        !c.lit(" buffer across ") || !c.num(m.banks) ||
        !c.lit(" banks, where each bank needs to store ") || !c.num(m.bytes_per_bank) ||
        !c.lit(" B"))
      return false;
    if (!c.lit(", but bank size is ")) return true;
    m.words = c.lit("only ") ? AllocatorWords::BankSizeOnly : AllocatorWords::Stats;
    if (!c.num(n) || !c.lit(" B")) return false;
    m.bank_size = n;
    if (m.words == AllocatorWords::BankSizeOnly) return true;
  } else if (c.lit("after considering dependencies to allocate ")) {
    m.words = AllocatorWords::SubDevice;
    if (!c.num(m.total_bytes) || !c.lit(" B ") || !c.word(m.buffer_type) || !c.lit(" across ") ||
        !c.num(m.banks) || !c.lit(" banks (") || !c.num(m.bytes_per_bank) || !c.lit(" B per bank)"))
      return false;
    if (!c.lit(", bank size is ")) return true;
    if (!c.num(n) || !c.lit(" B")) return false;
    m.bank_size = n;
  } else {
    return false;
  }
  size_t save = c.i;
  int64_t a = 0, f = 0, l = 0;
  if (c.lit(" (allocated: ") && c.num(a) && c.lit(" B, free: ") && c.num(f) &&
      c.lit(" B, largest free block: ") && c.num(l) && c.lit(" B)")) {
    m.allocated = a;
    m.free = f;
    m.largest_free_block = l;
  } else {
    c.i = save;
    return true;
  }
  save = c.i;
  int64_t deps = 0, occ = 0, pl = 0, win = 0, lp = 0;
  if (m.words == AllocatorWords::SubDevice && c.lit(". After subtracting ") && c.num(deps) &&
      c.lit(" dependency range(s) and ") && c.num(occ) &&
      c.lit(" additional occupied range(s), ") && c.num(pl) &&
      c.lit(" B remained placeable across ") && c.num(win) && c.lit(" window(s), largest ") &&
      c.num(lp) && c.lit(" B")) {
    m.placeable = pl;
    m.largest_placeable = lp;
  } else {
    c.i = save;
  }
  return true;
}

bool parse_cb(Cursor& c, OomMessage& m) {
  // The core range runs up to the next fixed words, within a bounded distance.
  auto take_range = [&](std::string_view stop) {
    std::string_view rest = c.s.substr(c.i);
    size_t p = rest.find(stop);
    if (p == std::string_view::npos || p > 400) return false;
    m.range_text = std::string(rest.substr(0, p));
    c.i += p;
    return true;
  };
  if (c.lit("on core range ")) {
    m.kind = OomMessage::Kind::CbBeyondL1;
    if (!take_range("grow to") || !c.lit("grow to ") || !c.num(m.cb_end) ||
        !c.lit(" B which is beyond max L1 size of ") || !c.num(m.l1_size) || !c.lit(" B"))
      return false;
  } else if (c.lit("in program ")) {
    m.kind = OomMessage::Kind::CbClash;
    if (!c.num(m.program_id) || !c.lit(" clash with L1 buffers on core range ") ||
        !take_range(". L1 buffer") || !c.lit(". L1 buffer allocated at ") ||
        !c.num(m.l1_buffer_address) || !c.lit(" and static circular buffer region ends at ") ||
        !c.num(m.cb_end))
      return false;
  } else {
    return false;
  }
  m.range_text = fold_space(m.range_text);
  m.range = parse_ranges(m.range_text, &m.range_words);
  return !m.range.empty();
}

std::string line_prefix(std::string_view text, size_t at) {
  size_t b = text.rfind('\n', at == 0 ? 0 : at - 1);
  b = b == std::string_view::npos ? 0 : b + 1;
  std::string_view head = text.substr(b, at - b);
  for (std::string_view k : {"TT_FATAL", "TT_THROW", "critical", "RuntimeError"})
    if (head.find(k) != std::string_view::npos) return std::string(k);
  return "";
}

}  // namespace

int64_t OomMessage::cores() const {
  int64_t n = 0;
  for (const auto& r : range) n += r.cores();
  return n;
}

std::string_view oom_kind_name(OomMessage::Kind k) {
  switch (k) {
    case OomMessage::Kind::Allocator:
      return "allocator";
    case OomMessage::Kind::CbBeyondL1:
      return "cb_beyond_l1";
    case OomMessage::Kind::CbClash:
      return "cb_clash";
  }
  return "?";
}

std::vector<OomMessage> find_oom_messages(std::string_view text) {
  static constexpr std::string_view kAlloc = "Out of Memory: Not enough space ";
  static constexpr std::string_view kCb = "Statically allocated circular buffers ";
  std::vector<OomMessage> out;
  std::map<std::string, size_t> seen;
  size_t pos = 0;
  int64_t line = 1;
  size_t line_pos = 0;
  while (pos < text.size()) {
    size_t a = text.find(kAlloc, pos), b = text.find(kCb, pos);
    size_t at = std::min(a, b);
    if (at == std::string_view::npos) break;
    bool alloc = at == a;
    Cursor c{text, at + (alloc ? kAlloc : kCb).size()};
    OomMessage m;
    bool ok = alloc ? parse_allocator(c, m) : parse_cb(c, m);
    if (!ok) {
      pos = at + 1;
      continue;
    }
    for (; line_pos < at; ++line_pos)
      if (text[line_pos] == '\n') ++line;
    m.text = fold_space(text.substr(at, c.i - at));
    m.line = line;
    m.prefix = line_prefix(text, at);
    auto [it, fresh] = seen.emplace(m.text, out.size());
    if (fresh)
      out.push_back(std::move(m));
    else
      ++out[it->second].occurrences;
    pos = c.i;
  }
  return out;
}

std::optional<std::string> render(const OomMessage& m, const MessageFormat& f) {
  switch (m.kind) {
    case OomMessage::Kind::Allocator: {
      AllocatorFailure a{m.buffer_type, m.total_bytes, m.banks, m.bytes_per_bank, {}};
      bool stats = m.allocated && m.free && m.largest_free_block && m.bank_size;
      if ((f.allocator == AllocatorWords::Stats || f.allocator == AllocatorWords::SubDevice) &&
          !stats)
        return std::nullopt;
      if (f.allocator == AllocatorWords::BankSizeOnly && !m.bank_size) return std::nullopt;
      a.stats.bank_size = m.bank_size.value_or(0);
      a.stats.allocated = m.allocated.value_or(0);
      a.stats.free = m.free.value_or(0);
      a.stats.largest_free_block = m.largest_free_block.value_or(0);
      return allocator_message(f, a);
    }
    case OomMessage::Kind::CbBeyondL1:
      return cb_beyond_l1_message(f, m.range, m.cb_end, m.l1_size);
    case OomMessage::Kind::CbClash:
      return cb_clash_message(f, m.program_id, m.range, m.l1_buffer_address, m.cb_end);
  }
  return std::nullopt;
}

}  // namespace oomless::device
