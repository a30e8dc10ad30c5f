/*
 * worker_helper: the helper process side of the extraction pool, run only
 * in a process forked by worker.c. It closes every inherited descriptor
 * but its socket, puts itself under budget (CPU timer per page, address
 * space, libxml2's allocations counted, descriptors, no core, seccomp
 * deny-list where available) and then loops over request frames with
 * blocking I/O. It owns its socket, its allocation hooks and its request
 * buffer; it never touches the parent's event loop, catalog or anything
 * else it inherited except the pool's options and the profiles they name,
 * which it only reads. It leaves with _exit() so no atexit handler or
 * stdio buffer of the parent runs twice. The frame protocol is described
 * in worker.h, its helpers are in worker_proto.h.
 */
#include "worker_proto.h"

#include "record_json.h"
#include "text.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libxml/xmlmemory.h>
#include <malloc.h>
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
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#define WORKER_HAVE_SECCOMP 1
#endif

#define EXIT_SETUP    71 /* helper exit status: set-up failed */
#define EXIT_PROTOCOL 72 /* helper exit status: malformed request */

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
static void child_watch_allocations(const struct worker_options *opts)
{
    json_free_t jfree;

    xmlGcMemGet(&child_xml_free, &child_xml_malloc, &child_xml_malloc_atomic, &child_xml_realloc,
                &child_xml_strdup);
    if (child_xml_malloc == malloc && child_xml_malloc_atomic == malloc &&
        child_xml_realloc == realloc && child_xml_free == free)
        child_xml_budget = opts->memory_bytes / 2;
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
static int child_setup(const struct worker_options *opts, pid_t parent)
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
    if (vm > 0 && vm < SIZE_MAX - opts->memory_bytes) {
        rl.rlim_cur = rl.rlim_max = vm + opts->memory_bytes;
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            return -errno;
        bits |= WORKER_SANDBOX_MEMORY;
    }
    rl.rlim_cur = rl.rlim_max = 0;
    if (setrlimit(RLIMIT_CORE, &rl) < 0)
        return -errno;
    rl.rlim_cur = rl.rlim_max = 16;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        /* Lowering a hard limit never fails on Linux itself; valgrind,
         * which keeps descriptors of its own above the limit, refuses any
         * hard limit but its own with EPERM. The soft limit still holds. */
        if (errno != EPERM || getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
        rl.rlim_cur = 16;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
    }
    child_watch_allocations(opts);
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
static int child_serve(const struct worker_options *opts, uint32_t id, const char *payload,
                       size_t plen)
{
    struct worker_frame_reader rd = {payload, payload + plen};
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
        if (worker_frame_get_str(&rd, &f[i], &fl[i]) < 0)
            _exit(EXIT_PROTOCOL);
    if (rd.p != rd.end || fl[0] == 0 || fl[1] == 0 || memchr(f[0], 0, fl[0]) ||
        memchr(f[1], 0, fl[1]) || memchr(f[2], 0, fl[2]))
        _exit(EXIT_PROTOCOL);
    profile = xstrndup(f[0], fl[0]);
    url = xstrndup(f[1], fl[1]);
    charset = fl[2] ? xstrndup(f[2], fl[2]) : NULL;

    child_mem_failed = false;
    child_cpu_timer(opts->cpu_ms);
    p = worker_find_profile(opts, profile);
    if (p == NULL) {
        rc = -ENOENT;
        res.category = PROV_INTERNAL;
        snprintf(res.reason, sizeof(res.reason), "unknown extraction profile");
    } else {
        rc = opts->extract(p, f[3], fl[3], url, charset, &res);
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
            flags |= WORKER_REPLY_PARTIAL;
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
                 opts->memory_bytes >> 20);
        flags = WORKER_REPLY_RETIRE;
    } else if (json && strlen(json) > worker_reply_max(opts) - WORKER_FRAME_SLACK) {
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
    out = worker_frame_new(WORKER_FRAME_REPLY, id, 20 + rlen + jlen, &w);
    worker_frame_put_u32(&w, (uint32_t)rc);
    worker_frame_put_u32(&w, (uint32_t)res.category);
    worker_frame_put_u32(&w, flags);
    worker_frame_put_str(&w, res.reason, rlen);
    worker_frame_put_str(&w, json, jlen);
    if (child_write_full(WORKER_HELPER_FD, out, (size_t)(w - out)) < 0)
        _exit(0);

    free(out);
    free(json);
    record_free(res.record);
    free(profile);
    free(url);
    free(charset);
    return (flags & WORKER_REPLY_RETIRE) ? 1 : 0;
}

/* The helper process (contract in worker_proto.h): never returns. */
_Noreturn void worker_helper_main(const struct worker_options *opts, int fd, pid_t parent)
{
    char *hello, *w;
    char *buf = NULL;
    size_t cap = 0;
    int bits;

    /* fd 3 may be anything of the parent's (the catalog): nothing is
     * written to it before our socket is there */
    if (fd == WORKER_HELPER_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, WORKER_HELPER_FD) < 0)
        _exit(EXIT_SETUP);
    bits = child_setup(opts, parent);
    hello = worker_frame_new(WORKER_FRAME_HELLO, 0, 8, &w);
    worker_frame_put_u32(&w, bits < 0 ? 0 : (uint32_t)bits);
    worker_frame_put_u32(&w, (uint32_t)(bits < 0 ? bits : 0));
    if (child_write_full(WORKER_HELPER_FD, hello, WORKER_FRAME_HEADER + 8) < 0 || bits < 0)
        _exit(EXIT_SETUP);
    free(hello);

    for (;;) {
        uint32_t hdr[3];

        if (child_read_full(WORKER_HELPER_FD, hdr, sizeof(hdr)) < 0)
            _exit(0);
        if (hdr[0] != WORKER_FRAME_REQUEST || hdr[2] > worker_request_max(opts))
            _exit(EXIT_PROTOCOL);
        /* one buffer for the helper's life: it only grows */
        if (hdr[2] > cap) {
            free(buf);
            cap = hdr[2];
            buf = xmalloc(cap);
        }
        if (child_read_full(WORKER_HELPER_FD, buf, hdr[2]) < 0)
            _exit(0);
        if (child_serve(opts, hdr[1], buf, hdr[2]))
            _exit(0);
    }
}
