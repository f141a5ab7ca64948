#include "audit_writer.hpp"

#include <stdexcept>

#include "durable_file.hpp"
#include "signed_note.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string canonical_record_bytes(const nlohmann::json& record) {
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

AuditWriter::AuditWriter(WriterOptions options, const SignerKey& signer)
    : options_(std::move(options)), layout_{options_.dir}, signer_(signer), verifier_(verifier_of(signer)) {
  if (options_.origin.empty()) throw std::invalid_argument("audit trail: the origin must not be empty");
  if (options_.tree_head_every == 0) options_.tree_head_every = 1;
  store_ = SegmentWriter::open(
      layout_.segments(), options_.store,
      [this](uint64_t, std::span<const uint8_t> payload) {
        tree_.append(leaf_hash(payload));
        if (options_.on_recovered_record) options_.on_recovered_record(payload);
      },
      &recovery_);
  check_against_last_head();
  // The verifier key beside the log, so `strata audit verify` can at least check internal
  // consistency when no keyring is pinned.
  const std::string pub = format_verifier_key(verifier_) + "\n";
  if (!fs::exists(layout_.signer_public_key()) || read_whole_file(layout_.signer_public_key()) != pub)
    replace_file_durably(layout_.signer_public_key(), pub);
}

void AuditWriter::check_against_last_head() {
  if (!fs::exists(layout_.latest_tree_head())) {
    if (tree_.size() > 0 && fs::exists(layout_.tree_heads()) && !fs::is_empty(layout_.tree_heads()))
      throw AuditIoError(layout_.latest_tree_head().string() + " is missing although tree heads exist: "
                         "run `strata audit verify` before appending to this trail");
    return;
  }
  const std::string note = read_whole_file(layout_.latest_tree_head());
  const VerifierKey keys[] = {verifier_};
  OpenedNote opened;
  try {
    opened = open_note(note, keys);
  } catch (const std::exception& e) {
    throw AuditIoError(layout_.latest_tree_head().string() + " does not verify with the configured signing key (" +
                       e.what() + "); a trail is continued with the key that sealed it");
  }
  const TreeHead head = parse_tree_head(opened.body);
  if (head.origin != options_.origin)
    throw AuditIoError(layout_.latest_tree_head().string() + " belongs to origin \"" + head.origin +
                       "\", not \"" + options_.origin + "\"");
  if (head.size > tree_.size())
    throw AuditIoError("the audit log in " + layout_.segments().string() + " holds " + std::to_string(tree_.size()) +
                       " records but its last signed tree head covers " + std::to_string(head.size) +
                       ": sealed records were lost; refusing to append (run `strata audit verify`)");
  if (tree_.root_at(head.size) != head.root)
    throw AuditIoError("the audit log in " + layout_.segments().string() + " does not match its last signed tree head (" +
                       std::to_string(head.size) + " records): refusing to append (run `strata audit verify`)");
  sealed_size_ = head.size;
}

uint64_t AuditWriter::append(const nlohmann::json& record) {
  const std::string bytes = canonical_record_bytes(record);
  const uint64_t index = store_->append(as_bytes(bytes));
  tree_.append(leaf_hash(as_bytes(bytes)));
  if (index + 1 != tree_.size())
    throw AuditIoError("audit trail: the store and the Merkle tree disagree on the record count");
  return index;
}

void AuditWriter::commit() { store_->sync(); }

void AuditWriter::seal() {
  commit();
  if (tree_.size() > sealed_size_) write_tree_head();
}

void AuditWriter::commit_or_seal() {
  if (tree_.size() - sealed_size_ >= options_.tree_head_every)
    seal();
  else
    commit();
}

void AuditWriter::write_tree_head() {
  const TreeHead head{options_.origin, tree_.size(), tree_.root(), {}};
  const SignerKey* signers[] = {&signer_};
  const std::string note = sign_note(format_tree_head(head), signers);
  const std::string file = tree_head_file_name(head.size);
  // The numbered head first, then "latest": a crash in between leaves latest one head
  // behind, which the next open accepts (the log still matches it).
  replace_file_durably(layout_.tree_heads() / file, note);
  replace_file_durably(layout_.latest_tree_head(), note);
  for (const auto& witness : options_.witnesses) replace_file_durably(witness_folder(witness, head.origin) / file, note);
  sealed_size_ = head.size;
}

}  // namespace strata::audit
