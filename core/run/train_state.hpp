// The training state a checkpoint holds, and its exact restoration: model tensors by name
// and full shape, AdamW moments and step count, the data loader's position, plugin states,
// and the resolved config. Resuming from it continues the run bit for bit.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "core/data/loader.hpp"
#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/optimizer.hpp"
#include "core/plugin/instance.hpp"

namespace strata::run {

struct ResumePoint {
  int64_t step = 0;
  data::LoaderPosition position;
  std::map<std::string, plugin::PluginState> plugin_states;  // "<tier>/<name>" -> state
  nlohmann::json info;
};

template <class T>
checkpoint::CheckpointContents capture_state(const engine::GptModel<T>& model, const engine::AdamW<T>& optimizer,
                                             int64_t step, data::LoaderPosition position,
                                             const std::map<std::string, plugin::PluginState>& plugin_states,
                                             nlohmann::json info);

// Throws std::runtime_error naming the tensor or field that does not fit this model. The
// model may be a tensor- or pipeline-parallel shard: it takes its part of each full tensor.
template <class T>
ResumePoint restore_state(const checkpoint::CheckpointContents& contents, engine::GptModel<T>& model,
                          engine::AdamW<T>& optimizer);

// Only the model weights (for `strata sample`); the model must match the checkpoint's.
template <class T>
void load_model_weights(const checkpoint::CheckpointContents& contents, engine::GptModel<T>& model);

// The model config a checkpoint was saved with (for `strata sample`).
nlohmann::json checkpoint_model_config(const checkpoint::CheckpointContents& contents);

}  // namespace strata::run
