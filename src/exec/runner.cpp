#include "exec/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>

#include "core/error.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::exec {

using Clock = std::chrono::steady_clock;

Init parse_init(std::string_view s) {
  if (s == "rand") return Init::Rand;
  if (s == "randn") return Init::Randn;
  if (s == "ones") return Init::Ones;
  fail("run", fmt::format("unknown --init '{}' (expected rand, randn or ones)", s));
}

DType host_dtype(DType d) {
  return d == DType::BFP8_B ? DType::F32 : d;
}

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static double uniform(uint64_t key) {
  return static_cast<double>(splitmix(key) >> 11) * 0x1.0p-53;
}

// Uniform [0,1) inputs are most of what a sweep generates; these loops
// vectorize (64-bit multiplies need AVX-512DQ), one clone per ISA level.
#define OOMLESS_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

static inline uint64_t uniform_key(uint64_t base, int64_t i) {
  return base ^ static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ull;
}

static inline float uniform_f32(uint64_t key) {
  return static_cast<float>(uniform(key));
}

OOMLESS_ISA_CLONES
static void fill_uniform(uint64_t base, int64_t first, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = uniform_f32(uniform_key(base, first + i));
}

OOMLESS_ISA_CLONES
static void fill_uniform(uint64_t base, int64_t first, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    // f32 -> bf16, round to nearest even (no NaN in [0, 1)).
    uint32_t b = std::bit_cast<uint32_t>(uniform_f32(uniform_key(base, first + i)));
    out[i] = static_cast<uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
  }
}

// Seeded values of global elements [first, first + n) into `out` (f32 or bf16).
static void fill_run(Init init, DType dt, uint64_t base, int64_t first, int64_t n, void* out) {
  auto* f = static_cast<float*>(out);
  auto* h = static_cast<uint16_t*>(out);
  constexpr int64_t kBlock = 1 << 16;
  if (init == Init::Rand) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b += kBlock) {
      int64_t m = std::min(kBlock, n - b);
      if (dt == DType::F32)
        fill_uniform(base, first + b, m, f + b);
      else
        fill_uniform(base, first + b, m, h + b);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    uint64_t key = uniform_key(base, first + i);
    double v = 1.0;
    if (init == Init::Randn) {
      double u1 = std::max(uniform(key), 1e-300), u2 = uniform(key + 1);
      v = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    }
    // Drawn in f32, then rounded: the same values whatever the dtype.
    if (dt == DType::F32)
      f[i] = static_cast<float>(v);
    else
      h[i] = f32_to_bf16(static_cast<float>(v));
  }
}

Tensor make_input_range(const plan::CallSpec& call, size_t k, Init init, uint64_t seed, int64_t dim,
                        int64_t start, int64_t length) {
  const auto& spec = call.inputs.at(k);
  DType dt = host_dtype(spec.dtype);
  if (dt != DType::F32 && dt != DType::BF16)
    fail(call.op->name, fmt::format("random inputs of dtype {}", dtype_name(dt)));
  const Shape& whole = spec.shape;
  Shape shape = whole;
  int64_t outer = 1, inner = 1, extent = 1;
  if (dim >= 0 && !whole.empty()) {
    shape[static_cast<size_t>(dim)] = length;
    for (int64_t i = 0; i < dim; ++i) outer *= whole[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(dim) + 1; i < whole.size(); ++i) inner *= whole[i];
    extent = whole[static_cast<size_t>(dim)];
  } else {
    start = 0;
    length = extent = 1;
    inner = numel(whole);
  }
  Tensor t = Tensor::empty(shape, dt);
  uint64_t base = splitmix(seed * 1000003ull + k);
  const size_t es = element_size(dt);
  char* out = static_cast<char*>(t.raw());
  // Keyed by the element's index in the whole input: a chunk holds exactly
  // the values the whole input has there.
  for (int64_t o = 0; o < outer; ++o)
    fill_run(init, dt, base, (o * extent + start) * inner, length * inner,
             out + static_cast<size_t>(o * length * inner) * es);
  return t;
}

std::vector<Tensor> make_inputs(const plan::CallSpec& call, Init init, uint64_t seed) {
  std::vector<Tensor> out;
  for (size_t k = 0; k < call.inputs.size(); ++k)
    out.push_back(make_input_range(call, k, init, seed, -1, 0, 0));
  return out;
}

RunResult run_strict(device::Device& dev, const plan::CallSpec& call,
                     const std::vector<Tensor>& inputs, plan::Placement* keep,
                     const std::vector<Tensor>* into) {
  if (inputs.size() != call.inputs.size())
    fail(call.op->name,
         fmt::format("{} input tensors given, {} shapes", inputs.size(), call.inputs.size()));
  RunResult res;
  auto t0 = Clock::now();
  plan::Placement placed = plan::place(dev, call, res.placement);  // throws OutOfMemory
  // An op with a memory script (conv2d) holds its tensors in TT-NN's own device
  // forms (NHWC shards, prepared weights, host-resident inputs): its buffers are
  // placed and accounted, its data stays in the host tensors. A script whose
  // outputs are the tensors' own interleaved pages (the clamp composites) keeps
  // its data in the pages like any op.
  bool host_data = call.op->inputs != nullptr;
  for (size_t i = 0; i < placed.outputs.size() && call.op->steps && !host_data; ++i) {
    const auto& spec = res.placement.outputs.outputs[i];
    PageSpec ps = page_spec(spec.shape, spec.dtype, call.layout);
    const auto& b = placed.outputs[i];
    host_data = !b || b->layout() != device::MemoryLayout::Interleaved ||
                b->footprint().num_pages != ps.num_pages ||
                b->footprint().page_size != ps.page_size;
  }
  std::vector<DeviceTensor> din;
  for (size_t i = 0; i < inputs.size() && !host_data; ++i) {
    DeviceTensor d{placed.inputs[i], call.inputs[i].shape, call.inputs[i].dtype, call.layout};
    write_pages(inputs[i], d);
    din.push_back(d);
  }
  // The kernel reads what the device holds (e.g. bfloat8_b-rounded values).
  // The kernel reads what the device holds. For bf16 and f32 pages that is the
  // host tensor itself, bit for bit, so it is not read back (a pass and a copy
  // of every input saved); bfloat8_b pages are read back rounded. An input an
  // output aliases (silu_ writes through it) is copied: inputs stay unchanged.
  std::vector<int> aliased(inputs.size(), 0);
  for (int v : res.placement.outputs.view_of)
    if (v >= 0) aliased[static_cast<size_t>(v)] = 1;
  std::vector<Tensor> staged;
  if (host_data) staged = inputs;
  for (size_t i = 0; i < din.size(); ++i) {
    DType page_dtype = host_dtype(din[i].dtype);
    if (din[i].dtype == DType::BFP8_B || inputs[i].dtype() != page_dtype || aliased[i])
      staged.push_back(read_pages(din[i], page_dtype));
    else
      staged.push_back(inputs[i]);
  }
  auto t1 = Clock::now();
  std::vector<Tensor> host_out;
  {
    ops::OpCall op_call{*call.op, std::move(staged), call.args};
    host_out = call.op->exec(op_call);
  }  // staging freed here: the read-back below reuses its pooled blocks
  auto t2 = Clock::now();
  const auto& specs = res.placement.outputs.outputs;
  if (host_out.size() != specs.size())
    throw Error(fmt::format("[{}] kernel returned {} outputs, expected {}", call.op->name,
                            host_out.size(), specs.size()));
  for (size_t i = 0; i < host_out.size(); ++i) {
    if (host_out[i].shape() != specs[i].shape)
      throw Error(fmt::format("[{}] kernel output {} has shape {}, expected {}", call.op->name, i,
                              shape_str(host_out[i].shape()), shape_str(specs[i].shape)));
  }
  for (size_t i = 0; i < host_out.size(); ++i) {
    bool is_index = specs[i].dtype == DType::I32 || specs[i].dtype == DType::U32;
    if (host_data && into && i < into->size()) {
      ops::copy_into((*into)[i], host_out[i], call.op->name);
      res.outputs.push_back((*into)[i]);
      continue;
    }
    if (is_index || host_data) {
      // Index pages are accounted for on the device; the values stay exact on the host.
      res.outputs.push_back(std::move(host_out[i]));
      continue;
    }
    std::shared_ptr<device::Buffer> buf = placed.outputs[i];
    if (!buf) {
      // A view: its pages are the input's, as the placement decided.
      buf = placed.inputs[static_cast<size_t>(res.placement.outputs.view_of[i])];
    }
    DeviceTensor d{buf, specs[i].shape, specs[i].dtype, call.layout};
    // Views are written too: an in-place op (silu_) changed its input's pages.
    write_pages(host_out[i], d);
    host_out[i] = Tensor();  // the read-back reuses its block
    if (into && i < into->size()) {
      read_pages_into(d, (*into)[i]);
      res.outputs.push_back((*into)[i]);
    } else {
      res.outputs.push_back(read_pages(d, host_dtype(specs[i].dtype)));
    }
  }
  dev.release_cbs();
  if (keep) *keep = std::move(placed);
  auto t3 = Clock::now();
  res.seconds = std::chrono::duration<double>(t3 - t0).count();
  res.compute_seconds = std::chrono::duration<double>(t2 - t1).count();
  res.peak_l1_per_core = dev.peak_l1_per_core();
  res.peak_dram_per_bank = dev.peak_dram_per_bank();
  return res;
}

}  // namespace oomless::exec
