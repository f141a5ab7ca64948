// Device memory for the CUDA engine: an allocator that counts what it hands out (current
// and peak bytes, for benchmarks and the memory planner) and a move-only RAII buffer.
// Plain C++: no CUDA header.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

namespace strata::engine::cuda {

// Not thread-safe: one per model, used from the thread that drives it. Must outlive every
// DeviceBuffer it allocated.
class DeviceAllocator {
 public:
  DeviceAllocator() = default;
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // cudaMalloc; throws std::runtime_error naming `what`, the size, the bytes this
  // allocator already holds and the device's free memory when it fails.
  void* allocate(std::size_t bytes, const std::string& what);
  void release(void* p, std::size_t bytes) noexcept;

  std::size_t current_bytes() const { return current_; }
  std::size_t peak_bytes() const { return peak_; }

 private:
  std::size_t current_ = 0;
  std::size_t peak_ = 0;
};

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceAllocator& alloc, std::size_t count, const std::string& what)
      : alloc_(&alloc), count_(count), p_(static_cast<T*>(alloc.allocate(count * sizeof(T), what))) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : alloc_(std::exchange(o.alloc_, nullptr)), count_(std::exchange(o.count_, 0)), p_(std::exchange(o.p_, nullptr)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      alloc_ = std::exchange(o.alloc_, nullptr);
      count_ = std::exchange(o.count_, 0);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return p_; }
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return count_ * sizeof(T); }

 private:
  void reset() noexcept {
    if (p_ != nullptr) alloc_->release(p_, count_ * sizeof(T));
    p_ = nullptr;
    count_ = 0;
  }

  DeviceAllocator* alloc_ = nullptr;
  std::size_t count_ = 0;
  T* p_ = nullptr;
};

}  // namespace strata::engine::cuda
