// Measures what this machine charges for the first touch of fresh memory, the cost that
// separates the PyTorch peer's `tuned` variant from its `nommap` one: glibc hands blocks
// over 32 MiB back to the kernel on free, so `tuned` faults its large temporaries in again
// on every step, and `nommap` (GLIBC_TUNABLES) does not. Where a page costs ~15 µs (the
// machine kind of ../shared/reference/machine.md) that is a large share of PyTorch's step,
// and the gap between the two variants is wide; where it costs a few µs the two are close,
// and a target stated against `tuned` means more there. tools/bench-vs-pytorch.sh prints
// this probe's line next to its ratios.
//
//   strata_first_touch_probe [MIB] [REPS]     (defaults 64 and 3)
//
// Each repetition maps MIB MiB of fresh anonymous memory (no huge pages), writes one byte
// per 4 KiB page (the first touch: a fault and a zeroed page each), then writes the whole
// range again (memory already mapped: the rate of a plain store pass), and unmaps it.
// Prints the median of REPS of each, in µs per 4 KiB page.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kPage = 4096;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A whole positive decimal within [1, max], or 0 when arg is not one.
long parse_count(const char* arg, long max) {
  char* end = nullptr;
  const long v = std::strtol(arg, &end, 10);
  return end != arg && *end == '\0' && v >= 1 && v <= max ? v : 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 3) {
    std::fprintf(stderr, "usage: %s [MIB] [REPS]   (defaults 64 and 3)\n", argv[0]);
    return 2;
  }
  const long mib = argc > 1 ? parse_count(argv[1], 1 << 16) : 64;
  const long reps = argc > 2 ? parse_count(argv[2], 1000) : 3;
  if (mib == 0 || reps == 0) {
    std::fprintf(stderr, "first_touch_probe: MIB must be a whole number in [1, 65536] and REPS in [1, 1000]\n");
    return 2;
  }
  const size_t bytes = static_cast<size_t>(mib) << 20, pages = bytes / kPage;
  std::vector<double> first, again;
  for (long r = 0; r < reps; ++r) {
    void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
      std::fprintf(stderr, "first_touch_probe: mmap of %ld MiB failed: %s\n", mib, std::strerror(errno));
      return 1;
    }
    // Without this, a THP "always" system would fault 2 MiB at a time and hide the cost
    // that glibc's returned blocks pay (they come back as 4 KiB pages unless madvised).
    madvise(map, bytes, MADV_NOHUGEPAGE);
    volatile char* p = static_cast<volatile char*>(map);
    const double t0 = now();
    for (size_t i = 0; i < bytes; i += kPage) p[i] = 1;
    const double t1 = now();
    std::memset(map, 2, bytes);
    const double t2 = now();
    munmap(map, bytes);
    first.push_back((t1 - t0) * 1e6 / static_cast<double>(pages));
    again.push_back((t2 - t1) * 1e6 / static_cast<double>(pages));
  }
  const double f = median(first), a = median(again);
  std::printf("first touch: %.2f us per 4 KiB page (%.2f GB/s), %.3f us per page once mapped; "
              "%ld MiB, median of %ld\n",
              f, kPage / f / 1e3, a, mib, reps);
  return 0;
}
