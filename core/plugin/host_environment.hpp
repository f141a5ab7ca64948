// What the host offers plugin instances through the services table (strata_host_services):
// one HostEnvironment per process or run, one strata_host_ctx per instance. The run wires
// the hooks (metrics file, event bus, run directory, communicator); tools and tests leave
// the defaults, which log and otherwise do nothing.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "core/util/log.hpp"
#include "strata/strata.h"

namespace strata::plugin {

class HostEnvironment {
 public:
  using MetricSink = std::function<void(const std::string& name, double value, int64_t step)>;
  using EventSink = std::function<void(const std::string& plugin, const std::string& name, const std::string& payload_json)>;
  using ChildFactory = std::function<strata_status(strata_host_ctx* parent, int32_t tier, const char* name,
                                                   const char* options_json, strata_child* out)>;
  using ChildDestroyer = std::function<void(strata_child* child)>;

  HostEnvironment(util::Logger logger, const strata_comm* world);

  util::Logger logger;
  std::string run_dir;                    // empty outside a run
  MetricSink metric_sink;                 // default: debug log
  EventSink event_sink;                   // default: debug log
  ChildFactory child_factory;             // default: UNSUPPORTED
  ChildDestroyer child_destroyer;
  const std::atomic<bool>* cancelled = nullptr;
  const strata_comm* world;

  // Host-tracked allocations (for the memory report).
  void* allocate(uint64_t bytes, uint64_t alignment);
  void release(void* p);
  uint64_t allocated_bytes() const;
  uint64_t peak_allocated_bytes() const;

 private:
  mutable std::mutex mutex_;
  std::map<void*, uint64_t> allocations_;
  uint64_t current_ = 0;
  uint64_t peak_ = 0;
};

// The services table; static and constant, shared by every instance.
const strata_host_services* host_services();

}  // namespace strata::plugin

// The opaque per-instance context of the C ABI. Lives in core only.
struct strata_host_ctx {
  strata::plugin::HostEnvironment* env;
  std::string plugin_name;
  int32_t tier;
  std::string options_json;
  std::string last_error;  // set by the plugin before it returns a failing status
};
