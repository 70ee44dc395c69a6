#include "core/layout.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace oomless {

std::string_view layout_name(Layout l) {
  return l == Layout::Tile ? "TILE" : "ROW_MAJOR";
}

Layout parse_layout(std::string_view s, std::string_view op) {
  if (s == "tile" || s == "TILE" || s == "TILE_LAYOUT") return Layout::Tile;
  if (s == "row_major" || s == "ROW_MAJOR" || s == "rm" || s == "ROW_MAJOR_LAYOUT")
    return Layout::RowMajor;
  fail(op, fmt::format("unknown layout '{}' (expected tile or row_major)", s));
}

Shape padded_shape(const Shape& s, Layout l) {
  if (l == Layout::RowMajor) return s;
  Shape p = s;
  if (p.empty()) p = {1};
  if (p.size() == 1) p.insert(p.begin(), 1);
  p[p.size() - 1] = round_up(p[p.size() - 1], kTileDim);
  p[p.size() - 2] = round_up(p[p.size() - 2], kTileDim);
  return p;
}

int64_t tile_page_bytes(DType t) {
  if (t == DType::BFP8_B) return kTileElems + kTileElems / 16;
  return kTileElems * static_cast<int64_t>(element_size(t));
}

PageSpec page_spec(const Shape& s, DType t, Layout l) {
  if (l == Layout::Tile) {
    Shape p = padded_shape(s, l);
    return {numel(p) / kTileElems, tile_page_bytes(t)};
  }
  if (t == DType::BFP8_B) fail("layout", "bfloat8_b requires TILE layout");
  int64_t width = s.empty() ? 1 : s.back();
  int64_t rows = s.empty() ? 1 : numel(Shape(s.begin(), s.end() - 1));
  return {rows, width * static_cast<int64_t>(element_size(t))};
}

}  // namespace oomless
