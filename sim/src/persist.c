/* persist.c -- see persist.h. Section layout is documented in docs/universe.md ("Save format"). */
#define _POSIX_C_SOURCE 200809L
#include "persist.h"

#include "rng.h"
#include "life.h"
#include "society.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- writing */

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

#define PROBE_RECORD_BYTES (8 * 5 + 8 * 3 + 8 * RES_COUNT + 8 * 4 + 4 * 2 + 2 + 8 + TECH_COUNT + GALAXY_MAX_BODIES + 9)

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
static int cmp_msg(const void *a, const void *b) {
    const message *x = a, *y = b;
    if (x->arrive != y->arrive) return x->arrive < y->arrive ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
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

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const uint8_t *p;  /* cursor */
    const uint8_t *end;/* end of the current section */
    int bad;           /* set on overrun */
} reader;

static int need(reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return -1;
    }
    return 0;
}
static uint8_t get_u8(reader *r) {
    if (need(r, 1)) return 0;
    return *r->p++;
}
static uint32_t get_u32(reader *r) {
    if (need(r, 4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}
static uint64_t get_u64(reader *r) {
    if (need(r, 8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}
static double get_f64(reader *r) {
    uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static int finite01(double v, double lo, double hi) { return v == v && v >= lo && v <= hi; }

static float get_f32(reader *r) {
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}
static int get_mem(reader *r, mem_entry *m) {
    m->tick = get_u32(r);
    m->weight = get_f32(r);
    m->value = get_f32(r);
    m->type = get_u8(r);
    m->subtype = get_u8(r);
    m->arg = get_u8(r);
    m->pad = 0;
    return m->type < EV_TYPE_COUNT && finite01(m->weight, 0, 1) && finite01(m->value, -1e30, 1e30) ? 0 : -1;
}
/* strict UTF-8 (texts are echoed into JSON) */
static int utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || (n == 3 && *p > 0xF4)) return 0;
        uint32_t cp = n == 0 ? *p : n == 1 ? *p & 0x1Fu : n == 2 ? *p & 0x0Fu : *p & 0x07u;
        p++;
        for (int k = 0; k < n; k++, p++) {
            if ((*p & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (*p & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
    }
    return 1;
}
static int get_text(reader *r, char *out) {
    if (need(r, TEXT_MAX)) return -1;
    memcpy(out, r->p, TEXT_MAX);
    out[TEXT_MAX - 1] = 0;
    r->p += TEXT_MAX;
    return utf8_ok(out) ? 0 : -1;
}
static int get_msg(reader *r, message *m, uint32_t n_probes) {
    memset(m, 0, sizeof *m);
    m->arrive = get_u64(r);
    m->sent = get_u64(r);
    m->seq = get_u64(r);
    m->from = get_u32(r);
    m->to = get_u32(r);
    m->broadcast = get_u8(r);
    m->relayed = get_u8(r);
    if (get_text(r, m->text)) return -1;
    return m->from < n_probes && m->to < n_probes && m->broadcast <= 1 && m->relayed <= 1 && m->sent <= m->arrive ? 0 : -1;
}
static int grow_to(void **arr, uint32_t *cap, uint32_t n, size_t elem) {
    if (!n) return 0;
    void *a = malloc((size_t)n * elem);
    if (!a) return -1;
    *arr = a;
    *cap = n;
    return 0;
}
#define ALLOC(arr, cap, n) grow_to((void **)&(arr), &(cap), (n), sizeof *(arr))
#define LIFE_SECTIONS (0x7FFu << 6)

static int get_map(reader *r, hmap *m, uint32_t max_hi, uint32_t max_lo, uint32_t max_val) {
    uint32_t n = get_u32(r);
    if ((uint64_t)n * 20 > (uint64_t)(r->end - r->p)) return -1;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint64_t hi = get_u64(r), lo = get_u64(r);
        uint32_t v = get_u32(r);
        if ((max_hi && hi > max_hi) || (max_lo && lo >= max_lo) || v > max_val || hmap_get(m, hi, lo)) return -1;
        if (hmap_put(m, hi, lo, v)) return -1;
    }
    return r->bad ? -1 : 0;
}

/* Returns the section's bit in `have`, 0 for an unknown tag, -1 on error (err set). */
static int read_life_section(const char *tag, reader *r, world *w, char *err, size_t errlen) {
    const char *why = NULL;
    uint32_t n = w->n_probes;
    if (!strcmp(tag, "LIFE")) {
        w->rseed = get_u64(r);
        w->msg_seq = get_u64(r);
        w->artifacts_found = get_u64(r);
        w->messages_delivered = get_u64(r);
        w->trades_done = get_u64(r);
        w->structures_built = get_u64(r);
        if (get_u32(r) != n) why = "life table mismatched";
        w->L = calloc(n, sizeof *w->L);
        if (!w->L) why = "out of memory";
        for (uint32_t i = 0; !why && i < n && !r->bad; i++) {
            probe_life *l = &w->L[i];
            for (int t = 0; t < TRAIT_COUNT; t++) l->trait[t] = get_f32(r);
            for (int t = 0; t < TRAIT_COUNT; t++) l->fork_trait[t] = get_f32(r);
            l->drift = get_f32(r);
            l->earth = get_f32(r);
            l->threat_sev = get_f32(r);
            l->threat_tick = get_u32(r);
            l->last_company = get_u32(r);
            l->inbox = get_u32(r);
            l->threat_sub = get_u8(r);
            l->threat_loc = get_u8(r);
            l->threat_body = (int8_t)get_u8(r);
            l->fork_done = get_u8(r);
            l->n_quirks = get_u8(r);
            if (need(r, 2 * QUIRK_SLOTS + 1)) break;
            memcpy(l->quirk, r->p, QUIRK_SLOTS);
            r->p += QUIRK_SLOTS;
            l->fork_nq = get_u8(r);
            memcpy(l->fork_quirk, r->p, QUIRK_SLOTS);
            r->p += QUIRK_SLOTS;
            for (int k = 0; k < MEM_SLOTS && !why; k++)
                if (get_mem(r, &l->mem[k])) why = "memory entry invalid";
            for (int k = 0; k < HIST_SLOTS && !why; k++)
                if (get_mem(r, &l->hist[k])) why = "history entry invalid";
            l->hist_n = get_u32(r);
            for (int t = 0; t < TRAIT_COUNT && !why; t++)
                if (!finite01(l->trait[t], -1, 1) || !finite01(l->fork_trait[t], -1, 1)) why = "trait out of range";
            if (!why && (!finite01(l->drift, 0.25, 2) || !finite01(l->earth, 0, 1) || !finite01(l->threat_sev, 0, 1) ||
                         l->threat_sub >= HZ_COUNT || l->threat_loc >= LOC_COUNT || l->threat_body < -1 ||
                         l->threat_body >= GALAXY_MAX_BODIES || l->fork_done > 1 || l->n_quirks > QUIRK_SLOTS ||
                         l->fork_nq > QUIRK_SLOTS))
                why = "life record out of range";
            for (int k = 0; k < QUIRK_SLOTS && !why; k++)
                if (l->quirk[k] >= QUIRK_COUNT || l->fork_quirk[k] >= QUIRK_COUNT) why = "quirk out of range";
        }
        if (!why && !r->bad) return 1 << 6;
    } else if (!strcmp(tag, "INBX")) {
        if (!w->L) why = "INBX before LIFE";
        uint32_t k = why ? 0 : get_u32(r);
        if (!why && ((uint64_t)k * 4 > (uint64_t)(r->end - r->p) || ALLOC(w->inbox, w->cap_inbox, k))) why = "inbox table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            inbox_slab *s = &w->inbox[i];
            memset(s, 0, sizeof *s);
            s->n = get_u32(r);
            uint32_t used = s->n < INBOX_SLOTS ? s->n : INBOX_SLOTS;
            for (uint32_t j = 0; j < used && !why; j++)
                if (get_msg(r, &s->m[j], n)) why = "inbox message invalid";
            w->n_inbox++;
        }
        for (uint32_t i = 0; !why && i < n; i++)
            if (w->L[i].inbox > w->n_inbox) why = "inbox index invalid";
        if (!why && !r->bad) return 1 << 7;
    } else if (!strcmp(tag, "MSGQ")) {
        uint32_t k = get_u32(r);
        if ((uint64_t)k * 160 > (uint64_t)(r->end - r->p) || ALLOC(w->mq, w->cap_mq, k)) why = "message queue invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            if (get_msg(r, &w->mq[i], n) || w->mq[i].seq >= w->msg_seq ||
                (i && cmp_msg(&w->mq[i - 1], &w->mq[i]) >= 0))
                why = "queued message invalid";
            else w->n_mq++;
        }
        if (!why && !r->bad) return 1 << 8;
    } else if (!strcmp(tag, "TRST")) {
        if (!w->L) why = "TRST before LIFE";
        uint32_t k = why ? 0 : get_u32(r);
        if (!why && ((uint64_t)k * 16 > (uint64_t)(r->end - r->p) || ALLOC(w->trust, w->cap_trust, k))) why = "trust table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            trust_rec *t = &w->trust[i];
            memset(t, 0, sizeof *t);
            t->a = get_u32(r);
            t->b = get_u32(r);
            t->v = get_f64(r);
            if (t->a >= t->b || t->b >= n || !finite01(t->v, -1, 1) || hmap_get(&w->trust_ix, t->a, t->b) ||
                hmap_put(&w->trust_ix, t->a, t->b, i))
                why = "trust record invalid";
            else w->n_trust++;
        }
        if (!why && !r->bad) return 1 << 9;
    } else if (!strcmp(tag, "BCON")) {
        uint32_t k = get_u32(r);
        if ((uint64_t)k * 160 > (uint64_t)(r->end - r->p) || ALLOC(w->bcn, w->cap_bcn, k)) why = "beacon table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            beacon *x = &w->bcn[i];
            memset(x, 0, sizeof *x);
            x->sys_hi = get_u64(r);
            x->sys_lo = get_u64(r);
            x->tick = get_u64(r);
            x->owner = get_u32(r);
            x->next = get_u32(r);
            if (get_text(r, x->text) || x->owner >= n || x->next > i || !galaxy_system(&w->gal, x->sys_hi, x->sys_lo) ||
                (x->next && (w->bcn[x->next - 1].sys_hi != x->sys_hi || w->bcn[x->next - 1].sys_lo != x->sys_lo)) ||
                hmap_put(&w->bcn_ix, x->sys_hi, x->sys_lo, i + 1))
                why = "beacon invalid";
            else w->n_bcn++;
        }
        if (!why && !r->bad) return 1 << 10;
    } else if (!strcmp(tag, "STRC")) {
        uint32_t k = get_u32(r);
        if ((uint64_t)k * 66 > (uint64_t)(r->end - r->p) || ALLOC(w->st, w->cap_st, k)) why = "structure table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            structure *x = &w->st[i];
            memset(x, 0, sizeof *x);
            x->sys_hi = get_u64(r);
            x->sys_lo = get_u64(r);
            x->started = get_u64(r);
            x->finished = get_u64(r);
            x->progress = get_f64(r);
            x->owner = get_u32(r);
            for (int j = 0; j < 4; j++) x->builder[j] = get_u32(r);
            x->next = get_u32(r);
            x->type = get_u8(r);
            x->n_builders = get_u8(r);
            int bad = x->owner >= n || x->next > i || x->type >= STRUCT_COUNT || x->n_builders < 1 ||
                      x->n_builders > 4 || !finite01(x->progress, 0, 1) || !galaxy_system(&w->gal, x->sys_hi, x->sys_lo);
            for (int j = 0; j < x->n_builders && !bad; j++) bad = x->builder[j] >= n;
            if (!bad && x->next && (w->st[x->next - 1].sys_hi != x->sys_hi || w->st[x->next - 1].sys_lo != x->sys_lo)) bad = 1;
            if (bad || hmap_put(&w->st_ix, x->sys_hi, x->sys_lo, i + 1)) why = "structure invalid";
            else w->n_st++;
        }
        if (!why && !r->bad) return 1 << 11;
    } else if (!strcmp(tag, "CLAM")) {
        if (get_map(r, &w->claims, 0, 0, n)) why = "claims invalid";
        for (uint32_t i = 0; !why && i < w->claims.n; i++)
            if (!galaxy_system(&w->gal, w->claims.keys[i].hi, w->claims.keys[i].lo)) why = "claim on an invalid system";
        if (!why) return 1 << 12;
    } else if (!strcmp(tag, "TRAD")) {
        uint32_t k = get_u32(r);
        if ((uint64_t)k * 33 > (uint64_t)(r->end - r->p) || ALLOC(w->tr, w->cap_tr, k)) why = "trade table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            trade *t = &w->tr[i];
            memset(t, 0, sizeof *t);
            t->due = get_u64(r);
            t->created = get_u64(r);
            t->kg = get_f64(r);
            t->from = get_u32(r);
            t->to = get_u32(r);
            t->res = get_u8(r);
            if (t->from >= n || t->to >= n || t->res >= RES_COUNT || !finite01(t->kg, 0, 1e18)) why = "trade invalid";
            else w->n_tr++;
        }
        if (!why && !r->bad) return 1 << 13;
    } else if (!strcmp(tag, "PROP")) {
        uint32_t k = get_u32(r);
        if ((uint64_t)k * 158 > (uint64_t)(r->end - r->p) || ALLOC(w->pr, w->cap_pr, k)) why = "proposal table invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            proposal *x = &w->pr[i];
            memset(x, 0, sizeof *x);
            x->created = get_u64(r);
            x->deadline = get_u64(r);
            x->proposer = get_u32(r);
            x->yes = get_u32(r);
            x->no = get_u32(r);
            x->resolved = get_u8(r);
            x->passed = get_u8(r);
            if (get_text(r, x->text) || x->proposer >= n || x->resolved > 1 || x->passed > 1) why = "proposal invalid";
            else w->n_pr++;
        }
        if (!why && get_map(r, &w->votes, w->n_pr, n, 2)) why = "votes invalid";
        if (!why && !r->bad) return 1 << 14;
    } else if (!strcmp(tag, "SCEN")) {
        if (need(r, 64)) return -1;
        memcpy(w->sc_name, r->p, 64);
        w->sc_name[63] = 0;
        r->p += 64;
        uint32_t k = get_u32(r);
        if (!utf8_ok(w->sc_name) || (uint64_t)k * 22 > (uint64_t)(r->end - r->p) || ALLOC(w->sc, w->cap_sc, k))
            why = "scenario invalid";
        for (uint32_t i = 0; !why && i < k && !r->bad; i++) {
            scenario_event *e = &w->sc[i];
            memset(e, 0, sizeof *e);
            e->at_tick = get_u64(r);
            e->severity = get_f64(r);
            e->target = get_u32(r);
            e->type = get_u8(r);
            e->subtype = get_u8(r);
            if (e->target > n || e->type >= EV_TYPE_COUNT || !finite01(e->severity, 0, 1)) why = "scenario event invalid";
            else w->n_sc++;
        }
        if (!why && !r->bad) return 1 << 15;
    } else if (!strcmp(tag, "ARTF")) {
        if (get_map(r, &w->art_taken, 0, 0, UINT32_MAX)) why = "artifact table invalid";
        if (!why) return 1 << 16;
    } else {
        return 0;
    }
    snprintf(err, errlen, "%s", why ? why : "life section truncated");
    return -1;
}

static int read_probe(reader *r, probe *p, world *w, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->sys_hi = get_u64(r);
    p->sys_lo = get_u64(r);
    p->dst_hi = get_u64(r);
    p->dst_lo = get_u64(r);
    p->act_tick = get_u64(r);
    p->hull = get_f64(r);
    p->energy = get_f64(r);
    p->fuel = get_f64(r);
    for (int k = 0; k < RES_COUNT; k++) p->cargo[k] = get_f64(r);
    p->progress = get_f64(r);
    p->survey_progress = get_f64(r);
    p->solar = get_f64(r);
    p->last_amount = get_f64(r);
    p->ticks_left = get_u32(r);
    p->ticks_total = get_u32(r);
    p->body = (int8_t)get_u8(r);
    p->nav_target = (int8_t)get_u8(r);
    p->status = get_u8(r);
    p->location = get_u8(r);
    p->activity = get_u8(r);
    p->last_action = get_u8(r);
    p->last_ok = get_u8(r);
    p->last_reason = get_u8(r);
    p->last_res = get_u8(r);
    p->sys_survey = get_u8(r);
    if (need(r, TECH_COUNT + GALAXY_MAX_BODIES)) return -1;
    memcpy(p->tech, r->p, TECH_COUNT);
    r->p += TECH_COUNT;
    memcpy(p->survey, r->p, GALAXY_MAX_BODIES);
    r->p += GALAXY_MAX_BODIES;
    p->research = get_u8(r);
    p->research_left = get_u32(r);
    p->research_total = get_u32(r);
    if (r->bad) return -1;
    /* validate everything later code indexes with */
    const char *why = NULL;
    const star_system *s = galaxy_system(&w->gal, p->sys_hi, p->sys_lo);
    if (!s) why = "probe system id invalid";
    else if (p->status >= ST_COUNT || p->location >= LOC_COUNT || p->activity >= ACT_COUNT ||
             p->last_action >= A_COUNT || p->last_reason >= R_COUNT || p->last_res >= RES_COUNT ||
             p->last_ok > 1 || p->sys_survey > 4)
        why = "probe enum out of range";
    else if (p->body < -1 || p->body >= s->n_bodies || p->nav_target < -1 || p->nav_target >= s->n_bodies)
        why = "probe body index out of range";
    else if (p->activity == ACT_NAVIGATE && p->nav_target < 0)
        why = "navigation without target";
    else if (p->activity == ACT_TRAVEL && !galaxy_system(&w->gal, p->dst_hi, p->dst_lo))
        why = "travel destination invalid";
    else if (p->activity != ACT_NONE && (p->ticks_left == 0 || p->ticks_total < p->ticks_left))
        why = "activity tick counters invalid";
    else if (!finite01(p->hull, 0, 1) || !finite01(p->energy, 0, ENERGY_CAP) || !finite01(p->fuel, 0, 1e18) ||
             !finite01(p->progress, 0, 1) || !finite01(p->survey_progress, 0, 100) ||
             !finite01(p->solar, 0, 10) || !finite01(p->last_amount, 0, 1e15))
        why = "probe number out of range";
    for (int k = 0; !why && k < RES_COUNT; k++)
        if (!finite01(p->cargo[k], 0, 1e18)) why = "cargo out of range";
    for (int k = 0; !why && k < TECH_COUNT; k++)
        if (p->tech[k] < 1 || p->tech[k] > TECH_MAX) why = "tech level out of range";
    for (int k = 0; !why && k < GALAXY_MAX_BODIES; k++)
        if (p->survey[k] > 4) why = "survey level out of range";
    if (!why && (p->research > TECH_COUNT || (p->research && (p->research_left == 0 || p->research_left > p->research_total))))
        why = "research state invalid";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

int persist_deserialize(const uint8_t *data, size_t len, world *out, char *err, size_t errlen) {
    world w;
    memset(&w, 0, sizeof w);
    world_init_tables(&w);
    hmap_init(&w.explored);
    hmap_init(&w.depl_index);
    reader top = {data, data + len, 0};
    int have = 0;
    int ok = -1;
    galaxy_init(&w.gal, 0);
    world_config_defaults(&w.cfg);
    while (top.p < top.end) {
        if (need(&top, 16)) {
            snprintf(err, errlen, "truncated section header");
            goto fail;
        }
        char tag[5];
        memcpy(tag, top.p, 4);
        tag[4] = 0;
        top.p += 4;
        (void)get_u32(&top);
        uint64_t slen = get_u64(&top);
        if (slen > (uint64_t)(top.end - top.p)) {
            snprintf(err, errlen, "section %s overruns the payload", tag);
            goto fail;
        }
        reader r = {top.p, top.p + slen, 0};
        top.p += slen;
        if (!strcmp(tag, "WRLD")) {
            w.seed = get_u64(&r);
            w.tick = get_u64(&r);
            galaxy_free(&w.gal);
            galaxy_init(&w.gal, w.seed);
            uint32_t nk = get_u32(&r);
            for (uint32_t i = 0; i < nk && !r.bad; i++) {
                uint8_t nl = get_u8(&r);
                if (need(&r, nl)) break;
                char name[256];
                memcpy(name, r.p, nl);
                name[nl] = 0;
                r.p += nl;
                double v = get_f64(&r);
                for (size_t k = 0; k < world_config_nkeys; k++)
                    if (!strcmp(world_config_keys[k].name, name)) {
                        if (!(v >= world_config_keys[k].min && v <= world_config_keys[k].max)) {
                            snprintf(err, errlen, "config %s out of range", name);
                            goto fail;
                        }
                        *(double *)((char *)&w.cfg + world_config_keys[k].offset) = v;
                    }
            }
            w.m.spawned = get_u64(&r);
            w.m.destroyed = get_u64(&r);
            w.m.discoveries = get_u64(&r);
            w.m.hazards = get_u64(&r);
            w.m.hazards_survived = get_u64(&r);
            have |= 1;
        } else if (!strcmp(tag, "PROB")) {
            if (!(have & 1)) {
                snprintf(err, errlen, "PROB before WRLD");
                goto fail;
            }
            uint32_t n = get_u32(&r);
            uint32_t rec = get_u32(&r);
            if (rec != PROBE_RECORD_BYTES || (uint64_t)n * rec > (uint64_t)(r.end - r.p) || n == 0) {
                snprintf(err, errlen, "probe table malformed");
                goto fail;
            }
            w.p = malloc((size_t)n * sizeof *w.p);
            w.c = calloc(n, sizeof *w.c);
            if (!w.p || !w.c) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            w.cap_probes = w.n_probes = n;
            for (uint32_t i = 0; i < n; i++) {
                if (read_probe(&r, &w.p[i], &w, err, errlen)) {
                    if (r.bad) snprintf(err, errlen, "probe table truncated");
                    goto fail;
                }
                if (w.p[i].status != ST_DESTROYED) w.alive++;
            }
            have |= 2;
        } else if (!strcmp(tag, "PCLD")) {
            if (!(have & 2) || get_u32(&r) != w.n_probes) {
                snprintf(err, errlen, "cold probe table mismatched");
                goto fail;
            }
            for (uint32_t i = 0; i < w.n_probes && !r.bad; i++) {
                probe_cold *c = &w.c[i];
                c->parent_hi = get_u64(&r);
                c->parent_lo = get_u64(&r);
                c->born_tick = get_u64(&r);
                c->generation = get_u32(&r);
                c->children = get_u32(&r);
                if (need(&r, 32)) break;
                memcpy(c->name, r.p, 32);
                c->name[31] = 0;
                r.p += 32;
                if (c->parent_lo > w.n_probes || (c->parent_lo && c->parent_hi != PROBE_ID_HI)) {
                    snprintf(err, errlen, "parent id invalid");
                    goto fail;
                }
            }
            have |= 4;
        } else if (!strcmp(tag, "EXPL")) {
            uint32_t n = get_u32(&r);
            for (uint32_t i = 0; i < n && !r.bad; i++) {
                uint64_t hi = get_u64(&r), lo = get_u64(&r);
                uint32_t t = get_u32(&r);
                if (!r.bad && hmap_put(&w.explored, hi, lo, t)) {
                    snprintf(err, errlen, "out of memory");
                    goto fail;
                }
            }
            have |= 8;
        } else if (!strcmp(tag, "DEPL")) {
            uint32_t n = get_u32(&r);
            if ((uint64_t)n * (16 + 8 * RES_COUNT) > (uint64_t)(r.end - r.p)) {
                snprintf(err, errlen, "depletion table truncated");
                goto fail;
            }
            w.depl = malloc(((size_t)n + 1) * sizeof *w.depl);
            if (!w.depl) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            w.cap_depl = n + 1;
            for (uint32_t i = 0; i < n && !r.bad; i++) {
                uint64_t hi = get_u64(&r), lo = get_u64(&r);
                int bi;
                if (!galaxy_body(&w.gal, hi, lo, &bi) || hmap_get(&w.depl_index, hi, lo)) {
                    snprintf(err, errlen, "depletion entry for an invalid body");
                    goto fail;
                }
                for (int k = 0; k < RES_COUNT; k++) {
                    w.depl[i][k] = get_f64(&r);
                    if (!finite01(w.depl[i][k], 0, 1e18)) {
                        snprintf(err, errlen, "depletion value out of range");
                        goto fail;
                    }
                }
                if (hmap_put(&w.depl_index, hi, lo, i)) {
                    snprintf(err, errlen, "out of memory");
                    goto fail;
                }
                w.n_depl++;
            }
            have |= 16;
        } else if (!strcmp(tag, "EVNT")) {
            if (!(have & 2)) {
                snprintf(err, errlen, "EVNT before PROB");
                goto fail;
            }
            uint32_t n = get_u32(&r);
            if ((uint64_t)n * 32 > (uint64_t)(r.end - r.p)) {
                snprintf(err, errlen, "event log truncated");
                goto fail;
            }
            w.ev = malloc(((size_t)n + 1) * sizeof *w.ev);
            if (!w.ev) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            w.cap_ev = n + 1;
            for (uint32_t e = 0; e < n && !r.bad; e++) {
                event *ev = &w.ev[e];
                memset(ev, 0, sizeof *ev);
                ev->tick = get_u64(&r);
                ev->probe = get_u32(&r);
                ev->type = get_u8(&r);
                ev->subtype = get_u8(&r);
                ev->arg = get_u8(&r);
                ev->injected = get_u8(&r);
                ev->severity = get_f64(&r);
                ev->value = get_f64(&r);
                if (ev->probe >= w.n_probes || ev->type >= EV_TYPE_COUNT || ev->injected > 1 ||
                    !finite01(ev->severity, 0, 1) || !finite01(ev->value, -1e18, 1e18)) {
                    snprintf(err, errlen, "event entry invalid");
                    goto fail;
                }
                w.n_ev++;
            }
            have |= 32;
        }
        else if (have & 2) {
            static const char *const life_tags[] = {"LIFE", "INBX", "MSGQ", "TRST", "BCON", "STRC",
                                                    "CLAM", "TRAD", "PROP", "SCEN", "ARTF"};
            for (int k = 0; k < 11; k++)
                if (!strcmp(tag, life_tags[k]) && (have & (1 << (6 + k)))) {
                    snprintf(err, errlen, "duplicate section %s", tag);
                    goto fail;
                }
            int lr = read_life_section(tag, &r, &w, err, errlen);
            if (lr < 0) goto fail;
            if (have & lr) {
                snprintf(err, errlen, "duplicate section %s", tag);
                goto fail;
            }
            have |= lr;
        }
        /* unknown tags: skipped (forward compatible) */
        if (r.bad) {
            snprintf(err, errlen, "section %s truncated", tag);
            goto fail;
        }
    }
    if (have != (int)(63 | LIFE_SECTIONS)) {
        snprintf(err, errlen, "required section missing");
        goto fail;
    }
    w.m.spawned = w.m.spawned < w.n_probes ? w.n_probes : w.m.spawned;
    world_relink_events(&w);
    for (uint32_t i = 0; i < w.n_trust; i++) { /* per-probe trust lists, in creation order */
        trust_rec *t = &w.trust[i];
        t->next_a = w.L[t->a].trust_head;
        t->next_b = w.L[t->b].trust_head;
        w.L[t->a].trust_head = i + 1;
        w.L[t->b].trust_head = i + 1;
    }
    society_rebuild(&w);
    *out = w;
    ok = 0;
    return ok;
fail:
    world_free(&w);
    return -1;
}

/* ---------------------------------------------------------------- files */

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
