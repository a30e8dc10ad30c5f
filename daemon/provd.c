/*
 * provd: the daemon's main(). It reads the command line and the
 * configuration, sets up process-wide state (logging, SIGPIPE, libcurl),
 * creates the one event_base, and hands over to core.c. provd never
 * forks itself into the background: systemd supervises it.
 */
#include "provd.h"

#include "log.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define EX_USAGE 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: provd [-c FILE] [--once] [--check-config] [-v] [--version]\n"
            "  -c, --config FILE   configuration file (default: %s)\n"
            "      --once          harvest every source once, then exit\n"
            "      --check-config  check the configuration and exit (78 on errors)\n"
            "  -v, --verbose       more log lines (with --check-config: print the\n"
            "                      effective configuration)\n"
            "      --version       print the version and exit\n",
            PROVD_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"check-config", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check = false, verbose = false, once = false;
    struct strlist errors = {0};
    struct provd p = {0};
    int c, rc;

    while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'o':
            once = true;
            break;
        case 'C':
            check = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'V':
            printf("provd %s\n", PROVD_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (path == NULL && access(PROVD_DEFAULT_CONFIG, F_OK) == 0)
        path = PROVD_DEFAULT_CONFIG;

    p.conf = config_load(path, &errors);
    if (p.conf == NULL) {
        int e = errno;

        for (size_t i = 0; i < errors.n; i++)
            fprintf(stderr, "%s\n", errors.v[i]);
        strlist_clear(&errors);
        /* A file that could not be opened for want of descriptors or
         * memory is no configuration error: exit so that the service
         * manager tries again (78 it does not). */
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS) {
            fprintf(stderr, "<3>cannot read the configuration: %s\n", strerror(e));
            return CONFIG_EX_OSERR;
        }
        return CONFIG_EX_CONFIG;
    }
    strlist_clear(&errors);
    if (check) {
        if (verbose)
            config_print(p.conf, stdout);
        else
            printf("%s: configuration is valid (%zu source%s)\n", path ? path : "(defaults)",
                   p.conf->n_sources, p.conf->n_sources == 1 ? "" : "s");
        config_free(p.conf);
        return 0;
    }

    log_init("provd", verbose ? LOG_LVL_DEBUG : (enum log_level)p.conf->log_level);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "provd: cannot initialise libcurl\n");
        config_free(p.conf);
        return 70;
    }
    p.base = event_base_new();
    p.conf_path = path;
    p.once = once;
    rc = provd_start(&p);
    if (rc == 0) {
        event_base_dispatch(p.base);
        rc = p.once && p.once_failed ? 1 : 0;
        if (p.once)
            log_info("--once: %zu source%s harvested, %u could not be", p.n_sources,
                     p.n_sources == 1 ? "" : "s", p.once_failed);
    }
    provd_stop(&p);
    config_free(p.conf);
    event_base_free(p.base);
    curl_global_cleanup();
    return rc;
}
