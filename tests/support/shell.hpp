// Runs a shell command and captures what it printed (stdout and stderr together), for the
// tests that drive the strata binary or mpirun the way a user does.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace strata::test {

struct ShellResult {
  int code;            // exit status, or 128 + signal
  std::string output;  // stdout and stderr together
};

inline ShellResult run_shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {127, "popen failed: " + command};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

}  // namespace strata::test
