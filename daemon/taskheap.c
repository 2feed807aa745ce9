#include "taskheap.h"

#include <stdlib.h>

void ibd_heap_init(ibd_heap *h)
{
    h->items = NULL;
    h->len = h->cap = 0;
}

void ibd_heap_free(ibd_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->items[i]->pos = IBD_HEAP_NONE;
    free(h->items);
    ibd_heap_init(h);
}

static void place(ibd_heap *h, size_t i, ibd_heap_node *n)
{
    h->items[i] = n;
    n->pos = i;
}

static void sift_up(ibd_heap *h, size_t i)
{
    ibd_heap_node *n = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->due <= n->due)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(ibd_heap *h, size_t i)
{
    ibd_heap_node *n = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->due < h->items[child]->due)
            child++;
        if (n->due <= h->items[child]->due)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, n);
}

int ibd_heap_push(ibd_heap *h, ibd_heap_node *n)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        ibd_heap_node **items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return -1;
        h->items = items;
        h->cap = cap;
    }
    place(h, h->len++, n);
    sift_up(h, n->pos);
    return 0;
}

void ibd_heap_remove(ibd_heap *h, ibd_heap_node *n)
{
    size_t i = n->pos;
    if (i == IBD_HEAP_NONE || i >= h->len || h->items[i] != n)
        return;
    n->pos = IBD_HEAP_NONE;
    ibd_heap_node *last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    sift_down(h, i);
    sift_up(h, last->pos);
}

ibd_heap_node *ibd_heap_top(const ibd_heap *h)
{
    return h->len ? h->items[0] : NULL;
}
