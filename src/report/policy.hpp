// Policies a sweep runs a case under. `strict` honours the requested placement
// and fails like TT-NN; `auto` (the planner of issue 4) makes every case fit and
// plugs in here as one more PolicyFn filling the same CaseResult fields
// (pass_kind, strategy, chunks, peaks, max_abs_error).
#pragma once
#include <string_view>

#include "device/profile.hpp"
#include "plan/precheck.hpp"
#include "report/result.hpp"

namespace oomless::report {

struct RunSettings {
  std::string mode = "query";     // query: pre-check only | run: data + verify when it fits
  int64_t verify_samples = 2000;  // elements per output; <= 0 checks all
  uint64_t seed = 0;
  // Run mode: the host budget (bytes; 0: none). A case whose tensors do not fit
  // streams (auto) or is only pre-checked, with a note saying why (strict).
  int64_t host_budget = 0;
};

// Fills the outcome fields of `r` (status, message, peaks, time, ...). The
// case's own failures become its status; InvalidArgument from validation is
// left to the caller (FAIL_ASSERT_EXCEPTION).
using PolicyFn = void (*)(const plan::CallSpec& call, const device::Profile& profile,
                          const RunSettings& settings, CaseResult& r);

// "strict" or "auto"; InvalidArgument naming what is missing otherwise.
PolicyFn find_policy(std::string_view name);
bool auto_policy_available();

void run_strict_policy(const plan::CallSpec& call, const device::Profile& profile,
                       const RunSettings& settings, CaseResult& r);
void run_auto_policy(const plan::CallSpec& call, const device::Profile& profile,
                     const RunSettings& settings, CaseResult& r);

// Verifies a run mode case's outputs against the slow reference (inputs as they
// were before the run); a mismatch makes the case FAIL_ASSERT_EXCEPTION.
void verify_case(const plan::CallSpec& call, const std::vector<Tensor>& inputs_before,
                 const std::vector<Tensor>& outputs, const RunSettings& s, CaseResult& r);

// Padded and logical bytes the call asks for, per bank, and its CB bytes per
// core, computed without allocating (as much as validation allows).
void measure_footprint(const plan::CallSpec& call, const device::Profile& profile, CaseResult& r);

}  // namespace oomless::report
