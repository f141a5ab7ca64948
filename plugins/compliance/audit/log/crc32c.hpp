// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI / RFC 3720 and ext4),
// table-driven (slicing by 8). crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstdint>
#include <span>

namespace strata::audit {

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a || b).
uint32_t crc32c_extend(uint32_t crc, std::span<const uint8_t> data);
inline uint32_t crc32c(std::span<const uint8_t> data) { return crc32c_extend(0, data); }

}  // namespace strata::audit
