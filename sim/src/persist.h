/* persist.h -- canonical serialization of the world: state hash, snapshots, save files.
 *
 * One routine (persist_serialize) writes the state as a sequence of tagged sections
 * (tag[4] u32-reserved u64-length payload), little-endian, fields in a fixed order. The state
 * hash is a 64-bit hash of exactly those bytes, snapshots keep those bytes in memory, and save
 * files wrap them in a header:
 *
 *   "UNIVSIM\0" | u32 version | u32 flags(0) | u64 payload length | u64 payload hash | payload
 *
 * Loading checks magic, version, length and hash, then validates every enum and index before
 * building a new world, so a damaged or hostile file can never crash the engine or replace the
 * state. Unknown section tags are skipped (later layers add their own sections).
 */
#ifndef PERSIST_H
#define PERSIST_H

#include "json.h"
#include "world.h"

#define PERSIST_VERSION 2
#define PERSIST_MAGIC "UNIVSIM"

/* Append the canonical payload to out (uses jbuf as a byte buffer). 0 ok, -1 OOM. */
int persist_serialize(const world *w, jbuf *out);
/* Build a world from a payload. 0 ok; -1 with a message in err (out untouched). */
int persist_deserialize(const uint8_t *data, size_t len, world *out, char *err, size_t errlen);
uint64_t persist_hash_bytes(const uint8_t *data, size_t len);
/* Hash of the whole state. */
int persist_hash(const world *w, uint64_t *out);
/* Atomic save: temp file, fsync, rename, fsync dir. 0 ok; -1 with message. */
int persist_save(const world *w, const char *path, size_t *bytes, uint64_t *hash, char *err,
                 size_t errlen);
/* Load a save file into *out (a fresh world). Returns 0; -1 io error; -2 bad file. */
int persist_load(const char *path, world *out, char *err, size_t errlen);

#endif
