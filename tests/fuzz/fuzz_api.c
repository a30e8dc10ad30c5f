/*
 * fuzz_api: provd's control socket end to end — evhttp's request parser,
 * control.c's limits, routing and parameter checks, and every endpoint of
 * api.c — on arbitrary bytes sent by a client. The daemon is the real one
 * (core.c, api.c, export.c) on a small catalog in a private directory,
 * with an engine that has no sources. Each input is one connection; the
 * answer, when there is one, must be a well-formed HTTP status line.
 */
#include "provd.h"

#include "harvest.h"
#include "xmalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct provd fz;
static char fz_sock[128];

static void fuzz_seed_catalog(void)
{
    static const char *const sources[] = {
        ("RGASPI, f. 558, op. 11, d. 99, ll. 0011-0012. Contributed by Jamil Hasanli and "
         "translated by Gary Goldberg."),
        "APRF, Fond 3, Opis 66, Delo 65, Listy 7-8. Translated by Svetlana Savranskaya.",
        "AVPRF, f. 07, op. 23a, 1950, p. 18, d. 235, l. 12ob.",
    };

    for (int i = 0; i < 3; i++) {
        struct record *r = record_new();
        struct catalog_page pg = {.source = "demo", .url = NULL};
        char url[64], id[16];

        snprintf(url, sizeof(url), "https://archive.example/document/%d", 1000 + i);
        snprintf(id, sizeof(id), "%d", 1000 + i);
        pg.url = url;
        r->url = xstrdup(url);
        r->record_id = xstrdup(id);
        r->title = xasprintf("Telegram number %d", i);
        r->date_iso = xstrdup("1945-11-22");
        r->source = xstrdup(sources[i]);
        provenance_parse(r->source, r);
        if (catalog_upsert(fz.db, &pg, r, NULL) < 0)
            abort();
        record_free(r);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static struct harvest_sink sink;
    struct strlist errors = {0};
    struct control_options co = {0};
    char dir[] = "/tmp/provd-fuzz-api-XXXXXX", err[256];

    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(dir) == NULL)
        abort();
    fz.conf = config_load(NULL, &errors);
    if (fz.conf == NULL)
        abort();
    free(fz.conf->database);
    fz.conf->database = xasprintf("%s/catalog.db", dir);
    snprintf(fz_sock, sizeof(fz_sock), "%s/provd.sock", dir);
    fz.base = event_base_new();
    if (catalog_open(fz.conf->database, NULL, &fz.db) < 0)
        abort();
    fuzz_seed_catalog();
    provd_sink_init(&fz, &sink);
    fz.engine = harvest_engine_new(fz.base, NULL, NULL, &sink, NULL);
    co.path = fz_sock;
    co.listen_fd = -1;
    co.mode = 0600;
    co.max_connections = 8;
    co.deadline_ms = 500;
    co.max_headers = 8192;
    co.max_body = 65536;
    fz.control = control_new(fz.base, &co, provd_api_routes, &fz, err, sizeof(err));
    if (fz.control == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char reply[8192];
    size_t got = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (size > 60000)
        size = 60000;
    strcpy(sa.sun_path, fz_sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        abort();
    /* The server runs in this thread: write what fits, then let the loop
     * turn until the server has answered or closed (or 1 s has gone). */
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);

        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            break;
        event_base_loop(fz.base, EVLOOP_NONBLOCK);
    }
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 1000; i++) {
        ssize_t n;

        event_base_loop(fz.base, EVLOOP_NONBLOCK);
        n = read(fd, reply + got, sizeof(reply) - 1 - got);
        if (n == 0 || (n < 0 && errno != EAGAIN) ||
            got + (size_t)(n > 0 ? n : 0) >= sizeof(reply) - 1)
            break;
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        poll(NULL, 0, 1);
    }
    reply[got] = '\0';
    close(fd);
    if (got >= 12) {
        /* An answer is always a status line with a 2xx..5xx status (in
         * the version the client spoke, as evhttp answers). */
        const char *sp = strchr(reply, ' ');

        if (strncmp(reply, "HTTP/", 5) != 0 || sp == NULL || sp[1] < '2' || sp[1] > '5')
            abort();
    }
    /* Let the server release the connection. */
    for (int i = 0; i < 5; i++)
        event_base_loop(fz.base, EVLOOP_NONBLOCK);
    return 0;
}
