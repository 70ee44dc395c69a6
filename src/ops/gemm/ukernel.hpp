// Internal interface between the GEMM driver (driver.cpp) and the per-ISA micro-kernels
// and packers (avx512_f32.cpp, avx512_bf16.cpp, generic.cpp). Plain structs and
// function pointers only: the AVX-512 files are compiled with AVX-512 flags, so they
// must not instantiate inline code (templates, STL) that other files could link to.
//
// Packed panels hold 32-bit units: an f32 value, or a bf16 pair (k, k+1) of one row of
// A or one column of B (the operand layout of vdpbf16ps). A panel of P lanes (kMR rows
// of A or kNR columns of B) is step-major: unit (step, lane) at [step * P + lane];
// lanes past the matrix edge and the odd-K tail of a bf16 pair are zero.
#pragma once
#include <cstddef>
#include <cstdint>

namespace oomless::ops::gemm::detail {

constexpr int kMR = 14;  // micro-tile rows: 14 x 2 accumulators + 2 B vectors of 32 zmm
constexpr int kNR = 32;  // micro-tile columns: two 16-lane vectors

// The final store of a micro-tile straight from registers: element (i, j) of the tile
// goes to out + i * rs + j (column stride 1) as f32 or bf16 (round to nearest even,
// as f32_to_bf16), after adding row_bias[i] and then col_bias[j] (when non-null).
struct TileStore {
  void* out = nullptr;
  int64_t rs = 0;
  bool bf16 = false;
  const float* row_bias = nullptr;
  const float* col_bias = nullptr;
  bool stream = false;  // non-temporal stores for rows on whole cache lines (large outputs)
};

// A run of consecutive k steps whose A units are not where the previous run's end:
// an implicit-GEMM tap (conv). The run reads A from a + a bytes (same row and step
// strides) and B from b + b units; runs follow each other in the chain.
struct Seg {
  int64_t a = 0;      // bytes from UkArgs::a
  int64_t b = 0;      // 32-bit units from UkArgs::b
  int64_t steps = 0;  // k steps (f32) or k pairs (bf16)
};

struct UkArgs {
  int64_t steps = 0;            // k steps (f32) or k pairs (bf16); ignored with segs
  const uint32_t* a = nullptr;  // A unit (row i, step s) at a + i * a_row + s * a_step bytes:
  int64_t a_row = 4;            // a packed panel (the defaults), or rows of a row-major
  int64_t a_step = kMR * 4;     // matrix read in place (a_row = its row stride in bytes)
  const uint32_t* b = nullptr;  // B micro-panel: steps x kNR units
  float* c = nullptr;           // f32 tile (row stride ldc): read when load_c,
  int64_t ldc = 0;              // written when store == nullptr
  int mr = kMR, nr = kNR;       // valid rows and columns of the tile
  bool load_c = false;          // start each chain from c (else from +0)
  const TileStore* store = nullptr;
  const Seg* segs = nullptr;  // set: the chain is these runs in order (steps unused)
  int nsegs = 0;
};

using Ukernel = void (*)(const UkArgs&);

// Packs `lanes` lanes x k elements of a strided f32 (bf16 == false) or bf16 matrix
// into ceil(lanes / P) panels of P lanes, panel q at dst + q * steps(k) * P: element
// (lane l, k index t) is at src + (l * ls + t * ks) elements.
using PackPanel = void (*)(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes,
                           int64_t k, int64_t ls, int64_t ks);

struct Isa {
  const char* name;
  Ukernel f32;
  Ukernel bf16;
  PackPanel pack;
};

inline int64_t steps_of(int64_t k, bool bf16) {
  return bf16 ? (k + 1) / 2 : k;
}

// Implementations; the avx512 ones exist only when compiled for x86-64.
void generic_ukernel_f32(const UkArgs& g);
void generic_ukernel_bf16(const UkArgs& g);
void generic_pack(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes, int64_t k,
                  int64_t ls, int64_t ks);
void avx512_ukernel_f32(const UkArgs& g);
void avx512_pack(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes, int64_t k,
                 int64_t ls, int64_t ks);
void avx512bf16_ukernel_bf16(const UkArgs& g);

// One step of one accumulator's chain, as every kernel computes it: c + a * b for f32
// units, vdpbf16ps's lane (odd pair element first, denormals flushed) for bf16 pairs.
// For elements a caller computes outside the kernels (conv's exact padding path).
float chain_step(bool bf16, float c, uint32_t a, uint32_t b);

// The kernels for this CPU (chosen once), or the portable ones when forced.
const Isa& isa();
void force_generic_isa(bool on);  // tests: run the portable kernels on any CPU

}  // namespace oomless::ops::gemm::detail
