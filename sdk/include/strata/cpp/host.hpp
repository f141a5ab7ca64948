// Plugin-side wrapper of the host services table: what a plugin may ask of the host.
// Non-owning and cheap to copy; valid for the lifetime of the instance it was given to.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/abi/plugin.h"
#include "strata/cpp/comm.hpp"
#include "strata/cpp/error.hpp"

namespace strata::sdk {

class Host {
 public:
  Host(const strata_host_services* api, strata_host_ctx* ctx) : api_(api), ctx_(ctx) {}

  void log(strata_log_level level, const std::string& message) const { api_->log(ctx_, level, message.c_str()); }
  void debug(const std::string& m) const { log(STRATA_LOG_DEBUG, m); }
  void info(const std::string& m) const { log(STRATA_LOG_INFO, m); }
  void warn(const std::string& m) const { log(STRATA_LOG_WARN, m); }
  void error(const std::string& m) const { log(STRATA_LOG_ERROR, m); }
  void set_error(const char* message) const { api_->set_error(ctx_, message); }

  // The validated options with schema defaults applied.
  nlohmann::json options() const {
    const char* text = api_->options_json(ctx_);
    return text != nullptr ? nlohmann::json::parse(text) : nlohmann::json::object();
  }

  void emit_metric(const std::string& name, double value, int64_t step = -1) const {
    check(api_->emit_metric(ctx_, name.c_str(), value, step), "emit_metric");
  }
  void publish_event(const std::string& name, const nlohmann::json& payload) const {
    check(api_->publish_event(ctx_, name.c_str(), payload.dump().c_str()), "publish_event");
  }
  void write_artifact(const std::string& relative_path, std::string_view bytes) const {
    check(api_->write_artifact(ctx_, relative_path.c_str(), bytes.data(), bytes.size()), "write_artifact");
  }
  bool cancelled() const { return api_->is_cancelled(ctx_) != 0; }
  uint64_t monotonic_ns() const { return api_->monotonic_ns(ctx_); }
  int64_t utc_ns() const { return api_->utc_ns(ctx_); }
  // Empty outside a run.
  std::string run_dir() const {
    const char* dir = api_->run_dir(ctx_);
    return dir != nullptr ? dir : "";
  }
  Comm world() const { return Comm(api_->world(ctx_)); }

  void* alloc(uint64_t bytes, uint64_t alignment = 64, strata_device_kind device = STRATA_DEVICE_CPU) const {
    void* p = api_->alloc(ctx_, bytes, alignment, device);
    if (p == nullptr && bytes > 0) throw Error(STRATA_OUT_OF_MEMORY, "host allocation of " + std::to_string(bytes) + " bytes failed");
    return p;
  }
  void free(void* p) const { api_->free(ctx_, p); }

  // Creates another plugin (for options that name one); the caller releases it with destroy_child.
  strata_child create_child(strata_tier tier, const std::string& name, const nlohmann::json& options) const {
    strata_child child{};
    child.struct_size = STRATA_CHILD_STRUCT_SIZE;
    const std::string text = options.dump();
    check(api_->create_child(ctx_, tier, name.c_str(), text.c_str(), &child), ("create_child " + name).c_str());
    return child;
  }
  void destroy_child(strata_child& child) const { api_->destroy_child(ctx_, &child); }

  const strata_host_services* api() const { return api_; }
  strata_host_ctx* ctx() const { return ctx_; }

 private:
  static void check(strata_status status, const char* what) {
    if (status != STRATA_OK) throw Error(status, std::string("host ") + what + " failed: " + strata_status_name(status));
  }
  const strata_host_services* api_;
  strata_host_ctx* ctx_;
};

}  // namespace strata::sdk
