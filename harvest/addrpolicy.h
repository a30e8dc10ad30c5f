/*
 * addrpolicy: which network addresses provd may connect to (internal to
 * harvest/). The fetch layer asks it about every socket libcurl opens, so
 * redirects and DNS answers are checked as well as the first URL.
 *
 * By default only public unicast addresses are allowed: loopback, private,
 * link-local, shared, documentation, multicast and reserved ranges of IPv4
 * and IPv6 are denied, and an IPv4 address written inside IPv6
 * (::ffff:a.b.c.d, 64:ff9b::/96) is judged as the IPv4 address it carries.
 * Entries added with addrpolicy_allow() open further addresses, optionally
 * only on a range of ports. The policy works on the numeric address libcurl
 * is about to connect to, so spellings such as 0x7f000001 or 2130706433 do
 * not matter.
 */
#ifndef PROVD_ADDRPOLICY_H
#define PROVD_ADDRPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct addrpolicy;

/* A new policy that allows public addresses only; the caller frees it. */
struct addrpolicy *addrpolicy_new(void);

/* A copy of p that the caller frees. */
struct addrpolicy *addrpolicy_dup(const struct addrpolicy *p);

/* Free p; NULL is allowed. */
void addrpolicy_free(struct addrpolicy *p);

/* Allow the addresses of spec on its ports:
 *   A.B.C.D[/N][:PORT[-PORT]]      e.g. 127.0.0.1:40000-60000, 10.0.0.0/8
 *   [IPV6[/N]][:PORT[-PORT]]       e.g. [::1]:8080, [fd00::/8]
 *   IPV6[/N]                       e.g. fd00::/8 (all ports)
 * Without a port every port is allowed. Bits past the prefix are ignored.
 * Returns 0, or -EINVAL with a message in err (at most errlen bytes) when
 * spec is not of that form. */
int addrpolicy_allow(struct addrpolicy *p, const char *spec, char *err, size_t errlen);

/* Whether public addresses are allowed (true for a new policy). A policy
 * that allows only its listed entries sets this to false. */
void addrpolicy_set_public(struct addrpolicy *p, bool allowed);

/* True when p allows a connection to the IPv4 or IPv6 address and port in
 * sa (len bytes). Any other address family is denied. */
bool addrpolicy_check(const struct addrpolicy *p, const struct sockaddr *sa, size_t len);

/* True when the address in sa (len bytes) is a public unicast address, the
 * rule a new policy applies. */
bool addrpolicy_is_public(const struct sockaddr *sa, size_t len);

#endif
