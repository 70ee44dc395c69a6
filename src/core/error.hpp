// Error types shared by every layer. User mistakes are InvalidArgument (exit 2);
// device memory exhaustion is device::OutOfMemory (exit 3).
#pragma once
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

// "[op] message" in the style of MLX's errors.
[[noreturn]] void fail(std::string_view op, const std::string& message);

}  // namespace oomless
