// Suite JSON (oomless sweep --suite FILE): parsed, and each case's call built
// and pre-checked on the default device.
#include "device/profile.hpp"
#include "fuzz_util.hpp"
#include "plan/precheck.hpp"
#include "report/suite.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const device::Profile profile = device::load_profile(device::kDefaultProfile);
  OOMLESS_FUZZ_ACCEPT({
    report::Suite s = report::parse_suite(fuzz_text(data, size), "fuzz.json");
    for (size_t i = 0; i < s.cases.size() && i < 8; ++i) {
      report::CaseResult base = report::base_result(s, s.cases[i]);
      (void)base;
      OOMLESS_FUZZ_ACCEPT({
        plan::CallSpec call = report::to_call(s.cases[i]);
        plan::QueryResult q = plan::precheck(call, profile);
        (void)q;
      });
    }
  });
  return 0;
}
