#include "plan/precheck.hpp"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "ops/device_cost.hpp"

namespace oomless::plan {

using device::BufferType;

std::string_view status_name(Status s) {
  switch (s) {
    case Status::Pass:
      return "PASS";
    case Status::L1OutOfMem:
      return "FAIL_L1_OUT_OF_MEM";
    case Status::DramOutOfMem:
      return "FAIL_DRAM_OUT_OF_MEM";
    case Status::CbOutOfMem:
      return "FAIL_CB_OUT_OF_MEM";
    case Status::AssertException:
      return "FAIL_ASSERT_EXCEPTION";
  }
  return "?";
}

ops::OutputSpec device_outputs(const CallSpec& call) {
  ops::OutputSpec out = ops::infer_output(*call.op, call.inputs, call.args);
  if (call.inputs.empty())
    for (auto& o : out.outputs) o.dtype = call.dtype;
  return out;
}

static void fail_with(QueryResult& r, const device::OutOfMemory& e) {
  r.fits = false;
  r.error = e.what();
  if (e.kind == device::OutOfMemory::Kind::Buffer) {
    r.detail = e.detail();
    r.status = e.buffer_type == BufferType::DRAM ? Status::DramOutOfMem : Status::L1OutOfMem;
  } else if (e.kind == device::OutOfMemory::Kind::Fatal) {
    r.detail = r.error;
    r.status = Status::AssertException;
  } else {
    r.detail = r.error;
    r.status = Status::CbOutOfMem;
  }
}

namespace {

// Allocates one tensor's buffer on dev and records it in r.
std::shared_ptr<device::Buffer> record(device::Device& dev, const CallSpec& call, QueryResult& r,
                                       std::string what, const ops::TensorSpec& t,
                                       BufferType type) {
  PageSpec ps = page_spec(t.shape, t.dtype, call.layout);
  device::Footprint f = dev.footprint(type, call.memory_layout, ps.num_pages, ps.page_size);
  r.allocations.push_back({std::move(what), type, t.shape, f.total_bytes(), f.banks,
                           f.bytes_per_bank, f.num_pages, f.page_size});
  auto buf = dev.allocate(type, ps.num_pages, ps.page_size, call.memory_layout);
  r.allocations.back().address = buf->address();
  r.allocations.back().fits = true;
  return buf;
}

// Allocates a memory script's buffer and records it.
std::shared_ptr<device::Buffer> record_step(device::Device& dev, QueryResult& r,
                                            const ops::MemStep& st) {
  device::Footprint f;
  try {
    f = dev.footprint(st.type, st.layout, st.pages, st.page_size, st.shard_pages, st.cores);
  } catch (const InvalidArgument& e) {
    throw Error(
        fmt::format("memory script step '{}' {}: {}", st.name, shape_str(st.shape), e.what()));
  }
  AllocationRecord a{st.name, st.type,          st.shape,    f.total_bytes(),
                     f.banks, f.bytes_per_bank, f.num_pages, f.page_size};
  a.layout = st.layout;
  r.allocations.push_back(a);
  auto buf = dev.allocate(st.type, st.pages, st.page_size, st.layout, st.shard_pages, st.cores);
  r.allocations.back().address = buf->address();
  r.allocations.back().fits = true;
  return buf;
}

void record_peaks(const device::Device& dev, QueryResult& r) {
  r.peak_l1_per_core = dev.peak_l1_per_core();
  r.peak_dram_per_bank = dev.peak_dram_per_bank();
  r.l1 = dev.stats(BufferType::L1);
  r.dram = dev.stats(BufferType::DRAM);
  r.l1_small = dev.stats(BufferType::L1_SMALL);
}

// The programs an op's script would run, for a call whose inputs did not fit:
// what TT-NN would have done next, marked not reached.
void describe_script(const device::Device& dev, const CallSpec& call, QueryResult& r) {
  ops::StepContext ctx{call.layout, call.in_memory, call.out_memory.value_or(call.in_memory), &dev};
  ops::MemScript m = call.op->steps(*call.op, call.inputs, r.outputs, call.args, ctx);
  r.notes = m.notes;
  r.not_modelled = m.not_modelled;
  const int64_t align = dev.profile().dram_alignment;
  for (const auto& st : m.steps) {
    if (st.kind != ops::MemStep::Kind::Program) continue;
    ProgramRecord pr{st.name, st.cbs};
    for (const auto& cb : st.cbs)
      pr.cb_bytes_per_core = round_up(pr.cb_bytes_per_core, align) + cb.bytes();
    pr.reached = false;
    if (pr.cb_bytes_per_core >= r.cb_bytes_per_core) {
      r.cbs = st.cbs;
      r.cb_bytes_per_core = pr.cb_bytes_per_core;
    }
    r.programs.push_back(pr);
  }
}

// Runs an op's memory script (ops::MemStep) on dev: see ops/op.hpp.
Placement run_script(device::Device& dev, const CallSpec& call, QueryResult& r,
                     std::vector<std::shared_ptr<device::Buffer>> inputs) {
  Placement p;
  p.inputs = std::move(inputs);
  p.outputs.assign(r.outputs.outputs.size(), nullptr);
  ops::StepContext ctx{call.layout, call.in_memory, call.out_memory.value_or(call.in_memory), &dev};
  ops::MemScript m = call.op->steps(*call.op, call.inputs, r.outputs, call.args, ctx);
  r.notes = m.notes;
  r.not_modelled = m.not_modelled;
  if (!m.fatal.empty()) {
    device::OutOfMemory e(m.fatal);
    e.kind = device::OutOfMemory::Kind::Fatal;
    throw e;
  }
  // Further buffer sets (double-buffered chunks): the previous chunk's outputs
  // are live while this chunk's script runs, its intermediates included.
  for (int set = 1; set < call.buffer_sets; ++set)
    for (const auto& st : m.steps)
      if (st.kind == ops::MemStep::Kind::Allocate && st.output >= 0) {
        ops::MemStep copy = st;
        copy.name = fmt::format("output {} (buffer set {})", st.output, set + 1);
        p.spare.push_back(record_step(dev, r, copy));
      }
  std::map<std::string, std::shared_ptr<device::Buffer>> live;
  std::map<std::string, size_t> record_of;  // name -> its allocation record
  bool cbs_held = false, in_place = false;
  for (const auto& st : m.steps) {
    switch (st.kind) {
      case ops::MemStep::Kind::Allocate: {
        if (call.inplace && st.output == 0 && !call.inputs.empty()) {
          // silu_-style in place: the output is input 0's pages (as off a script).
          AllocationRecord a{st.name + " (in place of input 0)", call.in_memory, st.shape};
          a.fits = true;
          a.is_view = true;
          r.allocations.push_back(a);
          in_place = true;
          break;
        }
        auto buf = record_step(dev, r, st);
        record_of[st.name] = r.allocations.size() - 1;
        if (st.output >= 0) p.outputs.at(static_cast<size_t>(st.output)) = buf;
        if (st.persists) p.spare.push_back(buf);
        live[st.name] = std::move(buf);
        break;
      }
      case ops::MemStep::Kind::Free: {
        auto it = live.find(st.name);
        if (it == live.end())
          throw Error(fmt::format("[{}] memory script frees '{}', which is not live", call.op->name,
                                  st.name));
        const AllocationRecord& a = r.allocations.at(record_of.at(st.name));
        AllocationRecord f{"free " + st.name, a.buffer_type, a.shape,     a.bytes,   a.banks,
                           a.bytes_per_bank,  a.pages,       a.page_size, a.address, true};
        f.layout = a.layout;
        f.is_free = true;
        r.allocations.push_back(f);
        for (auto& o : p.outputs)
          if (o == it->second) o = nullptr;
        live.erase(it);  // freed unless it persists (held in p.spare) or is an output
        break;
      }
      case ops::MemStep::Kind::Program: {
        if (cbs_held) dev.release_cbs();  // programs run one after another
        ProgramRecord pr{st.name, st.cbs};
        std::vector<int64_t> sizes;
        for (const auto& cb : st.cbs) sizes.push_back(cb.bytes());
        r.programs.push_back(pr);
        try {
          r.programs.back().cb_bytes_per_core = dev.allocate_cbs(sizes).bytes();
        } catch (const device::OutOfMemory& e) {
          r.programs.back().cb_bytes_per_core = e.cb_end - dev.profile().l1_unreserved_base;
          r.cbs = st.cbs;
          r.cb_bytes_per_core = r.programs.back().cb_bytes_per_core;
          throw;
        }
        r.programs.back().fits = true;
        cbs_held = true;
        if (r.programs.back().cb_bytes_per_core >= r.cb_bytes_per_core) {
          r.cbs = st.cbs;
          r.cb_bytes_per_core = r.programs.back().cb_bytes_per_core;
        }
        break;
      }
    }
  }
  for (size_t i = 0; i < p.outputs.size(); ++i)
    if (!p.outputs[i] && !(i == 0 && in_place))
      throw Error(fmt::format("[{}] memory script left output {} unplaced", call.op->name, i));
  return p;
}

}  // namespace

std::vector<std::shared_ptr<device::Buffer>> place_inputs(
    device::Device& dev, const CallSpec& call, QueryResult& r,
    std::vector<std::shared_ptr<device::Buffer>>* spare) {
  std::vector<ops::InputPlacement> how(call.inputs.size());
  if (call.op->inputs) how = call.op->inputs(*call.op, call.inputs, call.args);
  std::vector<std::shared_ptr<device::Buffer>> inputs;
  for (int set = 0; set < call.buffer_sets; ++set) {
    std::string suffix = set == 0 ? "" : " (buffer set " + std::to_string(set + 1) + ")";
    for (size_t i = 0; i < call.inputs.size(); ++i) {
      std::string what = "input " + std::to_string(i) + suffix;
      if (how[i].on_host) {
        if (set == 0) {
          AllocationRecord a{what + " (on host: the op prepares it)", BufferType::DRAM,
                             call.inputs[i].shape};
          a.fits = true;
          a.on_host = true;
          r.allocations.push_back(a);
          inputs.push_back(nullptr);
        }
        continue;
      }
      ops::TensorSpec t = call.inputs[i];
      if (!how[i].device_shape.empty()) t.shape = how[i].device_shape;
      auto buf = record(dev, call, r, what, t, call.in_memory);
      if (set == 0)
        inputs.push_back(buf);
      else if (spare)
        spare->push_back(buf);
    }
  }
  return inputs;
}

Placement place(device::Device& dev, const CallSpec& call, QueryResult& r) {
  r.outputs = device_outputs(call);  // validates before anything is allocated
  std::vector<std::shared_ptr<device::Buffer>> inputs, spare;
  try {
    inputs = place_inputs(dev, call, r, &spare);
  } catch (const device::OutOfMemory& e) {
    fail_with(r, e);
    record_peaks(dev, r);
    if (call.op->steps && !call.streaming_cbs) describe_script(dev, call, r);
    throw;
  }
  Placement p = place_call(dev, call, std::move(inputs), r);
  p.spare.insert(p.spare.begin(), spare.begin(), spare.end());
  return p;
}

Placement place_call(device::Device& dev, const CallSpec& call,
                     std::vector<std::shared_ptr<device::Buffer>> inputs, QueryResult& r) {
  const device::Profile& profile = dev.profile();
  r.outputs = device_outputs(call);
  if (call.op->steps && !call.streaming_cbs) {
    try {
      Placement p = run_script(dev, call, r, std::move(inputs));
      r.fits = true;
      r.status = Status::Pass;
      record_peaks(dev, r);
      return p;
    } catch (const device::OutOfMemory& e) {
      fail_with(r, e);
      record_peaks(dev, r);
      throw;
    }
  }
  Placement p;
  p.inputs = std::move(inputs);
  try {
    BufferType out_type = call.out_memory.value_or(call.in_memory);
    // Views (movement, split) run a program only when they copy; every other op
    // computes, even when its output reuses its input's pages (silu_).
    bool runs_program = call.inputs.empty() || (call.op->family != ops::Family::Movement &&
                                                call.op->family != ops::Family::Split);
    for (size_t i = 0; i < r.outputs.outputs.size(); ++i) {
      std::string what = "output " + std::to_string(i);
      bool reuses = call.inplace && i == 0 && !call.inputs.empty();
      if (i < call.out_placed.size() && call.out_placed[i]) {
        AllocationRecord a{what + " (into a placed buffer)", out_type, r.outputs.outputs[i].shape};
        a.fits = true;
        a.is_view = true;
        r.allocations.push_back(a);
        p.outputs.push_back(nullptr);
        runs_program = true;
        continue;
      }
      if (reuses ||
          !ops::needs_device_buffer(*call.op, call.inputs, r.outputs, i, call.args, call.layout)) {
        int src = reuses ? 0 : r.outputs.view_of[i];
        AllocationRecord a{what + (reuses ? " (in place of input 0)"
                                          : " (view of input " + std::to_string(src) + ")"),
                           call.in_memory, r.outputs.outputs[i].shape};
        a.fits = true;
        a.is_view = true;
        r.allocations.push_back(a);
        p.outputs.push_back(nullptr);
        continue;
      }
      runs_program = true;
      ops::TensorSpec stored = r.outputs.outputs[i];
      if (i < call.out_storage.size() && !call.out_storage[i].empty())
        stored.shape = call.out_storage[i];
      p.outputs.push_back(record(dev, call, r, what, stored, out_type));
      for (int set = 1; set < call.buffer_sets; ++set)
        p.spare.push_back(record(dev, call, r,
                                 what + " (buffer set " + std::to_string(set + 1) + ")", stored,
                                 out_type));
    }
    if (runs_program) {
      ops::DeviceContext ctx{call.layout, &profile};
      r.cbs = call.streaming_cbs ? streaming_cbs(call, r.outputs)
                                 : call.op->cbs(*call.op, call.inputs, r.outputs, call.args, ctx);
      std::vector<int64_t> sizes;
      for (const auto& cb : r.cbs) sizes.push_back(cb.bytes());
      r.cb_bytes_per_core = dev.allocate_cbs(sizes).bytes();
    }
    r.fits = true;
    r.status = Status::Pass;
  } catch (const device::OutOfMemory& e) {
    fail_with(r, e);
    if (e.kind != device::OutOfMemory::Kind::Buffer)
      r.cb_bytes_per_core = e.cb_end - profile.l1_unreserved_base;
    record_peaks(dev, r);
    throw;
  }
  record_peaks(dev, r);
  return p;
}

std::vector<ops::CircularBuffer> streaming_cbs(const CallSpec& call, const ops::OutputSpec& out) {
  auto page = [&](const ops::TensorSpec& t) {
    PageSpec ps = page_spec(t.shape, t.dtype, call.layout);
    return ps.num_pages > 0 ? ps.page_size : 0;
  };
  std::vector<ops::CircularBuffer> cbs;
  for (size_t i = 0; i < call.inputs.size(); ++i)
    cbs.push_back({"in" + std::to_string(i), 2, page(call.inputs[i])});
  for (size_t i = 0; i < out.outputs.size(); ++i)
    cbs.push_back({"out" + std::to_string(i), 2, page(out.outputs[i])});
  int64_t scratch = out.outputs.empty() ? 0 : page(out.outputs[0]);
  if (!call.inputs.empty()) scratch = std::max(scratch, page(call.inputs[0]));
  cbs.push_back({"partials", 4, scratch});
  return cbs;
}

QueryResult precheck(const CallSpec& call, const device::Profile& profile) {
  QueryResult r;
  device::Device dev(profile, /*backed=*/false);
  try {
    place(dev, call, r);
  } catch (const device::OutOfMemory&) {
    r.l1 = dev.stats(BufferType::L1);
    r.dram = dev.stats(BufferType::DRAM);
    r.l1_small = dev.stats(BufferType::L1_SMALL);
  }
  return r;
}

std::optional<int64_t> fewest_fitting_slices(const device::Device& live, const CallSpec& call) {
  bool slices = false;
  for (const auto& a : call.op->args) slices |= a.name == "dram_slices";
  if (!slices || call.in_memory != BufferType::DRAM) return std::nullopt;
  auto values = call.args.values();
  enum class Try { Fits, NoFit, Past, Never };
  auto attempt = [&](int64_t n) {
    values["dram_slices"] = n;
    CallSpec c = call;
    c.args = ops::Args(call.op->name, call.op->args, values);
    c.out_memory = BufferType::DRAM;
    QueryResult r;
    r.outputs = device_outputs(c);
    auto dev = live.snapshot();
    std::vector<std::shared_ptr<device::Buffer>> none(c.inputs.size());
    try {
      place_call(*dev, c, none, r);
      return Try::Fits;
    } catch (const device::OutOfMemory& e) {
      if (e.kind == device::OutOfMemory::Kind::Fatal) return Try::Past;  // past the maximum
      // Every slice's halo needs L1_SMALL config tensors: none fit a device without it.
      if (e.buffer_type == BufferType::L1_SMALL && live.profile().l1_small_size == 0)
        return Try::Never;
      return Try::NoFit;
    }
  };
  // Counts double until one fits (a script holds every slice, so trying each
  // count up to a 4K conv's thousand rows would be quadratic), then the counts
  // since the last miss are tried in order for the fewest.
  int64_t miss = 0, n = 1;
  for (;; n *= 2) {
    Try t = attempt(n);
    if (t == Try::Fits) break;
    if (t == Try::Never) return std::nullopt;
    if (t == Try::Past) {
      // The most slices there are: the largest count that is not past it.
      int64_t lo = miss, hi = n;  // lo is not past (or 0), hi is
      while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        Try m = attempt(mid);
        if (m == Try::Never) return std::nullopt;
        (m == Try::Past ? hi : lo) = mid;
      }
      if (lo <= miss || attempt(lo) != Try::Fits) return std::nullopt;
      n = lo;
      break;
    }
    miss = n;
  }
  for (int64_t k = miss + 1; k < n; ++k)
    if (attempt(k) == Try::Fits) return k;
  return n;
}

std::optional<int64_t> fewest_fitting_slices(const CallSpec& call, const device::Profile& profile) {
  device::Device dev(profile, /*backed=*/false);
  CallSpec c = call;
  c.in_memory = BufferType::DRAM;
  QueryResult r;
  try {
    auto inputs = place_inputs(dev, c, r);
    return fewest_fitting_slices(dev, c);
  } catch (const device::OutOfMemory&) {
    return std::nullopt;
  }
}

nlohmann::json to_json(const QueryResult& r, const CallSpec& call, const device::Profile& profile) {
  using nlohmann::json;
  json j;
  j["op"] = call.op->name;
  j["aten"] = call.op->aten;
  j["device"] = profile.name;
  j["dtype"] = dtype_name(call.inputs.empty() ? call.dtype : call.inputs[0].dtype);
  j["layout"] = layout_name(call.layout);
  j["memory"] = device::buffer_type_name(call.in_memory);
  j["out_memory"] = device::buffer_type_name(call.out_memory.value_or(call.in_memory));
  json args = json::object();
  for (const auto& [k, v] : call.args.values()) args[k] = ops::arg_value_str(v);
  j["args"] = args;
  j["fits"] = r.fits;
  j["status"] = status_name(r.status);
  j["error"] = r.fits ? json(nullptr) : json(r.error);
  j["error_detail"] = r.fits ? json(nullptr) : json(r.detail);
  json outs = json::array();
  for (size_t i = 0; i < r.outputs.outputs.size(); ++i) {
    const auto& o = r.outputs.outputs[i];
    outs.push_back({{"shape", o.shape},
                    {"dtype", dtype_name(o.dtype)},
                    {"padded_shape", padded_shape(o.shape, call.layout)},
                    {"view_of", r.outputs.view_of.size() > i ? r.outputs.view_of[i] : -1}});
  }
  j["outputs"] = outs;
  json allocs = json::array();
  for (const auto& a : r.allocations)
    allocs.push_back({{"what", a.what},
                      {"buffer_type", device::buffer_type_name(a.buffer_type)},
                      {"shape", a.shape},
                      {"bytes", a.bytes},
                      {"pages", a.pages},
                      {"page_size", a.page_size},
                      {"banks", a.banks},
                      {"bytes_per_bank", a.bytes_per_bank},
                      {"address", a.address < 0 ? json(nullptr) : json(a.address)},
                      {"layout", device::memory_layout_name(a.layout)},
                      {"is_view", a.is_view},
                      {"on_host", a.on_host},
                      {"is_free", a.is_free},
                      {"fits", a.fits}});
  j["allocations"] = allocs;
  json programs = json::array();
  for (const auto& p : r.programs) {
    json pcbs = json::array();
    for (const auto& cb : p.cbs)
      pcbs.push_back({{"name", cb.name},
                      {"pages", cb.pages},
                      {"page_size", cb.page_size},
                      {"bytes", cb.bytes()}});
    programs.push_back({{"name", p.name},
                        {"cbs", pcbs},
                        {"cb_bytes_per_core", p.cb_bytes_per_core},
                        {"reached", p.reached},
                        {"fits", p.fits}});
  }
  j["programs"] = programs;
  j["notes"] = r.notes;
  j["not_modelled"] = r.not_modelled;
  j["l1_small_size"] = profile.l1_small_size;
  j["peak_l1_small_per_bank"] = r.l1_small.peak_allocated;
  json cbs = json::array();
  for (const auto& cb : r.cbs)
    cbs.push_back({{"name", cb.name},
                   {"pages", cb.pages},
                   {"page_size", cb.page_size},
                   {"bytes", cb.bytes()}});
  j["cbs"] = cbs;
  j["cb_bytes_per_core"] = r.cb_bytes_per_core;
  j["peak_l1_per_core"] = r.peak_l1_per_core;
  j["peak_dram_per_bank"] = r.peak_dram_per_bank;
  j["l1_bank_size"] = profile.l1_bank_size();
  j["dram_bank_size"] = profile.dram_allocatable();
  j["l1_banks"] = profile.l1_banks;
  j["dram_banks"] = profile.dram_banks;
  return j;
}

}  // namespace oomless::plan
