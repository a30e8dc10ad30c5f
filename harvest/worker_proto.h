/*
 * worker_proto: what the two sides of the extraction helper pool share,
 * the parent (worker.c) and the forked helper (worker_helper.c): the frame
 * types and header size, the reply flags, the frame writers and readers,
 * the frame size limits, the profile lookup both sides do by name, and the
 * helper's entry point. The frame layout itself is described in worker.h.
 * Internal to those two files: nothing else includes it.
 */
#ifndef PROVD_WORKER_PROTO_H
#define PROVD_WORKER_PROTO_H

#include "worker.h"

#include "xmalloc.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

enum worker_frame_type {
    WORKER_FRAME_HELLO = 1,
    WORKER_FRAME_REQUEST = 2,
    WORKER_FRAME_REPLY = 3,
};

/* Bits of a REPLY's flags word. */
enum {
    WORKER_REPLY_PARTIAL = 1 << 0, /* the record is a partial parse */
    WORKER_REPLY_RETIRE = 1 << 1,  /* the helper exits after this reply */
};

/* Bytes of a frame header: u32 type, u32 id, u32 payload length. */
#define WORKER_FRAME_HEADER 12u

/* The largest REQUEST payload for the resolved options o. */
static inline size_t worker_request_max(const struct worker_options *o)
{
    return o->max_page + WORKER_FRAME_SLACK;
}

/* The largest REPLY payload for the resolved options o. */
static inline size_t worker_reply_max(const struct worker_options *o)
{
    return 2 * o->max_page + WORKER_FRAME_SLACK;
}

/* A new frame of the given payload size with its header written; *w is
 * where the payload goes. Sized exactly: a page is copied once. The caller
 * writes exactly payload bytes at *w and frees the frame. */
static inline char *worker_frame_new(enum worker_frame_type type, uint32_t id, size_t payload,
                                     char **w)
{
    uint32_t hdr[3] = {type, id, (uint32_t)payload};
    char *f = xmalloc(WORKER_FRAME_HEADER + payload);

    memcpy(f, hdr, sizeof(hdr));
    *w = f + WORKER_FRAME_HEADER;
    return f;
}

/* Write v at *w and move *w past it. */
static inline void worker_frame_put_u32(char **w, uint32_t v)
{
    memcpy(*w, &v, sizeof(v));
    *w += sizeof(v);
}

/* Write a str (u32 length n, then n bytes of s; s may be NULL when n is 0)
 * at *w and move *w past it. */
static inline void worker_frame_put_str(char **w, const char *s, size_t n)
{
    worker_frame_put_u32(w, (uint32_t)n);
    if (n)
        memcpy(*w, s, n);
    *w += n;
}

/* A cursor over a received payload. */
struct worker_frame_reader {
    const char *p, *end;
};

/* Read a u32 into *v. Returns 0, or -1 when fewer than four bytes are
 * left (r is then unchanged). */
static inline int worker_frame_get_u32(struct worker_frame_reader *r, uint32_t *v)
{
    if ((size_t)(r->end - r->p) < sizeof(*v))
        return -1;
    memcpy(v, r->p, sizeof(*v));
    r->p += sizeof(*v);
    return 0;
}

/* Read a str: *s points into the payload (not NUL-terminated), *n is its
 * length. Returns 0, or -1 when the payload is too short for it. */
static inline int worker_frame_get_str(struct worker_frame_reader *r, const char **s, size_t *n)
{
    uint32_t len;

    if (worker_frame_get_u32(r, &len) < 0 || (size_t)(r->end - r->p) < len)
        return -1;
    *s = r->p;
    *n = len;
    r->p += len;
    return 0;
}

/* The profile called name: one of o's configuration profiles, else a
 * built-in one, else NULL. The result lives as long as the profile does. */
static inline const struct profile *worker_find_profile(const struct worker_options *o,
                                                        const char *name)
{
    for (size_t i = 0; i < o->n_profiles; i++)
        if (strcmp(profile_name(o->profiles[i]), name) == 0)
            return o->profiles[i];
    return profile_builtin(name);
}

/* The helper process, run by the parent's fork() child: fd is its end of
 * the socketpair (moved to WORKER_HELPER_FD), parent the pid of the
 * process that forked it, opts the pool's resolved options (inherited memory,
 * read only). Sets itself up, says HELLO, serves requests until the socket
 * closes or the memory budget is touched. Never returns. */
_Noreturn void worker_helper_main(const struct worker_options *opts, int fd, pid_t parent);

#endif
