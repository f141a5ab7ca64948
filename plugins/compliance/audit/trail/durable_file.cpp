#include "durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strata::audit {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what, const fs::path& path, int err) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(err));
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", dir, errno);
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot fsync directory", dir, err);
  }
  ::close(fd);
}

void make_dirs_durably(const fs::path& dir) {
  if (dir.empty() || fs::is_directory(dir)) return;
  make_dirs_durably(dir.parent_path());
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create directory", dir, errno);
  fsync_dir(dir.parent_path());
}

}  // namespace

void replace_file_durably(const fs::path& path, std::string_view bytes) {
  const fs::path dir = path.parent_path();
  make_dirs_durably(dir);
  std::string tmp = ((dir.empty() ? fs::path(".") : dir) / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail("cannot create a temporary file for", path, errno);
  const auto abandon = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(what, path, err);
  };
  if (::fchmod(fd, 0644) != 0) abandon("cannot chmod the temporary file for", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("cannot write the temporary file for", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  // fsync is not retried: after a failure the kernel may have dropped the dirty pages.
  if (::fsync(fd) != 0) abandon("cannot fsync the temporary file for", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot close the temporary file for", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename into place", path, err);
  }
  fsync_dir(dir);
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open", path, errno);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail("cannot read", path, errno);
  return buf.str();
}

}  // namespace strata::audit
