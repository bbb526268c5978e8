/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Intrusive doubly linked lists: an object embeds a `struct list_node` per list
 * it can be on, and is removed in O(1) without knowing which list it is on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct list_node {
        struct list_node *prev, *next;
};

#define LIST_INIT(head) ((struct list_node){&(head), &(head)})
#define list_entry(node, type, member) ((type *) ((char *) (node) -offsetof(type, member)))
#define list_for_each_safe(pos, tmp, head) \
        for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

static inline void
list_init(struct list_node *head)
{
        head->prev = head->next = head;
}

static inline bool
list_empty(const struct list_node *head)
{
        return head->next == head;
}

/* A node that is on no list points to itself (list_init or after list_remove). */
static inline bool
list_linked(const struct list_node *n)
{
        return n->next && n->next != n;
}

static inline void
list_append(struct list_node *head, struct list_node *n)
{
        n->prev = head->prev;
        n->next = head;
        head->prev->next = n;
        head->prev = n;
}

static inline void
list_remove(struct list_node *n)
{
        if (!list_linked(n))
                return;
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = n;
}

static inline struct list_node *
list_first(const struct list_node *head)
{
        return list_empty(head) ? NULL : head->next;
}
