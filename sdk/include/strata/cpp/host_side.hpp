// Host-side C++ over the C ABI, for any program that loads Strata plugins (the strata host
// uses it): an owning handle that destroys its instance through the plugin's own table, so
// plugin memory is always released by the plugin that allocated it.
#pragma once

#include <utility>

#include "strata/abi/plugin.h"

namespace strata::sdk {

class InstanceHandle {
 public:
  InstanceHandle() = default;
  // Takes ownership of `instance`, created by `common->create`.
  InstanceHandle(const strata_plugin_common* common, strata_instance* instance) : common_(common), instance_(instance) {}
  ~InstanceHandle() { reset(); }
  InstanceHandle(InstanceHandle&& other) noexcept
      : common_(std::exchange(other.common_, nullptr)), instance_(std::exchange(other.instance_, nullptr)) {}
  InstanceHandle& operator=(InstanceHandle&& other) noexcept {
    if (this != &other) {
      reset();
      common_ = std::exchange(other.common_, nullptr);
      instance_ = std::exchange(other.instance_, nullptr);
    }
    return *this;
  }
  InstanceHandle(const InstanceHandle&) = delete;
  InstanceHandle& operator=(const InstanceHandle&) = delete;

  strata_instance* get() const { return instance_; }
  explicit operator bool() const { return instance_ != nullptr; }
  // The tier's table (it begins with strata_plugin_common).
  template <class Table>
  const Table& table() const {
    return *reinterpret_cast<const Table*>(common_);
  }
  const strata_plugin_common& common() const { return *common_; }

  void reset() {
    if (instance_ != nullptr) common_->destroy(instance_);
    instance_ = nullptr;
  }

 private:
  const strata_plugin_common* common_ = nullptr;
  strata_instance* instance_ = nullptr;
};

}  // namespace strata::sdk
