// Per-core circular buffers of the TT-NN program that runs each op family,
// sized the way TT-NN's program factories size them (approximations are
// documented at each function).
#pragma once
#include "ops/op.hpp"

namespace oomless::ops {

using CbArgs = const std::vector<TensorSpec>&;

std::vector<CircularBuffer> cb_none(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                    const DeviceContext&);
std::vector<CircularBuffer> cb_eltwise(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                       const DeviceContext&);
std::vector<CircularBuffer> cb_softmax(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                       const DeviceContext&);
std::vector<CircularBuffer> cb_reduce(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                      const DeviceContext&);
std::vector<CircularBuffer> cb_batch_norm(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                          const DeviceContext&);
std::vector<CircularBuffer> cb_max_pool2d(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                          const DeviceContext&);
std::vector<CircularBuffer> cb_upsample(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                        const DeviceContext&);
std::vector<CircularBuffer> cb_topk(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                    const DeviceContext&);
std::vector<CircularBuffer> cb_movement(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                        const DeviceContext&);
std::vector<CircularBuffer> cb_concat(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                      const DeviceContext&);
std::vector<CircularBuffer> cb_split(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                     const DeviceContext&);
std::vector<CircularBuffer> cb_conv(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                    const DeviceContext&);
std::vector<CircularBuffer> cb_matmul(const OpDesc&, CbArgs, const OutputSpec&, const Args&,
                                      const DeviceContext&);

}  // namespace oomless::ops
