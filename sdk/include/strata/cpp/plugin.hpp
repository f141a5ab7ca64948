// Plugin-side C++ API: derive from one tier class, give it static metadata, and list the
// classes in STRATA_PLUGIN_LIBRARY. The adapter fills the C tables; every call from the host
// goes through a noexcept trampoline that turns exceptions into status codes.
//
//   class MyAggregator : public strata::sdk::GradientAggregator {
//    public:
//     static constexpr const char* kName = "my-agg";
//     static constexpr const char* kVersion = "1.0.0";
//     static constexpr const char* kDescription = "what it does, in one line";
//     static constexpr const char* kOptionsSchema = R"({"type":"object","properties":{},"additionalProperties":false})";
//     explicit MyAggregator(strata::sdk::Host host) : GradientAggregator(host) { /* read host.options() */ }
//     strata_agg_pending* start(const strata::sdk::Comm& comm, strata_grad_bucket& bucket) override;
//   };
//   STRATA_PLUGIN_LIBRARY("my-plugins", MyAggregator)
//
// Kept at C++17 so third-party plugins need not move to the host's C++20.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "strata/strata.h"
#include "strata/cpp/comm.hpp"
#include "strata/cpp/error.hpp"
#include "strata/cpp/host.hpp"

namespace strata::sdk {

// A lifecycle event, viewed (not copied): valid only during on_event.
struct Event {
  strata_event_type type;
  std::string_view name;
  bool is_gate;
  int rank;
  uint64_t sequence;
  int64_t step;
  int64_t utc_ns;
  std::string_view run_id;
  std::string_view payload_json;
  std::string_view payload_sha256;
};

// The outcome of a gate. Only compliance plugins' denials are honoured by the host.
struct Decision {
  bool deny = false;
  std::string reason;
};

class StateWriter {
 public:
  explicit StateWriter(const strata_state_writer* w) : w_(w) {}
  void put(const std::string& key, const void* data, uint64_t bytes) const {
    const strata_status s = w_->put(w_->ctx, key.c_str(), data, bytes);
    if (s != STRATA_OK) throw Error(s, "saving state '" + key + "' failed");
  }
  void put(const std::string& key, std::string_view bytes) const { put(key, bytes.data(), bytes.size()); }

 private:
  const strata_state_writer* w_;
};

class StateReader {
 public:
  explicit StateReader(const strata_state_reader* r) : r_(r) {}
  // nullopt when the checkpoint holds no such key (e.g. it predates the plugin).
  std::optional<std::string_view> get(const std::string& key) const {
    const void* data = nullptr;
    uint64_t bytes = 0;
    const strata_status s = r_->get(r_->ctx, key.c_str(), &data, &bytes);
    if (s == STRATA_NOT_FOUND) return std::nullopt;
    if (s != STRATA_OK) throw Error(s, "loading state '" + key + "' failed");
    return std::string_view(static_cast<const char*>(data), bytes);
  }

 private:
  const strata_state_reader* r_;
};

// Members shared by every tier.
class Plugin {
 public:
  explicit Plugin(Host host) : host_(host) {}
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // Bitmask of STRATA_EVENT_BIT(type).
  virtual uint64_t subscriptions() const { return 0; }
  virtual void on_event(const Event& /*event*/, Decision* /*decision: non-null for gates*/) {}
  virtual void save_state(const StateWriter& /*writer*/) const {}
  virtual void load_state(const StateReader& /*reader*/) {}
  // Parameters for the host's optimizer; pointers must stay valid until destruction.
  virtual std::vector<const strata_param*> parameters() { return {}; }

  // 0 = cannot run on this machine. Hide it in a derived class to decide.
  static int32_t score(const strata_host_services* /*host*/) { return 1; }

  const Host& host() const { return host_; }

 private:
  template <class T> friend struct Adapter;
  Host host_;
  std::vector<const strata_param*> exported_params_;  // keeps parameters() alive for the C view
};

class ParallelismStrategy : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_PARALLELISM;
  virtual void plan(const strata_model_shape& model, const strata_topology& topology, strata_parallel_plan& out) = 0;
};

class GradientAggregator : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_AGGREGATION;
  // Return nullptr when the bucket is already aggregated; otherwise a handle for wait().
  virtual strata_agg_pending* start(const Comm& comm, strata_grad_bucket& bucket) = 0;
  virtual void wait(strata_agg_pending* /*pending*/) {}
  virtual uint64_t preferred_bucket_bytes() const { return 0; }
  // true: this plugin sums buckets and the host pre-divides local gradients by the group size
  // (interface 0.2; see strata/abi/tiers/aggregation.h).
  virtual bool sums_prescaled_gradients() const { return false; }
};

class MemoryPlanner : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_MEMORY;
  virtual void plan(const strata_layer_profile* const* layers, uint32_t count, uint64_t budget_bytes,
                    strata_memory_plan& out) = 0;
};

class FairnessPlugin : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_FAIRNESS;
  virtual void train_step(strata_fairness_batch& /*batch*/) {}
  virtual void evaluate(const strata_fairness_batch& batch) = 0;
  virtual void finish_evaluation(int64_t step) = 0;
};

class Explainer : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_EXPLAINABILITY;
  virtual uint32_t requirements() const { return 0; }
  virtual void explain(const strata_explain_input& input) = 0;
};

class CompliancePlugin : public Plugin {
 public:
  using Plugin::Plugin;
  static constexpr strata_tier kTier = STRATA_TIER_COMPLIANCE;
  virtual void flush() {}
};

// Copies a message into a fixed C buffer, always NUL-terminated.
inline void copy_text(char* dst, size_t capacity, std::string_view text) {
  if (capacity == 0) return;
  const size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(dst, text.data(), n);
  dst[n] = '\0';
}

// Builds the C tables for plugin class T. Instances cross the boundary as Plugin*.
template <class T>
struct Adapter {
  static_assert(std::is_base_of_v<Plugin, T>, "a Strata plugin derives from one tier class");

  static Plugin* self(strata_instance* p) { return reinterpret_cast<Plugin*>(p); }
  static T* derived(strata_instance* p) { return static_cast<T*>(self(p)); }

  template <class F>
  static strata_status call(strata_instance* p, F&& f) noexcept {
    const Host& h = self(p)->host_;
    return guarded(h.api(), h.ctx(), std::forward<F>(f));
  }

  static strata_status create(const strata_host_services* api, strata_host_ctx* ctx, strata_instance** out) noexcept {
    return guarded(api, ctx, [&] {
      Plugin* instance = new T(Host(api, ctx));
      *out = reinterpret_cast<strata_instance*>(instance);
    });
  }
  static void destroy(strata_instance* p) noexcept { delete self(p); }
  static uint64_t subscriptions(strata_instance* p) noexcept {
    uint64_t mask = 0;
    if (call(p, [&] { mask = self(p)->subscriptions(); }) != STRATA_OK) return 0;
    return mask;
  }
  static strata_status on_event(strata_instance* p, const strata_event* e, strata_decision* d) noexcept {
    return call(p, [&] {
      const Event event{static_cast<strata_event_type>(e->type), e->name ? e->name : "", e->is_gate != 0, e->rank,
                        e->sequence, e->step, e->utc_ns, e->run_id ? e->run_id : "",
                        e->payload_json ? e->payload_json : "{}", e->payload_sha256 ? e->payload_sha256 : ""};
      Decision decision;
      self(p)->on_event(event, d != nullptr ? &decision : nullptr);
      if (d != nullptr && decision.deny) {
        d->deny = 1;
        copy_text(d->reason, sizeof(d->reason), decision.reason);
      }
    });
  }
  static strata_status save_state(strata_instance* p, const strata_state_writer* w) noexcept {
    return call(p, [&] { self(p)->save_state(StateWriter(w)); });
  }
  static strata_status load_state(strata_instance* p, const strata_state_reader* r) noexcept {
    return call(p, [&] { self(p)->load_state(StateReader(r)); });
  }
  static strata_status parameters(strata_instance* p, strata_param_list* out) noexcept {
    return call(p, [&] {
      Plugin* s = self(p);
      s->exported_params_ = s->parameters();
      out->count = static_cast<uint32_t>(s->exported_params_.size());
      out->params = s->exported_params_.data();
    });
  }
  static int32_t score(const strata_host_services* host) noexcept {
    try {
      return T::score(host);
    } catch (...) {
      return 0;
    }
  }
  static strata_plugin_common common(uint32_t table_size) {
    return strata_plugin_common{table_size, 0, &create, &destroy, &subscriptions, &on_event,
                                &save_state, &load_state, &parameters};
  }

  // ---- tier functions
  static strata_status plan_parallel(strata_instance* p, const strata_model_shape* m, const strata_topology* t,
                                     strata_parallel_plan* out) noexcept {
    return call(p, [&] { derived(p)->plan(*m, *t, *out); });
  }
  static strata_status agg_start(strata_instance* p, const strata_comm* c, strata_grad_bucket* b,
                                 strata_agg_pending** pending) noexcept {
    return call(p, [&] { *pending = derived(p)->start(Comm(c), *b); });
  }
  static strata_status agg_wait(strata_instance* p, strata_agg_pending* pending) noexcept {
    return call(p, [&] { derived(p)->wait(pending); });
  }
  static uint64_t agg_bucket_bytes(strata_instance* p) noexcept {
    uint64_t bytes = 0;
    if (call(p, [&] { bytes = derived(p)->preferred_bucket_bytes(); }) != STRATA_OK) return 0;
    return bytes;
  }
  static int32_t agg_sums_prescaled(strata_instance* p) noexcept {
    bool yes = false;
    if (call(p, [&] { yes = derived(p)->sums_prescaled_gradients(); }) != STRATA_OK) return 0;
    return yes ? 1 : 0;
  }
  static strata_status plan_memory(strata_instance* p, const strata_layer_profile* const* layers, uint32_t count,
                                   uint64_t budget, strata_memory_plan* out) noexcept {
    return call(p, [&] { derived(p)->plan(layers, count, budget, *out); });
  }
  static strata_status fair_train(strata_instance* p, strata_fairness_batch* b) noexcept {
    return call(p, [&] { derived(p)->train_step(*b); });
  }
  static strata_status fair_eval(strata_instance* p, const strata_fairness_batch* b) noexcept {
    return call(p, [&] { derived(p)->evaluate(*b); });
  }
  static strata_status fair_finish(strata_instance* p, int64_t step) noexcept {
    return call(p, [&] { derived(p)->finish_evaluation(step); });
  }
  static uint32_t explain_requirements(strata_instance* p) noexcept {
    uint32_t bits = 0;
    if (call(p, [&] { bits = derived(p)->requirements(); }) != STRATA_OK) return 0;
    return bits;
  }
  static strata_status explain(strata_instance* p, const strata_explain_input* in) noexcept {
    return call(p, [&] { derived(p)->explain(*in); });
  }
  static strata_status flush(strata_instance* p) noexcept {
    return call(p, [&] { derived(p)->flush(); });
  }

  // The tier table for T, with static lifetime.
  static const void* vtable() {
    if constexpr (std::is_base_of_v<ParallelismStrategy, T>) {
      static const strata_parallelism_v0 table{common(STRATA_PARALLELISM_V0_STRUCT_SIZE), &plan_parallel};
      return &table;
    } else if constexpr (std::is_base_of_v<GradientAggregator, T>) {
      static const strata_aggregation_v0 table{common(STRATA_AGGREGATION_V0_STRUCT_SIZE), &agg_start, &agg_wait,
                                               &agg_bucket_bytes, &agg_sums_prescaled};
      return &table;
    } else if constexpr (std::is_base_of_v<MemoryPlanner, T>) {
      static const strata_memory_v0 table{common(STRATA_MEMORY_V0_STRUCT_SIZE), &plan_memory};
      return &table;
    } else if constexpr (std::is_base_of_v<FairnessPlugin, T>) {
      static const strata_fairness_v0 table{common(STRATA_FAIRNESS_V0_STRUCT_SIZE), &fair_train, &fair_eval,
                                            &fair_finish};
      return &table;
    } else if constexpr (std::is_base_of_v<Explainer, T>) {
      static const strata_explainability_v0 table{common(STRATA_EXPLAINABILITY_V0_STRUCT_SIZE),
                                                  &explain_requirements, &explain};
      return &table;
    } else {
      static_assert(std::is_base_of_v<CompliancePlugin, T>, "unknown tier base class");
      static const strata_compliance_v0 table{common(STRATA_COMPLIANCE_V0_STRUCT_SIZE), &flush};
      return &table;
    }
  }

  static uint16_t iface_minor() {
    switch (T::kTier) {
      case STRATA_TIER_PARALLELISM: return STRATA_PARALLELISM_IFACE_MINOR;
      case STRATA_TIER_AGGREGATION: return STRATA_AGGREGATION_IFACE_MINOR;
      case STRATA_TIER_MEMORY: return STRATA_MEMORY_IFACE_MINOR;
      case STRATA_TIER_FAIRNESS: return STRATA_FAIRNESS_IFACE_MINOR;
      case STRATA_TIER_EXPLAINABILITY: return STRATA_EXPLAINABILITY_IFACE_MINOR;
      default: return STRATA_COMPLIANCE_IFACE_MINOR;
    }
  }

  static const strata_plugin_entry* entry() {
    static const strata_plugin_entry e{STRATA_PLUGIN_ENTRY_STRUCT_SIZE,
                                       T::kTier,
                                       0,
                                       iface_minor(),
                                       0,
                                       T::kName,
                                       T::kVersion,
                                       T::kDescription,
                                       T::kOptionsSchema,
                                       &score,
                                       vtable()};
    return &e;
  }
};

#define STRATA_SDK_STRINGIFY2(x) #x
#define STRATA_SDK_STRINGIFY(x) STRATA_SDK_STRINGIFY2(x)

// The body of the library's entry symbol: version handshake and the descriptor.
template <class... Plugins>
strata_status negotiate(strata_negotiation* n, const char* library_name) noexcept {
  if (n == nullptr || n->struct_size < STRATA_NEGOTIATION_STRUCT_SIZE) return STRATA_INVALID_ARGUMENT;
  // Always report our version first, so a host that refuses us can name both versions.
  n->plugin_abi_major = STRATA_ABI_MAJOR;
  n->plugin_abi_minor = STRATA_ABI_MINOR;
  n->library = nullptr;
  if (n->host_abi_major != STRATA_ABI_MAJOR || n->host_abi_minor < STRATA_ABI_MINOR) return STRATA_VERSION_MISMATCH;
  try {
    static const strata_plugin_entry* const entries[] = {Adapter<Plugins>::entry()...};
    static const strata_library_descriptor descriptor{
        STRATA_LIBRARY_DESCRIPTOR_STRUCT_SIZE, static_cast<uint32_t>(sizeof...(Plugins)), library_name,
        "compiler " __VERSION__ ", C++ " STRATA_SDK_STRINGIFY(__cplusplus), entries, nullptr};
    n->library = &descriptor;
    return STRATA_OK;
  } catch (...) {
    return STRATA_INTERNAL;
  }
}

}  // namespace strata::sdk

// Defines the library's one exported entry symbol for the listed plugin classes.
#define STRATA_PLUGIN_LIBRARY(library_name, ...)                                                       \
  extern "C" STRATA_EXPORT strata_status strata_plugin_negotiate(strata_negotiation* negotiation) {  \
    return ::strata::sdk::negotiate<__VA_ARGS__>(negotiation, library_name);                         \
  }
