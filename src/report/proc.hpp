// Child processes with pipes on stdin, stdout and stderr: the sweep's worker
// processes and the Dask driver. A child dies with the process that started
// it (PR_SET_PDEATHSIG), so a killed sweep leaves no workers behind.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace oomless::report {

class Child {
 public:
  // argv[0] is the program path; `env` is added to (or replaces in) the environment.
  Child(const std::vector<std::string>& argv,
        const std::vector<std::pair<std::string, std::string>>& env = {});
  ~Child();  // SIGKILL and reap when still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  int out_fd() const { return out_; }
  int err_fd() const { return err_; }

  // Writes all of `text` to the child's stdin; false when the child is gone.
  bool write_all(const std::string& text);
  void close_stdin();
  void kill_now();
  // Waits for the child to end and returns its wait status (once).
  int wait();
  bool running() const { return !reaped_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Appends what is readable from `fd` to `buf` without blocking; false at end of file.
bool read_available(int fd, std::string& buf);
// Removes and returns the first complete line of `buf` (without '\n').
std::optional<std::string> take_line(std::string& buf);
// "exited with status 3", "killed by signal 11 (Segmentation fault)".
std::string describe_wait_status(int status);
// This program's own path (/proc/self/exe).
std::string self_exe();
// Called first in a process started by a program that may die without
// cleaning up (a Dask worker): dies with it.
void die_with_parent();

}  // namespace oomless::report
