#include "core/host_budget.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace oomless::host_budget {

namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "Key:   123 kB" lines of /proc/meminfo and /proc/self/status, in bytes.
int64_t kb_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    long long kb = std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
    return kb >= 0 ? static_cast<int64_t>(kb) * 1024 : -1;
  }
  return -1;
}

// A number file of the cgroup tree; -1 for "max", absent or unreadable.
int64_t number_file(const std::string& path) {
  auto text = slurp(path);
  if (!text || text->rfind("max", 0) == 0) return -1;
  char* end = nullptr;
  long long v = std::strtoll(text->c_str(), &end, 10);
  if (end == text->c_str() || v < 0) return -1;
  return static_cast<int64_t>(v);
}

// Limit minus usage over the cgroup and its ancestors (a parent's limit binds
// its children); -1 when none is set.
int64_t cgroup_free(const std::string& base, std::string rel, const char* limit_file,
                    const char* usage_file) {
  int64_t best = -1;
  // Limits this large mean "none" (v1 writes PAGE_COUNTER_MAX pages).
  const int64_t unlimited = int64_t{1} << 60;
  while (true) {
    std::string dir = base + rel;
    int64_t limit = number_file(dir + "/" + limit_file);
    if (limit >= 0 && limit < unlimited) {
      int64_t usage = std::max<int64_t>(0, number_file(dir + "/" + usage_file));
      int64_t free = std::max<int64_t>(0, limit - usage);
      best = best < 0 ? free : std::min(best, free);
    }
    if (rel.empty() || rel == "/") break;
    auto slash = rel.rfind('/');
    rel = slash == std::string::npos ? "" : rel.substr(0, slash);
  }
  return best;
}

}  // namespace

int64_t margin_for(int64_t available) {
  return (int64_t{64} << 20) + std::max<int64_t>(available, 0) / 16;
}

Probe probe(const std::string& root, std::optional<int64_t> rlimit_as) {
  Probe p;
  if (auto mi = slurp(root + "/proc/meminfo")) p.mem_available = kb_field(*mi, "MemAvailable");
  // /proc/self/cgroup: "0::/path" (v2) and "N:memory:/path" (v1).
  if (auto cg = slurp(root + "/proc/self/cgroup")) {
    std::istringstream in(*cg);
    std::string line;
    while (std::getline(in, line)) {
      auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) continue;
      std::string ctrl = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
      if (path == "/") path.clear();
      int64_t f = -1;
      std::string what;
      if (ctrl.empty()) {
        for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
          f = cgroup_free(root + mount, path, "memory.max", "memory.current");
          if (f >= 0) break;
        }
        what = "cgroup v2 memory.max";
      } else if (ctrl == "memory" || ctrl.find("memory") != std::string::npos) {
        f = cgroup_free(root + "/sys/fs/cgroup/memory", path, "memory.limit_in_bytes",
                        "memory.usage_in_bytes");
        what = "cgroup v1 memory.limit_in_bytes";
      }
      if (f >= 0 && (p.cgroup_free < 0 || f < p.cgroup_free)) {
        p.cgroup_free = f;
        p.cgroup_what = what;
      }
    }
  }
  int64_t as = -1;
  if (rlimit_as) {
    as = *rlimit_as;
  } else {
    rlimit rl{};
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      as = static_cast<int64_t>(std::min<rlim_t>(rl.rlim_cur, rlim_t{1} << 62));
  }
  if (as >= 0) {
    int64_t vm = 0;
    if (auto st = slurp(root + "/proc/self/status"))
      vm = std::max<int64_t>(0, kb_field(*st, "VmSize"));
    p.as_free = std::max<int64_t>(0, as - vm);
  }
  p.available = -1;
  for (auto [v, what] :
       {std::pair{p.mem_available, std::string("MemAvailable")},
        std::pair{p.cgroup_free, p.cgroup_what}, std::pair{p.as_free, std::string("RLIMIT_AS")}}) {
    if (v >= 0 && (p.available < 0 || v < p.available)) {
      p.available = v;
      p.limited_by = what;
    }
  }
  if (p.available < 0) {
    p.available = 0;
    p.limited_by = "nothing readable";
  }
  p.margin = margin_for(p.available);
  p.budget = std::max<int64_t>(0, p.available - p.margin);
  return p;
}

const Probe& default_probe() {
  static const Probe p = [] {
    Probe q = probe();
    if (const char* env = std::getenv("OOMLESS_HOST_BUDGET"); env && *env) {
      q.budget = std::strtoll(env, nullptr, 10);
      q.limited_by = "OOMLESS_HOST_BUDGET";
    }
    return q;
  }();
  return p;
}

int64_t default_budget() {
  return default_probe().budget;
}

bool address_space_limited() {
  rlimit rl{};
  return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

std::string shortfall(int64_t need, int64_t available, const std::string& what) {
  return fmt::format("needs {} B of host memory, {} B available{}", need, available,
                     what.empty() ? "" : " (" + what + ")");
}

}  // namespace oomless::host_budget
