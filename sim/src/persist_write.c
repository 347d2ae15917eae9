/* persist_write.c -- canonical serialization and the state hash (see persist.h). Section layout
 * is documented in docs/universe.md ("Save format"). */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "persist.h"
#include "persist_codec.h"

#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writers append little-endian values; callers reserve space in bulk (jb_reserve) so the fast
 * path is a plain store. On allocation failure b->oom is set and writes are dropped. */
static inline void put_bytes(jbuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap && jb_reserve(b, n)) return;
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static inline void put_u8(jbuf *b, uint8_t v) { put_bytes(b, &v, 1); }
static inline void put_u32(jbuf *b, uint32_t v) {
    unsigned char t[4];
    for (int i = 0; i < 4; i++) t[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
    put_bytes(b, t, 4);
}
static inline void put_u64(jbuf *b, uint64_t v) {
    unsigned char t[8];
    for (int i = 0; i < 8; i++) t[i] = (unsigned char)((v >> (8 * i)) & 0xFF);
    put_bytes(b, t, 8);
}
static inline void put_f64(jbuf *b, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(b, v);
}
static size_t begin_section(jbuf *b, const char *tag) {
    jb_raw(b, tag, 4);
    put_u32(b, 0);
    size_t at = b->len;
    put_u64(b, 0);
    return at;
}
static void end_section(jbuf *b, size_t at) {
    if (b->oom) return;
    uint64_t len = b->len - at - 8;
    for (int i = 0; i < 8; i++) b->p[at + (size_t)i] = (char)((len >> (8 * i)) & 0xFF);
}

static int cmp_key(const void *a, const void *b) {
    const hmap_key *x = a, *y = b;
    if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    return 0;
}

/* Sorted copy of a map's keys (NULL if empty or OOM; *n set). */
static hmap_key *sorted_keys(const hmap *m, uint32_t *n) {
    *n = m->n;
    if (!m->n) return NULL;
    hmap_key *k = malloc((size_t)m->n * sizeof *k);
    if (!k) return NULL;
    memcpy(k, m->keys, (size_t)m->n * sizeof *k);
    qsort(k, m->n, sizeof *k, cmp_key);
    return k;
}


static void put_probe(jbuf *b, const probe *p) {
    put_u64(b, p->sys_hi);
    put_u64(b, p->sys_lo);
    put_u64(b, p->dst_hi);
    put_u64(b, p->dst_lo);
    put_u64(b, p->act_tick);
    put_f64(b, p->hull);
    put_f64(b, p->energy);
    put_f64(b, p->fuel);
    for (int r = 0; r < RES_COUNT; r++) put_f64(b, p->cargo[r]);
    put_f64(b, p->progress);
    put_f64(b, p->survey_progress);
    put_f64(b, p->solar);
    put_f64(b, p->last_amount);
    put_u32(b, p->ticks_left);
    put_u32(b, p->ticks_total);
    put_u8(b, (uint8_t)p->body);
    put_u8(b, (uint8_t)p->nav_target);
    put_u8(b, p->status);
    put_u8(b, p->location);
    put_u8(b, p->activity);
    put_u8(b, p->last_action);
    put_u8(b, p->last_ok);
    put_u8(b, p->last_reason);
    put_u8(b, p->last_res);
    put_u8(b, p->sys_survey);
    jb_raw(b, (const char *)p->tech, TECH_COUNT);
    jb_raw(b, (const char *)p->survey, GALAXY_MAX_BODIES);
    put_u8(b, p->research);
    put_u32(b, p->research_left);
    put_u32(b, p->research_total);
}

static inline void put_f32(jbuf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}
static void put_mem(jbuf *b, const mem_entry *m) {
    put_u32(b, m->tick);
    put_f32(b, m->weight);
    put_f32(b, m->value);
    put_u8(b, m->type);
    put_u8(b, m->subtype);
    put_u8(b, m->arg);
}
static void put_text(jbuf *b, const char *t) {
    char buf[TEXT_MAX];
    memset(buf, 0, sizeof buf);
    memcpy(buf, t, strnlen(t, TEXT_MAX - 1));
    jb_raw(b, buf, TEXT_MAX);
}
static void put_msg(jbuf *b, const message *m) {
    put_u64(b, m->arrive);
    put_u64(b, m->sent);
    put_u64(b, m->seq);
    put_u32(b, m->from);
    put_u32(b, m->to);
    put_u8(b, m->broadcast);
    put_u8(b, m->relayed);
    put_text(b, m->text);
}
static void put_map(jbuf *b, const hmap *m, hmap_key *keys, uint32_t n) {
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        put_u32(b, *hmap_get(m, keys[i].hi, keys[i].lo));
    }
}

/* Sections of the living-universe layer (docs/universe.md "State, hash and save format"). */
static int serialize_life(const world *w, jbuf *b) {
    size_t at = begin_section(b, "LIFE");
    put_u64(b, w->rseed);
    put_u64(b, w->msg_seq);
    put_u64(b, w->artifacts_found);
    put_u64(b, w->messages_delivered);
    put_u64(b, w->trades_done);
    put_u64(b, w->structures_built);
    put_u32(b, w->n_probes);
    for (uint32_t i = 0; i < w->n_probes; i++) {
        const probe_life *l = &w->L[i];
        for (int t = 0; t < TRAIT_COUNT; t++) put_f32(b, l->trait[t]);
        for (int t = 0; t < TRAIT_COUNT; t++) put_f32(b, l->fork_trait[t]);
        put_f32(b, l->drift);
        put_f32(b, l->earth);
        put_f32(b, l->threat_sev);
        put_u32(b, l->threat_tick);
        put_u32(b, l->last_company);
        put_u32(b, l->inbox);
        put_u8(b, l->threat_sub);
        put_u8(b, l->threat_loc);
        put_u8(b, (uint8_t)l->threat_body);
        put_u8(b, l->fork_done);
        put_u8(b, l->n_quirks);
        jb_raw(b, (const char *)l->quirk, QUIRK_SLOTS);
        put_u8(b, l->fork_nq);
        jb_raw(b, (const char *)l->fork_quirk, QUIRK_SLOTS);
        for (int k = 0; k < MEM_SLOTS; k++) put_mem(b, &l->mem[k]);
        for (int k = 0; k < HIST_SLOTS; k++) put_mem(b, &l->hist[k]);
        put_u32(b, l->hist_n);
    }
    end_section(b, at);

    at = begin_section(b, "INBX");
    put_u32(b, w->n_inbox);
    for (uint32_t i = 0; i < w->n_inbox; i++) {
        put_u32(b, w->inbox[i].n);
        uint32_t used = w->inbox[i].n < INBOX_SLOTS ? w->inbox[i].n : INBOX_SLOTS;
        for (uint32_t k = 0; k < used; k++) put_msg(b, &w->inbox[i].m[k]);
    }
    end_section(b, at);

    at = begin_section(b, "MSGQ");
    put_u32(b, w->n_mq);
    if (w->n_mq) {
        message *q = malloc((size_t)w->n_mq * sizeof *q);
        if (!q) return -1;
        memcpy(q, w->mq, (size_t)w->n_mq * sizeof *q);
        qsort(q, w->n_mq, sizeof *q, cmp_msg); /* canonical: arrival order */
        for (uint32_t i = 0; i < w->n_mq; i++) put_msg(b, &q[i]);
        free(q);
    }
    end_section(b, at);

    at = begin_section(b, "TRST");
    put_u32(b, w->n_trust);
    for (uint32_t i = 0; i < w->n_trust; i++) {
        put_u32(b, w->trust[i].a);
        put_u32(b, w->trust[i].b);
        put_f64(b, w->trust[i].v);
    }
    end_section(b, at);

    at = begin_section(b, "BCON");
    put_u32(b, w->n_bcn);
    for (uint32_t i = 0; i < w->n_bcn; i++) {
        const beacon *x = &w->bcn[i];
        put_u64(b, x->sys_hi);
        put_u64(b, x->sys_lo);
        put_u64(b, x->tick);
        put_u32(b, x->owner);
        put_u32(b, x->next);
        put_text(b, x->text);
    }
    end_section(b, at);

    at = begin_section(b, "STRC");
    put_u32(b, w->n_st);
    for (uint32_t i = 0; i < w->n_st; i++) {
        const structure *x = &w->st[i];
        put_u64(b, x->sys_hi);
        put_u64(b, x->sys_lo);
        put_u64(b, x->started);
        put_u64(b, x->finished);
        put_f64(b, x->progress);
        put_u32(b, x->owner);
        for (int k = 0; k < 4; k++) put_u32(b, x->builder[k]);
        put_u32(b, x->next);
        put_u8(b, x->type);
        put_u8(b, x->n_builders);
    }
    end_section(b, at);

    uint32_t n;
    hmap_key *keys = sorted_keys(&w->claims, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "CLAM");
    put_map(b, &w->claims, keys, n);
    end_section(b, at);
    free(keys);

    at = begin_section(b, "TRAD");
    put_u32(b, w->n_tr);
    for (uint32_t i = 0; i < w->n_tr; i++) {
        put_u64(b, w->tr[i].due);
        put_u64(b, w->tr[i].created);
        put_f64(b, w->tr[i].kg);
        put_u32(b, w->tr[i].from);
        put_u32(b, w->tr[i].to);
        put_u8(b, w->tr[i].res);
    }
    end_section(b, at);

    at = begin_section(b, "PROP");
    put_u32(b, w->n_pr);
    for (uint32_t i = 0; i < w->n_pr; i++) {
        const proposal *x = &w->pr[i];
        put_u64(b, x->created);
        put_u64(b, x->deadline);
        put_u32(b, x->proposer);
        put_u32(b, x->yes);
        put_u32(b, x->no);
        put_u8(b, x->resolved);
        put_u8(b, x->passed);
        put_text(b, x->text);
    }
    keys = sorted_keys(&w->votes, &n);
    if (n && !keys) return -1;
    put_map(b, &w->votes, keys, n);
    free(keys);
    end_section(b, at);

    at = begin_section(b, "SCEN");
    {
        char name[64];
        memset(name, 0, sizeof name);
        memcpy(name, w->sc_name, strnlen(w->sc_name, sizeof name - 1));
        jb_raw(b, name, sizeof name);
    }
    put_u32(b, w->n_sc);
    for (uint32_t i = 0; i < w->n_sc; i++) {
        put_u64(b, w->sc[i].at_tick);
        put_f64(b, w->sc[i].severity);
        put_u32(b, w->sc[i].target);
        put_u8(b, w->sc[i].type);
        put_u8(b, w->sc[i].subtype);
    }
    end_section(b, at);

    keys = sorted_keys(&w->art_taken, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "ARTF");
    put_map(b, &w->art_taken, keys, n);
    end_section(b, at);
    free(keys);
    return 0;
}

int persist_serialize(const world *w, jbuf *b) {
    size_t at = begin_section(b, "WRLD");
    put_u64(b, w->seed);
    put_u64(b, w->tick);
    put_u32(b, (uint32_t)world_config_nkeys);
    for (size_t i = 0; i < world_config_nkeys; i++) {
        const char *name = world_config_keys[i].name;
        put_u8(b, (uint8_t)strlen(name));
        jb_raw(b, name, strlen(name));
        put_f64(b, *(const double *)((const char *)&w->cfg + world_config_keys[i].offset));
    }
    put_u64(b, w->m.spawned);
    put_u64(b, w->m.destroyed);
    put_u64(b, w->m.discoveries);
    put_u64(b, w->m.hazards);
    put_u64(b, w->m.hazards_survived);
    end_section(b, at);

    at = begin_section(b, "PROB");
    put_u32(b, w->n_probes);
    put_u32(b, PROBE_RECORD_BYTES);
    if (jb_reserve(b, (size_t)w->n_probes * (PROBE_RECORD_BYTES + 64) + 4096)) return -1;
    for (uint32_t i = 0; i < w->n_probes; i++) put_probe(b, &w->p[i]);
    end_section(b, at);

    at = begin_section(b, "PCLD");
    put_u32(b, w->n_probes);
    for (uint32_t i = 0; i < w->n_probes; i++) {
        const probe_cold *c = &w->c[i];
        put_u64(b, c->parent_hi);
        put_u64(b, c->parent_lo);
        put_u64(b, c->born_tick);
        put_u32(b, c->generation);
        put_u32(b, c->children);
        char name[32];
        memset(name, 0, sizeof name);
        memcpy(name, c->name, strnlen(c->name, sizeof c->name - 1));
        jb_raw(b, name, sizeof name);
    }
    end_section(b, at);

    uint32_t n;
    hmap_key *keys = sorted_keys(&w->explored, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "EXPL");
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        put_u32(b, *hmap_get(&w->explored, keys[i].hi, keys[i].lo));
    }
    end_section(b, at);
    free(keys);

    keys = sorted_keys(&w->depl_index, &n);
    if (n && !keys) return -1;
    at = begin_section(b, "DEPL");
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        put_u64(b, keys[i].hi);
        put_u64(b, keys[i].lo);
        const double *row = w->depl[*hmap_get(&w->depl_index, keys[i].hi, keys[i].lo)];
        for (int r = 0; r < RES_COUNT; r++) put_f64(b, row[r]);
    }
    end_section(b, at);
    free(keys);

    at = begin_section(b, "EVNT");
    put_u32(b, w->n_ev);
    for (uint32_t e = 0; e < w->n_ev; e++) {
        const event *ev = &w->ev[e];
        put_u64(b, ev->tick);
        put_u32(b, ev->probe);
        put_u8(b, ev->type);
        put_u8(b, ev->subtype);
        put_u8(b, ev->arg);
        put_u8(b, ev->injected);
        put_f64(b, ev->severity);
        put_f64(b, ev->value);
    }
    end_section(b, at);
    if (serialize_life(w, b)) return -1;
    return b->oom ? -1 : 0;
}

uint64_t persist_hash_bytes(const uint8_t *d, size_t len) {
    uint64_t h = 0xCBF29CE484222325ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, d + i, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        h = rng_mix64(h ^ v);
    }
    uint64_t v = 0;
    for (int k = 0; i < len; i++, k++) v |= (uint64_t)d[i] << (8 * k);
    return rng_mix64(h ^ v ^ 0xFF);
}

int persist_hash(const world *w, uint64_t *out) {
    jbuf b;
    jb_init(&b);
    if (persist_serialize(w, &b)) {
        jb_free(&b);
        return -1;
    }
    *out = persist_hash_bytes((const uint8_t *)b.p, b.len);
    jb_free(&b);
    return 0;
}

