// Runs one op call with its data living in the emulated device's arenas: the
// inputs are written into device buffers placed exactly as the pre-check
// placed them, the kernel reads them back into host staging, computes, and
// writes the outputs into their device buffers. Peak memory is what the
// allocator saw.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "exec/device_tensor.hpp"
#include "plan/precheck.hpp"

namespace oomless::exec {

enum class Init { Rand, Randn, Ones };
Init parse_init(std::string_view s);

// Seeded inputs of a call: uniform [0,1) like the seed's torch.rand (or normal, or
// ones), keyed by (seed, input, element index) so they never depend on threads.
std::vector<Tensor> make_inputs(const plan::CallSpec& call, Init init, uint64_t seed);
// Input k's elements [start, start + length) along `dim` (dim < 0: all of it),
// with the values make_inputs gives them: a streamed run makes one chunk at a time.
Tensor make_input_range(const plan::CallSpec& call, size_t k, Init init, uint64_t seed, int64_t dim,
                        int64_t start, int64_t length);

struct RunResult {
  plan::QueryResult placement;  // what was allocated, with peaks
  std::vector<Tensor> outputs;  // read back from the device (host dtype of the call)
  double seconds = 0;           // upload + compute + write back
  double compute_seconds = 0;   // the kernel alone
  int64_t peak_l1_per_core = 0, peak_dram_per_bank = 0;
};

// Strict policy: honours the requested placement; throws device::OutOfMemory with
// the message the pre-check gives when the call does not fit.
// With `keep`, the call's buffers stay allocated (moved there) after it returns,
// so a chunked run can hold one chunk's buffers while the next is placed.
// With `into`, float outputs are read back into those tensors (e.g. a chunk's
// slice of the whole result) instead of new ones.
RunResult run_strict(device::Device& dev, const plan::CallSpec& call,
                     const std::vector<Tensor>& inputs, plan::Placement* keep = nullptr,
                     const std::vector<Tensor>* into = nullptr);

// Host dtype for a device dtype (bfloat8_b data is handled as f32 on the host).
DType host_dtype(DType device_dtype);

}  // namespace oomless::exec
