// Helper for the kill -9 test: appends records in random batches forever, and after each
// successful sync() prints "ack N" (N records acknowledged) and flushes stdout. Prints
// "ready N" once the store is open. Usage: audit_log_crash_writer DIR SEED ROTATE_BYTES
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "plugins/compliance/audit/log/segment_store.hpp"
#include "tests/plugins/compliance/audit/log/crash_payload.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR SEED ROTATE_BYTES\n", argv[0]);
    return 2;
  }
  using namespace strata::audit;
  try {
    StoreOptions options;
    options.rotate_bytes = std::strtoull(argv[3], nullptr, 10);
    auto writer = SegmentWriter::open(argv[1], options, nullptr, nullptr);
    std::printf("ready %llu\n", static_cast<unsigned long long>(writer->size()));
    std::fflush(stdout);
    std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
    for (;;) {
      const int batch = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < batch; ++k) {
        const std::string p = test::crash_payload(writer->size());
        writer->append(std::span(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
      }
      writer->sync();
      std::printf("ack %llu\n", static_cast<unsigned long long>(writer->durable_size()));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "audit_log_crash_writer: %s\n", e.what());
    return 1;
  }
}
