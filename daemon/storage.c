/*
 * storage: judges the file system and the path that hold the catalog,
 * once at start-up, and says what an operator should know (tmpfs, a
 * network file system, symbolic links). It only looks: it owns nothing,
 * never opens the database and never refuses to start.
 */
#include "storage.h"

#include "log.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* f_type values of statfs(2) (linux/magic.h and the file systems' own
 * headers; spelled out so the module builds without kernel headers). */
static const struct storage_fs {
    unsigned long magic;
    const char *name;
    unsigned flag;
} storage_fs_types[] = {
    {0x01021994ul, "tmpfs", STORAGE_VOLATILE}, {0x858458f6ul, "ramfs", STORAGE_VOLATILE},
    {0x6969ul, "nfs", STORAGE_NETWORK},        {0xff534d42ul, "cifs", STORAGE_NETWORK},
    {0xfe534d42ul, "smb2", STORAGE_NETWORK},   {0x517bul, "smb", STORAGE_NETWORK},
    {0x01021997ul, "9p", STORAGE_NETWORK},     {0x65735546ul, "fuse", STORAGE_NETWORK},
    {0x00c36400ul, "ceph", STORAGE_NETWORK},   {0x5346414ful, "afs", STORAGE_NETWORK},
    {0x47504653ul, "gpfs", STORAGE_NETWORK},   {0x0bd00bd0ul, "lustre", STORAGE_NETWORK},
};

int storage_inspect(const char *db, struct storage_report *r)
{
    char *dir = xstrdup(db), *slash = strrchr(dir, '/');
    struct statfs fs;
    struct stat st;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    if (slash == NULL) {
        free(dir);
        dir = xstrdup(".");
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (lstat(db, &st) == 0 && S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(db, r->target, sizeof(r->target) - 1);

        r->flags |= STORAGE_LINK;
        r->target[n > 0 ? n : 0] = '\0';
    }
    /* A trailing slash makes lstat follow a link, which is not wanted. */
    if (strcmp(dir, "/") != 0 && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
        r->flags |= STORAGE_DIR_LINK;
    if (statfs(db, &fs) < 0 && statfs(dir, &fs) < 0) {
        rc = -errno;
        r->flags = 0;
        goto out;
    }
    for (size_t i = 0; i < sizeof(storage_fs_types) / sizeof(storage_fs_types[0]); i++) {
        if ((unsigned long)fs.f_type == storage_fs_types[i].magic) {
            r->flags |= storage_fs_types[i].flag;
            snprintf(r->fs, sizeof(r->fs), "%s", storage_fs_types[i].name);
            break;
        }
    }
out:
    free(dir);
    return rc;
}

int storage_warn(const char *db)
{
    struct storage_report r;
    int n = 0;

    if (storage_inspect(db, &r) < 0)
        return 0;
    if (r.flags & STORAGE_VOLATILE) {
        log_warnx("catalog %s is on %s: it is lost at the next reboot; put it on a disk "
                  "(StateDirectory=)",
                  db, r.fs);
        n++;
    }
    if (r.flags & STORAGE_NETWORK) {
        log_warnx("catalog %s is on a network file system (%s): SQLite's locking is not "
                  "reliable there and the catalog may be corrupted; put it on a local disk",
                  db, r.fs);
        n++;
    }
    if (r.flags & STORAGE_LINK) {
        log_warnx("catalog %s is a symbolic link (to %s): a database opened under more "
                  "than one name may get a -wal and -shm file per name, and a write "
                  "through one may be lost to the other; name the real file",
                  db, r.target);
        n++;
    }
    if (r.flags & STORAGE_DIR_LINK) {
        log_warnx("the directory of catalog %s is a symbolic link: open the catalog "
                  "through one path only (provd, provctl, backups), so that all of them "
                  "find the same -wal and -shm files",
                  db);
        n++;
    }
    return n;
}
