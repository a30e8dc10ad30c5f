/*
 * addrpolicy: the address rule the fetch layer applies to every socket.
 *
 * Owns a list of allowed networks with port ranges and the built-in table
 * of non-public ranges. Every address is held as 16 bytes in IPv6 form
 * (IPv4 as ::ffff:a.b.c.d with the prefix moved by 96), so one comparison
 * serves both families and an IPv4-mapped socket address matches IPv4
 * entries. Pure computation: no I/O, no name resolution, no logging.
 */
#include "addrpolicy.h"

#include "xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct addrpolicy_entry {
    unsigned char addr[16]; /* network, IPv6 form */
    unsigned prefix;        /* 0..128 over the IPv6 form */
    unsigned port_lo;       /* inclusive */
    unsigned port_hi;       /* inclusive */
};

struct addrpolicy {
    bool public_allowed;
    struct addrpolicy_entry *entries;
    size_t n;
};

/* A range in the table below: the address as text and its prefix length
 * over the IPv6 form. */
struct addrpolicy_range {
    const char *net;
    unsigned prefix;
};

/* IPv4 ranges that are not public (IANA special-purpose registry), as
 * IPv4-mapped IPv6 networks. */
static const struct addrpolicy_range addrpolicy_private4[] = {
    {"::ffff:0.0.0.0", 96 + 8},       /* "this" network */
    {"::ffff:10.0.0.0", 96 + 8},      /* private */
    {"::ffff:100.64.0.0", 96 + 10},   /* shared address space (CGN) */
    {"::ffff:127.0.0.0", 96 + 8},     /* loopback */
    {"::ffff:169.254.0.0", 96 + 16},  /* link-local */
    {"::ffff:172.16.0.0", 96 + 12},   /* private */
    {"::ffff:192.0.0.0", 96 + 24},    /* IETF protocol assignments */
    {"::ffff:192.0.2.0", 96 + 24},    /* documentation */
    {"::ffff:192.88.99.0", 96 + 24},  /* 6to4 relay anycast */
    {"::ffff:192.168.0.0", 96 + 16},  /* private */
    {"::ffff:198.18.0.0", 96 + 15},   /* benchmarking */
    {"::ffff:198.51.100.0", 96 + 24}, /* documentation */
    {"::ffff:203.0.113.0", 96 + 24},  /* documentation */
    {"::ffff:224.0.0.0", 96 + 4},     /* multicast */
    {"::ffff:240.0.0.0", 96 + 4},     /* reserved and broadcast */
};

/* IPv6 ranges inside 2000::/3 that are not public. Everything outside
 * 2000::/3 (loopback, unspecified, ULA, link-local, multicast, ...) is
 * denied before this table is read. */
static const struct addrpolicy_range addrpolicy_private6[] = {
    {"2001::", 23},     /* IETF protocol assignments, Teredo among them */
    {"2001:db8::", 32}, /* documentation */
    {"2002::", 16},     /* 6to4: carries an IPv4 address of any kind */
};

static bool addrpolicy_in_net(const unsigned char *a, const unsigned char *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static bool addrpolicy_in_range(const unsigned char *a, const struct addrpolicy_range *r)
{
    unsigned char net[16];

    if (inet_pton(AF_INET6, r->net, net) != 1)
        return false;
    return addrpolicy_in_net(a, net, r->prefix);
}

/* Fill a[16] (IPv6 form) and *port from a socket address; false for any
 * other family or a short length. */
static bool addrpolicy_from_sockaddr(const struct sockaddr *sa, size_t len, unsigned char *a,
                                     unsigned *port)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof(sin));
        memset(a, 0, 10);
        a[10] = 0xff;
        a[11] = 0xff;
        memcpy(a + 12, &sin.sin_addr, 4);
        *port = ntohs(sin.sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof(sin6));
        memcpy(a, &sin6.sin6_addr, 16);
        *port = ntohs(sin6.sin6_port);
        return true;
    }
    return false;
}

static bool addrpolicy_public16(const unsigned char *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char v4[16];

    if (memcmp(a, nat64, 12) == 0) {
        /* 64:ff9b::/96 reaches the IPv4 address in its last 32 bits */
        memcpy(v4, mapped, 12);
        memcpy(v4 + 12, a + 12, 4);
        a = v4;
    }
    if (memcmp(a, mapped, 12) == 0) {
        for (size_t i = 0; i < sizeof(addrpolicy_private4) / sizeof(addrpolicy_private4[0]); i++)
            if (addrpolicy_in_range(a, &addrpolicy_private4[i]))
                return false;
        return true;
    }
    if ((a[0] & 0xe0) != 0x20) /* outside 2000::/3, global unicast */
        return false;
    for (size_t i = 0; i < sizeof(addrpolicy_private6) / sizeof(addrpolicy_private6[0]); i++)
        if (addrpolicy_in_range(a, &addrpolicy_private6[i]))
            return false;
    return true;
}

struct addrpolicy *addrpolicy_new(void)
{
    struct addrpolicy *p = xcalloc(1, sizeof(*p));

    p->public_allowed = true;
    return p;
}

struct addrpolicy *addrpolicy_dup(const struct addrpolicy *p)
{
    struct addrpolicy *d = addrpolicy_new();

    d->public_allowed = p->public_allowed;
    if (p->n > 0) {
        d->entries = xreallocarray(NULL, p->n, sizeof(*d->entries));
        memcpy(d->entries, p->entries, p->n * sizeof(*d->entries));
        d->n = p->n;
    }
    return d;
}

void addrpolicy_free(struct addrpolicy *p)
{
    if (p == NULL)
        return;
    free(p->entries);
    free(p);
}

void addrpolicy_set_public(struct addrpolicy *p, bool allowed)
{
    p->public_allowed = allowed;
}

/* Parse a decimal number in [lo, hi] from s to *end. */
static bool addrpolicy_number(const char *s, const char **end, unsigned long lo, unsigned long hi,
                              unsigned long *out)
{
    unsigned long v = 0;
    const char *q = s;

    while (*q >= '0' && *q <= '9') {
        v = v * 10 + (unsigned long)(*q - '0');
        if (v > hi)
            return false;
        q++;
    }
    if (q == s || q - s > 6 || v < lo)
        return false;
    *end = q;
    *out = v;
    return true;
}

/* Parse ":PORT[-PORT]" (or nothing) at s, which must then end. */
static bool addrpolicy_ports(const char *s, struct addrpolicy_entry *e)
{
    unsigned long lo, hi;

    if (*s == '\0') {
        e->port_lo = 0;
        e->port_hi = 65535;
        return true;
    }
    if (*s != ':' || !addrpolicy_number(s + 1, &s, 1, 65535, &lo))
        return false;
    hi = lo;
    if (*s == '-' && !addrpolicy_number(s + 1, &s, lo, 65535, &hi))
        return false;
    if (*s != '\0')
        return false;
    e->port_lo = (unsigned)lo;
    e->port_hi = (unsigned)hi;
    return true;
}

/* Parse "ADDR[/N]" of family (AF_INET or AF_INET6) from the n bytes at s
 * into e's address and prefix. */
static bool addrpolicy_network(const char *s, size_t n, int family, struct addrpolicy_entry *e)
{
    char text[INET6_ADDRSTRLEN + 8];
    unsigned long prefix;
    unsigned max = family == AF_INET ? 32 : 128;
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;

    if (alen == 0 || alen >= INET6_ADDRSTRLEN)
        return false;
    memcpy(text, s, alen);
    text[alen] = '\0';
    if (slash != NULL) {
        const char *end;
        if (!addrpolicy_number(slash + 1, &end, 0, max, &prefix) || end != s + n)
            return false;
    } else {
        prefix = max;
    }
    memset(e->addr, 0, sizeof(e->addr));
    if (family == AF_INET) {
        e->addr[10] = 0xff;
        e->addr[11] = 0xff;
        if (inet_pton(AF_INET, text, e->addr + 12) != 1)
            return false;
        e->prefix = 96 + (unsigned)prefix;
    } else {
        if (inet_pton(AF_INET6, text, e->addr) != 1)
            return false;
        e->prefix = (unsigned)prefix;
    }
    return true;
}

int addrpolicy_allow(struct addrpolicy *p, const char *spec, char *err, size_t errlen)
{
    struct addrpolicy_entry e;
    bool ok;

    if (spec == NULL || *spec == '\0') {
        snprintf(err, errlen, "empty address");
        return -EINVAL;
    }
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        ok = close != NULL &&
             addrpolicy_network(spec + 1, (size_t)(close - spec - 1), AF_INET6, &e) &&
             addrpolicy_ports(close + 1, &e);
    } else if (strchr(spec, ':') != strrchr(spec, ':')) {
        /* two colons or more: a bare IPv6 network, all ports */
        ok = addrpolicy_network(spec, strlen(spec), AF_INET6, &e) && addrpolicy_ports("", &e);
    } else {
        const char *colon = strchr(spec, ':');
        size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
        ok = addrpolicy_network(spec, n, AF_INET, &e) && addrpolicy_ports(spec + n, &e);
    }
    if (!ok) {
        snprintf(err, errlen,
                 "'%s' is not an address of the form A.B.C.D[/N][:PORT[-PORT]] or "
                 "[IPV6[/N]][:PORT[-PORT]]",
                 spec);
        return -EINVAL;
    }
    p->entries = xreallocarray(p->entries, p->n + 1, sizeof(*p->entries));
    p->entries[p->n++] = e;
    return 0;
}

bool addrpolicy_is_public(const struct sockaddr *sa, size_t len)
{
    unsigned char a[16];
    unsigned port;

    return addrpolicy_from_sockaddr(sa, len, a, &port) && addrpolicy_public16(a);
}

bool addrpolicy_check(const struct addrpolicy *p, const struct sockaddr *sa, size_t len)
{
    unsigned char a[16];
    unsigned port;

    if (!addrpolicy_from_sockaddr(sa, len, a, &port))
        return false;
    for (size_t i = 0; i < p->n; i++) {
        const struct addrpolicy_entry *e = &p->entries[i];
        if (port >= e->port_lo && port <= e->port_hi && addrpolicy_in_net(a, e->addr, e->prefix))
            return true;
    }
    return p->public_allowed && addrpolicy_public16(a);
}
