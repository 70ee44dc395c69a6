// The planner: makes every call fit. It pre-checks the requested placement and,
// when that does not fit, tries the cheapest strategy first: re-place inputs or
// outputs in DRAM, stream tiles through small CBs, chunk from host memory along
// an independent axis (double-buffered through DRAM), and last run on the host.
// Capacities come from the profile, lowered by budgets.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/split_axes.hpp"
#include "plan/precheck.hpp"

namespace oomless::plan {

struct Budgets {
  std::optional<int64_t> l1, dram, host;  // bytes over all banks (host: total)
  // The host budget is the whole process's (CLI, sweeps): it covers the host
  // tensors and the device arena pages a run writes, and inputs and outputs
  // may stream chunk by chunk. Otherwise (Python, which hands tensors in and
  // out whole) it covers the inputs and outputs.
  bool host_streaming = false;
};

// "64MB", "1MiB", "512KB", "1.5GB", "4096": binary units (1 MB = 2^20 B).
int64_t parse_bytes(std::string_view text, std::string_view what);
// The profile with each bank capped at budget / banks.
device::Profile apply_budgets(const device::Profile& p, const Budgets& b);

// Sliced: TT-NN's own DRAM slicing (conv2d): input and output in DRAM, one
// slice's L1 buffers at a time, with the slice count we chose against the
// live free blocks (num_chunks), not TT-NN's total-free-L1 estimate.
enum class Strategy { Direct, Replaced, Streamed, Sliced, Chunked, HostFallback };
std::string_view strategy_name(Strategy s);

struct Plan {
  Strategy strategy = Strategy::Direct;
  CallSpec device_call;    // what runs on the device (one chunk's call when chunked)
  QueryResult check;       // its pre-check, with peaks
  ops::SplitAxis axis;     // chunked: the axis cut
  int64_t chunk = 0;       // chunked: output extent per chunk along axis.out_dim
  int64_t num_chunks = 1;  // chunked: chunks; sliced: DRAM slices
  int64_t host_bytes = 0;  // host memory of inputs and outputs
  // Host budget (host_streaming): what the run holds at once, host tensors
  // (whole, or one chunk's when streamed) plus the device arena pages.
  int64_t host_peak_bytes = 0;
  bool host_streamed = false;  // chunked: inputs made and outputs taken chunk by chunk
  // The device DRAM cap (bytes over all banks) the host can back; the run's
  // device is the profile under it (run_planned applies it).
  std::optional<int64_t> host_dram_budget;
  int64_t bytes_to_device = 0;    // host -> DRAM traffic
  int64_t bytes_from_device = 0;  // DRAM -> host traffic
  std::string why;                // what did not fit before this strategy
};

// Throws InvalidArgument for a bad call, and HostOutOfMemory (before anything
// is allocated) when not even the host fits: with host_streaming, the least the
// call needs ("needs N B of host memory, M B available").
Plan choose_plan(const CallSpec& requested, const device::Profile& profile, const Budgets& budgets);

// The call for chunk `index` (input and output extents cut along the plan's axis):
// its output range along axis.out_dim in start/length and, in in_ranges, each
// input's (start, length) along its in_dim (a halo for windowed ops).
CallSpec chunk_call(const Plan& plan, const CallSpec& whole, int64_t index,
                    int64_t* start = nullptr, int64_t* length = nullptr,
                    std::vector<std::pair<int64_t, int64_t>>* in_ranges = nullptr);

// The profile a plan's run uses (the host's DRAM cap applied).
device::Profile run_profile(const Plan& plan, const device::Profile& profile);
// Host bytes of a call's inputs and outputs (bfloat8_b held as f32).
int64_t host_tensor_bytes(const CallSpec& call);
// What a plan's run holds in host memory with its tensors whole: the tensors,
// bfloat8_b staging, and the device arena pages (the whole reservation under
// RLIMIT_AS). The strict policy checks this against the host budget.
int64_t host_need_whole(const Plan& plan, const CallSpec& call, const device::Profile& profile);

std::string plan_line(const Plan& p);
nlohmann::json plan_json(const Plan& p, const device::Profile& profile);

}  // namespace oomless::plan
