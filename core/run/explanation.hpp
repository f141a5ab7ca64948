// Explanations after training: one validation batch is run with attention capture on
// (and backward, when an explainer asks for attention gradients), and every explainer gets
// the tokens, their text and the captured maps. Capture is switched off again afterwards.
#pragma once

#include "core/run/group_evaluation.hpp"

namespace strata::run {

template <class T>
void run_explainers(engine::GptModel<T>& model, const TrainingData& data, int64_t batch, int64_t seq, int64_t step,
                    const Instances& explainers);

}  // namespace strata::run
