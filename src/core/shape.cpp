#include "core/shape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/error.hpp"

namespace oomless {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ","));
}

void check_shape_size(const Shape& s, std::string_view op) {
  if (s.size() > kMaxRank)
    fail(op, fmt::format("shape of rank {} (at most {} dims)", s.size(), kMaxRank));
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) fail(op, fmt::format("shape {} has a negative extent", shape_str(s)));
    if (d > kMaxElements || (d > 0 && n > kMaxElements / d))
      fail(op, fmt::format("shape {} has more than 2^48 elements", shape_str(s)));
    n *= std::max<int64_t>(d, 1);
  }
}

Shape parse_shape(std::string_view text, std::string_view op) {
  Shape out;
  std::string t;
  for (char c : text)
    if (c != '[' && c != ']' && c != '(' && c != ')' && c != ' ') t += (c == 'x' ? ',' : c);
  if (t.empty()) return out;  // scalar
  size_t pos = 0;
  while (pos <= t.size()) {
    size_t end = t.find(',', pos);
    if (end == std::string::npos) end = t.size();
    std::string_view tok(t.data() + pos, end - pos);
    int64_t v = -1;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || p != tok.data() + tok.size() || v < 0)
      fail(op, fmt::format("bad shape '{}': '{}' is not a non-negative integer", text, tok));
    out.push_back(v);
    if (out.size() > kMaxRank) break;  // reported below
    pos = end + 1;
  }
  check_shape_size(out, op);
  return out;
}

int64_t normalize_dim(int64_t dim, int64_t rank, std::string_view op) {
  int64_t r = std::max<int64_t>(rank, 1);
  if (dim < -r || dim >= r)
    fail(op, fmt::format("dim {} is out of range for a tensor of rank {} (expected [{}, {}])", dim,
                         rank, -r, r - 1));
  return dim < 0 ? dim + r : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, fmt::format("shapes {} and {} cannot be broadcast (dim {}: {} vs {})", shape_str(a),
                           shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace oomless
