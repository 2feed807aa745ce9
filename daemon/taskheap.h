/* A binary min-heap of tasks ordered by their next due time, so that one
 * timer for the earliest due task serves any number of tasks. */
#ifndef IBD_TASKHEAP_H
#define IBD_TASKHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IBD_HEAP_NONE ((size_t)-1)

/* What the heap needs of an entry: embed this in the element. */
typedef struct ibd_heap_node {
    time_t due;
    size_t pos; /* index in the heap, IBD_HEAP_NONE when not in it */
} ibd_heap_node;

typedef struct ibd_heap {
    ibd_heap_node **items;
    size_t len, cap;
} ibd_heap;

void ibd_heap_init(ibd_heap *h);
void ibd_heap_free(ibd_heap *h);
/* Insert n (not in a heap) with due time n->due. Returns -1 without memory. */
int ibd_heap_push(ibd_heap *h, ibd_heap_node *n);
/* Remove n if it is in the heap. */
void ibd_heap_remove(ibd_heap *h, ibd_heap_node *n);
/* The node with the smallest due time, or NULL. */
ibd_heap_node *ibd_heap_top(const ibd_heap *h);

static inline bool ibd_heap_contains(const ibd_heap_node *n)
{
    return n->pos != IBD_HEAP_NONE;
}

#endif
