/*
 * worker: the extraction helper processes. An internal header of the
 * harvest folder; tests include it.
 *
 * Untrusted HTML is never parsed by the process that owns the event loop
 * and the catalog. A pool keeps N helper processes, forked from the parent
 * (N is a setting, 1 by default). Each helper closes every descriptor but
 * its end of a socketpair, sets RLIMIT_CORE 0, a small RLIMIT_NOFILE and an
 * address-space budget, asks for SIGKILL when the parent dies and, where
 * the kernel allows it, installs a seccomp filter that refuses new sockets,
 * exec, process creation and signals to other processes. It then serves one
 * page at a time: the parent sends a request frame (profile name, url,
 * charset, body), the helper arms a CPU-time timer (ITIMER_PROF, SIGPROF
 * kills it when the page overruns), runs extract_page() and answers with a
 * reply frame (return code, category word, reason, flags, record as JSON).
 *
 * The parent keeps a wall-clock deadline per page as a backstop and kills
 * the helper with SIGKILL when it passes. A helper that dies, overruns or
 * sends a malformed frame is reaped (waitpid on its own pid only, never a
 * SIGCHLD handler), restarted, and its page reported: PROV_PARSE_TIMEOUT for
 * the CPU budget or the deadline, PROV_INTERNAL with the signal name or exit
 * status for a crash, PROV_INTERNAL for a malformed reply.
 *
 * Memory: the helper's address space may grow by memory_bytes beyond what
 * it inherited (RLIMIT_AS), and libxml2's live allocations, counted
 * exactly, are held to half of that, leaving the other half for the
 * extraction's own copies, the JSON and the frames. When libxml2 or jansson
 * is refused memory the page is reported PROV_TOO_LARGE and the helper is
 * replaced. An allocation refused to provd's own code ends the helper by
 * SIGABRT (xmalloc's rule), reported as a crash.
 *
 * Signals: a helper resets every handler to the default and unblocks every
 * signal, so SIGPROF ends it; both ends write with MSG_NOSIGNAL, so the pool
 * needs no SIGPIPE setting from the program.
 *
 * Frames (both ends are the same program, so integers are in host order):
 *   header   u32 type, u32 id, u32 payload length
 *   HELLO    helper -> parent once set up: u32 sandbox bits, u32 set-up
 *            error (0 when none)
 *   REQUEST  parent -> helper: str profile, str url, str charset (empty
 *            means none), str body; a str is a u32 length and its bytes
 *   REPLY    helper -> parent: i32 rc, u32 category, u32 flags, str reason,
 *            str record JSON (empty when there is no record)
 * A request is at most max_page plus WORKER_FRAME_SLACK bytes, a reply at
 * most twice max_page plus the slack; a larger or malformed frame is a
 * protocol error (the parent kills that helper, a helper exits).
 *
 * The profiles a helper can use are the built-in ones and those passed in
 * the options; the helper finds them by name in the memory it inherited by
 * fork, so they must outlive the pool. A configuration reload makes a new
 * pool. Helpers forked to replace dead ones start from the parent as it is
 * then (it may hold a catalog handle: the helper closes the descriptor at
 * once and never touches it).
 */
#ifndef PROVD_WORKER_H
#define PROVD_WORKER_H

#include "harvest.h"

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct worker_pool;

/* The helper's socketpair end is always this descriptor in the helper. */
#define WORKER_HELPER_FD 3

/* Bytes a frame may carry beyond the page (names, url, reason, headers). */
#define WORKER_FRAME_SLACK (64 * 1024)

/* What the helpers could set up, as reported by worker_pool_sandbox(). */
enum {
    WORKER_SANDBOX_MEMORY = 1 << 0,  /* RLIMIT_AS budget in force */
    WORKER_SANDBOX_SECCOMP = 1 << 1, /* seccomp filter installed */
};

/* The function a helper runs for each page: extract_page() unless a test
 * sets another one (same contract as extract_page()). */
typedef int (*worker_extract_fn)(const struct profile *p, const char *body, size_t len,
                                 const char *url, const char *charset, struct extract_result *res);

struct worker_options {
    /* helper processes; 0 means 1 */
    unsigned helpers;
    /* CPU budget per page; 0 means 2000 */
    unsigned cpu_ms;
    /* wall-clock deadline per page; 0 means max(10000, 3 * cpu_ms) */
    unsigned wall_ms;
    /* address space a helper may add to what it inherited, libxml2 getting
     * half of it; 0 means 256 MiB */
    size_t memory_bytes;
    /* largest body accepted; 0 means 8 MiB */
    size_t max_page;
    /* requests waiting for a helper; 0 means 256 */
    unsigned queue_max;
    /* configuration profiles, found by name before the built-in ones */
    const struct profile *const *profiles;
    size_t n_profiles;
    /* tests only; NULL means extract_page */
    worker_extract_fn extract;
};

/* One page to extract. The pool copies everything it needs at submission,
 * so the caller may free these as soon as the call returns. */
struct worker_request {
    const char *profile; /* profile name */
    const char *url;     /* names the page; becomes record->url */
    const char *charset; /* HTTP header charset, or NULL */
    const char *body;
    size_t len;
};

/* Called once per submitted request, on the pool's event loop, never from
 * inside worker_pool_submit(). rc and res follow extract_page()'s contract:
 * 0 with res->record set, or a negative errno with res->category and
 * res->reason set (-ETIMEDOUT for PROV_PARSE_TIMEOUT, -E2BIG for the memory
 * budget, -EIO for a crashed or misbehaving helper, -ECANCELED when the
 * pool is freed first). The callback may take res->record (set it to NULL);
 * the pool frees what is left when it returns. It may submit more work but
 * must not free the pool. */
typedef void (*worker_done_fn)(int rc, struct extract_result *res, void *data);

/* Start a pool of helpers. base is the event loop the pool runs on, or NULL
 * for a pool with a private loop used only through worker_pool_extract_sync().
 * opts may be NULL for the defaults. Forks the helpers and waits (at most a
 * few seconds) until each reports that it is set up. Returns 0 and *out,
 * or a negative errno (fork failure, a helper that could not set up) with
 * nothing left behind. Create it before opening the catalog or any socket
 * when possible, and call extract_global_init() first. */
int worker_pool_new(struct event_base *base, const struct worker_options *opts,
                    struct worker_pool **out);

/* Kill and reap every helper, then call the callback of every request
 * still pending (in a helper or queued) with -ECANCELED and PROV_INTERNAL.
 * NULL is allowed. Must not be called from a worker_done_fn. */
void worker_pool_free(struct worker_pool *pool);

/* Queue req; cb(…, data) is called when it is done. Returns 0, -EAGAIN
 * when every helper is busy and the queue is full, -EMSGSIZE when the body
 * is larger than max_page, -ENOENT for an unknown profile, -EINVAL for a
 * missing or oversized url, profile or charset, -ECANCELED while the pool
 * is being freed. */
int worker_pool_submit(struct worker_pool *pool, const struct worker_request *req,
                       worker_done_fn cb, void *data);

/* Extract one page and wait for it, on a pool created with a NULL base
 * (returns -EINVAL otherwise). res is filled as for a worker_done_fn; the
 * return value is that rc (or a submission error, res untouched). The
 * caller calls extract_result_clear(res). */
int worker_pool_extract_sync(struct worker_pool *pool, const struct worker_request *req,
                             struct extract_result *res);

/* The pid of helper i (0 <= i < number of helpers), or -1 while it is
 * being restarted. For tests and status output. */
pid_t worker_pool_helper_pid(const struct worker_pool *pool, unsigned i);

/* Requests queued or in a helper. */
unsigned worker_pool_pending(const struct worker_pool *pool);

/* WORKER_SANDBOX_* bits that every helper started so far has applied. */
unsigned worker_pool_sandbox(const struct worker_pool *pool);

#endif
