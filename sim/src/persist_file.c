/* persist_file.c -- save files: header, atomic write, load with checks (see persist.h). */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int persist_save(const world *w, const char *path, size_t *bytes, uint64_t *hash, char *err,
                 size_t errlen) {
    jbuf b;
    jb_init(&b);
    char header[32];
    memset(header, 0, sizeof header);
    jb_raw(&b, header, sizeof header);
    if (persist_serialize(w, &b)) {
        snprintf(err, errlen, "out of memory");
        jb_free(&b);
        return -1;
    }
    uint64_t plen = b.len - 32;
    uint64_t h = persist_hash_bytes((const uint8_t *)b.p + 32, plen);
    memcpy(b.p, PERSIST_MAGIC "\0", 8);
    uint64_t words[3] = {(uint64_t)PERSIST_VERSION, plen, h};
    for (int i = 0; i < 8; i++) {
        b.p[8 + i] = (char)((words[0] >> (8 * i)) & 0xFF); /* u32 version + u32 flags(0) */
        b.p[16 + i] = (char)((words[1] >> (8 * i)) & 0xFF);
        b.p[24 + i] = (char)((words[2] >> (8 * i)) & 0xFF);
    }
    size_t plen_path = strlen(path);
    char *tmp = malloc(plen_path + 32);
    int fd = -1, rc = -1;
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(tmp, plen_path + 32, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, b.p, b.len) || fsync(fd)) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path)) {
        snprintf(err, errlen, "cannot rename to %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    /* fsync the directory so the rename itself is durable */
    {
        char *dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = ".";
            if (slash == dir) d = "/";
            else if (slash) {
                *slash = 0;
                d = dir;
            }
            int dfd = open(d, O_RDONLY);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    *bytes = b.len;
    *hash = h;
    rc = 0;
out:
    free(tmp);
    jb_free(&b);
    return rc;
}

int persist_load(const char *path, world *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size < 32) {
        snprintf(err, errlen, "file too short for a save header");
        fclose(f);
        return -2;
    }
    uint8_t *data = malloc(size);
    if (!data) {
        snprintf(err, errlen, "out of memory");
        fclose(f);
        return -1;
    }
    if (fread(data, 1, size, f) != size) {
        snprintf(err, errlen, "cannot read %s", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    int rc = -2;
    uint64_t v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++) v[k] |= (uint64_t)data[8 + 8 * k + i] << (8 * i);
    if (memcmp(data, PERSIST_MAGIC "\0", 8) != 0) snprintf(err, errlen, "not a universe-sim save file (bad magic)");
    else if ((v[0] & 0xFFFFFFFFu) != PERSIST_VERSION) snprintf(err, errlen, "unsupported save version %llu", (unsigned long long)(v[0] & 0xFFFFFFFFu));
    else if (v[1] != size - 32) snprintf(err, errlen, "length mismatch: header says %llu, file has %llu", (unsigned long long)v[1], (unsigned long long)(size - 32));
    else if (persist_hash_bytes(data + 32, size - 32) != v[2]) snprintf(err, errlen, "checksum mismatch");
    else if (persist_deserialize(data + 32, size - 32, out, err, errlen) == 0) rc = 0;
    free(data);
    return rc;
}

