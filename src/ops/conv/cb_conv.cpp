// Per-core CBs of TT-NN's conv2d. Placeholder until the sharded conv2d program
// factory is modelled (activation block, weights and bias blocks, output
// block, halo): two tiles per operand, as a streaming program would hold.
#include "ops/cb_model.hpp"

namespace oomless::ops {

std::vector<CircularBuffer> cb_conv(const OpDesc&, CbArgs in, const OutputSpec& out, const Args&,
                                    const DeviceContext&) {
  std::vector<CircularBuffer> cbs;
  for (const auto& o : out.outputs)
    if (numel(o.shape) == 0) return cbs;
  cbs.push_back({"act", 2, tile_page_bytes(in.at(0).dtype)});
  cbs.push_back({"weight", 2, tile_page_bytes(in.at(1).dtype)});
  if (in.size() > 2) cbs.push_back({"bias", 2, tile_page_bytes(in.at(2).dtype)});
  cbs.push_back({"out", 2, tile_page_bytes(out.outputs.at(0).dtype)});
  return cbs;
}

}  // namespace oomless::ops
