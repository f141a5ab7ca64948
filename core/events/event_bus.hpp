// Publishes lifecycle events to the plugin instances that subscribe to them, in the order
// the instances were created. Payloads are canonicalised and digested once per event.
// For gates, every compliance subscriber is asked; one denial denies (the reasons of all
// denials are joined). A failing status from any subscriber stops the run: a compliance
// plugin that cannot record an event must not be silently skipped.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/plugin/instance.hpp"

namespace strata::events {

struct GateOutcome {
  bool allowed = true;
  std::string reason;  // joined reasons of every denial
};

class EventBus {
 public:
  // With a world of several ranks, gate() returns rank 0's decision on every rank, and
  // rank 0 is the sequencer of the run's record: the other ranks' events are forwarded to
  // it at each sync() and delivered to its compliance plugins with their own rank and
  // sequence numbers. The forwarding uses a communicator split off the world, so it never
  // matches a plugin's own messages.
  EventBus(std::string run_id, int rank, util::Logger logger, const strata_comm* world = nullptr);
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Subscribers are looked up once; call after every instance is created.
  void subscribe(const plugin::PluginInstance& instance);

  // Throws plugin::PluginError when a subscriber fails.
  void publish(strata_event_type type, int64_t step, const nlohmann::json& payload);
  GateOutcome gate(strata_event_type type, int64_t step, const nlohmann::json& payload);
  // Durability barrier on every compliance subscriber.
  void flush();
  // Collective (every rank calls it at the same point): forwards the events this rank
  // published since the last sync to rank 0, which records them in rank order (a compliance
  // plugin makes each record durable as it takes it). No event is lost or repeated between
  // syncs; a no-op on one rank.
  void sync();

  uint64_t next_sequence() const { return sequence_; }
  static const char* name_of(strata_event_type type);
  static bool is_gate(strata_event_type type);

 private:
  GateOutcome deliver(strata_event_type type, int64_t step, const nlohmann::json& payload);
  void deliver_forwarded(int rank, const nlohmann::json& item);
  int world_size() const;

  std::string run_id_;
  int rank_;
  util::Logger logger_;
  const strata_comm* world_;
  strata_comm* side_ = nullptr;         // split off the world for forwarding
  std::vector<nlohmann::json> forward_;  // this rank's events since the last sync (ranks > 0)
  uint64_t sequence_ = 0;
  std::vector<std::pair<const plugin::PluginInstance*, uint64_t>> subscribers_;  // with their masks
};

}  // namespace strata::events
