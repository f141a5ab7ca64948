// A zeroed, 64-byte aligned array whose pages are all touched when it is created.
//
// Why touch: on this class of machine a first write to a fresh 4 KiB page costs ~15 µs,
// and glibc hands blocks above its mmap threshold (up to 32 MiB) back to the kernel on
// free, so a buffer that is allocated per step pays its page faults on every step. The
// model and optimizer therefore allocate their buffers once, here, and fault them in at
// construction. Buffers of 2 MiB or more are 2 MiB aligned and advised for transparent
// huge pages, which (where THP is in "madvise" mode) turns 512 faults into one.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace strata::engine {

template <class T>
class AlignedBuffer {
 public:
  static constexpr size_t kAlignBytes = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(int64_t count) : count_(count > 0 ? count : 0) {
    if (count_ == 0) return;
    const size_t align = bytes() >= kHugePage ? kHugePage : kAlignBytes;
    const size_t padded = (bytes() + align - 1) / align * align;
    void* p = std::aligned_alloc(align, padded);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) madvise(p, padded, MADV_HUGEPAGE);  // advisory: failure is fine
    std::memset(p, 0, padded);
    // The memset could in principle be folded into a lazily-zeroed allocation; writing
    // through volatile guarantees every page is faulted in now.
    volatile unsigned char* touch = static_cast<unsigned char*>(p);
    for (size_t off = 0; off < padded; off += kPage) touch[off] = 0;
    data_.reset(static_cast<T*>(p));
  }

  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::move(other.data_)), count_(std::exchange(other.count_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    count_ = std::exchange(other.count_, 0);
    return *this;
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  int64_t size() const { return count_; }
  size_t bytes() const { return static_cast<size_t>(count_) * sizeof(T); }
  bool empty() const { return count_ == 0; }

 private:
  static constexpr size_t kPage = 4096;
  static constexpr size_t kHugePage = size_t{2} << 20;
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };

  std::unique_ptr<T, Free> data_;
  int64_t count_ = 0;
};

}  // namespace strata::engine
