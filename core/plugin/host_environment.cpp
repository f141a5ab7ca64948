#include "core/plugin/host_environment.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "core/util/atomic_file.hpp"

namespace strata::plugin {
namespace {

namespace fs = std::filesystem;

spdlog::level::level_enum to_spdlog(int32_t level) {
  switch (level) {
    case STRATA_LOG_TRACE: return spdlog::level::trace;
    case STRATA_LOG_DEBUG: return spdlog::level::debug;
    case STRATA_LOG_INFO: return spdlog::level::info;
    case STRATA_LOG_WARN: return spdlog::level::warn;
    default: return spdlog::level::err;
  }
}

void svc_log(strata_host_ctx* ctx, int32_t level, const char* message) {
  ctx->env->logger->log(to_spdlog(level), "[{}] {}", ctx->plugin_name, message ? message : "");
}

void svc_set_error(strata_host_ctx* ctx, const char* message) { ctx->last_error = message ? message : ""; }

const char* svc_options_json(strata_host_ctx* ctx) { return ctx->options_json.c_str(); }

void* svc_alloc(strata_host_ctx* ctx, uint64_t bytes, uint64_t alignment, int32_t device) {
  if (device != STRATA_DEVICE_CPU) return nullptr;  // device memory arrives with the CUDA backend
  return ctx->env->allocate(bytes, alignment);
}

void svc_free(strata_host_ctx* ctx, void* p) { ctx->env->release(p); }

strata_status svc_emit_metric(strata_host_ctx* ctx, const char* name, double value, int64_t step) {
  if (name == nullptr || *name == '\0') return STRATA_INVALID_ARGUMENT;
  ctx->env->metric_sink(ctx->plugin_name + "." + name, value, step);
  return STRATA_OK;
}

strata_status svc_publish_event(strata_host_ctx* ctx, const char* name, const char* payload_json) {
  if (name == nullptr || *name == '\0') return STRATA_INVALID_ARGUMENT;
  try {
    ctx->env->event_sink(ctx->plugin_name, name, payload_json ? payload_json : "{}");
    return STRATA_OK;
  } catch (const std::exception& e) {
    ctx->env->logger->error("[{}] publish_event '{}' failed: {}", ctx->plugin_name, name, e.what());
    return STRATA_INVALID_ARGUMENT;
  }
}

// relative_path must stay inside <run>/artifacts/<plugin>/.
strata_status svc_write_artifact(strata_host_ctx* ctx, const char* relative_path, const void* data, uint64_t bytes) {
  if (ctx->env->run_dir.empty()) {
    ctx->last_error = "write_artifact called outside a run";
    return STRATA_UNSUPPORTED;
  }
  const fs::path rel = fs::path(relative_path ? relative_path : "").lexically_normal();
  if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") {
    ctx->last_error = std::string("artifact path '") + (relative_path ? relative_path : "") + "' escapes the plugin's folder";
    return STRATA_INVALID_ARGUMENT;
  }
  try {
    const fs::path target = fs::path(ctx->env->run_dir) / "artifacts" / ctx->plugin_name / rel;
    fs::create_directories(target.parent_path());
    util::write_file_atomically(target, std::string_view(static_cast<const char*>(data), bytes));
    return STRATA_OK;
  } catch (const std::exception& e) {
    ctx->last_error = e.what();
    return STRATA_INTERNAL;
  }
}

int32_t svc_is_cancelled(strata_host_ctx* ctx) {
  return ctx->env->cancelled != nullptr && ctx->env->cancelled->load(std::memory_order_relaxed) ? 1 : 0;
}

uint64_t svc_monotonic_ns(strata_host_ctx*) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

int64_t svc_utc_ns(strata_host_ctx*) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* svc_run_dir(strata_host_ctx* ctx) { return ctx->env->run_dir.empty() ? nullptr : ctx->env->run_dir.c_str(); }

const strata_comm* svc_world(strata_host_ctx* ctx) { return ctx->env->world; }

strata_status svc_create_child(strata_host_ctx* ctx, int32_t tier, const char* name, const char* options_json,
                               strata_child* out) {
  if (out == nullptr || name == nullptr) return STRATA_INVALID_ARGUMENT;
  return ctx->env->child_factory(ctx, tier, name, options_json, out);
}

void svc_destroy_child(strata_host_ctx* ctx, strata_child* child) {
  if (child != nullptr && child->instance != nullptr) ctx->env->child_destroyer(child);
}

}  // namespace

HostEnvironment::HostEnvironment(util::Logger log, const strata_comm* world_comm)
    : logger(std::move(log)), world(world_comm) {
  metric_sink = [this](const std::string& name, double value, int64_t step) {
    logger->debug("metric {} = {} (step {})", name, value, step);
  };
  event_sink = [this](const std::string& plugin, const std::string& name, const std::string&) {
    logger->debug("[{}] event {} (no run to publish it to)", plugin, name);
  };
  child_factory = [this](strata_host_ctx* parent, int32_t, const char* name, const char*, strata_child*) {
    parent->last_error = std::string("cannot create plugin '") + name + "' here: no plugin registry attached";
    return STRATA_UNSUPPORTED;
  };
  child_destroyer = [](strata_child*) {};
}

void* HostEnvironment::allocate(uint64_t bytes, uint64_t alignment) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return nullptr;
  const uint64_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (p == nullptr) return nullptr;
  std::lock_guard lock(mutex_);
  allocations_[p] = bytes;
  current_ += bytes;
  peak_ = std::max(peak_, current_);
  return p;
}

void HostEnvironment::release(void* p) {
  if (p == nullptr) return;
  {
    std::lock_guard lock(mutex_);
    const auto it = allocations_.find(p);
    if (it == allocations_.end()) {
      logger->error("a plugin freed memory the host did not allocate ({}); ignored", p);
      return;
    }
    current_ -= it->second;
    allocations_.erase(it);
  }
  std::free(p);
}

uint64_t HostEnvironment::allocated_bytes() const {
  std::lock_guard lock(mutex_);
  return current_;
}

uint64_t HostEnvironment::peak_allocated_bytes() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

const strata_host_services* host_services() {
  static const strata_host_services table{STRATA_HOST_SERVICES_STRUCT_SIZE,
                                          STRATA_ABI_MAJOR,
                                          STRATA_ABI_MINOR,
                                          &svc_log,
                                          &svc_set_error,
                                          &svc_options_json,
                                          &svc_alloc,
                                          &svc_free,
                                          &svc_emit_metric,
                                          &svc_publish_event,
                                          &svc_write_artifact,
                                          &svc_is_cancelled,
                                          &svc_monotonic_ns,
                                          &svc_utc_ns,
                                          &svc_run_dir,
                                          &svc_world,
                                          &svc_create_child,
                                          &svc_destroy_child};
  return &table;
}

}  // namespace strata::plugin
