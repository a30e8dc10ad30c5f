/*
 * Disk-full test of catalog/ (RELIABILITY.md D3): the catalog lives on a
 * 2 MiB tmpfs, next to a ballast file. Batches are written until the file
 * system is full: the failing batch comes back as STORAGE_FULL and is
 * rolled back whole, reads keep working, the database stays sound, and
 * once the ballast is deleted writing resumes. Needs root (mount); the
 * test runs in its own mount namespace when it can, so nothing is left
 * mounted even if it dies. Without root or mount it is skipped, saying
 * why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "catalog_fixture.h"

#include "xmalloc.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static void put_batch(struct catalog *c, const char *prefix, int batch, size_t text_len, int *err)
{
    *err = catalog_begin(c);
    for (int i = 0; i < 5 && *err == 0; i++) {
        char id[32];
        struct record *r;
        struct catalog_page p;

        snprintf(id, sizeof(id), "%s%d-%d", prefix, batch, i);
        r = fx_record(id, "Fills the disk");
        free(r->text);
        r->text = xmalloc(text_len + 1);
        for (size_t k = 0; k < text_len; k++)
            r->text[k] = (char)('a' + (k * 13 + (size_t)batch + (size_t)i) % 26);
        r->text[text_len] = '\0';
        p = fx_page(r->url, 0);
        *err = catalog_upsert(c, &p, r, NULL);
        record_free(r);
    }
    if (*err == 0)
        *err = catalog_commit(c, NULL);
}

static void test_disk_full(void **state)
{
    char *dir, *db, *ballast;
    struct catalog *c;
    struct catalog_counts n;
    struct catalog_results res;
    int64_t now = 1700000000;
    long committed = 0;
    int err = 0, batch;
    FILE *f;

    (void)state;
    if (geteuid() != 0) {
        printf("skipped: the disk-full test needs root to mount a tmpfs\n");
        skip();
    }
    /* A private mount namespace: the tmpfs vanishes with the process. */
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    else
        printf("note: no private mount namespace (%s); mounting in the current one\n",
               strerror(errno));
    dir = fx_tmpdir();
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") != 0) {
        printf("skipped: cannot mount a tmpfs on %s: %s\n", dir, strerror(errno));
        fx_rmtree(dir);
        free(dir);
        skip();
    }
    db = fx_path(dir, "catalog.db");
    ballast = fx_path(dir, "ballast");
    f = fopen(ballast, "w");
    assert_non_null(f);
    for (int i = 0; i < 384 * 1024; i++)
        fputc('b', f);
    assert_int_equal(fclose(f), 0);
    c = fx_open(db, &now, false);
    for (batch = 0; batch < 1000 && err == 0; batch++) {
        put_batch(c, "full", batch, 12000, &err);
        if (err == 0)
            committed += 5;
    }
    printf("disk full after %ld records in %d batches: %s\n", committed, batch, catalog_errmsg(c));
    assert_int_equal(err, -ENOSPC);
    assert_int_equal(catalog_category(c), PROV_STORAGE_FULL);
    assert_true(committed > 0);
    assert_false(catalog_in_batch(c));
    /* Reads still work and see exactly the committed batches. */
    assert_int_equal(catalog_counts(c, NULL, &n), 0);
    assert_int_equal(n.records, committed);
    assert_int_equal(catalog_search(c, NULL, 3, NULL, &res), 0);
    assert_int_equal(res.n, 3);
    catalog_results_clear(&res);
    assert_int_equal(catalog_check(c, false), 0);
    /* Still full: still refused, still whole. */
    put_batch(c, "again", 0, 12000, &err);
    assert_int_equal(err, -ENOSPC);
    /* Space freed: writing resumes without reopening. */
    assert_int_equal(unlink(ballast), 0);
    put_batch(c, "after", 0, 12000, &err);
    if (err)
        fprintf(stderr, "after freeing: %s\n", catalog_errmsg(c));
    assert_int_equal(err, 0);
    assert_int_equal(catalog_counts(c, NULL, &n), 0);
    assert_int_equal(n.records, committed + 5);
    assert_int_equal(catalog_check(c, true), 0);
    catalog_close(c);
    /* And the file opens cleanly again. */
    c = fx_open(db, &now, false);
    assert_int_equal(catalog_counts(c, NULL, &n), 0);
    assert_int_equal(n.records, committed + 5);
    catalog_close(c);
    if (umount(dir) != 0)
        umount2(dir, MNT_DETACH);
    fx_rmtree(dir);
    free(ballast);
    free(db);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
