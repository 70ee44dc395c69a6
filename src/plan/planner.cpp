#include "plan/planner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/error.hpp"
#include "core/host_budget.hpp"

namespace oomless::plan {

using device::BufferType;

std::string_view strategy_name(Strategy s) {
  switch (s) {
    case Strategy::Direct:
      return "direct";
    case Strategy::Replaced:
      return "re-placed";
    case Strategy::Streamed:
      return "streamed";
    case Strategy::Sliced:
      return "sliced";
    case Strategy::Chunked:
      return "chunked";
    case Strategy::HostFallback:
      return "host fallback";
  }
  return "?";
}

int64_t parse_bytes(std::string_view text, std::string_view what) {
  std::string t(text);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  std::string num = t.substr(0, i), unit = t.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB")
    scale = 1024.0 * 1024 * 1024;
  char* end = nullptr;
  double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (scale == 0 || num.empty() || end != num.c_str() + num.size() || v <= 0)
    fail(what, fmt::format("bad size '{}' (expected e.g. 64MB, 1MiB, 512KB, 4096)", text));
  return static_cast<int64_t>(v * scale);
}

device::Profile apply_budgets(const device::Profile& p, const Budgets& b) {
  device::Profile q = p;
  if (b.l1) {
    int64_t per_bank = *b.l1 / p.l1_banks;
    q.l1_size = std::min(p.l1_size, p.l1_unreserved_base + p.l1_small_size + per_bank);
  }
  if (b.dram) {
    int64_t per_bank = *b.dram / p.dram_banks;
    q.dram_bank_size =
        std::min(p.dram_bank_size, p.dram_unreserved_base + p.trace_region_size + per_bank);
  }
  if (q.l1_bank_size() <= 0 || q.dram_allocatable() <= 0)
    fail("budget", "the budget leaves no allocatable bytes in a bank");
  return q;
}

static int64_t tensor_bytes(const ops::TensorSpec& t) {
  DType d = t.dtype == DType::BFP8_B ? DType::F32 : t.dtype;
  return numel(t.shape) * static_cast<int64_t>(element_size(d));
}

CallSpec chunk_call(const Plan& plan, const CallSpec& whole, int64_t index, int64_t* start,
                    int64_t* length, std::vector<std::pair<int64_t, int64_t>>* in_ranges) {
  CallSpec c = plan.device_call;
  ops::OutputSpec out = device_outputs(whole);
  int64_t extent = out.outputs[0].shape[plan.axis.out_dim];
  int64_t s = index * plan.chunk, n = std::min(plan.chunk, extent - s);
  // Input range along the cut: the output range, or for windowed ops its halo,
  // as long for every chunk but the last as for a middle one (the first one's
  // padding would make it shorter): equal buffers fit the double buffer's holes.
  int64_t in0 = s, in_n = n;
  if (const auto& h = plan.axis.halo) {
    in0 = std::clamp<int64_t>(s * h->stride - h->pad, 0, h->in_extent);
    in_n = std::min(h->in_extent - in0, (plan.chunk - 1) * h->stride + h->window);
  }
  c.inputs = whole.inputs;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (plan.axis.in_dims[i] >= 0) c.inputs[i].shape[plan.axis.in_dims[i]] = in_n;
  if (in_ranges) in_ranges->assign(c.inputs.size(), {in0, in_n});
  if (whole.inputs.empty() || !plan.axis.offset_arg.empty() || plan.axis.halo ||
      !plan.axis.count_arg.empty()) {
    auto values = whole.args.values();
    if (whole.inputs.empty()) {
      // Creation ops carry their output shape in an argument.
      auto size = std::get<std::vector<int64_t>>(values.at("size"));
      size[plan.axis.out_dim] = n;
      values["size"] = size;
    }
    if (!plan.axis.offset_arg.empty()) {
      // Counter-based RNG: the chunk continues the whole call's element indices.
      std::string name(plan.axis.offset_arg);
      values[name] = whole.args.get_int(name) + s * plan.axis.offset_stride;
    }
    if (!plan.axis.count_arg.empty()) values[std::string(plan.axis.count_arg)] = n;
    if (const auto& h = plan.axis.halo) {
      values[std::string(h->extent_arg)] = h->in_extent;
      values[std::string(h->start_arg)] = s;
      values[std::string(h->count_arg)] = n;
    }
    c.args = ops::Args(whole.op->name, whole.op->args, values);
  }
  if (start) *start = s;
  if (length) *length = n;
  return c;
}

namespace {

// Largest chunk extent whose double-buffered placement fits, by bisection
// (the footprint grows with the extent). Chunks are multiples of the axis's
// alignment, so every chunk starts on one of the kernel's block borders.
// host_ok: an extra test of each chunk's call and pre-check (the host budget).
using ChunkTest = std::function<bool(const CallSpec&, const QueryResult&)>;

std::optional<Plan> try_chunked(const CallSpec& req, const device::Profile& profile,
                                const ops::OutputSpec& out, const ChunkTest& host_ok = {}) {
  auto axes = ops::split_axes(*req.op, req.inputs, out, req.args);
  for (const auto& axis : axes) {
    int64_t extent = out.outputs[0].shape[axis.out_dim];
    int64_t align = std::max<int64_t>(axis.align, 1);
    if (extent <= align) continue;  // one chunk would be the whole call
    Plan p;
    p.strategy = Strategy::Chunked;
    p.axis = axis;
    p.device_call = req;
    p.device_call.in_memory = BufferType::DRAM;
    p.device_call.out_memory = BufferType::DRAM;
    p.device_call.buffer_sets = 2;
    for (bool streaming : {false, true}) {
      p.device_call.streaming_cbs = streaming;
      // Chunk extent for m units of alignment.
      auto extent_of = [&](int64_t m) { return std::min(extent, m * align); };
      // Ops with a memory script (conv2d) differ by chunk (padding at the
      // edges, TT-NN's own slicing of each): the first, a middle and the last
      // chunk cover every geometry. Other ops: the first chunk is the largest.
      auto fits = [&](int64_t m) {
        p.chunk = extent_of(m);
        const int64_t n = (extent + p.chunk - 1) / p.chunk;
        for (int64_t i : {int64_t{0}, int64_t{1}, n - 1}) {
          if (i >= n || (i > 0 && !req.op->steps)) continue;
          CallSpec cc = chunk_call(p, req, i);
          QueryResult q = precheck(cc, profile);
          if (!q.fits || (host_ok && !host_ok(cc, q))) return false;
          // The first chunk is the largest, but the host test also holds for
          // the last one of a streamed plan (its buffers differ in size).
          if (host_ok && i == 0 && n > 1 && !req.op->steps) {
            CallSpec last = chunk_call(p, req, n - 1);
            QueryResult ql = precheck(last, profile);
            if (!ql.fits || !host_ok(last, ql)) return false;
          }
        }
        return true;
      };
      if (!fits(1)) continue;
      int64_t lo = 1, hi = (extent + align - 1) / align;
      while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (fits(mid))
          lo = mid;
        else
          hi = mid - 1;
      }
      p.chunk = extent_of(lo);
      p.num_chunks = (extent + p.chunk - 1) / p.chunk;
      p.check = precheck(chunk_call(p, req, 0), profile);
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

// The device placement and strategy, ignoring the host.
Plan plan_on_device(const CallSpec& req, const device::Profile& profile,
                    const ops::OutputSpec& out) {
  int64_t host = 0;
  for (const auto& t : req.inputs) host += tensor_bytes(t);
  for (const auto& t : out.outputs) host += tensor_bytes(t);
  auto finish = [&](Plan p) {
    p.host_bytes = host;
    int64_t in = 0, outb = 0;
    for (const auto& t : req.inputs) in += tensor_bytes(t);
    for (const auto& t : out.outputs) outb += tensor_bytes(t);
    if (p.strategy != Strategy::HostFallback) {
      p.bytes_to_device = in;
      p.bytes_from_device = outb;
    }
    return p;
  };
  Plan p;
  p.device_call = req;
  p.check = precheck(req, profile);
  if (p.check.fits) return finish(p);
  std::string why = p.check.error;
  // TT-NN's DRAM slicing (conv2d), with the fewest slices that really fit.
  if (auto n = fewest_fitting_slices(req, profile)) {
    CallSpec c = req;
    c.in_memory = BufferType::DRAM;
    c.out_memory = BufferType::DRAM;
    auto values = req.args.values();
    values["dram_slices"] = *n;
    c.args = ops::Args(req.op->name, req.op->args, values);
    QueryResult r = precheck(c, profile);
    if (r.fits) {
      Plan q;
      q.strategy = Strategy::Sliced;
      q.device_call = c;
      q.check = r;
      q.num_chunks = *n;
      q.why = why;
      return finish(q);
    }
  }
  // Re-place: outputs, then inputs too, in DRAM; then small streaming CBs.
  for (bool streaming : {false, true}) {
    for (BufferType in : {req.in_memory, BufferType::DRAM}) {
      CallSpec c = req;
      c.in_memory = in;
      c.out_memory = BufferType::DRAM;
      c.streaming_cbs = streaming;
      QueryResult r = precheck(c, profile);
      if (!r.fits) continue;
      Plan q;
      q.strategy = streaming ? Strategy::Streamed : Strategy::Replaced;
      q.device_call = c;
      q.check = r;
      q.why = why;
      return finish(q);
    }
  }
  if (auto chunked = try_chunked(req, profile, out)) {
    chunked->why = why;
    return finish(*chunked);
  }
  Plan h;
  h.strategy = Strategy::HostFallback;
  h.device_call = req;
  h.why = why;
  return finish(h);
}

// Host pages the emulated device of a plan holds: the arenas' touched pages
// (its peaks), or under RLIMIT_AS the whole reservation, which counts there.
int64_t device_backing(const QueryResult& check, const device::Profile& prof) {
  if (host_budget::address_space_limited())
    return prof.l1_banks * prof.l1_size + prof.dram_banks * prof.dram_bank_size;
  return check.peak_dram_per_bank * prof.dram_banks + check.peak_l1_per_core * prof.l1_banks;
}

// Host tensors a run holds at once: inputs and outputs, plus the staging a
// bfloat8_b input is read back into (runner.cpp).
int64_t held_bytes(const CallSpec& call, const ops::OutputSpec& out) {
  int64_t b = 0;
  for (const auto& t : call.inputs) b += tensor_bytes(t) * (t.dtype == DType::BFP8_B ? 2 : 1);
  for (const auto& t : out.outputs) b += tensor_bytes(t);
  return b;
}

// A streamed chunk: its inputs, the kernel's outputs and their read-back, and
// the file windows an input is read from and an output written to (float32).
int64_t chunk_held_bytes(const CallSpec& cc) {
  ops::OutputSpec o = device_outputs(cc);
  int64_t b = held_bytes(cc, o);
  for (const auto& t : cc.inputs) b += numel(t.shape) * 4;
  for (const auto& t : o.outputs) b += tensor_bytes(t) + numel(t.shape) * 4;
  return b;
}

Plan plan_within_host(const CallSpec& req, const device::Profile& profile,
                      const ops::OutputSpec& out, int64_t budget) {
  const int64_t tensors = held_bytes(req, out);
  int64_t least = INT64_MAX;
  auto need_of = [&](const Plan& p, const device::Profile& prof) {
    int64_t n =
        tensors + (p.strategy == Strategy::HostFallback ? 0 : device_backing(p.check, prof));
    least = std::min(least, n);
    return n;
  };
  // 1. As the device would run it, with the tensors whole.
  Plan p = plan_on_device(req, profile, out);
  p.host_peak_bytes = need_of(p, profile);
  if (p.host_peak_bytes <= budget) return p;
  // 2. A device whose DRAM the host can back: half the budget (the other
  // half for host tensors), when that is less than the profile's; under
  // RLIMIT_AS, where the whole reservation counts, smaller caps too (an
  // eighth, a thirty-second) so that a tight budget can still stream.
  std::vector<std::pair<device::Profile, std::optional<int64_t>>> devices{{profile, std::nullopt}};
  const int64_t dram_total = profile.dram_allocatable() * profile.dram_banks;
  for (int64_t div : {2, 8, 32}) {
    const int64_t cap = budget / div;
    if (cap >= dram_total) continue;
    if (div > 2 && !host_budget::address_space_limited()) break;
    try {
      Budgets b;
      b.dram = cap;
      devices.emplace_back(apply_budgets(profile, b), cap);
    } catch (const InvalidArgument&) {  // too small for one bank: no such device
    }
  }
  for (size_t i = 1; i < devices.size(); ++i) {
    Plan q = plan_on_device(req, devices[i].first, out);
    q.host_dram_budget = devices[i].second;
    q.host_peak_bytes = need_of(q, devices[i].first);
    if (q.host_peak_bytes <= budget) return q;
  }
  // 3. Stream: inputs made and outputs taken chunk by chunk, each chunk's
  // tensors and the device's pages within the budget.
  std::string why = p.check.fits ? "" : p.check.error;
  // Largest capped device first (fewest chunks), the profile's own last.
  std::rotate(devices.begin(), devices.begin() + 1, devices.end());
  for (auto it = devices.begin(); it != devices.end(); ++it) {
    const device::Profile& prof = it->first;
    int64_t chunk_least = INT64_MAX;
    ChunkTest host_ok = [&](const CallSpec& cc, const QueryResult& q) {
      int64_t n = chunk_held_bytes(cc) + device_backing(q, prof);
      chunk_least = std::min(chunk_least, n);
      return n <= budget;
    };
    auto s = try_chunked(req, prof, out, host_ok);
    if (chunk_least < INT64_MAX) least = std::min(least, chunk_least);
    if (!s) continue;
    s->why =
        why.empty() ? fmt::format("host tensors of {} B exceed the host budget", tensors) : why;
    s->host_bytes = p.host_bytes;
    s->bytes_to_device = p.host_bytes - [&] {
      int64_t o = 0;
      for (const auto& t : out.outputs) o += tensor_bytes(t);
      return o;
    }();
    s->bytes_from_device = p.host_bytes - s->bytes_to_device;
    s->host_streamed = true;
    s->host_dram_budget = it->second;
    CallSpec c0 = chunk_call(*s, req, 0);
    s->host_peak_bytes = chunk_held_bytes(c0) + device_backing(s->check, prof);
    if (s->num_chunks > 1) {
      CallSpec cl = chunk_call(*s, req, s->num_chunks - 1);
      s->host_peak_bytes = std::max(
          s->host_peak_bytes, chunk_held_bytes(cl) + device_backing(precheck(cl, prof), prof));
    }
    return *s;
  }
  throw HostOutOfMemory(
      fmt::format("[{}] {}; {}", req.op->name,
                  host_budget::shortfall(least, budget, "the host budget"),
                  "no chunking along an independent axis brings it under the budget"),
      least, budget);
}

}  // namespace

Plan choose_plan(const CallSpec& req, const device::Profile& profile, const Budgets& budgets) {
  ops::OutputSpec out = device_outputs(req);  // validates
  if (budgets.host && budgets.host_streaming)
    return plan_within_host(req, profile, out, *budgets.host);
  Plan p = plan_on_device(req, profile, out);
  if (budgets.host && p.host_bytes > *budgets.host)
    throw HostOutOfMemory(
        fmt::format("[{}] inputs and outputs need {} B of host memory; the host budget is {} B",
                    req.op->name, p.host_bytes, *budgets.host),
        p.host_bytes, *budgets.host);
  p.host_peak_bytes = p.host_bytes;
  return p;
}

device::Profile run_profile(const Plan& plan, const device::Profile& profile) {
  if (!plan.host_dram_budget) return profile;
  Budgets b;
  b.dram = *plan.host_dram_budget;
  return apply_budgets(profile, b);
}

int64_t host_need_whole(const Plan& plan, const CallSpec& call, const device::Profile& profile) {
  int64_t n = held_bytes(call, device_outputs(call));
  if (plan.strategy != Strategy::HostFallback)
    n += device_backing(plan.check, run_profile(plan, profile));
  return n;
}

int64_t host_tensor_bytes(const CallSpec& call) {
  int64_t b = 0;
  for (const auto& t : call.inputs) b += tensor_bytes(t);
  for (const auto& t : device_outputs(call).outputs) b += tensor_bytes(t);
  return b;
}

std::string plan_line(const Plan& p) {
  std::string s = fmt::format("plan: {}", strategy_name(p.strategy));
  if (p.strategy == Strategy::HostFallback) return s + " (no device placement fits)";
  s += fmt::format(
      ", inputs in {}, outputs in {}", device::buffer_type_name(p.device_call.in_memory),
      device::buffer_type_name(p.device_call.out_memory.value_or(p.device_call.in_memory)));
  if (p.device_call.streaming_cbs) s += ", streaming CBs";
  if (p.strategy == Strategy::Chunked)
    s += fmt::format(", {} chunks of {} along output dim {} (double-buffered)", p.num_chunks,
                     p.chunk, p.axis.out_dim);
  if (p.host_streamed) s += ", host tensors streamed chunk by chunk";
  if (p.host_dram_budget)
    s += fmt::format(", device DRAM capped at {} B (what the host budget can back)",
                     *p.host_dram_budget);
  if (p.strategy == Strategy::Sliced)
    s += fmt::format(", TT-NN DRAM slicing in {} slices (the fewest whose placement fits)",
                     p.num_chunks);
  s += fmt::format(", CBs {} B/core, peak L1 {} B/core, peak DRAM {} B/bank",
                   p.check.cb_bytes_per_core, p.check.peak_l1_per_core, p.check.peak_dram_per_bank);
  // Fragmentation with everything placed: the largest block a next buffer could get.
  s += fmt::format(", largest free block L1 {} B/bank, DRAM {} B/bank",
                   p.check.l1.largest_free_block, p.check.dram.largest_free_block);
  return s;
}

nlohmann::json plan_json(const Plan& p, const device::Profile& profile) {
  nlohmann::json j;
  j["strategy"] = strategy_name(p.strategy);
  j["why"] = p.why.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.why);
  j["in_memory"] = device::buffer_type_name(p.device_call.in_memory);
  j["out_memory"] =
      device::buffer_type_name(p.device_call.out_memory.value_or(p.device_call.in_memory));
  j["streaming_cbs"] = p.device_call.streaming_cbs;
  j["chunk_out_dim"] =
      p.strategy == Strategy::Chunked ? nlohmann::json(p.axis.out_dim) : nlohmann::json(nullptr);
  j["chunk"] = p.chunk;
  j["num_chunks"] = p.num_chunks;
  j["slices"] =
      p.strategy == Strategy::Sliced ? nlohmann::json(p.num_chunks) : nlohmann::json(nullptr);
  j["buffer_sets"] = p.device_call.buffer_sets;
  j["cb_bytes_per_core"] = p.check.cb_bytes_per_core;
  j["planned_peak_l1_per_core"] = p.check.peak_l1_per_core;
  j["planned_peak_dram_per_bank"] = p.check.peak_dram_per_bank;
  j["l1_capacity_per_core"] = profile.l1_size;
  j["dram_capacity_per_bank"] = profile.dram_bank_size;
  j["host_bytes"] = p.host_bytes;
  j["host_peak_bytes"] = p.host_peak_bytes;
  j["host_streamed"] = p.host_streamed;
  j["host_dram_budget"] = p.host_dram_budget ? nlohmann::json(*p.host_dram_budget) : nullptr;
  j["bytes_host_to_device"] = p.bytes_to_device;
  j["bytes_device_to_host"] = p.bytes_from_device;
  j["passes"] = 1;
  // With the plan's buffers placed: free bytes and the largest free block per bank.
  for (const auto& [name, st] : {std::pair{"l1", &p.check.l1}, std::pair{"dram", &p.check.dram}})
    j["fragmentation"][name] = {{"free_per_bank", st->free},
                                {"largest_free_block_per_bank", st->largest_free_block},
                                {"allocations", st->num_allocations}};
  return j;
}

}  // namespace oomless::plan
