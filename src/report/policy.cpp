#include "report/policy.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace oomless::report {

bool auto_policy_available() {
  return true;
}

PolicyFn find_policy(std::string_view name) {
  if (name == "strict") return run_strict_policy;
  if (name == "auto") return run_auto_policy;
  fail("sweep", fmt::format("unknown --policy '{}' (expected strict, auto or both)", name));
}

}  // namespace oomless::report
