/* The SDK's C headers compile as strict C99, and the frozen structs keep their layout. */
#include <stddef.h>

#include "strata/strata.h"

_Static_assert(sizeof(strata_buffer) == 24, "strata_buffer is frozen");
_Static_assert(STRATA_NEGOTIATION_STRUCT_SIZE == offsetof(strata_negotiation, library) + sizeof(void*),
               "negotiation struct is frozen");
_Static_assert(offsetof(strata_negotiation, host_abi_major) == 4, "negotiation layout is frozen");

int main(void) {
  strata_negotiation n = {0};
  n.struct_size = STRATA_NEGOTIATION_STRUCT_SIZE;
  return strata_dtype_size(STRATA_DTYPE_BF16) == 2 && n.struct_size > 0 ? 0 : 1;
}
