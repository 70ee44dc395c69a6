// The host is a budget too: how much memory this process may still use, from
// what the kernel would actually let it have (MemAvailable, the cgroup v1/v2
// memory limit of its cgroup and their ancestors, RLIMIT_AS), minus a margin
// for what no plan counts (libraries, thread stacks, the kernel's own slack).
// The planner keeps a call's host tensors and the device arena pages it writes
// under this budget; calls that do not fit stream or stop before allocating.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace oomless::host_budget {

struct Probe {
  int64_t mem_available = -1;  // /proc/meminfo MemAvailable (B), -1 when unreadable
  int64_t cgroup_free = -1;    // tightest cgroup limit minus its usage, -1 when unlimited
  std::string cgroup_what;     // "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes"
  int64_t as_free = -1;        // RLIMIT_AS minus this process's VmSize, -1 when unlimited
  int64_t available = 0;       // the least of the above (0 when none was readable)
  std::string limited_by;      // which one it is
  int64_t margin = 0;
  int64_t budget = 0;  // available - margin, at least 0
};

// Files are read under `root` (tests pass a fake tree); `rlimit_as` overrides
// getrlimit(RLIMIT_AS) when given (-1: unlimited).
Probe probe(const std::string& root = "", std::optional<int64_t> rlimit_as = std::nullopt);

// Headroom kept out of the budget: 64 MiB plus 1/16 of what is available.
int64_t margin_for(int64_t available);

// The process's default budget: probed once (before this process pools any
// memory of its own) and remembered; OOMLESS_HOST_BUDGET (bytes) overrides it.
int64_t default_budget();
const Probe& default_probe();

// True when RLIMIT_AS is finite: address space reserved but never touched
// (device arenas, MAP_NORESERVE) counts against it too.
bool address_space_limited();

// "needs N B of host memory, M B available (...)": what the CLI prints with exit 5.
std::string shortfall(int64_t need, int64_t available, const std::string& what);

}  // namespace oomless::host_budget
