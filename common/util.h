/* Small helpers shared by every module: random ids, the partition hash,
 * partition-set specs ("all", "0-3/8", "1,5/8") and growing buffers. */
#ifndef BW_UTIL_H
#define BW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_MAX_PARTITIONS 1024

/* Grows the malloc'd buffer whose pointer is at pdata (a char ** or
 * uint8_t **) and whose capacity is *cap so it holds at least need bytes,
 * doubling from first (the capacity of an empty buffer). 0, or BW_ENOMEM
 * with the buffer left as it was. Every growable buffer uses it. */
int bw_grow(void *pdata, size_t *cap, size_t need, size_t first);

/* A random (v4) UUID in canonical text form; buf must hold 37 bytes. */
void bw_uuid(char buf[37]);
/* Unguessable token of 2*nbytes hex characters (nbytes <= 64). */
void bw_random_hex(char *buf, size_t nbytes);
/* The partition of a key (account id): 31-bit FNV-1a, stable forever. */
uint32_t bw_partition_of(const char *key);

typedef struct {
    uint32_t count;      /* 0: all partitions */
    uint32_t n;          /* residues listed */
    uint32_t parts[BW_MAX_PARTITIONS];
} bw_partset_t;

/* Parses "all", "3/8", "0-3/8" or "0,2,5-6/8"; BW_EINVAL with a message in
 * err (when not NULL) for anything else. */
int bw_partset_parse(const char *spec, bw_partset_t *ps, char *err, size_t errlen);
/* The canonical spec of a set ("all" or "0-3/8"). */
void bw_partset_format(const bw_partset_t *ps, char *buf, size_t len);
bool bw_partset_has(const bw_partset_t *ps, uint32_t part);

#endif
