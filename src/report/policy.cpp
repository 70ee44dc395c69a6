#include "report/policy.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace oomless::report {

// Flip when the auto policy (plan::choose_plan + exec::run_planned) is wired in.
bool auto_policy_available() {
  return false;
}

PolicyFn find_policy(std::string_view name) {
  if (name == "strict") return run_strict_policy;
  if (name == "auto")
    fail("sweep",
         "--policy auto needs the planner (issue 4), which is not built yet; use --policy strict");
  fail("sweep", fmt::format("unknown --policy '{}' (expected strict, auto or both)", name));
}

}  // namespace oomless::report
