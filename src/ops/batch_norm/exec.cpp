// Placeholder until the batch_norm kernels land: fails loudly, never computes.
#include <fmt/format.h>

#include "core/error.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

std::vector<Tensor> exec_batch_norm(const OpCall& call) {
  throw Error(fmt::format("[{}] kernel not implemented yet", call.op.name));
}

}  // namespace oomless::ops
