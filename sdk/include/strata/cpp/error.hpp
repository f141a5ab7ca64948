// Plugin-side error handling: plugin code throws strata::sdk::Error (or anything derived
// from std::exception); the trampolines in plugin.hpp catch everything at the boundary and
// turn it into a status plus a message in the host's error slot. Nothing ever propagates
// across the .so boundary.
#pragma once

#include <new>
#include <stdexcept>
#include <string>

#include "strata/abi/host.h"

namespace strata::sdk {

class Error : public std::runtime_error {
 public:
  Error(strata_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  explicit Error(const std::string& message) : Error(STRATA_INVALID_ARGUMENT, message) {}
  strata_status status() const noexcept { return status_; }

 private:
  strata_status status_;
};

// Runs f() and converts any exception into a status, reporting the message through the
// host services of the calling instance. Used by every trampoline.
template <class F>
strata_status guarded(const strata_host_services* api, strata_host_ctx* ctx, F&& f) noexcept {
  auto report = [&](const char* message) noexcept {
    if (api != nullptr && ctx != nullptr) api->set_error(ctx, message);
  };
  try {
    f();
    return STRATA_OK;
  } catch (const Error& e) {
    report(e.what());
    return e.status() == STRATA_OK ? STRATA_INTERNAL : e.status();
  } catch (const std::bad_alloc&) {
    report("out of memory");
    return STRATA_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    report(e.what());
    return STRATA_INTERNAL;
  } catch (...) {
    report("unknown exception (not derived from std::exception)");
    return STRATA_INTERNAL;
  }
}

}  // namespace strata::sdk
