// A plugin whose constructor throws: create must fail with the plugin's own message and
// the exception must never cross the boundary.
#include <strata/sdk.hpp>

#include <stdexcept>

namespace {

class ThrowingInit final : public strata::sdk::MemoryPlanner {
 public:
  static constexpr const char* kName = "throwing-init";
  static constexpr const char* kVersion = "0.0.1";
  static constexpr const char* kDescription = "throws from its constructor";
  static constexpr const char* kOptionsSchema = nullptr;
  explicit ThrowingInit(strata::sdk::Host host) : MemoryPlanner(host) {
    throw std::runtime_error("simulated failure: cannot reach the license server");
  }
  void plan(const strata_layer_profile* const*, uint32_t, uint64_t, strata_memory_plan&) override {}
};

}  // namespace

STRATA_PLUGIN_LIBRARY("throwing-init", ThrowingInit)
