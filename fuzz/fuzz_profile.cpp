// Device profile JSON (--device FILE): parsed, then a device opened on it
// (banks, arenas) and a buffer placed in each memory, so every capacity and
// alignment the file gives is used.
#include "device/device.hpp"
#include "device/profile.hpp"
#include "fuzz_util.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  OOMLESS_FUZZ_ACCEPT({
    device::Profile p = device::parse_profile(fuzz_text(data, size), "fuzz.json");
    device::Device dev(p, /*backed=*/false);
    for (auto type : {device::BufferType::L1, device::BufferType::DRAM}) {
      try {
        auto b = dev.allocate(type, 64, 2048);
        dev.allocate_cbs({4096, 8192});
        dev.release_cbs();
      } catch (const device::OutOfMemory&) {  // a tiny profile: tt-metal's message
      }
    }
  });
  return 0;
}
