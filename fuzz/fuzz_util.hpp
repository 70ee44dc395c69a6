// Shared by the libFuzzer targets (fuzz/fuzz_*.cpp, built with -DOOMLESS_FUZZ=ON,
// run by `make fuzz`). A target returns normally for every input oomless
// rejects with InvalidArgument (the CLI's exit 2) or HostOutOfMemory (exit 5);
// any other exception escapes and libFuzzer reports it as a crash, because
// the CLI would end with a generic error instead of naming the bad value.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"

#define OOMLESS_FUZZ_ACCEPT(...)              \
  try {                                       \
    __VA_ARGS__;                              \
  } catch (const oomless::InvalidArgument&) { \
  } catch (const oomless::HostOutOfMemory&) { \
  }

inline std::string fuzz_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}
