#include "approvals.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "durable_file.hpp"
#include "signed_note.hpp"

namespace strata::audit {
namespace {

namespace fs = std::filesystem;

std::string key_label(const std::string& name, uint32_t id) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", id);
  return name + "+" + hex;
}

}  // namespace

std::string approval_body(const ApprovalSubject& s) {
  return "strata-approval/1\ngate " + s.gate + "\nrun " + s.run_id + "\nsubject " + s.subject + "\n";
}

fs::path write_approval(const fs::path& dir, const ApprovalSubject& s, const SignerKey& key) {
  const SignerKey* signers[] = {&key};
  const std::string note = sign_note(approval_body(s), signers);
  char id[16];
  std::snprintf(id, sizeof id, "%08x", key.key_id);
  const fs::path path = dir / (s.gate + "." + key.name + "." + id + ".note");
  replace_file_durably(path, note);
  return path;
}

ApprovalTally tally_approvals(const fs::path& dir, const ApprovalSubject& s, const std::vector<VerifierKey>& approvers) {
  ApprovalTally tally;
  if (!fs::is_directory(dir)) return tally;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".note") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const std::string expected = approval_body(s);
  std::set<std::string> distinct;
  for (const auto& file : files) {
    try {
      const OpenedNote opened = open_note(read_whole_file(file), approvers);
      if (opened.body != expected) {
        tally.ignored.push_back(file.string() + ": approves another gate, run or subject");
        continue;
      }
      for (const auto& sig : opened.signatures) distinct.insert(key_label(sig.name, sig.key_id));
    } catch (const std::exception& e) {
      tally.ignored.push_back(file.string() + ": " + e.what());
    }
  }
  tally.approvers.assign(distinct.begin(), distinct.end());
  return tally;
}

}  // namespace strata::audit
