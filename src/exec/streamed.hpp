// A host-streamed run (the planner's answer when a call's host tensors do not
// fit the host budget): chunk by chunk along the plan's independent axis, each
// chunk's inputs are made (seeded) or read from a mapped .npy, run through the
// device double buffer, verified against the reference on that chunk, and its
// outputs written to a mapped .npy (or dropped). Only one chunk's tensors exist
// at a time.
#pragma once
#include <atomic>
#include <memory>
#include <vector>

#include "core/npy.hpp"
#include "exec/planned.hpp"
#include "exec/verify.hpp"

namespace oomless::exec {

// Where input i comes from: a mapped .npy file, else seeded values.
struct StreamInput {
  std::shared_ptr<NpyReader> npy;
  Init init = Init::Rand;
  uint64_t seed = 0;
};

struct StreamedResult {
  PlannedResult planned;  // run.outputs stays empty: the outputs went to the writers
  VerifyResult verify;
  int64_t chunks = 0;
};

// Runs a plan with host_streamed set. `outputs[i]` (may be null, or shorter
// than the outputs) receives output i. verify_samples: < 0 none, 0 every
// element, else about that many per output over all chunks. When `*stop`
// becomes true the run ends after the current chunk with Interrupted.
StreamedResult run_streamed(const plan::Plan& plan, const plan::CallSpec& call,
                            const std::vector<StreamInput>& inputs,
                            const std::vector<NpyWriter*>& outputs, const device::Profile& profile,
                            int64_t verify_samples, uint64_t seed,
                            const std::atomic<bool>* stop = nullptr);

}  // namespace oomless::exec
