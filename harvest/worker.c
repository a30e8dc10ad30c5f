/*
 * worker: the pool of extraction helper processes. The parent side owns
 * the helpers' pids, their socketpair ends, their libevent events and the
 * queue of requests; it reaps only the pids it forked and never installs a
 * signal handler. The helper side (helper_main and the child_ functions)
 * runs in the forked process: it closes every inherited descriptor but its
 * socket, puts itself under budget (CPU timer per page, address space,
 * libxml2's allocations counted, descriptors, no core, seccomp deny-list
 * where available) and then loops over request frames with blocking I/O,
 * never touching the parent's event loop, catalog or anything else it
 * inherited except the profiles. It leaves with _exit() so no atexit
 * handler or stdio buffer of the parent runs twice. The frame protocol and
 * the categories reported for each failure are described in worker.h.
 */
#include "worker.h"

#include "record_json.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <libxml/xmlmemory.h>
#include <malloc.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#define WORKER_HAVE_SECCOMP 1
#endif

enum frame_type {
    FRAME_HELLO = 1,
    FRAME_REQUEST = 2,
    FRAME_REPLY = 3,
};

enum {
    REPLY_PARTIAL = 1 << 0, /* the record is a partial parse */
    REPLY_RETIRE = 1 << 1,  /* the helper exits after this reply */
};

#define FRAME_HEADER     12u
#define FIELD_MAX        8192u /* profile name, url and charset */
#define START_TIMEOUT_MS 5000  /* worker_pool_new() waits this long per helper */
#define RESTART_DELAY_MS 1000  /* before restarting a helper that died idle */
#define EXIT_SETUP       71    /* helper exit status: set-up failed */
#define EXIT_PROTOCOL    72    /* helper exit status: malformed request */

struct worker_job {
    struct worker_job *next;
    uint32_t id;
    char *frame; /* the encoded request; freed once sent */
    size_t frame_len;
    worker_done_fn cb;
    void *data;
};

enum helper_state {
    HELPER_DOWN,     /* no process; ev_restart is pending unless freeing */
    HELPER_STARTING, /* forked; waiting for its HELLO (deadline armed) */
    HELPER_IDLE,     /* set up and waiting for a request */
    HELPER_BUSY,     /* job sent (maybe partly); waiting for its REPLY */
};

/* Why a helper is taken down; decides what its page is reported as. */
enum helper_cause {
    CAUSE_EOF,      /* its socket closed: it exited or was killed */
    CAUSE_DEADLINE, /* our wall-clock deadline passed */
    CAUSE_PROTOCOL, /* it sent something it should not have */
    CAUSE_RETIRE,   /* it asked to be replaced after its reply */
};

struct worker_helper {
    struct worker_pool *pool;
    enum helper_state state;
    pid_t pid; /* -1 when DOWN */
    int fd;    /* our socket end; -1 when DOWN */
    struct event *ev_read, *ev_write, *ev_deadline, *ev_restart;
    struct worker_job *job; /* BUSY: the request it is working on */
    size_t out_off;         /* bytes of job->frame already sent */
    char *in;               /* received bytes not yet consumed */
    size_t in_len, in_cap;
    int start_error; /* 0, or why the last start failed */
};

struct worker_pool {
    struct event_base *base;
    bool own_base;
    struct worker_options opts;      /* defaults resolved; profiles copied */
    const struct profile **profiles; /* the copy opts.profiles points to */
    size_t request_max, reply_max;
    struct worker_helper *helpers;
    struct worker_job *queue_head, *queue_tail;
    unsigned n_queued;
    uint32_t next_id;
    unsigned sandbox;
    bool freeing;
};

static void helper_down(struct worker_helper *h, enum helper_cause cause, const char *detail);
static void pool_dispatch(struct worker_pool *pool);

/* ---- Frames --------------------------------------------------------- */

/* A new frame of the given payload size with its header written; *w is
 * where the payload goes. Sized exactly: a page is copied once. */
static char *frame_new(enum frame_type type, uint32_t id, size_t payload, char **w)
{
    uint32_t hdr[3] = {type, id, (uint32_t)payload};
    char *f = xmalloc(FRAME_HEADER + payload);

    memcpy(f, hdr, sizeof(hdr));
    *w = f + FRAME_HEADER;
    return f;
}

static void frame_put_u32(char **w, uint32_t v)
{
    memcpy(*w, &v, sizeof(v));
    *w += sizeof(v);
}

static void frame_put_str(char **w, const char *s, size_t n)
{
    frame_put_u32(w, (uint32_t)n);
    if (n)
        memcpy(*w, s, n);
    *w += n;
}

/* A cursor over a received payload. */
struct frame_reader {
    const char *p, *end;
};

static int frame_get_u32(struct frame_reader *r, uint32_t *v)
{
    if ((size_t)(r->end - r->p) < sizeof(*v))
        return -1;
    memcpy(v, r->p, sizeof(*v));
    r->p += sizeof(*v);
    return 0;
}

static int frame_get_str(struct frame_reader *r, const char **s, size_t *n)
{
    uint32_t len;

    if (frame_get_u32(r, &len) < 0 || (size_t)(r->end - r->p) < len)
        return -1;
    *s = r->p;
    *n = len;
    r->p += len;
    return 0;
}

static const struct profile *pool_find_profile(const struct worker_pool *pool, const char *name)
{
    for (size_t i = 0; i < pool->opts.n_profiles; i++)
        if (strcmp(profile_name(pool->opts.profiles[i]), name) == 0)
            return pool->opts.profiles[i];
    return profile_builtin(name);
}

/* ---- Helper side (runs only in the forked process) ------------------ */

static bool child_mem_failed;   /* an allocation was refused on this page */
static size_t child_xml_budget; /* libxml2's share; 0: not counted */
static size_t child_xml_live;   /* bytes libxml2 holds, as malloc sees them */
static xmlFreeFunc child_xml_free;
static xmlMallocFunc child_xml_malloc, child_xml_malloc_atomic;
static xmlReallocFunc child_xml_realloc;
static xmlStrdupFunc child_xml_strdup;
static json_malloc_t child_json_malloc;

static void *child_note_null(void *p)
{
    if (p == NULL)
        child_mem_failed = true;
    return p;
}

/* True (and the page marked) when libxml2 may not take grow more bytes. */
static bool child_xml_refuse(size_t grow)
{
    if (child_xml_budget == 0 || grow <= child_xml_budget - child_xml_live)
        return false;
    child_mem_failed = true;
    return true;
}

static void child_xml_count(void *p, size_t old)
{
    if (child_xml_budget == 0)
        return;
    child_xml_live -= old < child_xml_live ? old : child_xml_live;
    if (p)
        child_xml_live += malloc_usable_size(p);
}

static void child_xml_free_hook(void *p)
{
    if (p && child_xml_budget)
        child_xml_count(NULL, malloc_usable_size(p));
    child_xml_free(p);
}

static void *child_xml_malloc_hook(size_t n)
{
    void *p = child_xml_refuse(n) ? NULL : child_note_null(child_xml_malloc(n));

    child_xml_count(p, 0);
    return p;
}

static void *child_xml_malloc_atomic_hook(size_t n)
{
    void *p = child_xml_refuse(n) ? NULL : child_note_null(child_xml_malloc_atomic(n));

    child_xml_count(p, 0);
    return p;
}

static void *child_xml_realloc_hook(void *p, size_t n)
{
    size_t old = p && child_xml_budget ? malloc_usable_size(p) : 0;
    void *q;

    if (n > old && child_xml_refuse(n - old))
        return NULL;
    q = child_note_null(child_xml_realloc(p, n));
    if (q)
        child_xml_count(q, old);
    return q;
}

static char *child_xml_strdup_hook(const char *s)
{
    /* libxml2's strdup allocates through xmlMallocAtomic: counted there */
    return child_note_null(child_xml_strdup(s));
}

static void *child_json_malloc_hook(size_t n)
{
    return child_note_null(child_json_malloc(n));
}

/* Chain wrappers in front of libxml2's and jansson's allocators so that a
 * page that ran out of memory is told apart from a bad page. libxml2's
 * live bytes are also counted and held to half the budget (when it uses
 * plain malloc: a test may have set allocators of its own): that limit is
 * exact and holds under sanitizers too, whose allocators the
 * address-space limit sees only in part; the other half is room for the
 * extraction's own copies, the JSON and the frames. */
static void child_watch_allocations(const struct worker_pool *pool)
{
    json_free_t jfree;

    xmlGcMemGet(&child_xml_free, &child_xml_malloc, &child_xml_malloc_atomic, &child_xml_realloc,
                &child_xml_strdup);
    if (child_xml_malloc == malloc && child_xml_malloc_atomic == malloc &&
        child_xml_realloc == realloc && child_xml_free == free)
        child_xml_budget = pool->opts.memory_bytes / 2;
    xmlGcMemSetup(child_xml_free_hook, child_xml_malloc_hook, child_xml_malloc_atomic_hook,
                  child_xml_realloc_hook, child_xml_strdup_hook);
    json_get_alloc_funcs(&child_json_malloc, &jfree);
    json_set_alloc_funcs(child_json_malloc_hook, jfree);
}

static int child_read_full(int fd, void *buf, size_t n)
{
    char *p = buf;

    while (n > 0) {
        ssize_t r = read(fd, p, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int child_write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The size of our address space, from /proc/self/statm; 0 if unknown. */
static size_t child_vm_size(void)
{
    char buf[128];
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    unsigned long long pages;

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%llu", &pages) != 1)
        return 0;
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

#ifdef WORKER_HAVE_SECCOMP
/* Append "if syscall nr is number, return ret" to the filter. */
static void child_bpf_deny(struct sock_filter *f, size_t *n, long nr, uint32_t ret)
{
    f[(*n)++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1);
    f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
}

/* Append "if syscall nr is number: allow when its first argument is our
 * pid, else fail with EPERM" (signals to ourselves only). A mismatch on nr
 * jumps past the load, so the accumulator still holds nr afterwards. */
static void child_bpf_self_only(struct sock_filter *f, size_t *n, long nr, pid_t self)
{
    f[(*n)++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 4);
    f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, args[0]));
    f[(*n)++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)self, 0, 1);
    f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
}

/* A deny-list, not a full sandbox: no new sockets, no exec, no new
 * processes or threads, no io_uring, no ptrace, no signals to others.
 * Returns 0 when installed. */
static int child_seccomp(void)
{
    static const long denied[] = {
        SYS_socket,
        SYS_socketpair,
        SYS_connect,
        SYS_bind,
        SYS_listen,
        SYS_accept,
        SYS_accept4,
        SYS_execve,
        SYS_execveat,
        SYS_clone,
        SYS_ptrace,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
#ifdef SYS_fork
        SYS_fork,
#endif
#ifdef SYS_vfork
        SYS_vfork,
#endif
#ifdef SYS_clone3
        SYS_clone3,
#endif
#ifdef SYS_io_uring_setup
        SYS_io_uring_setup,
#endif
#ifdef SYS_pidfd_send_signal
        SYS_pidfd_send_signal,
#endif
    };
    const uint32_t deny = SECCOMP_RET_ERRNO | EACCES;
    struct sock_filter f[96];
    struct sock_fprog prog;
    pid_t self = getpid();
    size_t n = 0;

#ifdef __x86_64__
    const uint32_t arch = AUDIT_ARCH_X86_64;
#else
    const uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
    f[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
    /* x32 system calls reach the same kernel entry points by other numbers */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
#endif
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
        child_bpf_deny(f, &n, denied[i], deny);
    child_bpf_self_only(f, &n, SYS_kill, self);
    child_bpf_self_only(f, &n, SYS_tkill, self);
    child_bpf_self_only(f, &n, SYS_tgkill, self);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

    prog.len = (unsigned short)n;
    prog.filter = f;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        return -errno;
    return 0;
}
#endif

/* Put the fresh helper under its budget: close what it inherited (the
 * parent may hold the catalog, sockets, other helpers' ends), reset
 * signals, set limits, install the filters. Returns the WORKER_SANDBOX_*
 * bits applied, or a negative errno when a required step failed. */
static int child_setup(const struct worker_pool *pool, pid_t parent)
{
    struct rlimit rl;
    unsigned bits = 0;
    sigset_t all;
    size_t vm;
    int null;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return -errno;
    if (getppid() != parent)
        return -ESRCH;
    if (close_range(WORKER_HELPER_FD + 1, ~0u, 0) < 0) {
        for (int i = WORKER_HELPER_FD + 1; i < 65536; i++)
            close(i);
    }
    /* handlers of the parent (libevent's, a test framework's) make no
     * sense here: every signal does what the kernel does by default */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);

    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -errno;
    if (dup2(null, 0) < 0 || dup2(null, 1) < 0)
        return -errno;
    close(null);

    vm = child_vm_size();
    if (vm > 0 && vm < SIZE_MAX - pool->opts.memory_bytes) {
        rl.rlim_cur = rl.rlim_max = vm + pool->opts.memory_bytes;
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            return -errno;
        bits |= WORKER_SANDBOX_MEMORY;
    }
    rl.rlim_cur = rl.rlim_max = 0;
    if (setrlimit(RLIMIT_CORE, &rl) < 0)
        return -errno;
    rl.rlim_cur = rl.rlim_max = 16;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    child_watch_allocations(pool);
#ifdef WORKER_HAVE_SECCOMP
    if (child_seccomp() == 0)
        bits |= WORKER_SANDBOX_SECCOMP;
#endif
    return (int)bits;
}

static void child_cpu_timer(unsigned ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (long)(ms % 1000) * 1000}};

    setitimer(ITIMER_PROF, &it, NULL);
}

/* The parent refuses a reply whose reason is not valid UTF-8; a reason cut
 * inside a character, or quoting page bytes, is made plain ASCII. */
static void child_clean_reason(char *s)
{
    if (text_utf8_valid(s, strlen(s)))
        return;
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            *s = '?';
}

/* Extract one request payload and write the reply. Returns 1 when the
 * helper should exit after it (memory budget touched), 0 to go on. Exits
 * the process on a malformed request or a write error. */
static int child_serve(const struct worker_pool *pool, uint32_t id, const char *payload,
                       size_t plen)
{
    struct frame_reader rd = {payload, payload + plen};
    struct extract_result res = {0};
    const char *f[4];
    size_t fl[4];
    char *profile = NULL, *url = NULL, *charset = NULL, *json = NULL;
    const struct profile *p;
    char *out, *w;
    size_t rlen, jlen;
    uint32_t flags = 0;
    int rc;

    for (int i = 0; i < 4; i++)
        if (frame_get_str(&rd, &f[i], &fl[i]) < 0)
            _exit(EXIT_PROTOCOL);
    if (rd.p != rd.end || fl[0] == 0 || fl[1] == 0 || memchr(f[0], 0, fl[0]) ||
        memchr(f[1], 0, fl[1]) || memchr(f[2], 0, fl[2]))
        _exit(EXIT_PROTOCOL);
    profile = xstrndup(f[0], fl[0]);
    url = xstrndup(f[1], fl[1]);
    charset = fl[2] ? xstrndup(f[2], fl[2]) : NULL;

    child_mem_failed = false;
    child_cpu_timer(pool->opts.cpu_ms);
    p = pool_find_profile(pool, profile);
    if (p == NULL) {
        rc = -ENOENT;
        res.category = PROV_INTERNAL;
        snprintf(res.reason, sizeof(res.reason), "unknown extraction profile");
    } else {
        rc = pool->opts.extract(p, f[3], fl[3], url, charset, &res);
    }
    if (rc == 0 && res.record == NULL) {
        rc = -EIO;
        res.category = PROV_INTERNAL;
        snprintf(res.reason, sizeof(res.reason), "extraction returned no record");
    }
    if (rc == 0) {
        json_t *o = record_to_json(res.record, RECORD_JSON_TEXT);

        json = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (res.record->partial)
            flags |= REPLY_PARTIAL;
        res.category = res.record->partial ? PROV_PARSE_PARTIAL : PROV_OK;
        if (json == NULL)
            child_mem_failed = true;
    } else if (res.category == PROV_OK || (int)res.category < 0 ||
               res.category >= PROV_CATEGORY_MAX) {
        res.category = PROV_INTERNAL;
    }
    child_cpu_timer(0);
    if (rc > 0)
        rc = -EIO;

    if (child_mem_failed) {
        free(json);
        json = NULL;
        rc = -E2BIG;
        res.category = PROV_TOO_LARGE;
        snprintf(res.reason, sizeof(res.reason),
                 "page needs more memory than the extraction budget of %zu MiB",
                 pool->opts.memory_bytes >> 20);
        flags = REPLY_RETIRE;
    } else if (json && strlen(json) > pool->reply_max - WORKER_FRAME_SLACK) {
        free(json);
        json = NULL;
        rc = -E2BIG;
        res.category = PROV_TOO_LARGE;
        snprintf(res.reason, sizeof(res.reason), "extracted record is larger than the limit");
        flags = 0;
    }
    res.reason[sizeof(res.reason) - 1] = '\0';
    child_clean_reason(res.reason);

    rlen = res.category == PROV_OK ? 0 : strlen(res.reason);
    jlen = json ? strlen(json) : 0;
    out = frame_new(FRAME_REPLY, id, 20 + rlen + jlen, &w);
    frame_put_u32(&w, (uint32_t)rc);
    frame_put_u32(&w, (uint32_t)res.category);
    frame_put_u32(&w, flags);
    frame_put_str(&w, res.reason, rlen);
    frame_put_str(&w, json, jlen);
    if (child_write_full(WORKER_HELPER_FD, out, (size_t)(w - out)) < 0)
        _exit(0);

    free(out);
    free(json);
    record_free(res.record);
    free(profile);
    free(url);
    free(charset);
    return (flags & REPLY_RETIRE) ? 1 : 0;
}

/* The helper process: never returns. */
static _Noreturn void helper_main(const struct worker_pool *pool, int fd, pid_t parent)
{
    char *hello, *w;
    char *buf = NULL;
    size_t cap = 0;
    int bits;

    /* fd 3 may be anything of the parent's (the catalog): nothing is
     * written to it before our socket is there */
    if (fd == WORKER_HELPER_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, WORKER_HELPER_FD) < 0)
        _exit(EXIT_SETUP);
    bits = child_setup(pool, parent);
    hello = frame_new(FRAME_HELLO, 0, 8, &w);
    frame_put_u32(&w, bits < 0 ? 0 : (uint32_t)bits);
    frame_put_u32(&w, (uint32_t)(bits < 0 ? bits : 0));
    if (child_write_full(WORKER_HELPER_FD, hello, FRAME_HEADER + 8) < 0 || bits < 0)
        _exit(EXIT_SETUP);
    free(hello);

    for (;;) {
        uint32_t hdr[3];

        if (child_read_full(WORKER_HELPER_FD, hdr, sizeof(hdr)) < 0)
            _exit(0);
        if (hdr[0] != FRAME_REQUEST || hdr[2] > pool->request_max)
            _exit(EXIT_PROTOCOL);
        /* one buffer for the helper's life: it only grows */
        if (hdr[2] > cap) {
            free(buf);
            cap = hdr[2];
            buf = xmalloc(cap);
        }
        if (child_read_full(WORKER_HELPER_FD, buf, hdr[2]) < 0)
            _exit(0);
        if (child_serve(pool, hdr[1], buf, hdr[2]))
            _exit(0);
    }
}

/* ---- Parent side ---------------------------------------------------- */

static void job_free(struct worker_job *job)
{
    if (job == NULL)
        return;
    free(job->frame);
    free(job);
}

/* Hand the result to the job's owner, then free the job and the result. */
static void job_finish(struct worker_job *job, int rc, struct extract_result *res)
{
    job->cb(rc, res, job->data);
    record_free(res->record);
    res->record = NULL;
    job_free(job);
}

static void job_fail(struct worker_job *job, int rc, enum prov_category category,
                     const char *reason)
{
    struct extract_result res = {0};

    res.category = category;
    snprintf(res.reason, sizeof(res.reason), "%s", reason);
    job_finish(job, rc, &res);
}

static bool pool_any_alive(const struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->opts.helpers; i++)
        if (pool->helpers[i].state != HELPER_DOWN)
            return true;
    return false;
}

/* No helper can run the queue now: fail it rather than let it wait for a
 * helper that may never start. */
static void pool_fail_queue(struct worker_pool *pool, int err)
{
    char reason[200];

    if (err == -ECHILD)
        snprintf(reason, sizeof(reason), "extraction helper exited while setting up");
    else
        snprintf(reason, sizeof(reason), "extraction helper could not start: %s", strerror(-err));
    while (pool->queue_head) {
        struct worker_job *job = pool->queue_head;

        pool->queue_head = job->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        pool->n_queued--;
        job_fail(job, -EIO, PROV_INTERNAL, reason);
    }
}

static void helper_arm_deadline(struct worker_helper *h, unsigned ms)
{
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};

    evtimer_add(h->ev_deadline, &tv);
}

static void helper_read_cb(evutil_socket_t fd, short what, void *arg);
static void helper_write_cb(evutil_socket_t fd, short what, void *arg);

/* Fork helper h. Returns 0 (h is STARTING) or a negative errno (h stays
 * DOWN). */
static int helper_start(struct worker_helper *h)
{
    struct worker_pool *pool = h->pool;
    pid_t parent = getpid();
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return h->start_error = -errno;
    pid = fork();
    if (pid < 0) {
        int err = -errno;

        close(sv[0]);
        close(sv[1]);
        return h->start_error = err;
    }
    if (pid == 0)
        helper_main(pool, sv[1], parent);
    close(sv[1]);
    evutil_make_socket_nonblocking(sv[0]);
    h->pid = pid;
    h->fd = sv[0];
    h->in_len = 0;
    h->out_off = 0;
    h->state = HELPER_STARTING;
    h->ev_read = event_new(pool->base, h->fd, EV_READ | EV_PERSIST, helper_read_cb, h);
    h->ev_write = event_new(pool->base, h->fd, EV_WRITE | EV_PERSIST, helper_write_cb, h);
    if (h->ev_read == NULL || h->ev_write == NULL) {
        fprintf(stderr, "<2>provd: cannot create libevent events\n");
        abort();
    }
    event_add(h->ev_read, NULL);
    helper_arm_deadline(h, pool->opts.wall_ms);
    return 0;
}

static void helper_restart_later(struct worker_helper *h)
{
    struct timeval tv = {RESTART_DELAY_MS / 1000, (RESTART_DELAY_MS % 1000) * 1000};

    evtimer_add(h->ev_restart, &tv);
}

static void helper_restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;

    if (h->state != HELPER_DOWN || h->pool->freeing)
        return;
    if (helper_start(h) < 0) {
        helper_restart_later(h);
        if (!pool_any_alive(h->pool))
            pool_fail_queue(h->pool, h->start_error);
    }
}

/* Kill and reap h's process, close its socket. Returns the wait status, or
 * -1 when there was no process to reap. */
static int helper_reap(struct worker_helper *h)
{
    int status = -1;

    if (h->ev_read)
        event_free(h->ev_read);
    if (h->ev_write)
        event_free(h->ev_write);
    h->ev_read = h->ev_write = NULL;
    evtimer_del(h->ev_deadline);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    if (h->pid > 0) {
        /* after EOF the helper is exiting or has closed its end on
         * purpose; SIGKILL settles both and cannot change the status of a
         * process that is already exiting */
        kill(h->pid, SIGKILL);
        while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    h->pid = -1;
    h->state = HELPER_DOWN;
    h->in_len = 0;
    h->out_off = 0;
    if (h->in_cap > 1 << 20) {
        free(h->in);
        h->in = NULL;
        h->in_cap = 0;
    }
    return status;
}

/* Describe how the helper that had a page in hand ended. */
static int helper_verdict(const struct worker_helper *h, enum helper_cause cause, int status,
                          const char *detail, struct extract_result *res)
{
    const struct worker_options *o = &h->pool->opts;
    char *reason = res->reason;
    size_t size = sizeof(res->reason);

    switch (cause) {
    case CAUSE_DEADLINE:
        res->category = PROV_PARSE_TIMEOUT;
        snprintf(reason, size, "extraction exceeded its deadline of %u ms; helper killed",
                 o->wall_ms);
        return -ETIMEDOUT;
    case CAUSE_PROTOCOL:
        res->category = PROV_INTERNAL;
        snprintf(reason, size, "extraction helper sent a malformed frame (%s); helper killed",
                 detail);
        return -EIO;
    case CAUSE_EOF:
    case CAUSE_RETIRE:
        break;
    }
    res->category = PROV_INTERNAL;
    if (status != -1 && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig);

        if (sig == SIGPROF || sig == SIGXCPU) {
            res->category = PROV_PARSE_TIMEOUT;
            snprintf(reason, size, "extraction exceeded its CPU budget of %u ms", o->cpu_ms);
            return -ETIMEDOUT;
        }
        if (name)
            snprintf(reason, size, "extraction helper killed by SIG%s", name);
        else
            snprintf(reason, size, "extraction helper killed by signal %d", sig);
    } else if (status != -1 && WIFEXITED(status)) {
        snprintf(reason, size, "extraction helper exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(reason, size, "extraction helper vanished");
    }
    return -EIO;
}

/* Take h down: reap it, report its page (if any) as cause says, restart
 * it (at once if it died on a page, later otherwise). */
static void helper_down(struct worker_helper *h, enum helper_cause cause, const char *detail)
{
    struct worker_pool *pool = h->pool;
    enum helper_state was = h->state;
    struct worker_job *job = h->job;
    struct extract_result res = {0};
    int status, rc = 0;

    h->job = NULL;
    status = helper_reap(h);
    if (job)
        rc = helper_verdict(h, cause, status, detail, &res);
    if (was == HELPER_STARTING && h->start_error == 0)
        h->start_error = -ECHILD;
    if (was == HELPER_BUSY || cause == CAUSE_RETIRE) {
        if (helper_start(h) < 0)
            helper_restart_later(h);
    } else {
        helper_restart_later(h);
    }
    if (!pool_any_alive(pool))
        pool_fail_queue(pool, h->start_error ? h->start_error : -ECHILD);
    if (job)
        job_finish(job, rc, &res);
    pool_dispatch(pool);
}

static void helper_flush(struct worker_helper *h)
{
    struct worker_job *job = h->job;

    while (job && job->frame && h->out_off < job->frame_len) {
        ssize_t n = send(h->fd, job->frame + h->out_off, job->frame_len - h->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(h->ev_write, NULL);
            return;
        }
        if (n < 0) {
            /* the helper is gone: its EOF or our deadline reports it */
            break;
        }
        h->out_off += (size_t)n;
    }
    event_del(h->ev_write);
    if (job) {
        free(job->frame);
        job->frame = NULL;
    }
}

static void helper_write_cb(evutil_socket_t fd, short what, void *arg)
{
    helper_flush(arg);
}

static void helper_send(struct worker_helper *h, struct worker_job *job)
{
    h->job = job;
    h->out_off = 0;
    h->state = HELPER_BUSY;
    helper_arm_deadline(h, h->pool->opts.wall_ms);
    helper_flush(h);
}

static void pool_dispatch(struct worker_pool *pool)
{
    for (unsigned i = 0; i < pool->opts.helpers && pool->queue_head; i++) {
        struct worker_helper *h = &pool->helpers[i];
        struct worker_job *job;

        if (h->state != HELPER_IDLE)
            continue;
        job = pool->queue_head;
        pool->queue_head = job->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        pool->n_queued--;
        job->next = NULL;
        helper_send(h, job);
    }
}

/* Decode a REPLY payload into rc and res; NULL on success, else what is
 * wrong with it. */
static const char *reply_decode(const char *payload, size_t len, int *rc,
                                struct extract_result *res)
{
    struct frame_reader rd = {payload, payload + len};
    uint32_t urc, category, flags;
    const char *reason, *json, *err = NULL;
    size_t reason_len, json_len;
    json_t *o;

    if (frame_get_u32(&rd, &urc) < 0 || frame_get_u32(&rd, &category) < 0 ||
        frame_get_u32(&rd, &flags) < 0 || frame_get_str(&rd, &reason, &reason_len) < 0 ||
        frame_get_str(&rd, &json, &json_len) < 0 || rd.p != rd.end)
        return "truncated reply";
    *rc = (int)urc;
    if (*rc > 0 || *rc < -4095 || category >= PROV_CATEGORY_MAX)
        return "bad return code or category";
    if (reason_len >= sizeof(res->reason) || !text_utf8_valid(reason, reason_len))
        return "bad reason";
    res->category = (enum prov_category)category;
    memcpy(res->reason, reason, reason_len);
    res->reason[reason_len] = '\0';
    if (*rc < 0)
        return (json_len == 0 && category != PROV_OK) ? NULL : "failure with a record";
    if (json_len == 0 || (category != PROV_OK && category != PROV_PARSE_PARTIAL))
        return "success without a record";
    o = json_loadb(json, json_len, 0, NULL);
    if (o == NULL)
        return "record is not JSON";
    res->record = record_from_json(o, &err);
    json_decref(o);
    if (res->record == NULL)
        return "record has a wrong type";
    res->record->partial = (flags & REPLY_PARTIAL) != 0;
    res->category = res->record->partial ? PROV_PARSE_PARTIAL : PROV_OK;
    return NULL;
}

static void helper_on_hello(struct worker_helper *h, const char *payload, size_t len)
{
    struct frame_reader rd = {payload, payload + len};
    uint32_t bits, err;

    if (frame_get_u32(&rd, &bits) < 0 || frame_get_u32(&rd, &err) < 0 || rd.p != rd.end) {
        helper_down(h, CAUSE_PROTOCOL, "bad hello");
        return;
    }
    if ((int)err < 0) {
        /* it exits by itself; its EOF takes it down */
        h->start_error = (int)err;
        return;
    }
    h->start_error = 0;
    h->pool->sandbox &= bits;
    h->state = HELPER_IDLE;
    evtimer_del(h->ev_deadline);
    pool_dispatch(h->pool);
}

static void helper_on_reply(struct worker_helper *h, const char *payload, size_t len)
{
    struct worker_job *job = h->job;
    struct extract_result res = {0};
    const char *bad;
    uint32_t flags = 0;
    int rc = 0;

    if (len >= 12)
        memcpy(&flags, payload + 8, sizeof(flags));
    bad = reply_decode(payload, len, &rc, &res);
    if (bad) {
        record_free(res.record);
        helper_down(h, CAUSE_PROTOCOL, bad);
        return;
    }
    h->job = NULL;
    h->state = HELPER_IDLE;
    evtimer_del(h->ev_deadline);
    if (flags & REPLY_RETIRE)
        helper_down(h, CAUSE_RETIRE, NULL);
    job_finish(job, rc, &res);
    pool_dispatch(h->pool);
}

/* Consume whole frames from h->in. Stops after any frame that may change
 * h (a reply runs a callback). */
static void helper_input(struct worker_helper *h)
{
    while (h->in_len >= FRAME_HEADER) {
        uint32_t hdr[3];
        size_t total;

        memcpy(hdr, h->in, sizeof(hdr));
        if (h->state == HELPER_STARTING && hdr[0] == FRAME_HELLO && hdr[2] <= 64) {
            /* fine */
        } else if (h->state == HELPER_BUSY && hdr[0] == FRAME_REPLY && hdr[1] == h->job->id &&
                   hdr[2] <= h->pool->reply_max && h->job->frame == NULL) {
            /* fine: a reply to the whole request (its frame is freed once
             * sent) */
        } else {
            helper_down(h, CAUSE_PROTOCOL, "unexpected frame");
            return;
        }
        total = FRAME_HEADER + hdr[2];
        if (h->in_len < total)
            return;
        if (hdr[0] == FRAME_HELLO) {
            helper_on_hello(h, h->in + FRAME_HEADER, hdr[2]);
            if (h->state == HELPER_DOWN)
                return;
            memmove(h->in, h->in + total, h->in_len - total);
            h->in_len -= total;
            continue;
        }
        if (h->in_len != total) {
            helper_down(h, CAUSE_PROTOCOL, "bytes after the reply");
            return;
        }
        h->in_len = 0;
        helper_on_reply(h, h->in + FRAME_HEADER, hdr[2]);
        return;
    }
}

/* Read what the socket has. Returns >0, 0 on EOF, -EAGAIN, or -errno. */
static ssize_t helper_fill(struct worker_helper *h)
{
    ssize_t n;

    if (h->in_cap - h->in_len < 65536) {
        h->in_cap = h->in_cap ? h->in_cap * 2 : 65536;
        h->in = xreallocarray(h->in, 1, h->in_cap);
    }
    do
        n = recv(h->fd, h->in + h->in_len, h->in_cap - h->in_len, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
    h->in_len += (size_t)n;
    return n;
}

static void helper_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;
    ssize_t n = helper_fill(h);

    if (n == -EAGAIN)
        return;
    if (n <= 0) {
        helper_down(h, CAUSE_EOF, NULL);
        return;
    }
    helper_input(h);
}

static void helper_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker_helper *h = arg;

    if (h->state == HELPER_STARTING || h->state == HELPER_BUSY)
        helper_down(h, CAUSE_DEADLINE, NULL);
}

/* Wait (blocking, bounded) until h has said hello or died. Returns 0 when
 * it is IDLE, else a negative errno. */
static int helper_wait_hello(struct worker_helper *h)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while (h->state == HELPER_STARTING) {
        struct pollfd pfd = {h->fd, POLLIN, 0};
        long left;
        ssize_t n;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left = START_TIMEOUT_MS -
               ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) {
            helper_down(h, CAUSE_DEADLINE, NULL);
            return -ETIMEDOUT;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
        n = helper_fill(h);
        if (n == -EAGAIN)
            continue;
        if (n <= 0) {
            int err = h->start_error;

            helper_down(h, CAUSE_EOF, NULL);
            return err ? err : -ECHILD;
        }
        helper_input(h);
    }
    return h->state == HELPER_IDLE ? 0 : (h->start_error ? h->start_error : -ECHILD);
}

int worker_pool_new(struct event_base *base, const struct worker_options *opts,
                    struct worker_pool **out)
{
    struct worker_options o = opts ? *opts : (struct worker_options){0};
    struct worker_pool *pool = xcalloc(1, sizeof(*pool));
    int rc = 0;

    if (o.helpers == 0)
        o.helpers = 1;
    if (o.cpu_ms == 0)
        o.cpu_ms = 2000;
    if (o.wall_ms == 0)
        o.wall_ms = o.cpu_ms > 10000 / 3 ? 3 * o.cpu_ms : 10000;
    if (o.memory_bytes == 0)
        o.memory_bytes = (size_t)256 << 20;
    if (o.max_page == 0)
        o.max_page = (size_t)8 << 20;
    if (o.queue_max == 0)
        o.queue_max = 256;
    if (o.extract == NULL)
        o.extract = extract_page;
    if (o.max_page > (UINT32_MAX - 2 * WORKER_FRAME_SLACK) / 2 || o.helpers > 64) {
        free(pool);
        return -EINVAL;
    }
    if (o.n_profiles) {
        pool->profiles = xcalloc(o.n_profiles, sizeof(*pool->profiles));
        memcpy(pool->profiles, o.profiles, o.n_profiles * sizeof(*pool->profiles));
    }
    o.profiles = pool->profiles;
    pool->opts = o;
    pool->request_max = o.max_page + WORKER_FRAME_SLACK;
    pool->reply_max = 2 * o.max_page + WORKER_FRAME_SLACK;
    pool->sandbox = ~0u;
    pool->next_id = 1;
    pool->base = base;
    if (base == NULL) {
        pool->base = event_base_new();
        pool->own_base = true;
        if (pool->base == NULL) {
            free(pool->profiles);
            free(pool);
            return -EIO;
        }
    }
    pool->helpers = xcalloc(o.helpers, sizeof(*pool->helpers));
    for (unsigned i = 0; i < o.helpers; i++) {
        struct worker_helper *h = &pool->helpers[i];

        h->pool = pool;
        h->pid = -1;
        h->fd = -1;
        h->ev_deadline = evtimer_new(pool->base, helper_deadline_cb, h);
        h->ev_restart = evtimer_new(pool->base, helper_restart_cb, h);
        if (h->ev_deadline == NULL || h->ev_restart == NULL) {
            fprintf(stderr, "<2>provd: cannot create libevent timers\n");
            abort();
        }
    }
    for (unsigned i = 0; i < o.helpers && rc == 0; i++) {
        rc = helper_start(&pool->helpers[i]);
        if (rc == 0)
            rc = helper_wait_hello(&pool->helpers[i]);
    }
    if (rc < 0) {
        pool->freeing = true;
        worker_pool_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void worker_pool_free(struct worker_pool *pool)
{
    struct worker_job *cancel = NULL, **tail = &cancel;

    if (pool == NULL)
        return;
    pool->freeing = true;
    for (unsigned i = 0; i < pool->opts.helpers; i++) {
        struct worker_helper *h = &pool->helpers[i];

        if (h->job) {
            *tail = h->job;
            tail = &h->job->next;
            h->job->next = NULL;
            h->job = NULL;
        }
        helper_reap(h);
        event_free(h->ev_deadline);
        event_free(h->ev_restart);
        free(h->in);
    }
    *tail = pool->queue_head;
    pool->queue_head = pool->queue_tail = NULL;
    pool->n_queued = 0;
    while (cancel) {
        struct worker_job *job = cancel;

        cancel = job->next;
        job_fail(job, -ECANCELED, PROV_INTERNAL,
                 "extraction helper pool shut down before the page was extracted");
    }
    free(pool->helpers);
    if (pool->own_base)
        event_base_free(pool->base);
    free(pool->profiles);
    free(pool);
}

int worker_pool_submit(struct worker_pool *pool, const struct worker_request *req,
                       worker_done_fn cb, void *data)
{
    struct worker_job *job;
    char *w;
    size_t plen, ulen, clen;

    if (pool->freeing)
        return -ECANCELED;
    if (req->profile == NULL || req->url == NULL || cb == NULL ||
        (req->body == NULL && req->len > 0))
        return -EINVAL;
    plen = strlen(req->profile);
    ulen = strlen(req->url);
    clen = req->charset ? strlen(req->charset) : 0;
    if (plen == 0 || ulen == 0 || plen > FIELD_MAX || ulen > FIELD_MAX || clen > FIELD_MAX)
        return -EINVAL;
    if (req->len > pool->opts.max_page)
        return -EMSGSIZE;
    if (pool_find_profile(pool, req->profile) == NULL)
        return -ENOENT;
    if (pool->n_queued >= pool->opts.queue_max)
        return -EAGAIN;

    job = xcalloc(1, sizeof(*job));
    job->id = pool->next_id++;
    if (pool->next_id == 0)
        pool->next_id = 1;
    job->cb = cb;
    job->data = data;
    job->frame_len = FRAME_HEADER + 16 + plen + ulen + clen + req->len;
    job->frame = frame_new(FRAME_REQUEST, job->id, job->frame_len - FRAME_HEADER, &w);
    frame_put_str(&w, req->profile, plen);
    frame_put_str(&w, req->url, ulen);
    frame_put_str(&w, req->charset, clen);
    frame_put_str(&w, req->body, req->len);

    if (pool->queue_tail)
        pool->queue_tail->next = job;
    else
        pool->queue_head = job;
    pool->queue_tail = job;
    pool->n_queued++;
    pool_dispatch(pool);
    return 0;
}

struct sync_wait {
    bool done;
    int rc;
    struct extract_result *res;
};

static void sync_done(int rc, struct extract_result *res, void *data)
{
    struct sync_wait *w = data;

    w->rc = rc;
    *w->res = *res;
    res->record = NULL;
    w->done = true;
}

int worker_pool_extract_sync(struct worker_pool *pool, const struct worker_request *req,
                             struct extract_result *res)
{
    struct sync_wait w = {false, 0, res};
    int rc;

    if (!pool->own_base)
        return -EINVAL;
    rc = worker_pool_submit(pool, req, sync_done, &w);
    if (rc < 0)
        return rc;
    /* the job always has a pending event behind it (its helper's socket
     * and deadline, or a restart timer), so the loop cannot run dry */
    while (!w.done)
        event_base_loop(pool->base, EVLOOP_ONCE);
    return w.rc;
}

pid_t worker_pool_helper_pid(const struct worker_pool *pool, unsigned i)
{
    if (i >= pool->opts.helpers || pool->helpers[i].state == HELPER_DOWN)
        return -1;
    return pool->helpers[i].pid;
}

unsigned worker_pool_pending(const struct worker_pool *pool)
{
    unsigned n = pool->n_queued;

    for (unsigned i = 0; i < pool->opts.helpers; i++)
        if (pool->helpers[i].job)
            n++;
    return n;
}

unsigned worker_pool_sandbox(const struct worker_pool *pool)
{
    return pool->sandbox;
}
