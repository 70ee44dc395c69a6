// The state of one replay (internal to graph/): one device allocator, the
// buffer and place of every storage, freeing after the last use, and the memory
// samples each node records.
#pragma once
#include <memory>
#include <vector>

#include "device/device.hpp"
#include "graph/hooks.hpp"
#include "graph/replay.hpp"

namespace oomless::graph {

// Host bytes of a tensor as torch holds it (numel x element size).
int64_t host_bytes(const TensorInfo& t);

// Restores the device's high-water marks unless kept: a what-if placement (a
// search's trial, an attempt that did not fit) leaves no trace in them.
struct PeakGuard {
  device::Device& dev;
  device::Device::Peaks saved;
  bool keep = false;
  explicit PeakGuard(device::Device& d) : dev(d), saved(d.peaks()) {}
  ~PeakGuard() {
    if (!keep) dev.set_peaks(saved);
  }
  PeakGuard(const PeakGuard&) = delete;
  PeakGuard& operator=(const PeakGuard&) = delete;
};

struct State {
  const Graph& g;
  device::Device dev;
  std::vector<std::shared_ptr<device::Buffer>> buf;  // per storage
  std::vector<Place> at;                             // per storage: where it is now
  std::vector<Place> written;                        // per tensor: where it was made
  std::vector<bool> device_read;                     // per storage: a device program reads it
  std::vector<int> end;                              // per storage: last node that needs it
  std::vector<std::vector<int>> frees;               // per node: storages that die after it
  int64_t peak_l1 = 0, peak_dram = 0;
  int64_t host_live = 0, host_peak = 0;
  int64_t largest_bytes = 0;  // the largest buffer placed
  std::string largest_what;

  // With an executor the device is backed and every move of a storage carries
  // its data (a run); without, placements only (a plan).
  Executor* exec = nullptr;

  // `end` overrides the storages' last uses (a chain reads its inputs when it runs).
  State(const Graph& graph, const device::Profile& profile, std::vector<int> end_override = {},
        Executor* executor = nullptr);

  // Allocates storage t in `type` (throws device::OutOfMemory) and frees any
  // other copy; traffic is the caller's.
  void allocate(int t, device::BufferType type);
  void set_host(int t);  // t's storage lives on the host
  // Frees its device buffer or host memory (keep_image: the data just moved to
  // the host, only the old copy goes).
  void release(int storage, bool keep_image = false);
  device::Buffer* buffer(int t) const { return buf[g.tensors[t].storage].get(); }
  Place where(int t) const { return at[g.tensors[t].storage]; }

  // Places one program: its inputs' buffers, its new outputs (assigned to their
  // storages), its CBs; samples memory, then releases the CBs. Throws
  // device::OutOfMemory after recording the failure in r (nothing stays placed).
  void place(const Step& s, const plan::CallSpec& c, plan::QueryResult& r);
  // As place(), but the program's new outputs are returned, not assigned.
  // `keep_sample`: record its memory in the node's samples (a search's
  // rejected trials must not).
  plan::Placement trial(const std::vector<int>& inputs, const plan::CallSpec& c,
                        plan::QueryResult& r, bool keep_sample = true);
  // Records an allocation's size (the largest buffer of the replay).
  void note_buffer(int64_t bytes, const std::string& what);

  void sample();        // memory now, into the current node's record
  void sample_start();  // weights and inputs before the first node
  void begin_node();
  void end_node(int n, NodeResult& nr);
  void free_dead(int n);

 private:
  int64_t cur_l1_ = 0, cur_cb_ = 0, cur_dram_ = 0;
};

}  // namespace oomless::graph
