// Logical shapes and strides (in elements). Ranks are small; a vector keeps it simple.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace oomless {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

int64_t numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
// "[1,2,3]"
std::string shape_str(const Shape& s);
// Shapes beyond this many elements (counting a 0 extent as 1) are refused, so
// every size computed from a shape, tile padding included, fits in int64.
inline constexpr int64_t kMaxElements = int64_t{1} << 48;
inline constexpr size_t kMaxRank = 64;
// Throws InvalidArgument naming `op` when `s` is beyond those limits.
void check_shape_size(const Shape& s, std::string_view op);
// Parses "1,2,3" (also "[1, 2, 3]" and "1x2x3"); negative or empty entries are an error.
Shape parse_shape(std::string_view text, std::string_view op = "shape");
// Wraps a possibly negative dim into [0, rank); `rank` 0 accepts -1 and 0 like PyTorch.
int64_t normalize_dim(int64_t dim, int64_t rank, std::string_view op);
// PyTorch broadcasting of two shapes; throws naming `op` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

}  // namespace oomless
