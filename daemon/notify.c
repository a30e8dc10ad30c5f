/*
 * notify: provd's messages to systemd (sd_notify from libsystemd, which
 * also reads NOTIFY_SOCKET and WATCHDOG_USEC for us). Every function is a
 * no-op when provd does not run under systemd.
 */
#include "provd.h"

#include <event2/event.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

void notify_ready(void)
{
    sd_notify(0, "READY=1");
}

void notify_status(const char *line)
{
    sd_notifyf(0, "STATUS=%s", line);
}

void notify_reloading(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

static void notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    sd_notify(0, "WATCHDOG=1");
}

struct event *notify_watchdog_start(struct event_base *base)
{
    uint64_t usec = 0;
    struct timeval tv;
    struct event *ev;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return NULL;
    /* Ping at half the interval, as sd_watchdog_enabled(3) advises; this is
     * the only periodic wake-up of an idle provd. */
    usec /= 2;
    tv.tv_sec = (time_t)(usec / 1000000);
    tv.tv_usec = (suseconds_t)(usec % 1000000);
    ev = event_new(base, -1, EV_PERSIST, notify_watchdog_cb, NULL);
    event_add(ev, &tv);
    sd_notify(0, "WATCHDOG=1");
    return ev;
}
