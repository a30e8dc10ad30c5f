/*
 * robots: parse robots.txt for one product token and answer "may this
 * path be fetched?" and "how long between requests?", plus the policy for
 * robots.txt fetch outcomes.
 *
 * It owns the rule list it builds (patterns copied, percent escapes made
 * canonical, sorted so the first match is the deciding one). It never
 * fetches, logs or reads a clock.
 */
#include "robots.h"

#include "strbuf.h"
#include "xmalloc.h"

#include <stdlib.h>
#include <string.h>

enum robots_mode { ROBOTS_RULES, ROBOTS_ALL_ALLOWED, ROBOTS_ALL_DISALLOWED };

struct robots_rule {
    char *pattern; /* canonical escapes; '*' wildcards; no trailing '$' */
    size_t len;
    size_t priority; /* length as written, '$' included: longer wins */
    bool allow;
    bool anchored; /* the pattern ended in '$' */
};

struct robots {
    enum robots_mode mode;
    struct robots_rule *rules; /* by priority, longest first, Allow first on a tie */
    size_t n;
    int64_t crawl_delay_ms; /* -1: none */
    bool truncated;
};

/* A Crawl-delay above a day is read as a day (the caller caps further). */
#define ROBOTS_DELAY_MAX_MS (86400LL * 1000)

static int robots_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int robots_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool robots_unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Append s[0..n) with percent escapes in the one form RFC 9309 §2.2.2
 * compares: valid escapes upper-cased (decoded when unreserved), bytes
 * outside printable ASCII and spaces escaped. */
static void robots_canon(struct strbuf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (c == '%' && i + 2 < n && (hi = robots_hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = robots_hexval((unsigned char)s[i + 2])) >= 0) {
            unsigned char v = (unsigned char)(hi * 16 + lo);
            if (robots_unreserved(v)) {
                strbuf_addc(out, (char)v);
            } else {
                char b[3] = {'%', hex[v >> 4], hex[v & 15]};
                strbuf_add(out, b, 3);
            }
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            char b[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_add(out, b, 3);
        } else {
            strbuf_addc(out, (char)c);
        }
    }
}

/* Does the pattern p[0..pn) (with '*' wildcards) match a prefix of s
 * (the whole of s when anchored)? Each '*'-separated piece is matched at
 * its leftmost place after the previous one, which is exact for prefix
 * matching and, with the last piece pinned to the end, for anchored
 * patterns; the cost is linear in |s| per piece. */
static bool robots_match(const char *p, size_t pn, bool anchored, const char *s, size_t sn)
{
    const char *star = memchr(p, '*', pn);
    size_t first = star != NULL ? (size_t)(star - p) : pn, pos;

    if (first > sn || memcmp(p, s, first) != 0)
        return false;
    if (star == NULL)
        return !anchored || first == sn;
    pos = first;
    p += first + 1;
    pn -= first + 1;
    for (;;) {
        const char *next = memchr(p, '*', pn);
        size_t seg = next != NULL ? (size_t)(next - p) : pn;
        if (next == NULL && anchored)
            return sn - pos >= seg && memcmp(s + sn - seg, p, seg) == 0;
        if (seg > 0) {
            const char *at = memmem(s + pos, sn - pos, p, seg);
            if (at == NULL)
                return false;
            pos = (size_t)(at - s) + seg;
        }
        if (next == NULL)
            return true;
        p += seg + 1;
        pn -= seg + 1;
    }
}

static int robots_rule_cmp(const void *a, const void *b)
{
    const struct robots_rule *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->allow != y->allow)
        return x->allow ? -1 : 1;
    return 0;
}

/* ---- Parsing ------------------------------------------------------------ */

enum robots_key { KEY_NONE, KEY_AGENT, KEY_ALLOW, KEY_DISALLOW, KEY_DELAY, KEY_OTHER };

static enum robots_key robots_key(const char *k, size_t n)
{
    static const struct {
        const char *name;
        enum robots_key key;
    } keys[] = {
        {"user-agent", KEY_AGENT},  {"useragent", KEY_AGENT},   {"user agent", KEY_AGENT},
        {"allow", KEY_ALLOW},       {"disallow", KEY_DISALLOW}, {"dissallow", KEY_DISALLOW},
        {"dissalow", KEY_DISALLOW}, {"disalow", KEY_DISALLOW},  {"diasllow", KEY_DISALLOW},
        {"disallaw", KEY_DISALLOW}, {"crawl-delay", KEY_DELAY}, {"crawldelay", KEY_DELAY},
        {"crawl delay", KEY_DELAY},
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *name = keys[i].name;
        size_t j;
        if (strlen(name) != n)
            continue;
        for (j = 0; j < n && robots_lower((unsigned char)k[j]) == name[j]; j++)
            ;
        if (j == n)
            return keys[i].key;
    }
    return KEY_OTHER;
}

/* Rules and Crawl-delay gathered for one kind of group. */
struct robots_acc {
    struct robots_rule *rules;
    size_t n, cap;
    int64_t delay_ms;
    bool seen; /* a group of this kind exists */
};

struct robots_parser {
    const char *product;
    size_t plen;
    struct robots_acc mine, star;
    bool in_agents; /* the previous meaningful line was a User-agent line */
    bool cur_mine, cur_star;
    struct strbuf canon;
};

static void robots_acc_rule(struct robots_acc *a, const char *pat, size_t n, bool allow)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->rules = xreallocarray(a->rules, a->cap, sizeof(*a->rules));
    }
    a->rules[a->n++] = (struct robots_rule){
        .pattern = xstrndup(pat, n),
        .len = n,
        .allow = allow,
    };
}

static void robots_acc_free(struct robots_acc *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->rules[i].pattern);
    free(a->rules);
}

/* A Crawl-delay value ("10", "0.5") in ms, or -1 when it is not one. */
static int64_t robots_parse_delay(const char *v, size_t n)
{
    int64_t ms = 0, frac = 100;
    size_t i = 0;
    bool digits = false;

    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        digits = true;
        if (ms <= ROBOTS_DELAY_MAX_MS)
            ms = ms * 10 + (v[i] - '0') * 1000;
    }
    if (i < n && v[i] == '.') {
        for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
            digits = true;
            ms += (v[i] - '0') * frac;
            frac /= 10;
        }
    }
    if (!digits || i != n)
        return -1;
    return ms > ROBOTS_DELAY_MAX_MS ? ROBOTS_DELAY_MAX_MS : ms;
}

/* Does a User-agent value name the product? Its token is the leading run
 * of letters, '_' and '-' ("provd/1.0" names "provd"). */
static bool robots_agent_is(const char *v, size_t n, const char *product, size_t plen)
{
    size_t t = 0;

    while (t < n && ((v[t] >= 'a' && v[t] <= 'z') || (v[t] >= 'A' && v[t] <= 'Z') || v[t] == '_' ||
                     v[t] == '-'))
        t++;
    if (t != plen)
        return false;
    for (size_t i = 0; i < t; i++)
        if (robots_lower((unsigned char)v[i]) != robots_lower((unsigned char)product[i]))
            return false;
    return true;
}

static bool robots_space(int c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static void robots_line(struct robots_parser *ps, const char *s, size_t n)
{
    const char *hash = memchr(s, '#', n), *sep, *v;
    size_t kn, vn;
    enum robots_key key;

    if (hash != NULL)
        n = (size_t)(hash - s);
    while (n > 0 && robots_space((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && robots_space((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return;
    sep = memchr(s, ':', n);
    if (sep == NULL) {
        /* "Disallow /x": Google accepts a missing colon; so do we. */
        for (sep = s; sep < s + n && !robots_space((unsigned char)*sep); sep++)
            ;
        if (sep == s + n)
            return;
    }
    kn = (size_t)(sep - s);
    while (kn > 0 && robots_space((unsigned char)s[kn - 1]))
        kn--;
    v = sep + 1;
    vn = n - (size_t)(v - s);
    while (vn > 0 && robots_space((unsigned char)v[0])) {
        v++;
        vn--;
    }
    key = robots_key(s, kn);
    switch (key) {
    case KEY_AGENT:
        if (!ps->in_agents)
            ps->cur_mine = ps->cur_star = false;
        ps->in_agents = true;
        if (robots_agent_is(v, vn, ps->product, ps->plen)) {
            ps->cur_mine = true;
            ps->mine.seen = true;
        } else if (vn > 0 && v[0] == '*') {
            ps->cur_star = true;
            ps->star.seen = true;
        }
        break;
    case KEY_ALLOW:
    case KEY_DISALLOW:
        ps->in_agents = false;
        if (vn == 0 || (!ps->cur_mine && !ps->cur_star))
            break; /* an empty Disallow forbids nothing */
        strbuf_reset(&ps->canon);
        if (v[0] != '/' && v[0] != '*')
            strbuf_addc(&ps->canon, '/');
        robots_canon(&ps->canon, v, vn);
        if (ps->cur_mine)
            robots_acc_rule(&ps->mine, ps->canon.s, ps->canon.len, key == KEY_ALLOW);
        if (ps->cur_star)
            robots_acc_rule(&ps->star, ps->canon.s, ps->canon.len, key == KEY_ALLOW);
        break;
    case KEY_DELAY: {
        int64_t ms = robots_parse_delay(v, vn);
        ps->in_agents = false;
        if (ms < 0)
            break;
        if (ps->cur_mine && ms > ps->mine.delay_ms)
            ps->mine.delay_ms = ms;
        if (ps->cur_star && ms > ps->star.delay_ms)
            ps->star.delay_ms = ms;
        break;
    }
    default:
        /* Sitemap: and unknown lines neither end nor join a group. */
        break;
    }
}

struct robots *robots_parse(const char *body, size_t len, const char *product)
{
    struct robots_parser ps = {0};
    struct robots *r = xcalloc(1, sizeof(*r));
    struct robots_acc *use;
    const char *p = body, *end;

    if (body == NULL) {
        body = "";
        len = 0;
    }
    ps.product = product != NULL && product[0] ? product : ROBOTS_PRODUCT;
    ps.plen = strlen(ps.product);
    ps.mine.delay_ms = ps.star.delay_ms = -1;
    if (len > ROBOTS_MAX_BYTES) {
        r->truncated = true;
        len = ROBOTS_MAX_BYTES;
        /* the cut line is incomplete: drop it */
        while (len > 0 && body[len - 1] != '\n' && body[len - 1] != '\r')
            len--;
    }
    end = body + len;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\n' && *q != '\r')
            q++;
        robots_line(&ps, p, (size_t)(q - p));
        if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
            q++;
        p = q + 1;
    }
    use = ps.mine.seen ? &ps.mine : &ps.star;
    r->mode = ROBOTS_RULES;
    r->rules = use->rules;
    r->n = use->n;
    r->crawl_delay_ms = use->delay_ms;
    use->rules = NULL;
    use->n = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct robots_rule *rule = &r->rules[i];
        rule->priority = rule->len;
        if (rule->len > 0 && rule->pattern[rule->len - 1] == '$') {
            rule->anchored = true;
            rule->pattern[--rule->len] = '\0';
        }
    }
    if (r->n > 1)
        qsort(r->rules, r->n, sizeof(*r->rules), robots_rule_cmp);
    robots_acc_free(&ps.mine);
    robots_acc_free(&ps.star);
    strbuf_release(&ps.canon);
    return r;
}

struct robots *robots_new_allow_all(void)
{
    struct robots *r = xcalloc(1, sizeof(*r));

    r->mode = ROBOTS_ALL_ALLOWED;
    r->crawl_delay_ms = -1;
    return r;
}

struct robots *robots_new_disallow_all(void)
{
    struct robots *r = xcalloc(1, sizeof(*r));

    r->mode = ROBOTS_ALL_DISALLOWED;
    r->crawl_delay_ms = -1;
    return r;
}

void robots_free(struct robots *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->rules[i].pattern);
    free(r->rules);
    free(r);
}

bool robots_allowed(const struct robots *r, const char *path)
{
    struct strbuf canon = STRBUF_INIT;
    bool allowed = true;
    const char *s;

    if (path[0] == '\0')
        path = "/";
    if (strcmp(path, "/robots.txt") == 0 || r->mode == ROBOTS_ALL_ALLOWED)
        return true;
    if (r->mode == ROBOTS_ALL_DISALLOWED)
        return false;
    robots_canon(&canon, path, strlen(path));
    s = strbuf_str(&canon);
    for (size_t i = 0; i < r->n; i++) {
        const struct robots_rule *rule = &r->rules[i];
        if (robots_match(rule->pattern, rule->len, rule->anchored, s, canon.len)) {
            allowed = rule->allow;
            break;
        }
    }
    strbuf_release(&canon);
    return allowed;
}

bool robots_allowed_url(const struct robots *r, const char *url)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = strstr(url, "://");
    bool ok;

    p = p != NULL ? p + 3 + strcspn(p + 3, "/?#") : url;
    if (*p != '/')
        strbuf_addc(&b, '/');
    strbuf_add(&b, p, strcspn(p, "#"));
    ok = robots_allowed(r, b.s);
    strbuf_release(&b);
    return ok;
}

int64_t robots_crawl_delay_ms(const struct robots *r, int64_t cap_ms)
{
    if (r->crawl_delay_ms <= 0)
        return 0;
    if (cap_ms >= 0 && r->crawl_delay_ms > cap_ms)
        return cap_ms;
    return r->crawl_delay_ms;
}

size_t robots_rule_count(const struct robots *r)
{
    return r->n;
}

bool robots_truncated(const struct robots *r)
{
    return r->truncated;
}

void robots_decide(const struct robots_options *o, int status, bool have_cached, unsigned failures,
                   int64_t now, struct robots_decision *d)
{
    int64_t expiry = o != NULL && o->expiry_ms > 0 ? o->expiry_ms : 86400LL * 1000;
    int64_t retry = o != NULL && o->retry_ms > 0 ? o->retry_ms : 60LL * 1000;
    int64_t retry_max = o != NULL && o->retry_max_ms > 0 ? o->retry_max_ms : 3600LL * 1000;
    int64_t wait = retry;

    if (status >= 200 && status <= 299) {
        *d = (struct robots_decision){ROBOTS_USE_BODY, now + expiry, false};
        return;
    }
    if (status >= 300 && status <= 499 && status != 429) {
        *d = (struct robots_decision){ROBOTS_ALLOW_ALL, now + expiry, false};
        return;
    }
    for (unsigned i = 0; i < failures && wait < retry_max; i++)
        wait *= 2;
    if (wait > retry_max)
        wait = retry_max;
    *d = (struct robots_decision){have_cached ? ROBOTS_KEEP_CACHED : ROBOTS_DISALLOW_ALL,
                                  now + wait, true};
}
