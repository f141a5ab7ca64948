// Fairness evaluation after training: the first validation documents are scored by the
// model (mean log-likelihood per token) and assigned to groups by whole-word,
// case-insensitive keywords (config /evaluation/attributes); every fairness plugin then
// evaluates that batch and reports.
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/plugin/instance.hpp"
#include "core/run/training_data.hpp"

namespace strata::run {

using Instances = std::vector<std::unique_ptr<plugin::PluginInstance>>;

template <class T>
void evaluate_fairness(engine::GptModel<T>& model, const TrainingData& data, const nlohmann::json& evaluation,
                       int64_t seq_len, int64_t step, const Instances& fairness);

}  // namespace strata::run
