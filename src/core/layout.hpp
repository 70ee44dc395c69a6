// Device layouts. TILE pads the last two dims to multiples of 32 and stores one
// 32x32 tile per page; ROW_MAJOR stores one row (last dim) per page.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/dtype.hpp"
#include "core/shape.hpp"

namespace oomless {

enum class Layout : uint8_t { RowMajor, Tile };

constexpr int64_t kTileDim = 32;
constexpr int64_t kTileElems = kTileDim * kTileDim;

std::string_view layout_name(Layout l);  // "ROW_MAJOR" / "TILE"
Layout parse_layout(std::string_view s, std::string_view op = "layout");

inline int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}
inline int64_t div_up(int64_t v, int64_t m) {
  return (v + m - 1) / m;
}

// Shape as stored: TILE pads dims -1 and -2 to 32 (rank < 2 counts as [1, W]).
Shape padded_shape(const Shape& s, Layout l);

// Bytes of one 32x32 tile page: f32/int 4096, bf16 2048, bfloat8_b 1088 (1024 + 64 exponents).
int64_t tile_page_bytes(DType t);

struct PageSpec {
  int64_t num_pages = 0;
  int64_t page_size = 0;  // bytes, before bank alignment
  int64_t total_bytes() const { return num_pages * page_size; }
};

// Pages of a tensor in a layout. ROW_MAJOR bfloat8_b is rejected (TT requires TILE).
PageSpec page_spec(const Shape& s, DType t, Layout l);

}  // namespace oomless
