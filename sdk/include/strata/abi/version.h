/* Strata plugin ABI: version numbers and struct-size helpers.
 *
 * The ABI is at major 0 (free to change) until each interface's first real user has
 * landed; then it is frozen and versioned. A minor bump is additive only (fields at the end);
 * a major bump gives new struct names (_v1). Every struct that may grow starts with
 * struct_size, so a reader learns how many fields the writer knew about (PJRT's rule). */
#ifndef STRATA_ABI_VERSION_H
#define STRATA_ABI_VERSION_H

#include <stddef.h>
#include <stdint.h>

#define STRATA_ABI_MAJOR 0
#define STRATA_ABI_MINOR 1

/* Size of a struct up to and including its last field: what a writer of that version fills. */
#define STRATA_STRUCT_SIZE(type, last_field) \
  (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* Symbol visibility for the one exported entry point of a plugin library. */
#if defined(_WIN32)
#define STRATA_EXPORT __declspec(dllexport)
#else
#define STRATA_EXPORT __attribute__((visibility("default")))
#endif

#endif
