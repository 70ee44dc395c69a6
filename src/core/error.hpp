// Error types shared by every layer. User mistakes are InvalidArgument (exit 2);
// device memory exhaustion is device::OutOfMemory (exit 3); host memory that is
// not there is HostOutOfMemory (exit 5).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace oomless {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad input from a user: the message names the op and the bad value.
struct InvalidArgument : Error {
  using Error::Error;
};

// The host cannot give what a call needs: found before anything was allocated
// (the planner), or an allocation that failed (everything taken is given back).
struct HostOutOfMemory : Error {
  int64_t needed = 0, available = 0;  // bytes; 0 when not known (a failed allocation)
  explicit HostOutOfMemory(const std::string& message, int64_t need = 0, int64_t avail = 0)
      : Error(message), needed(need), available(avail) {}
};

// SIGINT/SIGTERM asked a long run to stop (exit 130); raised between chunks.
struct Interrupted : Error {
  using Error::Error;
};

// "[op] message" in the style of MLX's errors.
[[noreturn]] void fail(std::string_view op, const std::string& message);

}  // namespace oomless
