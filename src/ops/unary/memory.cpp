#include "ops/unary/memory.hpp"

#include <fmt/format.h>

#include <optional>

#include "ops/cb_model.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

namespace {

std::string num(double v) {
  return fmt::format("{}", v);
}

}  // namespace

MemScript clamp_composite_steps(const OpDesc& op, const std::vector<TensorSpec>& in,
                                const OutputSpec& out, const Args& args, const StepContext& ctx) {
  std::optional<double> lo, hi;
  switch (static_cast<UnaryOp>(op.variant)) {
    case UnaryOp::Hardtanh:
      lo = args.get_float("min_val");
      hi = args.get_float("max_val");
      break;
    case UnaryOp::Clamp:
      if (!args.is_none("min")) lo = args.get_float("min");
      if (!args.is_none("max")) hi = args.get_float("max");
      break;
    default:  // clamp_min
      lo = args.get_float("min");
      break;
  }
  const TensorSpec& o = out.outputs.at(0);
  const PageSpec ps = page_spec(o.shape, o.dtype, ctx.layout);
  const DeviceContext dc{ctx.layout, ctx.device ? &ctx.device->profile() : nullptr};
  // Every program of the composite is an eltwise program on x-sized tensors:
  // two pages per operand, as the single unary program.
  const std::vector<CircularBuffer> unary_cbs = cb_eltwise(op, in, out, args, dc);
  std::vector<CircularBuffer> where_cbs = unary_cbs;
  if (!where_cbs.empty())
    where_cbs.insert(where_cbs.begin() + 1, {"cb_in1", 2, where_cbs[0].page_size});

  auto tensor = [&](std::string name, int output) {
    MemStep m;
    m.kind = MemStep::Kind::Allocate;
    m.name = std::move(name);
    m.type = ctx.out_memory;  // the composite passes the output memory config to every step
    m.pages = ps.num_pages;
    m.page_size = ps.page_size;
    m.shape = o.shape;
    m.output = output;
    return m;
  };
  auto program = [](std::string name, std::vector<CircularBuffer> cbs) {
    MemStep m;
    m.kind = MemStep::Kind::Program;
    m.name = std::move(name);
    m.cbs = std::move(cbs);
    return m;
  };
  auto free_step = [](std::string name) {
    MemStep m;
    m.kind = MemStep::Kind::Free;
    m.name = std::move(name);
    return m;
  };

  MemScript m;
  std::string first, second;
  if (!hi || !lo) {
    const bool ge = !hi;
    const std::string bound = num(ge ? *lo : *hi);
    first = fmt::format("intermediate {}(x, {})", ge ? "ge" : "le", bound);
    second = fmt::format("output 0 = where(cond, x, {})", bound);
    m.steps = {tensor(first, -1), program(ge ? "ge" : "le", unary_cbs), tensor(second, 0),
               program("where", where_cbs), free_step(first)};
    m.notes.push_back(
        fmt::format("TT-NN runs {} with one bound as where({}(x, {}), x, {}): the "
                    "comparison's output lives until where's output is placed",
                    op.name, ge ? "ge" : "le", bound, bound));
    return m;
  }
  if (*lo > *hi) {
    std::vector<CircularBuffer> fill_cbs;  // the fill program writes its output only
    if (!unary_cbs.empty()) fill_cbs.push_back(unary_cbs.back());
    m.steps = {tensor(fmt::format("output 0 = full_like(x, {})", num(*hi)), 0),
               program("full", fill_cbs)};
    m.notes.push_back(
        fmt::format("min {} > max {}: TT-NN fills the output with max", num(*lo), num(*hi)));
    return m;
  }
  first = fmt::format("intermediate a_max = minimum(x, {})", num(*hi));
  second = *lo == 0.0 ? std::string("output 0 = relu(a_max)")
                      : fmt::format("output 0 = maximum(a_max, {})", num(*lo));
  m.steps = {tensor(first, -1), program("minimum", unary_cbs), tensor(second, 0),
             program(*lo == 0.0 ? "relu" : "maximum", unary_cbs), free_step(first)};
  m.notes.push_back(fmt::format(
      "TT-NN runs {} as the clamp composite minimum(x, {}) then {}: three x-sized tensors are "
      "live at once (x, a_max, the output)",
      op.name, num(*hi), *lo == 0.0 ? "relu" : fmt::format("maximum(., {})", num(*lo))));
  return m;
}

}  // namespace oomless::ops
