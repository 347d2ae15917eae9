/* persist.h -- canonical serialization of the world: state hash, snapshots, save files.
 *
 * One routine writes the state as a sequence of tagged sections (tag[4] u32-reserved
 * u64-length payload), little-endian, fields in a fixed order: the canonical payload. The state
 * hash is a 64-bit hash of exactly those bytes, snapshots keep those bytes in memory, and save
 * files (version 3) keep them compactly encoded (persist_codec.h: each per-probe record XORed
 * with the previous one, zero bytes elided) behind a 64-byte header:
 *
 *   "UNIVSIM\0" | u32 version (3) | u32 flags (0) | u64 header checksum (XXH64 of bytes 24..63)
 *   | u64 payload checksum (XXH64) | u64 payload length | u64 canonical length | u64 state hash
 *   | u64 tick | compact payload
 *
 * Version 2 files (canonical payload, "UNIVSIM\0" u32 2 u32 0 u64 length u64 state hash) are
 * still read. Loading checks magic, version, checksums and lengths, then validates every enum and
 * index before building a new world, so a damaged or hostile file can never crash the engine or
 * replace the state. Unknown section tags are skipped (later layers add their own sections).
 */
#ifndef PERSIST_H
#define PERSIST_H

#include "json.h"
#include "world.h"

#define PERSIST_VERSION 3
#define PERSIST_HEADER_BYTES 64
#define PERSIST_VERIFY 1 /* persist_load_ex: recompute the state hash while decoding */
#define PERSIST_MAGIC "UNIVSIM"

/* Append the canonical payload to out (uses jbuf as a byte buffer). 0 ok, -1 OOM. */
int persist_serialize(const world *w, jbuf *out);
/* Build a world from a payload. 0 ok; -1 with a message in err (out untouched). */
int persist_deserialize(const uint8_t *data, size_t len, world *out, char *err, size_t errlen);
uint64_t persist_hash_bytes(const uint8_t *data, size_t len);
/* Hash of the whole state. */
int persist_hash(const world *w, uint64_t *out);
typedef struct persist_info {
    uint32_t version;   /* of the file */
    uint64_t tick;      /* of the state */
    uint64_t hash;      /* the state hash (recorded in the file; recomputed with PERSIST_VERIFY) */
    uint64_t bytes;     /* file size */
    uint64_t canonical; /* canonical payload bytes */
} persist_info;
typedef struct persist_save_opts {
    int (*before_rename)(void *ctx); /* nonzero: abandon the save (the temp file is removed) */
    void *ctx;
} persist_save_opts;
/* A copy of the state taken in one go (persist_snap_take), from which a save file can be
 * written later -- by another thread, while the world moves on (persist_save_snap). Its buffers
 * are kept from one take to the next, so a take copies into memory that is already there: the
 * sections other than the per-probe tables and inboxes are serialized (they are small), the
 * per-probe arrays and inbox slabs are copied as they are (a memcpy). */
typedef struct persist_snap {
    jbuf side;                   /* WRLD | EXPL DEPL EVNT | MSGQ .. ARTF, serialized */
    size_t cut1, cut2;           /* where PROB PCLD and LIFE INBX go in side */
    uint64_t life_hdr[6];        /* LIFE's header fields */
    uint64_t tick;
    const probe *p;
    const probe_cold *c;
    const probe_life *L;
    uint32_t n;                  /* probes */
    const inbox_slab *inbox;
    uint32_t n_inbox;
    probe *own_p;                /* the copies (persist_snap_take) */
    probe_cold *own_c;
    probe_life *own_L;
    uint32_t own_cap;
    inbox_slab *own_inbox;
    uint32_t own_inbox_cap;
} persist_snap;
void persist_snap_init(persist_snap *s);
int persist_snap_take(persist_snap *s, const world *w); /* 0 ok, -1 out of memory */
void persist_snap_free(persist_snap *s);
/* Atomic save: temp file (streamed), fsync, rename, fsync dir. 0 ok; -1 with message. */
int persist_save(const world *w, const char *path, size_t *bytes, uint64_t *hash, char *err,
                 size_t errlen);
int persist_save_ex(const world *w, const char *path, const persist_save_opts *o, persist_info *info, char *err,
                    size_t errlen);
int persist_save_snap(const persist_snap *s, const char *path, const persist_save_opts *o, persist_info *info,
                      char *err, size_t errlen);
/* Load a save file into *out (a fresh world). Returns 0; -1 io error; -2 bad file. */
int persist_load(const char *path, world *out, char *err, size_t errlen);
/* flags: PERSIST_VERIFY. info (may be NULL) is filled on success. */
int persist_load_ex(const char *path, world *out, int flags, persist_info *info, char *err, size_t errlen);

#endif
