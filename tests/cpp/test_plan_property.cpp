// Property test of the planner (issue 4): over every op of the op table, seeded
// random shapes, arguments, dtypes (bf16, f32), device profiles and budgets
// (the smallest L1 and DRAM that still give a device plan, one aligned word per
// bank above them, and random ones up to budgets where the call fits whole),
// the planned run succeeds, the allocator's peaks stay within the budgeted
// capacities, and the outputs equal the unbudgeted run bit for bit (NaN-safe).
// Then 1 vs 2 threads, and targeted tests per strategy: matmul row chunks on
// GEMM tiles, dropout chunks keyed by global index, reductions cut only where
// the kernel's row blocks stay, pooling windows across row chunks (halos),
// softmax rows across chunks and streamed rows.
//
// PLAN_PROPERTY_SEED, PLAN_PROPERTY_MAX_NUMEL and PLAN_DEBUG explore further.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "exec/planned.hpp"
#include "ops/dropout/kernels.hpp"
#include "ops/families.hpp"
#include "ops/gemm/gemm.hpp"
#include "plan/planner.hpp"

using namespace oomless;
using plan::Strategy;

namespace {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  int64_t in(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  }
  bool coin(double p = 0.5) { return std::uniform_real_distribution<double>(0, 1)(gen) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(in(0, static_cast<int64_t>(v.size()) - 1))];
  }
};

std::string ints(const std::vector<int64_t>& v) {
  return fmt::format("[{}]", fmt::join(v, ","));
}

// A random shape of rank r with at most `max_numel` elements. The device pads
// the last two dims to 32x32 tiles and spreads pages over 12 DRAM banks, so
// only tensors of many tiles can be cut into chunks smaller than the whole:
// half the shapes are such, half are small (edge cases, single tiles).
// (Shapes of rank >= 3 and many tiles are retried until they fit max_numel.)
bool g_large_only = false;  // only shapes of many tiles (coverage of chunking)

// PLAN_PROPERTY_MAX_NUMEL raises the size cap when exploring (kernel blocks
// of 4096 to 2^18 elements); `make test` keeps shapes small.
int64_t numel_cap(int64_t max_numel) {
  const char* env = std::getenv("PLAN_PROPERTY_MAX_NUMEL");
  return env ? std::max<int64_t>(max_numel, std::strtoll(env, nullptr, 10)) : max_numel;
}

Shape rand_shape(Rng& g, int r, int64_t max_dim = 160, int64_t max_numel = 60000) {
  bool large = g_large_only || g.coin();
  max_numel = numel_cap(max_numel);
  if (max_numel > 60000) max_dim = 2000;
  for (;;) {
    Shape s;
    for (int d = 0; d < r; ++d)
      s.push_back(g.in(1, d + 2 >= r ? (large ? max_dim : 40) : (large ? 8 : 4)));
    if (numel(s) <= max_numel) return s;
  }
}

struct Draft {
  std::vector<Shape> shapes;
  std::vector<std::string> args;
  bool positive = false;  // inputs drawn from [0,1) instead of N(0,1)
};

std::vector<int64_t> random_subset(Rng& g, int r) {
  std::vector<int64_t> dims;
  for (int d = 0; d < r; ++d)
    if (g.coin()) dims.push_back(g.coin() ? d : d - r);
  if (dims.empty() && r > 0) dims.push_back(g.in(0, r - 1));
  return dims;
}

// Shapes and arguments for one call of `op` (may be invalid; the caller retries).
Draft draft(const ops::OpDesc& op, Rng& g, DType dtype) {
  Draft d;
  int r = static_cast<int>(g.in(1, 4));
  switch (op.family) {
    case ops::Family::Unary: {
      d.shapes = {rand_shape(g, r)};
      auto u = static_cast<ops::UnaryOp>(op.variant);
      if (u == ops::UnaryOp::Softplus) d.args = {"beta=2", "threshold=1.5"};
      if (u == ops::UnaryOp::Hardtanh) d.args = {"min_val=-0.5", "max_val=0.75"};
      if (u == ops::UnaryOp::LeakyRelu) d.args = {"negative_slope=0.2"};
      if (u == ops::UnaryOp::Gelu) d.args = {g.coin() ? "approximate=tanh" : "approximate=none"};
      if (u == ops::UnaryOp::Clamp) d.args = {"min=-0.5", g.coin() ? "max=0.6" : "max=none"};
      if (u == ops::UnaryOp::ClampMin) d.args = {"min=0.1"};
      d.positive = u == ops::UnaryOp::Log && g.coin(0.7);
      break;
    }
    case ops::Family::Binary: {
      Shape o = rand_shape(g, r), b = o;
      for (auto& x : b)
        if (g.coin(0.3)) x = 1;
      if (g.coin(0.3)) b.erase(b.begin(), b.begin() + g.in(0, r - 1));
      d.shapes = g.coin() ? std::vector<Shape>{o, b} : std::vector<Shape>{b, o};
      auto bo = static_cast<ops::BinaryOp>(op.variant);
      if ((bo == ops::BinaryOp::Add || bo == ops::BinaryOp::Sub) && g.coin())
        d.args = {"alpha=0.5"};
      break;
    }
    case ops::Family::Softmax: {
      d.shapes = {rand_shape(g, r)};
      d.args = {"dim=" + std::to_string(g.in(-r, r - 1))};
      if (dtype == DType::BF16 && g.coin(0.3)) d.args.push_back("half_to_float=true");
      break;
    }
    case ops::Family::Reduce: {
      d.shapes = {rand_shape(g, r)};
      if (!g.coin(0.2)) d.args.push_back("dim=" + ints(random_subset(g, r)));
      if (g.coin()) d.args.push_back("keepdim=true");
      if (static_cast<ops::ReduceOp>(op.variant) == ops::ReduceOp::VectorNorm)
        d.args.push_back("ord=" + g.pick<std::string>({"2", "1", "inf", "-inf", "0", "3"}));
      break;
    }
    case ops::Family::BatchNorm: {
      r = static_cast<int>(g.in(2, 4));
      Shape x = rand_shape(g, r);
      bool cl = r == 4 && g.coin();
      int64_t c = x[cl ? 3 : 1];
      bool training = g.coin();
      int n = training ? static_cast<int>(g.pick<int64_t>({1, 3, 5})) : 5;
      d.shapes = {x};
      for (int i = 1; i < n; ++i) d.shapes.push_back({c});
      d.args = {training ? "training=true" : "training=false"};
      if (cl) d.args.push_back("channels_last=true");
      d.positive = true;  // a positive running_var
      break;
    }
    case ops::Family::MaxPool: {
      r = static_cast<int>(g.in(3, 4));
      Shape x = rand_shape(g, r);
      bool cl = r == 4 && g.coin();
      if (cl) std::rotate(x.begin() + 1, x.begin() + 2, x.end());  // N,H,W,C
      int64_t k = g.in(1, 3);
      d.shapes = {x};
      d.args = {"kernel_size=" + std::to_string(k), "stride=" + std::to_string(g.in(1, 3)),
                "padding=" + std::to_string(g.in(0, k / 2)),
                "dilation=" + std::to_string(g.in(1, 2))};
      if (g.coin()) d.args.push_back("ceil_mode=true");
      if (cl) d.args.push_back("channels_last=true");
      break;
    }
    case ops::Family::Upsample: {
      Shape x = rand_shape(g, 4, 60, 10000);
      bool cl = g.coin();
      d.shapes = {x};
      if (g.coin())
        d.args = {"output_size=" + ints({g.in(1, 30), g.in(1, 30)})};
      else
        d.args = {"scale_factor=" + g.pick<std::string>({"2", "0.5", "1.5", "3"})};
      if (cl) d.args.push_back("channels_last=true");
      break;
    }
    case ops::Family::TopK: {
      r = static_cast<int>(g.in(1, 3));
      Shape x = rand_shape(g, r);
      int dim = static_cast<int>(g.in(-r, r - 1));
      d.shapes = {x};
      d.args = {"k=" + std::to_string(g.in(1, x[dim < 0 ? dim + r : dim])),
                "dim=" + std::to_string(dim), g.coin() ? "largest=true" : "largest=false",
                g.coin(0.7) ? "sorted=true" : "sorted=false"};
      break;
    }
    case ops::Family::Dropout:
      d.shapes = {rand_shape(g, r)};
      d.args = {"p=" + g.pick<std::string>({"0", "0.2", "0.5", "1"}),
                g.coin(0.85) ? "train=true" : "train=false", "seed=" + std::to_string(g.in(0, 99))};
      break;
    case ops::Family::Movement: {
      Shape x = rand_shape(g, r);
      d.shapes = {x};
      switch (static_cast<ops::MovementOp>(op.variant)) {
        case ops::MovementOp::Permute: {
          std::vector<int64_t> p(static_cast<size_t>(r));
          std::iota(p.begin(), p.end(), 0);
          std::shuffle(p.begin(), p.end(), g.gen);
          d.args = {"dims=" + ints(p)};
          break;
        }
        case ops::MovementOp::Transpose:
          d.args = {"dim0=" + std::to_string(g.in(-r, r - 1)),
                    "dim1=" + std::to_string(g.in(-r, r - 1))};
          break;
        case ops::MovementOp::View:
        case ops::MovementOp::UnsafeView: {
          int64_t n = numel(x), a = x[0];
          d.args = {"size=" + (g.coin() ? ints({n}) : ints({a, -1}))};
          break;
        }
        case ops::MovementOp::Unsqueeze:
          d.args = {"dim=" + std::to_string(g.in(-r - 1, r))};
          break;
        case ops::MovementOp::Expand: {
          std::vector<int64_t> size;
          for (auto& v : d.shapes[0]) {
            if (g.coin(0.4)) v = 1;
            size.push_back(v == 1 ? g.in(1, 5) : g.coin() ? -1 : v);
          }
          if (g.coin()) size.insert(size.begin(), g.in(1, 3));
          d.args = {"size=" + ints(size)};
          break;
        }
        case ops::MovementOp::Slice: {
          int k = static_cast<int>(g.in(0, r - 1));
          d.args = {
              "dim=" + std::to_string(k - (g.coin() ? r : 0)),
              "start=" + std::to_string(g.in(-x[k], x[k])),
              "end=" + (g.coin(0.2) ? std::string("none") : std::to_string(g.in(-x[k], x[k] + 2))),
              "step=" + std::to_string(g.in(1, 3))};
          break;
        }
        case ops::MovementOp::Select: {
          int k = static_cast<int>(g.in(0, r - 1));
          d.args = {"dim=" + std::to_string(k), "index=" + std::to_string(g.in(-x[k], x[k] - 1))};
          break;
        }
        case ops::MovementOp::Copy: {
          Shape src = x;
          for (auto& v : src)
            if (g.coin(0.3)) v = 1;
          d.shapes.push_back(src);
          break;
        }
        default:
          break;
      }
      break;
    }
    case ops::Family::Concat: {
      Shape x = rand_shape(g, r);
      bool stack = static_cast<ops::ConcatOp>(op.variant) == ops::ConcatOp::Stack;
      int dim = static_cast<int>(stack ? g.in(-r - 1, r) : g.in(-r, r - 1));
      int n = static_cast<int>(g.in(1, 3));
      for (int i = 0; i < n; ++i) {
        Shape s = x;
        if (!stack) s[dim < 0 ? dim + r : dim] = g.in(1, 20);
        d.shapes.push_back(s);
      }
      d.args = {"dim=" + std::to_string(dim)};
      break;
    }
    case ops::Family::Split: {
      Shape x = rand_shape(g, r);
      int dim = static_cast<int>(g.in(-r, r - 1));
      int64_t len = x[dim < 0 ? dim + r : dim];
      d.shapes = {x};
      if (static_cast<ops::SplitOp>(op.variant) == ops::SplitOp::Split) {
        d.args = {"split_size=" + std::to_string(g.in(1, len))};
      } else {
        int64_t a = g.in(0, len);
        d.args = {"split_sizes=" + ints({a, len - a})};
      }
      d.args.push_back("dim=" + std::to_string(dim));
      break;
    }
    case ops::Family::Creation:
      d.args = {"size=" + ints(rand_shape(g, r))};
      break;
    case ops::Family::Matmul: {
      // Rows beyond the GEMM's 128-row tiles, so row chunks cross tile borders.
      int64_t n = g_large_only ? g.in(129, 700) : g.in(1, 300), k = g.in(1, 72), m = g.in(1, 70);
      switch (static_cast<ops::MatmulOp>(op.variant)) {
        case ops::MatmulOp::Mm:
          d.shapes = {{n, k}, {k, m}};
          break;
        case ops::MatmulOp::Bmm: {
          int64_t b = g.in(1, 4);
          n = g_large_only ? g.in(129, 400) : g.in(1, 200);
          d.shapes = {{b, n, k}, {b, k, m}};
          break;
        }
        case ops::MatmulOp::Addmm:
          d.shapes = {g.pick<Shape>({{m}, {n, m}, {1, m}, {n, 1}}), {n, k}, {k, m}};
          d.args = {"beta=" + g.pick<std::string>({"1", "0.5", "0"}),
                    "alpha=" + g.pick<std::string>({"1", "2"})};
          break;
        case ops::MatmulOp::Linear: {
          Shape x = g.coin() ? Shape{n, k} : Shape{g.in(1, 3), g.in(1, 100), k};
          d.shapes = {x, g.coin(0.85) ? Shape{m, k} : Shape{k}};
          if (d.shapes[1].size() == 2 && g.coin())
            d.shapes.push_back(x.size() == 2 && g.coin() ? Shape{x[0], m} : Shape{m});
          break;
        }
      }
      break;
    }
    case ops::Family::Conv: {
      // Groups of 1, depthwise and in between; kernels up to 7x7, padding up to
      // the kernel; one image (rows are cut first) or two; rows beyond a few slices.
      int64_t c = g.in(1, 8), groups = g.pick<int64_t>({1, 1, c, c > 1 && c % 2 == 0 ? 2 : 1});
      int64_t k = groups == c ? c * g.in(1, 2) : g.in(1, 8) * groups;
      int64_t kh = g.pick<int64_t>({1, 3, 3, 5, 7}), kw = g.coin() ? kh : g.in(1, 3);
      int64_t h = g_large_only ? g.in(16, 70) : g.in(kh, 30), w = g.in(kw, 30);
      bool cl = g.coin();
      int64_t n = g.in(1, 2);
      Shape x = cl ? Shape{n, h, w, c} : Shape{n, c, h, w};
      if (!cl && g.coin(0.2)) x.erase(x.begin());  // unbatched C,H,W
      d.shapes = {x, {k, c / groups, kh, kw}};
      if (g.coin()) d.shapes.push_back({k});
      d.args = {"stride=" + std::to_string(g.in(1, 2)), "padding=" + std::to_string(g.in(0, kh)),
                "dilation=" + std::to_string(g.in(1, 2)), "groups=" + std::to_string(groups)};
      if (cl) d.args.push_back("channels_last=true");
      break;
    }
  }
  return d;
}

// A valid random call of `op`.
plan::CallSpec random_call(const ops::OpDesc& op, Rng& g, DType dtype, bool* positive) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    Draft d = draft(op, g, dtype);
    plan::CallSpec c;
    c.op = &op;
    for (auto& s : d.shapes) c.inputs.push_back({s, dtype});
    c.dtype = dtype;
    c.in_memory = device::BufferType::L1;
    try {
      c.args = ops::parse_args(op.name, op.args, d.args);
      (void)plan::device_outputs(c);
    } catch (const InvalidArgument&) {
      continue;
    }
    *positive = d.positive;
    return c;
  }
  throw Error(fmt::format("no valid random call for {}", op.name));
}

std::string describe(const plan::CallSpec& c) {
  std::string s = fmt::format("{} {}", c.op->name, dtype_name(c.dtype));
  for (const auto& t : c.inputs) s += fmt::format(" {}", shape_str(t.shape));
  for (const auto& [k, v] : c.args.values()) s += fmt::format(" {}={}", k, ops::arg_value_str(v));
  return s;
}

// Equal bits, or both NaN (f32 / bf16), element by element.
std::string bit_difference(const Tensor& a0, const Tensor& b0) {
  if (a0.shape() != b0.shape())
    return "shape " + shape_str(a0.shape()) + " vs " + shape_str(b0.shape());
  if (a0.dtype() != b0.dtype()) return "dtype differs";
  Tensor a = a0.contiguous(), b = b0.contiguous();
  size_t es = element_size(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.raw());
  const auto* pb = static_cast<const unsigned char*>(b.raw());
  for (int64_t i = 0; i < a.numel(); ++i) {
    const auto* x = pa + static_cast<size_t>(i) * es;
    const auto* y = pb + static_cast<size_t>(i) * es;
    if (std::memcmp(x, y, es) == 0) continue;
    if (a.dtype() == DType::F32 || a.dtype() == DType::BF16)
      if (std::isnan(a.get(i)) && std::isnan(b.get(i))) continue;
    return "element " + std::to_string(i) + ": " + std::to_string(a.get(i)) + " vs " +
           std::to_string(b.get(i));
  }
  return {};
}

// The profile of the current case (the sweep draws one of the built-in
// profiles per case; the targeted tests use Wormhole).
const device::Profile* g_profile = nullptr;

const device::Profile& full_profile() {
  static const device::Profile wormhole = device::load_profile("wormhole_b0");
  return g_profile ? *g_profile : wormhole;
}

// Runs `f` with `n` OpenMP threads, then restores the previous count.
template <class F>
auto with_threads(int n, F f) {
  int before = omp_get_max_threads();
  omp_set_num_threads(n);
  struct Restore {
    int n;
    ~Restore() { omp_set_num_threads(n); }
  } restore{before};
  return f();
}

// The plan under budgets, or nullopt when the budgets themselves are invalid.
std::optional<plan::Plan> plan_under(const plan::CallSpec& c, const plan::Budgets& b) {
  try {
    device::Profile p = plan::apply_budgets(full_profile(), b);
    return plan::choose_plan(c, p, b);
  } catch (const InvalidArgument&) {
    return std::nullopt;
  }
}

bool on_device(const plan::CallSpec& c, const plan::Budgets& b) {
  auto p = plan_under(c, b);
  return p && p->strategy != Strategy::HostFallback;
}

// Smallest budget (in steps of `banks` bytes, i.e. one byte per bank) in
// [banks, hi] for which `make(budget)` still gives a device plan; nullopt if
// even `hi` does not. Assumes feasibility grows with the budget.
template <class Make>
std::optional<int64_t> smallest_feasible(const plan::CallSpec& c, int64_t banks, int64_t hi,
                                         Make make) {
  int64_t lo_u = 1, hi_u = hi / banks;
  if (!on_device(c, make(hi_u * banks))) return std::nullopt;
  while (lo_u < hi_u) {
    int64_t mid = lo_u + (hi_u - lo_u) / 2;
    if (on_device(c, make(mid * banks)))
      hi_u = mid;
    else
      lo_u = mid + 1;
  }
  return lo_u * banks;
}

int64_t padded_bytes(const plan::CallSpec& c) {
  int64_t total = 0;
  auto add = [&](const Shape& s) {
    int64_t n = 1;
    for (size_t i = 0; i < s.size(); ++i) n *= i + 2 >= s.size() ? (s[i] + 31) / 32 * 32 : s[i];
    total += std::max<int64_t>(n, 1024) * 4;
  };
  for (const auto& t : c.inputs) add(t.shape);
  for (const auto& t : plan::device_outputs(c).outputs) add(t.shape);
  return total;
}

struct Tally {
  std::map<std::string, std::map<std::string, int>> strategies;  // op -> strategy -> runs
  std::set<std::string> chunkable;  // ops with a call that has split axes
  std::map<std::string, double> seconds;
  int runs = 0;
  bool chunked(std::string_view op) const {
    auto it = strategies.find(std::string(op));
    return it != strategies.end() && it->second.count("chunked");
  }
};

// Runs `c` under `b` with `threads` OpenMP threads, checks the peaks against
// the budgeted capacities and the outputs against `ref` (the unbudgeted run
// with the default thread count) bit for bit.
void check_budgeted(const plan::CallSpec& c, const std::vector<Tensor>& inputs,
                    const std::vector<Tensor>& ref, const plan::Budgets& b, const std::string& what,
                    Tally& tally, int threads = 1) {
  SCOPED_TRACE(describe(c) + " | " + what + " | l1=" + std::to_string(b.l1.value_or(-1)) +
               " dram=" + std::to_string(b.dram.value_or(-1)));
  device::Profile prof = plan::apply_budgets(full_profile(), b);
  plan::Plan p = plan::choose_plan(c, prof, b);
  exec::PlannedResult r;
  ASSERT_NO_THROW(r = with_threads(threads, [&] { return exec::run_planned(p, c, inputs, prof); }))
      << plan::plan_line(p);
  EXPECT_LE(r.run.peak_l1_per_core, prof.l1_bank_size());
  EXPECT_LE(r.run.peak_dram_per_bank, prof.dram_allocatable());
  ASSERT_EQ(r.run.outputs.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_EQ(bit_difference(r.run.outputs[i], ref[i]), "")
        << "output " << i << ", " << plan::plan_line(p);
  tally.strategies[std::string(c.op->name)][std::string(plan::strategy_name(p.strategy))]++;
  if (std::getenv("PLAN_DEBUG"))
    std::cout << describe(c) << " | " << what << " | " << plan::plan_line(p) << "\n";
  tally.runs++;
}

std::vector<Tensor> reference(const plan::CallSpec& c, const std::vector<Tensor>& inputs) {
  device::Profile prof = full_profile();
  plan::Plan p = plan::choose_plan(c, prof, {});
  return exec::run_planned(p, c, inputs, prof).run.outputs;
}

void sweep() {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<device::Profile> profiles;
  for (const auto& name : device::builtin_profile_names())
    profiles.push_back(device::load_profile(name));
  Tally tally;
  // A fixed seed in `make test`; PLAN_PROPERTY_SEED explores others.
  const char* seed_env = std::getenv("PLAN_PROPERTY_SEED");
  Rng g(seed_env ? std::strtoull(seed_env, nullptr, 10) : 20261124);
#ifdef __SANITIZE_ADDRESS__
  const int kCasesPerOpAndDtype = 1, kExtraCases = 40;  // `make test-asan`: a Debug build
#else
  const int kCasesPerOpAndDtype = 5, kExtraCases = 40;
#endif
  for (const auto& op : ops::op_table()) {
    auto op_t0 = std::chrono::steady_clock::now();
    for (DType dtype : {DType::BF16, DType::F32}) {
      // Random cases, then (large shapes only) until the op was chunked once, if
      // it can be: every strategy of every op runs at least once.
      for (int k = 0; k < kCasesPerOpAndDtype + kExtraCases; ++k) {
        g_large_only = k >= kCasesPerOpAndDtype;
        if (g_large_only &&
            (tally.chunked(op.name) || !tally.chunkable.count(std::string(op.name))))
          break;
        g_profile = &g.pick(profiles);
        const device::Profile& full = *g_profile;
        const int64_t l1_banks = full.l1_banks, dram_banks = full.dram_banks;
        bool positive = false;
        plan::CallSpec c = random_call(op, g, dtype, &positive);
        SCOPED_TRACE(fmt::format("{} on {}", describe(c), full.name));
        auto inputs = exec::make_inputs(c, positive ? exec::Init::Rand : exec::Init::Randn,
                                        static_cast<uint64_t>(g.in(0, 1 << 30)));
        std::vector<Tensor> ref = reference(c, inputs);
        auto out = plan::device_outputs(c);
        for (const auto& axis : ops::split_axes(op, c.inputs, out, c.args))
          if (out.outputs[0].shape[axis.out_dim] >= std::max<int64_t>(3, axis.align + 1))
            tally.chunkable.insert(std::string(op.name));

        const int64_t big = padded_bytes(c) * 4 + (64 << 10);
        const int64_t l1_full = full.l1_bank_size() * l1_banks;
        const int64_t l1_eps = full.l1_alignment * l1_banks;
        const int64_t dram_eps = full.dram_alignment * dram_banks;
        auto dram_for = [&](int64_t l1) {
          return smallest_feasible(c, dram_banks, big,
                                   [&](int64_t v) { return plan::Budgets{.l1 = l1, .dram = v}; });
        };
        // The smallest L1 that still runs on the device (L1 then holds CBs only).
        auto l1_min = smallest_feasible(
            c, l1_banks, l1_full, [&](int64_t v) { return plan::Budgets{.l1 = v, .dram = big}; });
        if (!l1_min) {
          // No device plan at any budget: the host fallback must still match.
          check_budgeted(c, inputs, ref, {.l1 = 64 * l1_banks, .dram = 32 * dram_banks},
                         "host fallback", tally);
          continue;
        }
        // Tight L1 with the smallest DRAM for it and one aligned word per bank
        // more of either; a random L1 with its smallest DRAM; random budgets.
        if (auto d = dram_for(*l1_min)) {
          check_budgeted(c, inputs, ref, {.l1 = *l1_min, .dram = *d}, "both smallest", tally);
          check_budgeted(c, inputs, ref, {.l1 = *l1_min, .dram = *d + dram_eps},
                         "smallest + one DRAM word", tally);
        }
        if (auto d = dram_for(*l1_min + l1_eps))
          check_budgeted(c, inputs, ref, {.l1 = *l1_min + l1_eps, .dram = *d},
                         "smallest + one L1 word", tally);
        const int64_t l1_hi = std::clamp(big, *l1_min, l1_full);
        const int64_t l1 = g.in(*l1_min / l1_banks, l1_hi / l1_banks) * l1_banks;
        if (auto d = dram_for(l1)) {
          check_budgeted(c, inputs, ref, {.l1 = l1, .dram = *d}, "random L1, smallest DRAM", tally);
          const int64_t dram = g.in(*d / dram_banks, big / dram_banks) * dram_banks;
          check_budgeted(c, inputs, ref, {.l1 = l1, .dram = dram}, "random", tally);
        }
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    tally.seconds[std::string(op.name)] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - op_t0).count();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[plan property] " << tally.runs << " budgeted runs over " << tally.strategies.size()
            << " ops in " << secs << " s\n";
  for (const auto& [op, st] : tally.strategies) {
    if (!std::getenv("PLAN_DEBUG")) break;  // the per-op table on request
    std::cout << "  " << op << " (" << tally.seconds[op] << " s):";
    for (const auto& [s, n] : st) std::cout << " " << s << "=" << n;
    std::cout << "\n";
  }
  EXPECT_EQ(tally.strategies.size(), ops::op_table().size());
  // Every op that can be cut was cut at its smallest budgets.
  for (const auto& op : tally.chunkable)
    EXPECT_TRUE(tally.chunked(op)) << op << " was never chunked";
}

}  // namespace

TEST(PlanProperty, EveryOpUnderRandomBudgetsMatchesTheUnbudgetedRunBitForBit) {
  // One thread (the thread count is the next test's subject): no idle OpenMP
  // workers spinning between the many small runs.
  with_threads(1, [] { sweep(); });
  g_large_only = false;
  g_profile = nullptr;
}

// ---- Targeted: each strategy at the tightest budgets, bit for bit ----------

namespace {

plan::CallSpec make_call(const std::string& op, std::vector<Shape> shapes,
                         std::vector<std::string> args, DType dtype) {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  for (auto& s : shapes) c.inputs.push_back({s, dtype});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  c.dtype = dtype;
  return c;
}

// The budgets at which the call only just runs on the device: the smallest L1,
// then the smallest DRAM with it.
plan::Budgets tightest(const plan::CallSpec& c) {
  const device::Profile& full = full_profile();
  const int64_t big = padded_bytes(c) * 4 + (64 << 10);
  auto l1 = smallest_feasible(c, full.l1_banks, full.l1_bank_size() * full.l1_banks,
                              [&](int64_t v) { return plan::Budgets{.l1 = v, .dram = big}; });
  if (!l1) throw Error(fmt::format("no device plan for {}", describe(c)));
  auto dram = smallest_feasible(c, full.dram_banks, big,
                                [&](int64_t v) { return plan::Budgets{.l1 = *l1, .dram = v}; });
  return {.l1 = *l1, .dram = *dram};
}

struct Outcome {
  plan::Plan plan;
  std::vector<Tensor> outputs;
};

Outcome run_under(const plan::CallSpec& c, const std::vector<Tensor>& inputs,
                  const plan::Budgets& b, int threads) {
  device::Profile prof = plan::apply_budgets(full_profile(), b);
  plan::Plan p = plan::choose_plan(c, prof, b);
  auto r = with_threads(threads, [&] { return exec::run_planned(p, c, inputs, prof); });
  EXPECT_LE(r.run.peak_l1_per_core, prof.l1_bank_size());
  EXPECT_LE(r.run.peak_dram_per_bank, prof.dram_allocatable());
  return {p, r.run.outputs};
}

void expect_bits(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(bit_difference(got[i], want[i]), "") << "output " << i;
}

// Runs `c` at its tightest budgets and compares with the unbudgeted run;
// returns the tight plan.
plan::Plan expect_tight_equals_free(const plan::CallSpec& c, std::vector<Tensor> inputs = {}) {
  SCOPED_TRACE(describe(c));
  if (inputs.empty()) inputs = exec::make_inputs(c, exec::Init::Randn, 7);
  Outcome free = run_under(c, inputs, {}, 1);
  Outcome tight = run_under(c, inputs, tightest(c), 1);
  expect_bits(tight.outputs, free.outputs);
  if (std::getenv("PLAN_DEBUG"))
    std::cout << describe(c) << " | " << plan::plan_line(tight.plan) << "\n";
  return tight.plan;
}

// One OpenMP thread throughout (threads are ThreadCountDoesNotChange...'s
// subject): no idle workers spinning between the many small runs.
class PlanChunks : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = omp_get_max_threads();
    omp_set_num_threads(1);
  }
  void TearDown() override { omp_set_num_threads(threads_); }

 private:
  int threads_ = 1;
};

}  // namespace

// The GEMM gives every output element the same bits wherever rows are cut
// (ops/gemm/gemm.hpp, kRowAlign 1): row chunks need no alignment, and are as large
// as the budget allows.
TEST_F(PlanChunks, MatmulRowChunksNeedNoAlignment) {
  for (DType dt : {DType::F32, DType::BF16}) {
    for (const auto& c :
         {make_call("mm", {{700, 96}, {96, 40}}, {}, dt),
          make_call("addmm", {{700, 1}, {700, 96}, {96, 40}}, {"beta=0.5", "alpha=2"}, dt),
          make_call("bmm", {{1, 600, 64}, {1, 64, 40}}, {}, dt),
          make_call("linear", {{700, 96}, {40, 96}, {40}}, {}, dt)}) {
      plan::Plan p = expect_tight_equals_free(c);
      EXPECT_EQ(p.strategy, Strategy::Chunked) << describe(c);
      EXPECT_GT(p.num_chunks, 1);
      // The largest chunk: one more row would not fit.
      plan::Plan bigger = p;
      bigger.chunk = p.chunk + 1;
      device::Profile prof = plan::apply_budgets(full_profile(), tightest(c));
      EXPECT_FALSE(plan::precheck(plan::chunk_call(bigger, c, 0), prof).fits);
    }
    auto lin = make_call("linear", {{3, 100, 96}, {40, 96}}, {}, dt);
    auto axes = ops::split_axes(*lin.op, lin.inputs, plan::device_outputs(lin), lin.args);
    ASSERT_EQ(axes.size(), 2u);
    EXPECT_EQ(axes[0].align, 1);
    EXPECT_EQ(axes[1].align, 1);
    expect_tight_equals_free(lin);
  }
}

TEST_F(PlanChunks, MatmulColumnChunksMatchTheWholeCall) {
  // Columns of B cut anywhere (the last axis of mm and bmm; a graph chains
  // attention's second bmm along it) give the whole call's bits.
  for (DType dt : {DType::F32, DType::BF16}) {
    for (const auto& c : {make_call("mm", {{70, 300}, {300, 1300}}, {}, dt),
                          make_call("bmm", {{3, 40, 96}, {3, 96, 1100}}, {}, dt)}) {
      SCOPED_TRACE(describe(c));
      auto out = plan::device_outputs(c);
      auto axes = ops::split_axes(*c.op, c.inputs, out, c.args);
      const ops::SplitAxis& cols = axes.back();
      ASSERT_EQ(cols.out_dim, static_cast<int>(out.outputs[0].shape.size()) - 1);
      EXPECT_EQ(cols.align, ops::gemm::kColAlign);
      auto inputs = exec::make_inputs(c, exec::Init::Randn, 13);
      auto free = run_under(c, inputs, {}, 1).outputs;
      int64_t n = out.outputs[0].shape.back();
      plan::Plan p;
      p.strategy = Strategy::Chunked;
      p.axis = cols;
      p.device_call = c;
      p.device_call.in_memory = device::BufferType::DRAM;
      p.device_call.out_memory = device::BufferType::DRAM;
      p.chunk = 333;  // no tile of the kernel is this wide
      p.num_chunks = (n + p.chunk - 1) / p.chunk;
      expect_bits(exec::run_planned(p, c, inputs, full_profile()).run.outputs, free);
    }
  }
}

TEST_F(PlanChunks, DropoutChunksDrawTheWholeCallsMask) {
  for (DType dt : {DType::F32, DType::BF16}) {
    for (const auto& c : {make_call("dropout", {{6, 50, 70}}, {"p=0.5", "seed=11"}, dt),
                          make_call("dropout", {{1, 300, 70}}, {"p=0.2", "seed=3"}, dt)}) {
      SCOPED_TRACE(describe(c));
      auto inputs = exec::make_inputs(c, exec::Init::Randn, 5);
      Outcome tight = run_under(c, inputs, tightest(c), 1);
      EXPECT_EQ(tight.plan.strategy, Strategy::Chunked);
      EXPECT_GT(tight.plan.num_chunks, 1);
      expect_bits(tight.outputs, run_under(c, inputs, {}, 1).outputs);
      // The mask is Philox at the global index, whatever chunk computed it.
      const Tensor& mask = tight.outputs[1];
      int64_t kept = 0;
      for (int64_t i = 0; i < mask.numel(); ++i) {
        bool keep = ops::dropout_keep(static_cast<uint64_t>(c.args.get_int("seed")),
                                      static_cast<uint64_t>(i), c.args.get_float("p"));
        ASSERT_EQ(mask.get(i), keep ? 1.0 : 0.0) << "element " << i;
        kept += keep;
      }
      EXPECT_GT(kept, 0);
      EXPECT_LT(kept, mask.numel());
    }
  }
  // A chunk is one contiguous index range: only the outermost dim of extent > 1.
  auto c = make_call("dropout", {{1, 3, 50, 70}}, {}, DType::BF16);
  auto axes = ops::split_axes(*c.op, c.inputs, plan::device_outputs(c), c.args);
  ASSERT_EQ(axes.size(), 1u);
  EXPECT_EQ(axes[0].out_dim, 1);
  EXPECT_EQ(axes[0].offset_stride, 50 * 70);
  EXPECT_THROW(plan::device_outputs(make_call("dropout", {{4}}, {"offset=-1"}, DType::F32)),
               InvalidArgument);
}

TEST_F(PlanChunks, ReductionChunksKeepTheKernelsRowBlocks) {
  // (call, number of split axes): kept dims outside the innermost kept run are
  // always cut; dims of that run only where the row blocks do not change.
  std::vector<std::pair<plan::CallSpec, size_t>> cases = {
      // Rows reduced innermost: every kept dim.
      {make_call("linalgvectornorm", {{200, 3000}}, {"dim=[1]"}, DType::F32), 1},
      // 400 rows of 700 columns: blocks of 374 rows, so the columns stay whole.
      {make_call("mean", {{3, 400, 700}}, {"dim=[1]", "keepdim=true"}, DType::F32), 1},
      // Cutting the only innermost kept dim to 1 would make the reduced dim
      // innermost (another fold): only dim 0 of these.
      {make_call("mean", {{40, 300, 64}}, {"dim=[1]"}, DType::F32), 1},
      {make_call("linalgvectornorm", {{40, 300, 64}}, {"dim=[1]", "ord=3"}, DType::BF16), 1},
      // 64 rows of 8 x 256 columns: one block of rows for any width, and a
      // kept dim stays innermost whichever is cut.
      {make_call("mean", {{64, 8, 256}}, {"dim=[0]"}, DType::F32), 2},
      // A kept dim between reduced ones: cut to 1, the reduced runs would merge.
      {make_call("mean", {{2, 4, 35, 36}}, {"dim=[0,2,-1]", "keepdim=true"}, DType::F32), 0},
      // 600 rows of 1000 columns (2 blocks): no cut at all.
      {make_call("mean", {{600, 1000}}, {"dim=[0]"}, DType::F32), 0},
  };
  for (const auto& [c, n] : cases) {
    auto axes = ops::split_axes(*c.op, c.inputs, plan::device_outputs(c), c.args);
    EXPECT_EQ(axes.size(), n) << describe(c);
    plan::Plan p = expect_tight_equals_free(c);
    EXPECT_EQ(p.strategy == Strategy::Chunked, n > 0) << describe(c);
  }
}

TEST_F(PlanChunks, ColumnReductionsAreCutOnlyWhereTheRowBlocksStay) {
  // 1-norm over dim 0 of [300, 1000] f32: the kernel folds rows in blocks of
  // 2^18 / 1000 = 262 rows. Column 0 sums to exactly halfway between two f32
  // values in sequence (1 + 2^-24, the 2^-54 terms are lost one by one) but
  // just above it when the second block's 3 * 2^-54 is added at once: the
  // result depends on the row blocks, so the columns must not be cut (narrower
  // chunks would make one block of all rows).
  auto c = make_call("linalgvectornorm", {{300, 1000}}, {"dim=[0]", "ord=1"}, DType::F32);
  Tensor x = Tensor::zeros({300, 1000}, DType::F32);
  x.set(0, 1.0);
  x.set(1000, std::ldexp(1.0, -24));
  for (int64_t r : {262, 263, 264}) x.set(r * 1000, std::ldexp(1.0, -54));
  auto axes = ops::split_axes(*c.op, c.inputs, plan::device_outputs(c), c.args);
  EXPECT_TRUE(axes.empty());
  expect_tight_equals_free(c, {x});
  Outcome free = run_under(c, {x}, {}, 1);
  EXPECT_EQ(free.outputs[0].get(0), 1.0 + std::ldexp(1.0, -23));  // the blocked sum
  // Few rows (one block whatever the width), two kept dims: either may be cut.
  auto few = make_call("linalgvectornorm", {{200, 4, 250}}, {"dim=[0]", "ord=1"}, DType::F32);
  EXPECT_EQ(ops::split_axes(*few.op, few.inputs, plan::device_outputs(few), few.args).size(), 2u);
  EXPECT_EQ(expect_tight_equals_free(few).strategy, Strategy::Chunked);
}

TEST_F(PlanChunks, SoftmaxChunksAcrossInnerTilesAndStreamsLongRows) {
  // Softmax over a middle dim, the inner dim cut into chunks across the
  // kernel's 256-wide inner tiles.
  plan::Plan p =
      expect_tight_equals_free(make_call("softmax", {{1, 40, 3000}}, {"dim=1"}, DType::F32));
  EXPECT_EQ(p.strategy, Strategy::Chunked);
  // Rows longer than the kernel's 8192-element block: the whole call (96 rows)
  // and chunks of 32 rows take the kernel's row path, chunks of fewer than 8
  // rows its piece-parallel path; both fold the same blocks.
  for (DType dt : {DType::F32, DType::BF16}) {
    auto c = make_call("softmax", {{96, 9000}}, {"dim=-1"}, dt);
    SCOPED_TRACE(describe(c));
    auto inputs = exec::make_inputs(c, exec::Init::Randn, 7);
    auto free = run_under(c, inputs, {}, 1).outputs;
    // 3 MB of L1 and 5 MB of DRAM (half for bf16): neither the whole call (in
    // 3.5 MB + out 3.5 MB in f32) nor whole-row CBs fit.
    const int shift = dt == DType::F32 ? 20 : 19;
    plan::Budgets b{.l1 = 3ll << shift, .dram = 5ll << shift};
    Outcome chunked = run_under(c, inputs, b, 1);
    EXPECT_EQ(chunked.plan.strategy, Strategy::Chunked);
    expect_bits(chunked.outputs, free);
    plan::Plan rows4 = chunked.plan;
    rows4.chunk = 4;
    rows4.num_chunks = 24;
    device::Profile prof = plan::apply_budgets(full_profile(), b);
    expect_bits(exec::run_planned(rows4, c, inputs, prof).run.outputs, free);
  }
  // Rows longer than the L1 left for whole-row CBs stream through small CBs
  // (online softmax); rows also longer than one kernel block (8192).
  for (DType dt : {DType::F32, DType::BF16}) {
    p = expect_tight_equals_free(make_call("softmax", {{4, 20000}}, {"dim=-1"}, dt));
    EXPECT_TRUE(p.device_call.streaming_cbs);
  }
}

TEST_F(PlanChunks, PoolingWindowsCrossChunkBorders) {
  // Row chunks of every size get the halo rows their windows read (stride,
  // padding, dilation, ceil_mode; NCHW, NHWC, CHW), and the indices stay
  // those of the whole plane.
  std::vector<plan::CallSpec> calls = {
      make_call("maxpool2d", {{2, 3, 37, 29}}, {"kernel_size=3", "stride=2", "padding=1"},
                DType::BF16),
      make_call("maxpool2d", {{2, 37, 29, 3}},
                {"kernel_size=[3,2]", "stride=[2,1]", "padding=[1,0]", "dilation=2",
                 "ceil_mode=true", "channels_last=true"},
                DType::F32),
      make_call("maxpool2d", {{3, 40, 33}},
                {"kernel_size=4", "stride=3", "padding=2", "ceil_mode=true"}, DType::F32),
      make_call("maxpool2d", {{1, 2, 30, 31}}, {"kernel_size=2"}, DType::BF16)};
  const device::Profile& full = full_profile();
  for (const auto& c : calls) {
    SCOPED_TRACE(describe(c));
    auto out = plan::device_outputs(c);
    auto axes = ops::split_axes(*c.op, c.inputs, out, c.args);
    ASSERT_TRUE(axes.back().halo.has_value());
    auto inputs = exec::make_inputs(c, exec::Init::Randn, 3);
    auto free = run_under(c, inputs, {}, 1).outputs;
    int64_t oh = out.outputs[0].shape[axes.back().out_dim];
    for (int64_t chunk : {int64_t{1}, int64_t{2}, int64_t{5}, oh - 1}) {
      plan::Plan p;
      p.strategy = Strategy::Chunked;
      p.axis = axes.back();
      p.device_call = c;
      p.device_call.in_memory = device::BufferType::DRAM;
      p.device_call.out_memory = device::BufferType::DRAM;
      p.chunk = chunk;
      p.num_chunks = (oh + chunk - 1) / chunk;
      SCOPED_TRACE(fmt::format("rows per chunk {}", chunk));
      expect_bits(exec::run_planned(p, c, inputs, full).run.outputs, free);
    }
  }
  // One plane too big for the budgets: the planner cuts its rows itself.
  auto big = make_call("maxpool2d", {{1, 1, 600, 500}}, {"kernel_size=3", "stride=2", "padding=1"},
                       DType::F32);
  plan::Plan p = expect_tight_equals_free(big);
  EXPECT_EQ(p.strategy, Strategy::Chunked);
  EXPECT_TRUE(p.axis.halo.has_value());
  // A row chunk holds at least its halo, from the halo's first row.
  // Output rows [2, 5) with k=3, s=2, p=1 read input rows [3, 10) of 20.
  auto bad = make_call(
      "maxpool2d", {{1, 1, 6, 10}},
      {"kernel_size=3", "stride=2", "padding=1", "rows_of=20", "out_row0=2", "out_rows=3"},
      DType::F32);
  EXPECT_THROW(plan::device_outputs(bad), InvalidArgument);
  bad.inputs[0].shape[2] = 7;  // the halo
  EXPECT_EQ(plan::device_outputs(bad).outputs[0].shape, (Shape{1, 1, 3, 5}));
  bad.inputs[0].shape[2] = 17;  // rows [3, 20): more than the halo
  EXPECT_EQ(plan::device_outputs(bad).outputs[0].shape, (Shape{1, 1, 3, 5}));
  bad.inputs[0].shape[2] = 18;  // beyond the plane
  EXPECT_THROW(plan::device_outputs(bad), InvalidArgument);
}

TEST_F(PlanChunks, ConvolutionChunksAcrossRowsChannelsAndImages) {
  // Every axis of split_axes at chunks of every size: output rows with their
  // halo (stride, padding beyond the window, dilation, NCHW and NHWC), output
  // channels with their weights and bias (depthwise: input channels too) and
  // images, as the planner cuts them, bit for bit equal to the whole call.
  std::vector<plan::CallSpec> calls = {
      make_call("convolution", {{2, 3, 41, 37}, {16, 3, 3, 3}, {16}}, {"stride=2", "padding=1"},
                DType::BF16),
      make_call("convolution", {{2, 23, 19, 24}, {24, 1, 7, 7}, {24}},
                {"padding=3", "groups=24", "channels_last=true"}, DType::F32),
      make_call("convolution", {{1, 4, 6, 9}, {6, 4, 3, 3}}, {"padding=4"}, DType::F32),
      make_call("convolution", {{1, 8, 30, 11}, {12, 4, 3, 3}},
                {"groups=2", "dilation=2", "padding=2"}, DType::BF16),
      make_call("convolution", {{5, 20, 18}, {5, 1, 3, 3}}, {"groups=5", "padding=1"}, DType::F32)};
  const device::Profile& full = full_profile();
  for (const auto& c : calls) {
    SCOPED_TRACE(describe(c));
    auto out = plan::device_outputs(c);
    auto axes = ops::split_axes(*c.op, c.inputs, out, c.args);
    ASSERT_GE(axes.size(), 2u);
    auto inputs = exec::make_inputs(c, exec::Init::Randn, 3);
    auto free = run_under(c, inputs, {}, 1).outputs;
    for (const auto& axis : axes) {
      int64_t extent = out.outputs[0].shape[axis.out_dim];
      for (int64_t chunk : {int64_t{1}, int64_t{2}, int64_t{5}, extent - 1}) {
        if (chunk < 1 || chunk >= extent) continue;
        plan::Plan p;
        p.strategy = Strategy::Chunked;
        p.axis = axis;
        p.device_call = c;
        p.device_call.in_memory = device::BufferType::DRAM;
        p.device_call.out_memory = device::BufferType::DRAM;
        // oomless's streaming program: TT-NN's conv2d needs L1_SMALL, which the
        // default profile (the seed's fixture) does not have.
        p.device_call.streaming_cbs = true;
        p.chunk = chunk;
        p.num_chunks = (extent + chunk - 1) / chunk;
        SCOPED_TRACE(
            fmt::format("dim {}{} chunk {}", axis.out_dim, axis.halo ? " (halo)" : "", chunk));
        expect_bits(exec::run_planned(p, c, inputs, full).run.outputs, free);
      }
    }
  }
  // One image too big for the budgets: the planner cuts its rows itself.
  for (bool cl : {false, true}) {
    auto big = make_call("convolution",
                         {cl ? Shape{1, 300, 200, 4} : Shape{1, 4, 300, 200}, {8, 4, 3, 3}, {8}},
                         cl ? std::vector<std::string>{"padding=1", "channels_last=true"}
                            : std::vector<std::string>{"padding=1"},
                         DType::F32);
    plan::Plan p = expect_tight_equals_free(big);
    EXPECT_EQ(p.strategy, Strategy::Chunked);
    EXPECT_TRUE(p.axis.halo.has_value());
  }
}

TEST(PlanProperty, ThreadCountDoesNotChangeChunkedResults) {
  for (const auto& c :
       {make_call("mm", {{700, 96}, {96, 40}}, {}, DType::F32),
        make_call("softmax", {{6, 40, 300}}, {"dim=-1"}, DType::BF16),
        make_call("mean", {{40, 300, 64}}, {"dim=[1]"}, DType::F32),
        make_call("dropout", {{6, 50, 70}}, {"p=0.5"}, DType::BF16),
        make_call("maxpool2d", {{2, 8, 60, 60}}, {"kernel_size=3", "stride=2", "padding=1"},
                  DType::BF16),
        make_call("upsample_nearest2d", {{2, 8, 30, 30}}, {"scale_factor=2"}, DType::F32),
        make_call("convolution", {{1, 8, 60, 60}, {8, 8, 3, 3}}, {"padding=1"}, DType::BF16)}) {
    SCOPED_TRACE(describe(c));
    auto inputs = exec::make_inputs(c, exec::Init::Randn, 9);
    plan::Budgets b = tightest(c);
    Outcome one = run_under(c, inputs, b, 1), two = run_under(c, inputs, b, 2);
    EXPECT_EQ(one.plan.strategy, Strategy::Chunked);
    expect_bits(one.outputs, two.outputs);
    expect_bits(two.outputs, run_under(c, inputs, {}, 1).outputs);
  }
}
