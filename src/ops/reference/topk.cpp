// Reference of topk(k, dim, largest, sorted). Output 0 element j along dim is the j-th
// value of the row in sorted order (descending for largest, ascending otherwise; NaN
// counts as larger than every number, as in torch); output 1 is the position of that
// value in the row (ties: the lowest position first). One O(n) selection per element.
// With sorted=false the caller sorts each produced values slice the same way before
// comparing (reference.hpp). Values are exact.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Item {
  double v;
  int64_t pos;
};

struct Row {
  const Tensor* x;
  Index base;
  std::vector<int64_t> dims;  // {dim}, or {} for a 0-d input
  int64_t dim = 0;
  bool largest = true;
};

Row row_of(const OpCall& call, const Index& idx) {
  const Tensor& x = input(call, 0);
  Row r{&x, idx, {}, 0, call.args.get_bool("largest")};
  if (x.rank() > 0) {
    r.dim = normalize_dim(call.args.get_int("dim"), x.rank(), call.op.name);
    r.dims = {r.dim};
    r.base[r.dim] = 0;
  }
  return r;
}

// Whether value a comes before value b in the result order.
bool before(double a, double b, bool largest) {
  if (std::isnan(a) || std::isnan(b)) return largest ? !std::isnan(b) : !std::isnan(a);
  return largest ? a > b : a < b;
}

// The j-th item of the row in result order (ties by position).
Item select(const Row& r, int64_t j) {
  std::vector<Item> items;
  for_each_value(*r.x, r.base, r.dims, [&](double v) {
    items.push_back({v, static_cast<int64_t>(items.size())});
  });
  if (j >= static_cast<int64_t>(items.size())) return {std::nan(""), -1};
  auto order = [&](const Item& a, const Item& b) {
    if (before(a.v, b.v, r.largest)) return true;
    if (before(b.v, a.v, r.largest)) return false;
    return a.pos < b.pos;
  };
  std::nth_element(items.begin(), items.begin() + j, items.end(), order);
  return items[j];
}

int64_t position(const Row& r, const Index& idx) {
  return r.dims.empty() ? 0 : idx[r.dim];
}

}  // namespace

double topk_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output > 1) bad(call, "topk has two outputs");
  const Row r = row_of(call, idx);
  const Item it = select(r, position(r, idx));
  return output == 0 ? it.v : static_cast<double>(it.pos);
}

bool topk_index_ok(const OpCall& call, const Shapes& shapes, const Index& idx, int64_t got) {
  const Row r = row_of(call, idx);
  const int64_t n = r.dims.empty() ? 1 : r.x->shape()[r.dim];
  if (got < 0 || got >= n) return false;
  Index in = r.base;
  if (!r.dims.empty()) in[r.dim] = got;
  const double v = at(*r.x, in);
  const auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
  if (call.args.get_bool("sorted")) return same(v, select(r, position(r, idx)).v);
  // Unsorted: v must belong to the top-k set, i.e. not come after the k-th value.
  const int64_t k = r.dims.empty() ? 1 : shapes[1][r.dim];
  return !before(select(r, k - 1).v, v, r.largest);
}

}  // namespace oomless::ops::ref
