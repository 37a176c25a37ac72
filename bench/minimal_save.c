/*
 * minimal_save: the baseline for `durable save` in bench/run.sh.
 *
 * It makes the same system calls as durable's atomic save of stdin to TARGET (see
 * `durable save --explain TARGET` and src/save.rs: save_atomic), and nothing else: no argument
 * parser, no signal handler thread, no journal check, no symlink following, no error messages
 * beyond perror. It is what a careful hand-written C tool would do, so the ratio
 * durable / minimal_save is the price of everything durable adds on top of the bare syscalls.
 *
 *   newfstatat(TARGET, AT_SYMLINK_NOFOLLOW)         durable: statx(TARGET, AT_SYMLINK_NOFOLLOW)
 *   [exists]  openat(TARGET, O_RDONLY|O_CLOEXEC)     the old file, for its xattrs
 *   [absent]  umask(022); umask(old)                 durable reads the umask the same way
 *   getrandom(8 bytes)                               the 16 hex digits of the temp name
 *   openat(DIR/.NAME.<16 hex>.durable-tmp, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600)
 *   read(0, 1 MiB) / write(tmp) until EOF             same 1 MiB buffer (mmap'd by malloc)
 *   [exists]  fchown(tmp, uid, gid); flistxattr(old, NULL, 0) and, per attribute,
 *             fgetxattr(old)+fsetxattr(tmp)
 *   fchmod(tmp, mode)                                the old file's mode, or 0666 & ~umask
 *   fsync(tmp)                                       (skipped with -n, like --sync none)
 *   close(tmp)
 *   rename(tmp, TARGET)
 *   openat(DIR, O_RDONLY|O_CLOEXEC|O_DIRECTORY); fsync(dir); close(dir)   (skipped with -n)
 *   [exists]  close(old)
 *
 * Usage: minimal_save [-n] TARGET < content
 * Build: gcc -O2 -o minimal_save minimal_save.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static char tmp_path[4096];
static int have_tmp;

static void die(const char *what) {
    int saved = errno;
    if (have_tmp)
        unlink(tmp_path);
    errno = saved;
    perror(what);
    exit(2);
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void copy_xattrs(int from, int to) {
    ssize_t size = flistxattr(from, NULL, 0);
    if (size < 0) {
        if (errno == ENOTSUP)
            return;
        die("flistxattr");
    }
    if (size == 0)
        return;
    char *names = malloc((size_t)size);
    if (!names)
        die("malloc");
    size = flistxattr(from, names, (size_t)size);
    if (size < 0)
        die("flistxattr");
    for (char *name = names; name < names + size; name += strlen(name) + 1) {
        ssize_t vlen = fgetxattr(from, name, NULL, 0);
        if (vlen < 0)
            die("fgetxattr");
        char *value = malloc(vlen > 0 ? (size_t)vlen : 1);
        if (!value)
            die("malloc");
        vlen = fgetxattr(from, name, value, (size_t)vlen);
        if (vlen < 0)
            die("fgetxattr");
        if (fsetxattr(to, name, value, (size_t)vlen, 0) < 0)
            die("fsetxattr");
        free(value);
    }
    free(names);
}

int main(int argc, char **argv) {
    int sync = 1;
    int argi = 1;
    if (argi < argc && strcmp(argv[argi], "-n") == 0) {
        sync = 0;
        argi++;
    }
    if (argi + 1 != argc) {
        fprintf(stderr, "usage: minimal_save [-n] TARGET < content\n");
        return 2;
    }
    const char *target = argv[argi];

    /* Directory and file name of the target. */
    char dir[4096];
    const char *slash = strrchr(target, '/');
    const char *name;
    if (slash) {
        size_t dlen = (size_t)(slash - target);
        if (dlen == 0)
            dlen = 1; /* "/name" */
        if (dlen >= sizeof dir)
            return 2;
        memcpy(dir, target, dlen);
        dir[dlen] = '\0';
        name = slash + 1;
    } else {
        strcpy(dir, ".");
        name = target;
    }

    struct stat st;
    int old = -1;
    mode_t mode;
    if (fstatat(AT_FDCWD, target, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        old = openat(AT_FDCWD, target, O_RDONLY | O_CLOEXEC);
        if (old < 0)
            die("open target");
        mode = st.st_mode & 07777;
    } else if (errno == ENOENT) {
        mode_t mask = umask(022);
        umask(mask);
        mode = 0666 & ~mask;
    } else {
        die("stat target");
    }

    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        die("getrandom");
    int len = snprintf(tmp_path, sizeof tmp_path, "%s/.%s.", dir, name);
    for (int i = 0; i < 8; i++)
        len += snprintf(tmp_path + len, sizeof tmp_path - (size_t)len, "%02x", rnd[i]);
    snprintf(tmp_path + len, sizeof tmp_path - (size_t)len, ".durable-tmp");

    int tmp = openat(AT_FDCWD, tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (tmp < 0)
        die("create temp");
    have_tmp = 1;

    char *buf = malloc(CHUNK);
    if (!buf)
        die("malloc");
    for (;;) {
        ssize_t n = read(0, buf, CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        write_all(tmp, buf, (size_t)n);
    }
    free(buf);

    if (old >= 0) {
        if (fchown(tmp, st.st_uid, st.st_gid) < 0 && errno != EPERM)
            die("fchown");
        copy_xattrs(old, tmp);
    }
    if (fchmod(tmp, mode) < 0)
        die("fchmod");
    if (sync && fsync(tmp) < 0)
        die("fsync");
    if (close(tmp) < 0)
        die("close");
    if (rename(tmp_path, target) < 0)
        die("rename");
    have_tmp = 0;
    if (sync) {
        int d = openat(AT_FDCWD, dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
        if (d < 0)
            die("open dir");
        if (fsync(d) < 0)
            die("fsync dir");
        if (close(d) < 0)
            die("close dir");
    }
    if (old >= 0)
        close(old);
    return 0;
}
