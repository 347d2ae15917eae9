/* persist_file.c -- save files: header, atomic streaming write, load with checks (see persist.h). */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"
#include "persist_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *buf, size_t n, off_t at) {
    const char *p = buf;
    while (n) {
        ssize_t k = pwrite(fd, p, n, at);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        at += k;
        n -= (size_t)k;
    }
    return 0;
}

static void fsync_parent(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
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

static int save_view(const persist_snap *v, const char *path, const persist_save_opts *o, persist_info *info,
                     char *err, size_t errlen) {
    size_t plen_path = strlen(path);
    char *tmp = malloc(plen_path + 32);
    jbuf out;
    jb_init(&out);
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
    uint8_t h[PERSIST_HEADER_BYTES];
    memset(h, 0, sizeof h);
    uint64_t state, canon, clen, sum;
    int er = lseek(fd, PERSIST_HEADER_BYTES, SEEK_SET) < 0 ? -2
                                                             : persist_encode_view(v, &out, fd, &state, &canon, &clen, &sum);
    if (er == -1) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(h, PERSIST_MAGIC "\0", 8);
    put64(h + 8, PERSIST_VERSION); /* u32 version + u32 flags (0) */
    put64(h + 24, sum);
    put64(h + 32, clen);
    put64(h + 40, canon);
    put64(h + 48, state);
    put64(h + 56, v->tick);
    put64(h + 16, xxh64_of(h + 24, PERSIST_HEADER_BYTES - 24));
    if (er || write_all(fd, h, sizeof h, 0) || fsync(fd)) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (o && o->before_rename && o->before_rename(o->ctx)) {
        snprintf(err, errlen, "save abandoned before the rename");
        goto fail;
    }
    if (rename(tmp, path)) {
        snprintf(err, errlen, "cannot rename to %s: %s", path, strerror(errno));
        goto fail;
    }
    fsync_parent(path); /* the rename itself is durable */
    if (info) {
        info->version = PERSIST_VERSION;
        info->tick = v->tick;
        info->hash = state;
        info->bytes = PERSIST_HEADER_BYTES + clen;
        info->canonical = canon;
    }
    rc = 0;
    goto out;
fail:
    if (fd >= 0) close(fd);
    fd = -1;
    unlink(tmp);
out:
    if (fd >= 0) close(fd);
    free(tmp);
    jb_free(&out);
    return rc;
}

int persist_save_ex(const world *w, const char *path, const persist_save_opts *o, persist_info *info, char *err,
                    size_t errlen) {
    persist_snap v;
    if (persist_view_of(&v, w)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = save_view(&v, path, o, info, err, errlen);
    jb_free(&v.side);
    return rc;
}

int persist_save_snap(const persist_snap *s, const char *path, const persist_save_opts *o, persist_info *info,
                      char *err, size_t errlen) {
    return save_view(s, path, o, info, err, errlen);
}

int persist_save(const world *w, const char *path, size_t *bytes, uint64_t *hash, char *err, size_t errlen) {
    persist_info info;
    if (persist_save_ex(w, path, NULL, &info, err, errlen)) return -1;
    *bytes = (size_t)info.bytes;
    *hash = info.hash;
    return 0;
}

/* version 2: "UNIVSIM\0" u32 2, u32 0, u64 payload length, u64 state hash (of the payload), the
 * canonical payload */
static int load_v2(const uint8_t *data, size_t size, world *out, persist_info *info, char *err, size_t errlen) {
    if (get64(data + 16) != size - 32) {
        snprintf(err, errlen, "length mismatch: header says %llu, file has %llu", (unsigned long long)get64(data + 16),
                 (unsigned long long)(size - 32));
        return -2;
    }
    uint64_t h = persist_hash_bytes(data + 32, size - 32);
    if (h != get64(data + 24)) {
        snprintf(err, errlen, "checksum mismatch");
        return -2;
    }
    if (persist_deserialize(data + 32, size - 32, out, err, errlen)) return -2;
    info->hash = h;
    info->canonical = size - 32;
    return 0;
}

static int load_v3(const uint8_t *data, size_t size, world *out, int flags, persist_info *info, char *err,
                   size_t errlen) {
    if (size < PERSIST_HEADER_BYTES) {
        snprintf(err, errlen, "file too short for a save header");
        return -2;
    }
    if (get64(data + 16) != xxh64_of(data + 24, PERSIST_HEADER_BYTES - 24)) {
        snprintf(err, errlen, "header checksum mismatch");
        return -2;
    }
    uint64_t plen = get64(data + 32), canon = get64(data + 40), state = get64(data + 48);
    if (plen != size - PERSIST_HEADER_BYTES) {
        snprintf(err, errlen, "length mismatch: header says %llu, file has %llu", (unsigned long long)plen,
                 (unsigned long long)(size - PERSIST_HEADER_BYTES));
        return -2;
    }
    if (canon > plen * 64 + 64) { /* more than the encoding can expand to */
        snprintf(err, errlen, "canonical length %llu impossible for a %llu-byte payload", (unsigned long long)canon,
                 (unsigned long long)plen);
        return -2;
    }
    if (xxh64_of(data + PERSIST_HEADER_BYTES, plen) != get64(data + 24)) {
        snprintf(err, errlen, "checksum mismatch");
        return -2;
    }
    psrc s;
    phash ph;
    if (psrc_compact(&s, data + PERSIST_HEADER_BYTES, plen, canon)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (flags & PERSIST_VERIFY) {
        phash_init(&ph, canon);
        s.verify = &ph;
    }
    int rc = persist_deserialize_src(&s, out, err, errlen);
    psrc_free(&s);
    if (rc) return -2;
    if ((flags & PERSIST_VERIFY) && phash_final(&ph) != state) {
        world_free(out);
        snprintf(err, errlen, "state hash mismatch: the header says %016llx, the state is %016llx",
                 (unsigned long long)state, (unsigned long long)phash_final(&ph));
        return -2;
    }
    info->hash = state;
    info->canonical = canon;
    return 0;
}

int persist_load_ex(const char *path, world *out, int flags, persist_info *info, char *err, size_t errlen) {
    persist_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size < 32) {
        snprintf(err, errlen, "file too short for a save header");
        close(fd);
        return -2;
    }
    uint8_t *data = malloc(size);
    if (!data) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, data + got, size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (got != size) {
        snprintf(err, errlen, "cannot read %s", path);
        free(data);
        return -1;
    }
    int rc = -2;
    uint32_t version = (uint32_t)(get64(data + 8) & 0xFFFFFFFFu), fl = (uint32_t)(get64(data + 8) >> 32);
    info->version = version;
    info->bytes = size;
    if (memcmp(data, PERSIST_MAGIC "\0", 8) != 0)
        snprintf(err, errlen, "not a universe-sim save file (bad magic)");
    else if (version != 2 && version != PERSIST_VERSION)
        snprintf(err, errlen, "unsupported save version %u (this engine reads versions 2 and %d)", version,
                 PERSIST_VERSION);
    else if (fl != 0)
        snprintf(err, errlen, "unsupported save flags %u", fl);
    else if (version == 2)
        rc = load_v2(data, size, out, info, err, errlen);
    else
        rc = load_v3(data, size, out, flags, info, err, errlen);
    if (rc == 0) info->tick = out->tick;
    free(data);
    return rc;
}

int persist_load(const char *path, world *out, char *err, size_t errlen) {
    return persist_load_ex(path, out, 0, NULL, err, errlen);
}
