// What a replay tells the data side of a run (internal to graph/). A plan
// replays placements only; a run replays the same placements on a backed
// device and, through these hooks, moves each tensor's data with it and runs
// each program's kernel on the pages just placed (graph/run.cpp).
#pragma once
#include <memory>
#include <vector>

#include "device/device.hpp"
#include "graph/graph.hpp"

namespace oomless::graph {

enum class Place : uint8_t;

// How a kernel sees an operand: its logical shape, NHWC (a channels_last
// call's input 0 and 4-D outputs), or its storage's shape (a copy program).
enum class Coords : uint8_t { Logical, NHWC, Storage };

// One operand of a program as it runs: the graph tensor and where its data is.
struct Operand {
  int tensor = -1;                      // -1: a slice buffer of no tensor (see call_shape)
  const device::Buffer* buf = nullptr;  // its pages; null: its storage's host image
  Coords coords = Coords::Logical;
  // Only [start, start + len) along logical dim `dim` of the tensor (-1: all of it);
  // `buf` holds the whole storage.
  int dim = -1;
  int64_t start = 0, len = 0;
  // `buf` holds only a chunk of the storage, in its format, of the shapes the
  // current chunk context gives (Executor::set_chunk).
  bool chunk = false;
  // tensor < 0: `buf` holds a kernel output of this shape (a slice in L1) in plain
  // memory order.
  Shape call_shape;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Storage s moves (a placement, eviction, upload or read-back): `from` is its
  // old copy (null buffer with Place::Host: its host image; Place::None: no data
  // yet), `to` the new one (null with Place::Host: make a host image).
  virtual void moved(int s, Place from, const device::Buffer* from_buf, Place to,
                     const device::Buffer* to_buf) = 0;
  // Storage s is freed (its host image, if any, goes).
  virtual void released(int s) = 0;
  // Runs one program of node `n` (call as placed) over the operands; `on_host`:
  // the program runs on the host (a fallback or a host op).
  virtual void program(int n, const plan::CallSpec* call, const std::vector<Operand>& in,
                       const std::vector<Operand>& out, bool on_host) = 0;
  // Copies data between two operands of the same tensor (a chunk or slice buffer
  // into the whole tensor, a pinned copy).
  virtual void copy(const Operand& from, const Operand& to) = 0;
  // Chunk context: logical shapes of the tensors a chain cuts (tensor -> shape).
  virtual void set_chunk(const std::vector<std::pair<int, Shape>>& shapes) = 0;
  // Between begin_reuse and end_reuse the storages read are not written by
  // anyone but the programs run (chunks of one chain, slices of one program): a
  // whole storage read once may be kept for the next chunk.
  virtual void begin_reuse() = 0;
  virtual void end_reuse() = 0;
  // The replay starts on `dev` (backed), before anything is placed.
  virtual void start(device::Device& dev) = 0;
  // The node starts / ends (timeline and verification bookkeeping).
  virtual void begin_node(int n) = 0;
  virtual void end_node(int n) = 0;
  // The last node ran: per storage, its buffer (null: on the host, or freed).
  virtual void finish(const std::vector<const device::Buffer*>& buffers) = 0;
};

}  // namespace oomless::graph
