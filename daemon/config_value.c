/*
 * config_value: the syntax of directive values — numbers, durations,
 * sizes, octal modes, booleans, names, user and group lists, address lists
 * and XPath expressions — and setting a directive's field in a struct
 * config or struct config_source from the text of its value.
 *
 * It owns nothing beyond the field values it sets (strings, id and address
 * lists, freed by config_value_clear()). It never logs and keeps no state;
 * it reads the user and group databases (for names in socket-allow-uids
 * and socket-allow-gids) and nothing else.
 */
#include "config_value.h"

#include "xmalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <libxml/xmlerror.h>
#include <libxml/xpath.h>

_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
               "struct config_ids holds uid_t and gid_t values as unsigned");

static const char *const level_names[] = {"err", "warning", "notice", "info", "debug"};

/* ---- Value syntax ------------------------------------------------------ */

/* Read the decimal digits at *p into *n and move *p past them. Returns
 * true when the number does not fit in 64 bits. */
static bool read_digits(const char **p, uint64_t *n)
{
    bool big = false;

    *n = 0;
    for (; isdigit((unsigned char)**p); (*p)++) {
        if (*n > (UINT64_MAX - 9) / 10)
            big = true;
        else
            *n = *n * 10 + (uint64_t)(**p - '0');
    }
    return big;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", MS_D}, {"h", MS_H}, {"m", MS_M}, {"s", MS_S}, {"ms", 1}};
    uint64_t total = 0;
    size_t last = 0; /* index of the previous unit + 1: units must shrink */
    const char *p = s;

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -EINVAL;
    while (*p != '\0') {
        uint64_t n, mul = 0;
        const char *u;
        size_t ulen, i;
        bool big;

        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        big = read_digits(&p, &n);
        for (u = p; isalpha((unsigned char)*p); p++)
            ;
        ulen = (size_t)(p - u);
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].unit) == ulen && memcmp(units[i].unit, u, ulen) == 0) {
                mul = units[i].ms;
                break;
            }
        }
        if (mul == 0 || i < last)
            return -EINVAL;
        last = i + 1;
        if (big || n > (UINT64_MAX - total) / mul)
            return -ERANGE;
        total += n * mul;
    }
    *ms = total;
    return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},      {"B", 1},   {"K", KIB},   {"KiB", KIB},      {"M", MIB},
                 {"MiB", MIB}, {"G", GIB}, {"GiB", GIB}, {"T", 1024 * GIB}, {"TiB", 1024 * GIB}};
    uint64_t n;
    const char *p = s;
    bool big;

    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    big = read_digits(&p, &n);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) != 0)
            continue;
        if (big || n > UINT64_MAX / units[i].mul)
            return -ERANGE;
        *bytes = n * units[i].mul;
        return 0;
    }
    return -EINVAL;
}

char *config_format_duration(uint64_t ms, char *buf, size_t len)
{
    if (ms == 0)
        snprintf(buf, len, "0");
    else if (ms % MS_D == 0)
        snprintf(buf, len, "%" PRIu64 "d", ms / MS_D);
    else if (ms % MS_H == 0)
        snprintf(buf, len, "%" PRIu64 "h", ms / MS_H);
    else if (ms % MS_M == 0)
        snprintf(buf, len, "%" PRIu64 "m", ms / MS_M);
    else if (ms % MS_S == 0)
        snprintf(buf, len, "%" PRIu64 "s", ms / MS_S);
    else
        snprintf(buf, len, "%" PRIu64 "ms", ms);
    return buf;
}

char *config_format_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes != 0 && bytes % GIB == 0)
        snprintf(buf, len, "%" PRIu64 "GiB", bytes / GIB);
    else if (bytes != 0 && bytes % MIB == 0)
        snprintf(buf, len, "%" PRIu64 "MiB", bytes / MIB);
    else if (bytes != 0 && bytes % KIB == 0)
        snprintf(buf, len, "%" PRIu64 "KiB", bytes / KIB);
    else
        snprintf(buf, len, "%" PRIu64, bytes);
    return buf;
}

/* Parse a plain decimal number; -ERANGE when it does not fit. */
static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t n;
    bool big;

    if (*s == '\0')
        return -EINVAL;
    big = read_digits(&s, &n);
    if (*s != '\0')
        return -EINVAL;
    *out = n;
    return big ? -ERANGE : 0;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on"};
    static const char *const no[] = {"no", "false", "off"};

    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool config_value_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (; *s != '\0'; s++) {
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    }
    return true;
}

/* The value as a range bound, in the directive's own notation. */
static const char *format_bound(const struct config_directive *d, uint64_t v, char *buf, size_t len)
{
    if (d->type == CONFIG_DURATION)
        return config_format_duration(v, buf, len);
    if (d->type == CONFIG_SIZE)
        return config_format_size(v, buf, len);
    if (d->type == CONFIG_MODE)
        snprintf(buf, len, "%04" PRIo64, v);
    else
        snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

/* Check a number against the directive's bounds and step. */
static int check_range(const struct config_directive *d, const char *text, uint64_t v, bool big,
                       char *err, size_t errlen)
{
    char lo[32], hi[32];

    if (big || v < d->min || v > d->max) {
        snprintf(err, errlen, "%s is out of range (allowed: %s to %s)", text,
                 format_bound(d, d->min, lo, sizeof(lo)), format_bound(d, d->max, hi, sizeof(hi)));
        return -ERANGE;
    }
    if (d->step > 0 && v % d->step != 0) {
        snprintf(err, errlen, "%s is not a multiple of %s", text,
                 format_bound(d, d->step, lo, sizeof(lo)));
        return -EINVAL;
    }
    return 0;
}

/* Split a list value at commas and white space; calls fn for each item. */
static int list_each(const char *value,
                     int (*fn)(const char *item, void *data, char *err, size_t errlen), void *data,
                     char *err, size_t errlen)
{
    const char *p = value;

    while (*p != '\0') {
        size_t n = strcspn(p, ", \t");
        int rc;

        if (n > 0) {
            char *item = xstrndup(p, n);

            rc = fn(item, data, err, errlen);
            free(item);
            if (rc < 0)
                return rc;
        }
        p += n;
        p += strspn(p, ", \t");
    }
    return 0;
}

void config_value_ids_add(struct config_ids *ids, unsigned id)
{
    for (size_t i = 0; i < ids->n; i++) {
        if (ids->v[i] == id)
            return;
    }
    ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
    ids->v[ids->n++] = id;
}

struct ids_ctx {
    struct config_ids *ids;
    bool groups;
};

/* Resolve one user or group name (or number) into its id. */
static int ids_item(const char *item, void *data, char *err, size_t errlen)
{
    struct ids_ctx *ic = data;
    const char *what = ic->groups ? "group" : "user";
    size_t buflen = 16384;
    char *buf = NULL;
    bool found = false;
    unsigned id = 0;
    uint64_t n;
    int rc;

    if (isdigit((unsigned char)item[0])) {
        if (parse_uint(item, &n) < 0 || n >= UINT32_MAX) {
            snprintf(err, errlen, "\"%s\" is not a valid %s id", item, what);
            return -EINVAL;
        }
        config_value_ids_add(ic->ids, (unsigned)n);
        return 0;
    }
    for (;;) {
        buf = xreallocarray(buf, buflen, 1);
        if (ic->groups) {
            struct group gr, *res = NULL;

            rc = getgrnam_r(item, &gr, buf, buflen, &res);
            if (rc == 0 && res != NULL) {
                found = true;
                id = res->gr_gid;
            }
        } else {
            struct passwd pw, *res = NULL;

            rc = getpwnam_r(item, &pw, buf, buflen, &res);
            if (rc == 0 && res != NULL) {
                found = true;
                id = res->pw_uid;
            }
        }
        if (rc != ERANGE || buflen >= 1024 * 1024)
            break;
        buflen *= 2;
    }
    free(buf);
    if (!found) {
        snprintf(err, errlen, "unknown %s \"%s\"", what, item);
        return -EINVAL;
    }
    config_value_ids_add(ic->ids, id);
    return 0;
}

/* Parse the port part ":P" or ":P-Q" of an address item. */
static int addr_ports(const char *s, struct config_addr *a)
{
    char *dash;
    uint64_t lo, hi;
    char *t = xstrdup(s);
    int rc = -EINVAL;

    dash = strchr(t, '-');
    if (dash != NULL)
        *dash = '\0';
    if (parse_uint(t, &lo) < 0 || lo < 1 || lo > 65535)
        goto out;
    hi = lo;
    if (dash != NULL && (parse_uint(dash + 1, &hi) < 0 || hi < lo || hi > 65535))
        goto out;
    a->port_min = (unsigned)lo;
    a->port_max = (unsigned)hi;
    rc = 0;
out:
    free(t);
    return rc;
}

/* Parse one allow-addresses item: A.B.C.D[/N][:P[-Q]], [IPV6[/N]][:P[-Q]]
 * (also written [IPV6]/N:P-Q) or IPV6[/N] -- the forms of harvest's address
 * policy. */
static int addr_item(const char *item, void *data, char *err, size_t errlen)
{
    struct config_addrs *list = data;
    struct config_addr a = {.port_min = 1, .port_max = 65535};
    char *t = xstrdup(item), *host = t, *rest, *pfx = NULL, sep;
    unsigned maxbits;
    uint64_t n;
    int rc = -EINVAL;

    if (t[0] == '[') {
        char *close = strchr(t, ']');

        if (close == NULL)
            goto bad;
        *close = '\0';
        host = t + 1;
        rest = close + 1;
        a.family = AF_INET6;
        pfx = strchr(host, '/');
        if (pfx != NULL)
            *pfx++ = '\0';
    } else if (strchr(t, ':') != strrchr(t, ':')) {
        a.family = AF_INET6;
        rest = t + strcspn(t, "/");
        if (strchr(rest, ':') != NULL) {
            snprintf(err, errlen,
                     "\"%s\": write an IPv6 address with ports in brackets, as "
                     "[2001:db8::]/32:8000-8099",
                     item);
            goto out;
        }
    } else {
        a.family = AF_INET;
        rest = t + strcspn(t, "/:");
    }
    maxbits = a.family == AF_INET ? 32 : 128;
    a.prefix = maxbits;
    sep = *rest;
    if (sep != '\0')
        *rest++ = '\0';
    if (inet_pton(a.family, host, a.addr) != 1)
        goto bad;
    if (sep == '/' && pfx == NULL) {
        size_t d = strcspn(rest, ":");

        pfx = rest;
        sep = rest[d];
        rest[d] = '\0';
        rest += d + (sep != '\0');
    }
    if (pfx != NULL) {
        if (parse_uint(pfx, &n) < 0 || n > maxbits) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0 to %u", item, maxbits);
            goto out;
        }
        a.prefix = (unsigned)n;
    }
    if (sep == ':' && addr_ports(rest, &a) < 0) {
        snprintf(err, errlen, "\"%s\": ports must be P or P-Q with 1 <= P <= Q <= 65535", item);
        goto out;
    }
    if (sep != ':' && sep != '\0')
        goto bad;
    for (unsigned bit = a.prefix; bit < maxbits; bit++) {
        if (a.addr[bit / 8] & (0x80u >> (bit % 8))) {
            snprintf(err, errlen, "\"%s\": the address has bits set after the /%u prefix", item,
                     a.prefix);
            goto out;
        }
    }
    list->v = xreallocarray(list->v, list->n + 1, sizeof(*list->v));
    list->v[list->n++] = a;
    rc = 0;
    goto out;
bad:
    snprintf(err, errlen,
             "\"%s\" is not an address (write e.g. 127.0.0.1:8000-8099, 10.0.0.0/8, "
             "[::1]:8080 or fd00::/8)",
             item);
out:
    free(t);
    return rc;
}

bool config_addr_match(const struct config_addr *a, const struct sockaddr *sa)
{
    const unsigned char *bytes;
    unsigned port, full;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        bytes = (const unsigned char *)&in->sin_addr;
        port = ntohs(in->sin_port);
        if (a->family != AF_INET)
            return false;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        bytes = in6->sin6_addr.s6_addr;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            if (a->family != AF_INET)
                return false;
            bytes += 12;
        } else if (a->family != AF_INET6) {
            return false;
        }
    } else {
        return false;
    }
    if (port < a->port_min || port > a->port_max)
        return false;
    full = a->prefix / 8;
    if (memcmp(bytes, a->addr, full) != 0)
        return false;
    if (a->prefix % 8 != 0) {
        unsigned char mask = (unsigned char)(0xffu << (8 - a->prefix % 8));

        if ((bytes[full] & mask) != (a->addr[full] & mask))
            return false;
    }
    return true;
}

char *config_addr_format(const struct config_addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN], pfx[8] = "", ports[16] = "";
    unsigned full = a->family == AF_INET ? 32 : 128;
    bool has_ports = a->port_min != 1 || a->port_max != 65535;

    inet_ntop(a->family, a->addr, host, sizeof(host));
    if (a->prefix != full)
        snprintf(pfx, sizeof(pfx), "/%u", a->prefix);
    if (has_ports && a->port_min == a->port_max)
        snprintf(ports, sizeof(ports), ":%u", a->port_min);
    else if (has_ports)
        snprintf(ports, sizeof(ports), ":%u-%u", a->port_min, a->port_max);
    if (a->family == AF_INET6 && has_ports)
        snprintf(buf, len, "[%s%s]%s", host, pfx, ports);
    else
        snprintf(buf, len, "%s%s%s", host, pfx, ports);
    return buf;
}

struct xpath_err {
    char *buf;
    size_t len;
    bool set;
};

#if LIBXML_VERSION >= 21200
static void xpath_error(void *data, const xmlError *e)
#else
static void xpath_error(void *data, xmlErrorPtr e)
#endif
{
    /* libxml2 2.9 leaves message unset for XPath errors raised through a
     * context's handler; these are its words for the codes (xpath.c) */
    static const char *const words[] = {
        "no error",
        "Number encoding",
        "Unfinished literal",
        "Start of literal",
        "Expected $ for variable reference",
        "Undefined variable",
        "Invalid predicate",
        "Invalid expression",
        "Missing closing curly brace",
        "Unregistered function",
        "Invalid operand",
        "Invalid type",
        "Invalid number of arguments",
    };
    struct xpath_err *xe = data;
    const char *msg = "syntax error";
    size_t n;

    if (xe->set || e == NULL)
        return;
    if (e->message != NULL)
        msg = e->message;
    else if (e->code >= XML_XPATH_EXPRESSION_OK &&
             e->code < XML_XPATH_EXPRESSION_OK + (int)(sizeof(words) / sizeof(words[0])))
        msg = words[e->code - XML_XPATH_EXPRESSION_OK];
    n = strcspn(msg, "\n");
    snprintf(xe->buf, xe->len, "invalid XPath (%.*s at character %d)", (int)n, msg, e->int1 + 1);
    xe->set = true;
}

/* Compile an XPath expression to check it; libxml2's message on failure. */
static int xpath_check(const char *expr, char *err, size_t errlen)
{
    struct xpath_err xe = {err, errlen, false};
    xmlXPathContextPtr ctx;
    xmlXPathCompExprPtr comp;

    xmlInitParser();
    ctx = xmlXPathNewContext(NULL);
    if (ctx == NULL)
        abort();
    ctx->error = xpath_error;
    ctx->userData = &xe;
    comp = xmlXPathCtxtCompile(ctx, (const xmlChar *)expr);
    xmlXPathFreeContext(ctx);
    if (comp != NULL) {
        xmlXPathFreeCompExpr(comp);
        return 0;
    }
    if (!xe.set)
        snprintf(err, errlen, "invalid XPath");
    return -EINVAL;
}

/* ---- Paths ------------------------------------------------------------- */

/* dir + "/" + rel with "." and ".." segments removed (lexically). dir
 * must be absolute; an absolute rel is taken as it is. */
static char *path_join(const char *dir, const char *rel)
{
    char *joined = rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", dir, rel);
    char *out = xmalloc(strlen(joined) + 2);
    const char *p = joined;
    size_t n = 0;

    while (*p != '\0') {
        size_t seg = strcspn(p, "/");

        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else if (seg > 0 && !(seg == 1 && p[0] == '.')) {
            out[n++] = '/';
            memcpy(out + n, p, seg);
            n += seg;
        }
        p += seg;
        if (*p == '/')
            p++;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

/* ---- Setting values ------------------------------------------------------ */

void config_value_clear(const struct config_directive *d, void *field)
{
    switch (d->type) {
    case CONFIG_STRING:
    case CONFIG_NAME:
    case CONFIG_PATH:
    case CONFIG_URL:
    case CONFIG_TEMPLATE:
    case CONFIG_XPATH: {
        char **sp = field;

        free(*sp);
        *sp = NULL;
        break;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct config_ids *ids = field;

        free(ids->v);
        ids->v = NULL;
        ids->n = 0;
        break;
    }
    case CONFIG_ADDRS: {
        struct config_addrs *a = field;

        free(a->v);
        a->v = NULL;
        a->n = 0;
        break;
    }
    default:
        break;
    }
}

int config_value_set(const struct config_directive *d, void *base, const char *value,
                     const char *absdir, char *err, size_t errlen)
{
    void *field = (char *)base + d->offset;
    uint64_t n = 0;
    int rc;

    if (value[0] == '\0' && d->type != CONFIG_ADDRS) {
        snprintf(err, errlen, "needs a value");
        return -EINVAL;
    }
    switch (d->type) {
    case CONFIG_STRING:
        if (strlen(value) > 1024) {
            snprintf(err, errlen, "is longer than 1024 bytes");
            return -EINVAL;
        }
        for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
            if (*p < ' ' || *p >= 0x7f) {
                snprintf(err, errlen, "must be printable ASCII text");
                return -EINVAL;
            }
        }
        break;
    case CONFIG_NAME:
        if (!config_value_name_valid(value)) {
            snprintf(err, errlen, "\"%s\" is not a name (1 to 64 letters, digits, '.', '_' or '-')",
                     value);
            return -EINVAL;
        }
        break;
    case CONFIG_PATH:
        if (strlen(value) >= PATH_MAX) {
            snprintf(err, errlen, "path is too long");
            return -EINVAL;
        }
        break;
    case CONFIG_URL:
    case CONFIG_TEMPLATE:
        /* checked when the section ends: allow-file may follow */
        break;
    case CONFIG_XPATH:
        if ((rc = xpath_check(value, err, errlen)) < 0)
            return rc;
        break;
    case CONFIG_BOOL:
        if (!parse_bool(value, field)) {
            snprintf(err, errlen, "\"%s\" is not a boolean (yes, no, true, false, on, off)", value);
            return -EINVAL;
        }
        return 0;
    case CONFIG_UINT:
    case CONFIG_DURATION:
    case CONFIG_SIZE:
    case CONFIG_MODE: {
        const char *v = value[0] == '-' ? value + 1 : value;

        if (d->type == CONFIG_UINT)
            rc = parse_uint(v, &n);
        else if (d->type == CONFIG_DURATION)
            rc = config_parse_duration(v, &n);
        else if (d->type == CONFIG_SIZE)
            rc = config_parse_size(v, &n);
        else if (v[0] != '\0' && strspn(v, "01234567") == strlen(v) && strlen(v) <= 4)
            rc = 0;
        else
            rc = -EINVAL;
        if (rc == -EINVAL) {
            static const char *const hints[] = {
                [CONFIG_UINT] = "a number",
                [CONFIG_DURATION] = "a duration (write e.g. 150ms, 5s, 10m, 2h, 1d or 1h30m)",
                [CONFIG_SIZE] = "a size (write e.g. 4096, 64KiB, 8MiB or 1GiB)",
                [CONFIG_MODE] = "an octal mode (write e.g. 0660)",
            };
            snprintf(err, errlen, "\"%s\" is not %s", value, hints[d->type]);
            return rc;
        }
        if (d->type == CONFIG_MODE) {
            n = 0;
            for (const char *p = v; *p != '\0'; p++)
                n = n * 8 + (uint64_t)(*p - '0');
            if (value[0] != '-' && (n & 0002) != 0) {
                snprintf(err, errlen, "%s lets every user write; leave o+w out", value);
                return -EINVAL;
            }
        }
        /* a negative value is out of range whatever its size */
        rc = check_range(d, value, n, value[0] == '-' || rc == -ERANGE, err, errlen);
        if (rc < 0)
            return rc;
        if (d->type == CONFIG_UINT || d->type == CONFIG_MODE)
            *(unsigned *)field = (unsigned)n;
        else
            *(uint64_t *)field = n;
        return 0;
    }
    case CONFIG_USERS:
    case CONFIG_GROUPS: {
        struct config_ids ids = {NULL, 0};
        struct ids_ctx ic = {&ids, d->type == CONFIG_GROUPS};

        rc = list_each(value, ids_item, &ic, err, errlen);
        if (rc < 0) {
            free(ids.v);
            return rc;
        }
        config_value_clear(d, field);
        *(struct config_ids *)field = ids;
        return 0;
    }
    case CONFIG_ADDRS: {
        struct config_addrs addrs = {NULL, 0};

        rc = list_each(value, addr_item, &addrs, err, errlen);
        if (rc < 0) {
            free(addrs.v);
            return rc;
        }
        config_value_clear(d, field);
        *(struct config_addrs *)field = addrs;
        return 0;
    }
    case CONFIG_LOGLEVEL:
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
            if (strcasecmp(value, level_names[i]) == 0) {
                *(int *)field = 3 + (int)i;
                return 0;
            }
        }
        snprintf(err, errlen, "\"%s\" is not a log level (err, warning, notice, info, debug)",
                 value);
        return -EINVAL;
    }
    config_value_clear(d, field);
    if (d->type == CONFIG_PATH)
        *(char **)field = path_join(absdir, value);
    else
        *(char **)field = xstrdup(value);
    return 0;
}

const char *config_value_level_name(int level)
{
    return level >= 3 && level <= 7 ? level_names[level - 3] : "info";
}
