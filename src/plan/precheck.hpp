// The pre-check (`oomless query`): replays, on an unbacked device, the
// allocations that running an op the TT-NN way needs — inputs as placed, the
// outputs, then the program's CBs — and reports the first failure with
// tt-metal's message. Allocates nothing real and runs nothing, like TT-NN's
// query_op_constraints.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "device/device.hpp"
#include "ops/op.hpp"

namespace oomless::plan {

struct CallSpec {
  const ops::OpDesc* op = nullptr;
  std::vector<ops::TensorSpec> inputs;  // shapes as the device sees them
  ops::Args args;
  DType dtype = DType::BF16;  // for ops without tensor inputs
  Layout layout = Layout::Tile;
  device::BufferType in_memory = device::BufferType::L1;
  std::optional<device::BufferType> out_memory;  // default: follows the input
  device::MemoryLayout memory_layout = device::MemoryLayout::Interleaved;
  // Buffer sets in flight: 2 when chunks are double-buffered (the next chunk's
  // inputs and outputs are placed while the previous ones are still live).
  int buffer_sets = 1;
  // Stream tiles through small CBs (online softmax, blocked reductions, K-split
  // matmul) instead of the TT-NN program's whole-row CBs.
  bool streaming_cbs = false;
  // Output 0 is written into input 0's buffer (aten's in-place ops such as add_):
  // no new buffer, the program still runs.
  bool inplace = false;
  // Per output, the shape whose pages the device stores when it is not the inferred
  // one (TT-NN keeps NHWC activations as [1,1,N*H*W,C]; a graph stores a permuted
  // tensor in its memory order). Missing or empty entries: the inferred shape.
  std::vector<Shape> out_storage;
  // Outputs written into buffers the caller already placed (a graph's chunked
  // chain writes each chunk of its result into the whole tensor): not allocated.
  std::vector<bool> out_placed;
};

// The CBs of a streaming program: two tiles (or rows) per input and output,
// double-buffered, plus four scratch tiles for partial results (running max and
// sum, Welford (mean, M2), K-split accumulator).
std::vector<ops::CircularBuffer> streaming_cbs(const CallSpec& call, const ops::OutputSpec& out);

struct AllocationRecord {
  std::string what;  // "input 0", "output 1", "halo output (height sharded)", ...
  device::BufferType buffer_type = device::BufferType::L1;
  Shape shape;  // as the device stores it
  int64_t bytes = 0, banks = 0, bytes_per_bank = 0, pages = 0, page_size = 0;
  int64_t address = -1;
  bool fits = false;
  bool is_view = false;  // reuses an input's pages; nothing allocated
  device::MemoryLayout layout = device::MemoryLayout::Interleaved;
  bool on_host = false;  // an input TT-NN keeps on the host (the op moves it itself)
  bool is_free = false;  // a memory script freed the named buffer here (bytes: what it held)
};

// One device program of a call and its static CBs per core.
struct ProgramRecord {
  std::string name;
  std::vector<ops::CircularBuffer> cbs;
  int64_t cb_bytes_per_core = 0;  // aligned region, as placed
  bool fits = false;
  bool reached = true;  // false: planned, but an earlier allocation failed
};

// Status names as tt-metal's sweep framework uses them.
enum class Status { Pass, L1OutOfMem, DramOutOfMem, CbOutOfMem, AssertException };
std::string_view status_name(Status s);

struct QueryResult {
  bool fits = false;
  Status status = Status::Pass;
  std::string error;   // tt-metal's message, empty when it fits
  std::string detail;  // newer tt-metal's longer message (bank size, free, largest block)
  ops::OutputSpec outputs;
  std::vector<AllocationRecord> allocations;
  std::vector<ops::CircularBuffer> cbs;  // the program with the largest CB region
  int64_t cb_bytes_per_core = 0;         // its aligned CB region
  std::vector<ProgramRecord> programs;   // every program of a memory script, in order
  std::vector<std::string> notes;        // the op's decisions (memory scripts)
  std::vector<std::string> not_modelled;
  int64_t peak_l1_per_core = 0, peak_dram_per_bank = 0;
  device::BankStats l1, dram, l1_small;
};

// Device buffers of a placed call; an output that reuses an input's pages has a
// null buffer and `view_of` >= 0 in the OutputSpec.
struct Placement {
  std::vector<std::shared_ptr<device::Buffer>> inputs, outputs;
  std::vector<std::shared_ptr<device::Buffer>> spare;  // further buffer sets' outputs
};

// Makes, on `dev`, the allocations a TT-NN run needs, in order (inputs, outputs,
// CBs), recording each in `r`. On the first failure it records the error in `r`
// and rethrows device::OutOfMemory. The CB region stays until dev.release_cbs().
Placement place(device::Device& dev, const CallSpec& call, QueryResult& r);

// The op's own allocations once its inputs are on `dev` (`inputs`: their buffers,
// in call order; a whole graph replays its nodes through this): outputs (further
// buffer sets too), then the program's CBs. Records each in `r` like place().
Placement place_call(device::Device& dev, const CallSpec& call,
                     std::vector<std::shared_ptr<device::Buffer>> inputs, QueryResult& r);

// Places the call's inputs only (as the op's `inputs` says: device shapes,
// host-resident inputs skipped with a null buffer), recording them in `r`.
// Further buffer sets' inputs go to `spare` (freed at once when null).
std::vector<std::shared_ptr<device::Buffer>> place_inputs(
    device::Device& dev, const CallSpec& call, QueryResult& r,
    std::vector<std::shared_ptr<device::Buffer>>* spare = nullptr);

// Ops with a `dram_slices` argument (conv2d's DRAM slicing): the smallest slice
// count whose whole slice-by-slice placement fits on `live` (the call's inputs
// already there, in DRAM), replayed on a snapshot, so fragmentation counts:
// our choice, where TT-NN's automatic count compares with the total free L1.
// nullopt when no count fits or the op does not slice.
std::optional<int64_t> fewest_fitting_slices(const device::Device& live, const CallSpec& call);
// The same on a fresh device with the call's inputs placed in DRAM.
std::optional<int64_t> fewest_fitting_slices(const CallSpec& call, const device::Profile& profile);

// Validates the call (InvalidArgument on bad input) and replays its allocations
// on an unbacked device.
QueryResult precheck(const CallSpec& call, const device::Profile& profile);
// The device-side output specs of a call (dtype override for ops without inputs).
ops::OutputSpec device_outputs(const CallSpec& call);

nlohmann::json to_json(const QueryResult& r, const CallSpec& call, const device::Profile& profile);

}  // namespace oomless::plan
