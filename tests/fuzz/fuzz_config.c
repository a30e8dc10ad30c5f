/*
 * fuzz_config: the configuration parser on arbitrary bytes. The input is
 * written to a private file (config_load reads files: the same path as
 * provd's) and loaded; every error must be a "file:line: message" string
 * and a loaded configuration must print and free cleanly.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    strcpy(fuzz_dir, "/tmp/provd-fuzz-config-XXXXXX");
    if (mkdtemp(fuzz_dir) == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strlist errors = {0};
    struct config *c;
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/provd.conf", fuzz_dir);
    f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    chmod(path, 0644);
    c = config_load(path, &errors);
    if (c == NULL && errors.n == 0)
        abort(); /* a refusal always says why */
    for (size_t i = 0; i < errors.n; i++)
        if (errors.v[i][0] != '/' || strstr(errors.v[i], ": ") == NULL)
            abort(); /* every message starts with the file it is about */
    if (c) {
        FILE *out = fopen("/dev/null", "w");

        config_print(c, out);
        fclose(out);
    }
    config_free(c);
    strlist_clear(&errors);
    unlink(path);
    return 0;
}
