// Checks a run's outputs against the slow exact reference (ops/reference) on a
// deterministic sample of elements, or on all of them.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "ops/op.hpp"

namespace oomless::exec {

struct VerifyResult {
  int64_t checked = 0, failed = 0;
  double max_abs_error = 0;   // over checked float elements
  std::string first_failure;  // "output 0 [1,2,3]: got .. expected .. (tolerance ..)"
  bool ok() const { return failed == 0; }
};

// `call` holds the inputs as they were before the run (silu_ changes its input).
// samples <= 0 checks every element.
VerifyResult verify_outputs(const ops::OpCall& call, const std::vector<Tensor>& outputs,
                            int64_t samples, uint64_t seed);

}  // namespace oomless::exec
