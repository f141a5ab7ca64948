#include "core/run/group_evaluation.hpp"

#include <cctype>
#include <string>
#include <utility>

namespace strata::run {
namespace {

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The first group one of whose keywords appears in `text` as a whole word, or -1.
int32_t find_group(const std::string& text, const std::vector<std::pair<std::string, std::vector<std::string>>>& groups) {
  const auto is_letter = [&](size_t k) { return std::isalpha(static_cast<unsigned char>(text[k])) != 0; };
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& word : groups[g].second)
      for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1))
        if ((at == 0 || !is_letter(at - 1)) && (at + word.size() >= text.size() || !is_letter(at + word.size())))
          return static_cast<int32_t>(g);
  return -1;
}

}  // namespace

template <class T>
void evaluate_fairness(engine::GptModel<T>& model, const TrainingData& data, const nlohmann::json& evaluation,
                       int64_t seq_len, int64_t step, const Instances& fairness) {
  if (fairness.empty()) return;
  const auto& attrs = evaluation["attributes"];
  std::vector<std::string> attribute_names;
  std::vector<std::vector<std::pair<std::string, std::vector<std::string>>>> groups;  // per attribute
  for (const auto& [attr, gs] : attrs.items()) {
    attribute_names.push_back(attr);
    groups.emplace_back();
    for (const auto& [g, words] : gs.items()) {
      std::vector<std::string> lowered;
      for (const auto& w : words) lowered.push_back(lowercase(w.template get<std::string>()));
      groups.back().emplace_back(g, std::move(lowered));
    }
  }
  std::vector<const char*> group_names;  // per attribute, a NULL-terminated run of names
  for (const auto& per_attr : groups) {
    for (const auto& [g, words] : per_attr) group_names.push_back(g.c_str());
    group_names.push_back(nullptr);
  }
  std::vector<const char*> attr_ptrs;
  for (const auto& a : attribute_names) attr_ptrs.push_back(a.c_str());
  const size_t na = attribute_names.size();
  const auto max_docs = std::min<uint64_t>(evaluation["max_examples"].get<uint64_t>(), data.val.document_count());
  std::vector<double> scores;
  std::vector<int32_t> ids;
  std::vector<int32_t> targets;
  for (uint64_t d = 0; d < max_docs; ++d) {
    std::vector<int32_t> tokens = data.val.document_tokens(d);
    if (tokens.size() < 2) continue;
    if (tokens.size() > static_cast<size_t>(seq_len + 1)) tokens.resize(static_cast<size_t>(seq_len + 1));
    const auto n = static_cast<int64_t>(tokens.size() - 1);
    targets.assign(tokens.begin() + 1, tokens.end());
    // Score: mean log-likelihood per token; higher means the model finds the text more natural.
    scores.push_back(-model.forward(tokens.data(), targets.data(), 1, n));
    const std::string text = lowercase(data.tokenizer->decode(tokens));
    for (size_t a = 0; a < na; ++a) ids.push_back(find_group(text, groups[a]));
  }
  strata_fairness_batch batch{};
  batch.struct_size = STRATA_FAIRNESS_BATCH_STRUCT_SIZE;
  batch.step = step;
  batch.count = static_cast<int64_t>(scores.size());
  batch.attribute_count = static_cast<uint32_t>(na);
  batch.attribute_names = attr_ptrs.data();
  batch.group_names = group_names.data();
  batch.scores = {scores.data(), scores.size(), STRATA_DTYPE_F64, STRATA_DEVICE_CPU, 0};
  batch.groups = {ids.data(), ids.size(), STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  for (const auto& f : fairness) {
    f->fairness_evaluate(batch);
    f->fairness_finish(step);
  }
}

template void evaluate_fairness<float>(engine::GptModel<float>&, const TrainingData&, const nlohmann::json&, int64_t,
                                       int64_t, const Instances&);
template void evaluate_fairness<double>(engine::GptModel<double>&, const TrainingData&, const nlohmann::json&, int64_t,
                                        int64_t, const Instances&);

}  // namespace strata::run
