/* Memory of the node: what a run may still allocate (MemAvailable, cgroup and rlimit limits),
 * and overflow-safe size arithmetic for adding up what a run will need before it allocates
 * any of it. Knows neither MPI nor the pipelines. */
#ifndef SF_NODE_MEMORY_H
#define SF_NODE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* a * b, or UINT64_MAX when the product does not fit (saturating: "more than any node"). */
uint64_t sf_mul_sat(uint64_t a, uint64_t b);

/* a + b, or UINT64_MAX when the sum does not fit. */
uint64_t sf_add_sat(uint64_t a, uint64_t b);

/* *out = a * b; returns 0, or -1 (and *out = SIZE_MAX) when the product overflows size_t. */
int sf_size_mul(size_t a, size_t b, size_t *out);

/* A run's memory, added up item by item; UINT64_MAX once a size overflowed. */
typedef struct sf_mem_budget {
  uint64_t total;         /* bytes */
  uint64_t largest;       /* bytes of the largest item */
  char largest_what[256]; /* what that item is, for the message */
} sf_mem_budget;

/* Empties b. Local. */
void sf_mem_budget_init(sf_mem_budget *b);

/* Adds n1 x n2 x n3 x elem bytes (saturating) described by what (printf format). Local. */
void sf_mem_budget_add(sf_mem_budget *b, uint64_t n1, uint64_t n2, uint64_t n3, uint64_t elem,
                       const char *what, ...) __attribute__((format(printf, 6, 7)));

/* What this process may still allocate, in bytes (UINT64_MAX: no limit known). */
typedef struct sf_node_mem {
  uint64_t node;         /* for all processes of the node: MemAvailable (else physical
                          * memory), and the cgroup's limit less its usage where lower */
  uint64_t process;      /* for this process: RLIMIT_AS less the address space in use, and
                          * RLIMIT_DATA less the data in use, where set */
  char node_from[64];    /* where node came from, e.g. "MemAvailable" */
  char process_from[64]; /* where process came from, e.g. "RLIMIT_AS (ulimit -v)" */
} sf_node_mem;

/* Reads the node's and this process's memory limits now (/proc/meminfo, the cgroup v2 or v1
 * memory controller, getrlimit). Local. */
void sf_node_memory(sf_node_mem *m);

/* Writes bytes as "512 B", "3.2 MiB", "1.5 TiB", ..., or "more than 16 EiB" for UINT64_MAX,
 * into buf (n bytes). Returns buf. Local. */
const char *sf_mem_text(uint64_t bytes, char *buf, size_t n);

#endif
