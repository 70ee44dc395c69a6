// Allocation-failure injection (issue 15): the k-th host allocation (pool
// block, device arena, tensor storage) fails, for every k of a representative
// set of runs. Each must end in HostOutOfMemory or complete as without the
// failure, give back every pool block and arena (checked here; malloc'd
// memory is checked by LeakSanitizer in the ASan build, `make test-asan`) and
// leave no output file, whole or partial.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "core/error.hpp"
#include "core/host_pool.hpp"
#include "core/npy.hpp"
#include "exec/planned.hpp"
#include "exec/runner.hpp"
#include "exec/streamed.hpp"
#include "report/policy.hpp"

using namespace oomless;
namespace fs = std::filesystem;

namespace {

plan::CallSpec call(const std::string& op, std::vector<Shape> shapes,
                    std::vector<std::string> args = {}, const std::string& memory = "l1") {
  plan::CallSpec c;
  c.op = &ops::find_op(op);
  for (auto& s : shapes) c.inputs.push_back({s, DType::BF16});
  c.args = ops::parse_args(c.op->name, c.op->args, args);
  c.in_memory = device::parse_buffer_type(memory);
  return c;
}

device::Profile wormhole(plan::Budgets b = {}) {
  return plan::apply_budgets(device::load_profile("wormhole_b0"), b);
}

struct Disarm {
  ~Disarm() { host_pool::inject::disarm(); }
};

// Runs `body` with the k-th allocation failing for k = 1, 2, ... until a run
// completes without reaching its armed allocation; returns how many failed.
// `check_clean` runs after every failure (files left behind).
int64_t fail_each_allocation(const std::function<void()>& body,
                             const std::function<void()>& check_clean = {}) {
  Disarm d;
  // One clean run first: how many allocations the run makes.
  host_pool::inject::arm(0);
  body();
  const int64_t n = host_pool::inject::count();
  EXPECT_GT(n, 0);
  const host_pool::Stats base = host_pool::stats();
  int64_t failures = 0;
  for (int64_t k = 1; k <= n; ++k) {
    host_pool::inject::arm(k);
    try {
      body();
      ADD_FAILURE() << "allocation " << k << " of " << n << " was armed but the run succeeded";
    } catch (const HostOutOfMemory& e) {
      ++failures;
      EXPECT_NE(std::string(e.what()).find("(injected)"), std::string::npos) << e.what();
    }
    host_pool::inject::disarm();
    const host_pool::Stats s = host_pool::stats();
    EXPECT_EQ(s.blocks_in_use, base.blocks_in_use)
        << "pool blocks leaked after failing allocation " << k;
    EXPECT_EQ(s.arenas_in_use, base.arenas_in_use)
        << "arenas leaked after failing allocation " << k;
    if (check_clean) check_clean();
  }
  // And past the last allocation the run completes.
  host_pool::inject::arm(n + 1);
  body();
  return failures;
}

}  // namespace

TEST(AllocFailure, StrictRunFailsCleanlyAtEveryAllocation) {
  plan::CallSpec c = call("softmax", {{1, 2, 64, 96}}, {"dim=-1"});
  device::Profile p = wormhole();
  int64_t f = fail_each_allocation([&] {
    std::vector<Tensor> in = exec::make_inputs(c, exec::Init::Rand, 3);
    device::Device dev(p);
    exec::RunResult r = exec::run_strict(dev, c, in);
    ASSERT_EQ(r.outputs.size(), 1u);
  });
  EXPECT_GE(f, 3);  // input, output read-back, arenas at least
}

TEST(AllocFailure, ChunkedRunFailsCleanlyAtEveryAllocation) {
  // A DRAM budget that forces a chunked plan with its pool-sized staging.
  plan::Budgets b{.l1 = 1ll << 20, .dram = 4ll << 20};
  device::Profile p = wormhole(b);
  plan::CallSpec c = call("add", {{1, 1, 1024, 2048}, {1, 1, 1024, 2048}}, {}, "dram");
  plan::Plan plan = plan::choose_plan(c, p, b);
  ASSERT_EQ(plan.strategy, plan::Strategy::Chunked);
  int64_t f = fail_each_allocation([&] {
    std::vector<Tensor> in = exec::make_inputs(c, exec::Init::Rand, 5);
    exec::PlannedResult r = exec::run_planned(plan, c, in, p);
    ASSERT_EQ(r.run.outputs.size(), 1u);
  });
  EXPECT_GE(f, 4);
}

TEST(AllocFailure, StreamedRunLeavesNoOutputFile) {
  // A host budget smaller than the tensors: chunks made and written one by one.
  plan::CallSpec c = call("add", {{4096, 256}, {4096, 256}}, {}, "dram");
  device::Profile p = wormhole();
  plan::Budgets b{.host = 3ll << 20};
  b.host_streaming = true;
  plan::Plan plan = plan::choose_plan(c, p, b);
  ASSERT_TRUE(plan.host_streamed);
  ASSERT_GT(plan.num_chunks, 1);
  fs::path dir = fs::temp_directory_path() / ("oomless-allocfail-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "y.npy").string();
  auto only_committed = [&] {
    for (const auto& e : fs::directory_iterator(dir))
      ADD_FAILURE() << "left behind after a failed run: " << e.path();
  };
  int64_t f = fail_each_allocation(
      [&] {
        fs::remove(out);  // the output of the previous clean run
        NpyWriter w(out, {4096, 256}, DType::F32);
        std::vector<exec::StreamInput> src(2);
        exec::StreamedResult r = exec::run_streamed(plan, c, src, {&w}, p, 100, 1);
        EXPECT_TRUE(r.verify.ok());
        w.commit();
      },
      only_committed);
  // The last (clean) run left the whole output: a + b of the seeded inputs.
  Tensor y = read_npy(out);
  ASSERT_EQ(y.shape(), (Shape{4096, 256}));
  std::vector<Tensor> in = exec::make_inputs(c, exec::Init::Rand, 0);  // StreamInput's seed
  Tensor x0 = in[0].to(DType::F32), x1 = in[1].to(DType::F32);
  for (int64_t i : {int64_t{0}, int64_t{12345}, int64_t{4096 * 256 - 1}})
    EXPECT_NEAR(y.data<float>()[i], x0.data<float>()[i] + x1.data<float>()[i], 0.0079f) << i;
  EXPECT_GE(f, plan.num_chunks);
  fs::remove_all(dir);
}

TEST(AllocFailure, SweepCasesFailCleanlyUnderBothPolicies) {
  plan::CallSpec c = call("relu", {{1, 1, 256, 256}});
  device::Profile p = wormhole();
  for (const char* policy : {"strict", "auto"}) {
    report::RunSettings s{"run", 500, 7, 64ll << 20};
    fail_each_allocation([&] {
      report::CaseResult r;
      report::find_policy(policy)(c, p, s, r);
      EXPECT_EQ(r.status, "PASS") << policy << ": " << r.message;
    });
  }
}
