/*
 * storage: where the catalog lives, judged once at start-up. SQLite's
 * locking is unreliable on network file systems, a database on tmpfs is
 * lost at the next reboot, and a database reached under more than one
 * name may get a -wal and -shm file per name (RELIABILITY.md K3; SQLite's
 * "How To Corrupt" notes). provd still starts: these are warnings.
 */
#ifndef PROVD_STORAGE_H
#define PROVD_STORAGE_H

#include <stddef.h>

enum storage_flag {
    STORAGE_VOLATILE = 1 << 0, /* tmpfs or ramfs: gone at reboot */
    STORAGE_NETWORK = 1 << 1,  /* NFS, SMB/CIFS, 9p, FUSE, Ceph...: locking unsure */
    STORAGE_LINK = 1 << 2,     /* the database path is a symbolic link */
    STORAGE_DIR_LINK = 1 << 3, /* its directory is a symbolic link */
};

struct storage_report {
    unsigned flags;  /* enum storage_flag bits; 0: nothing to say */
    char fs[16];     /* the file system's name when a flag names one */
    char target[64]; /* where the link points when STORAGE_LINK (cut) */
};

/* Look at the database path db (which may not exist yet: its directory is
 * judged then) and fill *r. Returns 0, or -errno when neither the path nor
 * its directory can be examined (r->flags is 0 then). */
int storage_inspect(const char *db, struct storage_report *r);

/* storage_inspect() db and log one warning line per finding (nothing
 * when all is well or when the path cannot be examined). Returns the
 * number of warnings logged. */
int storage_warn(const char *db);

#endif
