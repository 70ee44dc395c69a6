// The .npy reader (--input): headers and data of any bytes, in memory
// (parse_npy) and through the mapped reader a streamed run uses (NpyReader).
#include <unistd.h>

#include <cstdio>

#include "core/npy.hpp"
#include "fuzz_util.hpp"

using namespace oomless;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  bool header_ok = false;
  OOMLESS_FUZZ_ACCEPT({
    NpyHeader h = parse_npy_header(bytes, size, "fuzz.npy", size);
    // An accepted header announces no more data than the file holds.
    if (h.data_offset + h.data_bytes() > size) __builtin_trap();
    header_ok = true;
    Tensor t = parse_npy(bytes, size, "fuzz.npy");
    if (t.shape() != h.shape) __builtin_trap();
  });
  // The mapped reader, on files whose header parses (the rest fail as above
  // before any mapping): whole first dimension and a range of the last.
  if (!header_ok) return 0;
  static const std::string path = "/tmp/oomless-fuzz-" + std::to_string(getpid()) + ".npy";
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    OOMLESS_FUZZ_ACCEPT({
      NpyReader r(path);
      const Shape& s = r.shape();
      int64_t n = s.empty() ? 1 : s[0];
      Tensor a = r.read(0, n / 2, n - n / 2, DType::F32);
      int64_t last = s.empty() ? 0 : static_cast<int64_t>(s.size()) - 1;
      Tensor b = r.read(last, 0, s.empty() ? 1 : s.back(), DType::BF16);
      (void)a;
      (void)b;
    });
  }
  return 0;
}
