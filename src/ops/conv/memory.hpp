// TT-NN's conv2d memory, as TT-NN builds it: the sharding it picks by shape,
// its blocking, every circular buffer of the conv program, the halo step with
// its L1_SMALL config tensors, the prepared weights and bias in DRAM, the
// output shard, and conv2d's DRAM slicing with its automatic slice count.
//
// Followed: tenstorrent/tt-metal main as stored by the search index (2026),
// files and the commits read:
//   conv2d/conv2d.cpp 645aa768 (conv2d_L1, conv2d_DRAM, Conv2dSliceAttr)
//   conv2d/conv2d_utils.cpp 71ff3c1d (parallel config, block config, auto shard,
//     calculate_L1_usage_for_conv_op, determine_conv2d_execution_path)
//   conv2d/conv2d_op_program_factory_common.cpp f3c1ee7e (get_cb_info: the CBs,
//     which post_conv2d_op_memory_checks asserts equal to the program's own;
//     split-reader heuristic)
//   conv2d/device/conv2d_device_operation_types.hpp (Conv2dConfig defaults)
//   conv2d/prepare_conv2d_weights.cpp (weights and bias layout, moved to DRAM)
//   sliding_window/sliding_window.cpp (shard boundaries, halo sticks per core)
//   sliding_window/halo/device/halo_device_operation.cpp bc2f1398,
//     untilize_with_halo_program_factory.cpp b844a98d (halo output, halo CBs)
//   sliding_window/op_slicing/op_slicing.cpp 0205dffd (slice search, run_sliced_op)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/conv/geometry.hpp"
#include "ops/op.hpp"

namespace oomless::ops {

enum class ConvShard : uint8_t { Height, Block, Width };
std::string_view conv_shard_name(ConvShard s);

// Conv2dConfig fields that size memory, at TT-NN's defaults.
struct ConvConfig {
  int64_t act_block_h_override = 0;
  bool enable_act_double_buffer = false;
  bool enable_weights_double_buffer = false;
  bool output_tiled = true;  // output_layout = TILE
  bool config_tensors_in_dram = false;
  bool reallocate_halo_output = true;
  bool deallocate_activation = false;
};

// One conv2d_L1 call: an input (a whole image or one DRAM slice of it) already
// cut, with its own padding (top, bottom, left, right).
struct ConvCallShape {
  int64_t N = 1, H = 0, W = 0, C = 0, K = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pb = 0, pl = 0, pr = 0;
  int64_t groups = 1;
  bool has_bias = false;
  DType in_dtype = DType::BF16, out_dtype = DType::BF16, weights_dtype = DType::BF16;
  int64_t OH() const;
  int64_t OW() const;
  bool operator==(const ConvCallShape&) const = default;
};

// The decisions and sizes of one conv2d_L1 call (the program TT-NN builds).
struct ConvPlanL1 {
  ConvShard shard = ConvShard::Height;
  int64_t in_cores = 0, out_cores = 0;  // cores of the input and output grids
  int64_t cores_nhw = 1, cores_c_in = 1, cores_c_out = 1;
  int64_t channels_alignment = 32;  // input channels padded to a multiple
  int64_t in_channels_padded = 0, out_channels_padded = 0;
  int64_t per_core_out_h_ntiles = 0, per_core_out_w_ntiles = 0;
  int64_t act_block_h_ntiles = 0, act_block_w_ntiles = 0;
  int64_t out_subblock_h_ntiles = 0, out_subblock_w_ntiles = 0;
  bool split_reader = false, fp32_dest_acc = false;
  // The sharded input of the halo: shard rows x channels per core.
  int64_t input_shard_h = 0, input_shard_w = 0;
  bool input_tiled = true;           // the sharded input's layout
  int64_t halo_sticks_per_core = 0;  // max over cores (sliding_window's shard boundaries)
  int64_t halo_stick_bytes = 0;      // one row of input_shard_w channels, bf16 or f32
  // Prepared weights [1,1,weight_rows,weight_cols] and bias, tiles in DRAM.
  int64_t weight_rows = 0, weight_cols = 0, bias_cols = 0;
  // Static CBs of the conv program (the globally allocated ones alias buffers).
  std::vector<CircularBuffer> conv_cbs;
  int64_t output_shard_tiles = 0;    // per core
  int64_t reader_indices_bytes = 0;  // per core (the READER_INDICES CB's page)
};

// TT-NN's own L1 estimate of a conv2d_L1 call (calculate_L1_usage_for_conv_op),
// per core, bytes: what auto sharding and the DRAM slice search compare.
struct ConvL1Estimate {
  int64_t core_count = 0;
  int64_t halo_input_size = 0, halo_output_size = 0, cb_size = 0, tensor_size = 0;
  int64_t total() const { return cb_size + tensor_size + halo_output_size; }
};

struct ConvDevice {
  int64_t grid_x = 8, grid_y = 8;
  int64_t l1_alignment = 16;
  bool blackhole = false;  // split-reader cost tables (Wormhole otherwise)
};
ConvDevice conv_device(const device::Profile& p);

// Input layout as the conv sees it: TILE or ROW_MAJOR, and whether the input
// comes from a DRAM slice (then TT-NN aligns channels to 8, not 32).
struct ConvInputForm {
  bool tiled = true;
  bool sliced = false;
};

ConvPlanL1 plan_conv_l1(const ConvCallShape& s, ConvShard shard, ConvInputForm form,
                        const ConvDevice& d, const ConvConfig& cfg = {});
ConvL1Estimate estimate_conv_l1(const ConvCallShape& s, ConvShard shard, ConvInputForm form,
                                const ConvDevice& d, const ConvConfig& cfg = {});
// determine_conv_config_for_auto_shard: height unless block (on at least
// grid_x cores) or width is smaller by TT-NN's estimate.
ConvShard auto_shard(const ConvCallShape& s, ConvInputForm form, const ConvDevice& d,
                     const ConvConfig& cfg = {});

// sliding_window: the most input sticks (with halo and padding) one core's
// output shard reads, snap_to_tile, over `cores_nhw` cores.
int64_t halo_sticks_per_core(const ConvCallShape& s, int64_t cores_nhw);

// ---- DRAM slicing (op_slicing.cpp) ----
enum class SliceDim : uint8_t { Height, Width };
struct ConvSlice {
  int64_t out_start = 0, out_end = 0;  // along the sliced output dim
  ConvCallShape call;                  // the slice's conv2d_L1 (input rows/cols + halo)
};
struct ConvSlicing {
  SliceDim dim = SliceDim::Width;
  int64_t num_slices = 0, max_slices = 0;
  std::vector<ConvSlice> slices;  // non-empty ones
  int64_t l1_usage = 0;           // TT-NN's per-core estimate, max over slices
};
// The slices of `num_slices` (> 0) along `dim`, with TT-NN's estimate.
ConvSlicing conv_slices(const ConvCallShape& whole, SliceDim dim, int64_t num_slices,
                        bool input_tiled, const ConvDevice& d, const ConvConfig& cfg = {});
// TT-NN's automatic choice (num_slices = 0): the first count whose estimate is
// at most `l1_free_per_bank` (the allocator's TOTAL free L1, not the largest
// free block), width first for wide images, then the other dim. Empty
// `slices` and a `fatal` message when none fits.
struct ConvAutoSlice {
  ConvSlicing slicing;
  std::string fatal;
};
ConvAutoSlice conv_auto_slices(const ConvCallShape& whole, bool input_tiled,
                               int64_t l1_free_per_bank, const ConvDevice& d,
                               const ConvConfig& cfg = {});

// The op table's hooks.
std::vector<InputPlacement> conv_inputs(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
MemScript conv_steps(const OpDesc&, const std::vector<TensorSpec>&, const OutputSpec&, const Args&,
                     const StepContext&);
// The call as TT-NN sees it (NHWC, padding, dtypes) from our geometry.
ConvCallShape conv_call_shape(const ConvGeom& g, const std::vector<TensorSpec>& in);

}  // namespace oomless::ops
