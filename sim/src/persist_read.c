/* persist_read.c -- persist_deserialize: validates every enum and index of a payload before
 * building a new world (see persist.h). The payload comes from a source (persist_codec.h): a
 * canonical payload in memory, or the compact payload of a save file, decoded on the fly record
 * by record -- the canonical payload is never materialized whole. */
#include "persist.h"
#include "persist_codec.h"

#include "society.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one PROBE_RECORD_BYTES record at q */
static int read_probe(const uint8_t *q, probe *p, world *w, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    p->sys_hi = rd_u64(&q);
    p->sys_lo = rd_u64(&q);
    p->dst_hi = rd_u64(&q);
    p->dst_lo = rd_u64(&q);
    p->act_tick = rd_u64(&q);
    p->hull = rd_f64(&q);
    p->energy = rd_f64(&q);
    p->fuel = rd_f64(&q);
    for (int k = 0; k < RES_COUNT; k++) p->cargo[k] = rd_f64(&q);
    p->progress = rd_f64(&q);
    p->survey_progress = rd_f64(&q);
    p->solar = rd_f64(&q);
    p->last_amount = rd_f64(&q);
    p->ticks_left = rd_u32(&q);
    p->ticks_total = rd_u32(&q);
    p->body = (int8_t)rd_u8(&q);
    p->nav_target = (int8_t)rd_u8(&q);
    p->status = rd_u8(&q);
    p->location = rd_u8(&q);
    p->activity = rd_u8(&q);
    p->last_action = rd_u8(&q);
    p->last_ok = rd_u8(&q);
    p->last_reason = rd_u8(&q);
    p->last_res = rd_u8(&q);
    p->sys_survey = rd_u8(&q);
    memcpy(p->tech, q, TECH_COUNT);
    q += TECH_COUNT;
    memcpy(p->survey, q, GALAXY_MAX_BODIES);
    q += GALAXY_MAX_BODIES;
    p->research = rd_u8(&q);
    p->research_left = rd_u32(&q);
    p->research_total = rd_u32(&q);
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

/* ---- sources ---- */

void psrc_canonical(psrc *s, const uint8_t *data, size_t len) {
    memset(s, 0, sizeof *s);
    s->p = data;
    s->end = data + len;
}

int psrc_compact(psrc *s, const uint8_t *data, size_t len, uint64_t canonical_len) {
    memset(s, 0, sizeof *s);
    s->p = data;
    s->end = data + len;
    s->compact = 1;
    s->limit = canonical_len;
    s->rec = calloc(CSTRIDE_MAX, 1);
    return s->rec ? 0 : -1;
}

void psrc_free(psrc *s) {
    free(s->rec);
    free(s->stage);
    s->rec = s->stage = NULL;
}

static const uint8_t *bad(psrc *s, const char *why) {
    s->why = why;
    return NULL;
}

static int produced(psrc *s, const uint8_t *p, size_t n) {
    if (n > s->limit - s->produced) {
        s->why = "compact payload longer than its header says";
        return -1;
    }
    s->produced += n;
    if (s->verify) phash_feed(s->verify, p, n);
    return 0;
}

static uint32_t cu32(psrc *s) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)s->p[i] << (8 * i);
    s->p += 4;
    return v;
}

#if defined(__GNUC__)
#define ctz8(m) ((unsigned)__builtin_ctz(m))
#else
static inline unsigned ctz8(unsigned m) {
    unsigned k = 0;
    while (!(m & 1u)) m >>= 1, k++;
    return k;
}
#endif
static inline unsigned popcount8(unsigned m) {
    m = m - ((m >> 1) & 0x55u);
    m = (m & 0x33u) + ((m >> 2) & 0x33u);
    return (m + (m >> 4)) & 0x0Fu;
}

/* XOR sparse(n) into dst */
static int sparse_get(psrc *s, uint8_t *dst, size_t n) {
    size_t nw = (n + 7) / 8, nb = (nw + 7) / 8;
    if ((size_t)(s->end - s->p) < nb) return -1;
    const uint8_t *bm = s->p;
    s->p += nb;
    if ((nw & 7) && (bm[nb - 1] >> (nw & 7))) return -1;
    for (size_t j = 0; j < nb; j++) {
        unsigned bits = bm[j];
        while (bits) {
            unsigned b = ctz8(bits);
            bits &= bits - 1;
            size_t at = 8 * (8 * j + b), k = n - at < 8 ? n - at : 8;
            if (s->p >= s->end) return -1;
            unsigned mask = *s->p++;
            if (!mask || (k < 8 && (mask >> k))) return -1;
            if ((size_t)(s->end - s->p) < popcount8(mask)) return -1;
            uint8_t *d = dst + at;
            for (; mask; mask &= mask - 1) d[ctz8(mask)] ^= *s->p++;
        }
    }
    return 0;
}

static int next_record(psrc *s) {
    if (sparse_get(s, s->rec, s->stride)) {
        s->why = "compact record malformed";
        return -1;
    }
    s->left--;
    return produced(s, s->rec, s->stride);
}

static uint8_t *stage_room(psrc *s, size_t n) {
    if (s->off) {
        memmove(s->stage, s->stage + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + n > s->cap) {
        size_t nc = s->cap ? s->cap : 65536;
        while (nc < s->len + n) nc *= 2;
        uint8_t *np = realloc(s->stage, nc);
        if (!np) {
            s->why = "out of memory";
            return NULL;
        }
        s->stage = np;
        s->cap = nc;
    }
    return s->stage + s->len;
}

/* Decode the next unit (a record, or a whole SPARSE/RAW block) onto the stage. */
static int unit(psrc *s) {
    if (s->kind == CB_RECORDS && s->left) {
        if (next_record(s)) return -1;
        uint8_t *o = stage_room(s, s->stride);
        if (!o) return -1;
        memcpy(o, s->rec, s->stride);
        s->len += s->stride;
        return 0;
    }
    s->kind = CB_END;
    if (s->ended || s->p >= s->end) return bad(s, "compact payload truncated"), -1;
    uint8_t kind = *s->p++;
    if (kind == CB_END) {
        s->ended = 1;
        return bad(s, "compact payload truncated"), -1;
    }
    if (kind == CB_RECORDS) {
        if (s->end - s->p < 8) return bad(s, "compact payload truncated"), -1;
        uint32_t stride = cu32(s), count = cu32(s);
        if (!stride || stride > CSTRIDE_MAX || !count) return bad(s, "compact record block malformed"), -1;
        s->kind = CB_RECORDS;
        s->stride = stride;
        s->left = count;
        memset(s->rec, 0, stride);
        return 0;
    }
    if (kind != CB_SPARSE && kind != CB_RAW) return bad(s, "compact block of unknown kind"), -1;
    if (s->end - s->p < 4) return bad(s, "compact payload truncated"), -1;
    uint32_t n = cu32(s);
    if (!n || n > CBLOCK_MAX) return bad(s, "compact block malformed"), -1;
    uint8_t *o = stage_room(s, n);
    if (!o) return -1;
    if (kind == CB_RAW) {
        if ((size_t)(s->end - s->p) < n) return bad(s, "compact payload truncated"), -1;
        memcpy(o, s->p, n);
        s->p += n;
    } else {
        memset(o, 0, n);
        if (sparse_get(s, o, n)) return bad(s, "compact block malformed"), -1;
    }
    s->len += n;
    return produced(s, o, n);
}

const uint8_t *src_take(psrc *s, size_t n) {
    const uint8_t *r;
    if (!s->compact) {
        if ((size_t)(s->end - s->p) < n) return bad(s, "payload truncated");
        r = s->p;
        s->p += n;
        return r;
    }
    if (s->len - s->off < n) {
        if (s->off == s->len) {
            s->off = s->len = 0;
            if (s->kind == CB_RECORDS && s->left && n == s->stride) return next_record(s) ? NULL : s->rec;
        }
        if (n > s->limit - s->produced + (s->len - s->off)) return bad(s, "compact payload shorter than a section says");
        while (s->len - s->off < n)
            if (unit(s)) return NULL;
    }
    r = s->stage + s->off;
    s->off += n;
    return r;
}

int src_at_end(psrc *s) {
    if (!s->compact) return s->p == s->end;
    if (s->len > s->off || (s->kind == CB_RECORDS && s->left)) return 0;
    if (s->p < s->end && *s->p != CB_END) return 0;
    if (s->p >= s->end) {
        s->why = "compact payload truncated (no end mark)";
        return -1;
    }
    s->p++;
    s->ended = 1;
    if (s->p != s->end) {
        s->why = "bytes after the end of the compact payload";
        return -1;
    }
    if (s->produced != s->limit) {
        s->why = "compact payload shorter than its header says";
        return -1;
    }
    return 1;
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int take_fail(psrc *src, char *err, size_t errlen, const char *what, const char *tag) {
    if (src->compact) snprintf(err, errlen, "%s", src->why ? src->why : "compact payload malformed");
    else snprintf(err, errlen, what, tag);
    return -1;
}

/* PROB, PCLD and LIFE: a table header, then one record per probe (taken one at a time). */
static int read_tables(psrc *src, const char *tag, uint64_t slen, world *w, int *have, char *err, size_t errlen) {
    if (!strcmp(tag, "PROB")) {
        if (!(*have & 1)) {
            snprintf(err, errlen, "PROB before WRLD");
            return -1;
        }
        const uint8_t *h = slen >= 8 ? src_take(src, 8) : NULL;
        if (!h) return take_fail(src, err, errlen, "probe table malformed", tag);
        reader r = {h, h + 8, 0};
        uint32_t n = get_u32(&r), rec = get_u32(&r);
        if (rec != PROBE_RECORD_BYTES || n == 0 || slen != 8 + (uint64_t)n * rec) {
            snprintf(err, errlen, "probe table malformed");
            return -1;
        }
        w->p = malloc((size_t)n * sizeof *w->p);
        w->c = calloc(n, sizeof *w->c);
        if (!w->p || !w->c) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        w->cap_probes = w->n_probes = n;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *p = src_take(src, PROBE_RECORD_BYTES);
            if (!p) return take_fail(src, err, errlen, "probe table truncated", tag);
            if (read_probe(p, &w->p[i], w, err, errlen)) return -1;
            if (w->p[i].status != ST_DESTROYED) w->alive++;
        }
        *have |= 2;
        return 1;
    }
    if (!strcmp(tag, "PCLD")) {
        if (!(*have & 2) || slen != 4 + (uint64_t)w->n_probes * COLD_RECORD_BYTES) {
            snprintf(err, errlen, "cold probe table mismatched");
            return -1;
        }
        const uint8_t *h = src_take(src, 4);
        if (!h) return take_fail(src, err, errlen, "section %s truncated", tag);
        if (le32(h) != w->n_probes) {
            snprintf(err, errlen, "cold probe table mismatched");
            return -1;
        }
        for (uint32_t i = 0; i < w->n_probes; i++) {
            const uint8_t *p = src_take(src, COLD_RECORD_BYTES);
            if (!p) return take_fail(src, err, errlen, "section %s truncated", tag);
            probe_cold *c = &w->c[i];
            c->parent_hi = rd_u64(&p);
            c->parent_lo = rd_u64(&p);
            c->born_tick = rd_u64(&p);
            c->generation = rd_u32(&p);
            c->children = rd_u32(&p);
            memcpy(c->name, p, 32);
            c->name[31] = 0;
            if (c->parent_lo > w->n_probes || (c->parent_lo && c->parent_hi != PROBE_ID_HI)) {
                snprintf(err, errlen, "parent id invalid");
                return -1;
            }
        }
        *have |= 4;
        return 1;
    }
    if (!strcmp(tag, "LIFE") && (*have & 2)) {
        if (*have & (1 << 6)) {
            snprintf(err, errlen, "duplicate section %s", tag);
            return -1;
        }
        if (slen != LIFE_HEADER_BYTES + (uint64_t)w->n_probes * LIFE_RECORD_BYTES) {
            snprintf(err, errlen, "life table mismatched");
            return -1;
        }
        const uint8_t *h = src_take(src, LIFE_HEADER_BYTES);
        if (!h) return take_fail(src, err, errlen, "section %s truncated", tag);
        reader r = {h, h + LIFE_HEADER_BYTES, 0};
        if (persist_read_life_header(&r, w, err, errlen)) return -1;
        for (uint32_t i = 0; i < w->n_probes; i++) {
            const uint8_t *p = src_take(src, LIFE_RECORD_BYTES);
            if (!p) return take_fail(src, err, errlen, "section %s truncated", tag);
            if (persist_read_life_record(p, &w->L[i], err, errlen)) return -1;
        }
        *have |= 1 << 6;
        return 1;
    }
    return 0;
}

int persist_deserialize_src(psrc *src, world *out, char *err, size_t errlen) {
    world w;
    memset(&w, 0, sizeof w);
    world_init_tables(&w);
    hmap_init(&w.explored);
    hmap_init(&w.depl_index);
    int have = 0;
    galaxy_init(&w.gal, 0);
    world_config_defaults(&w.cfg);
    for (;;) {
        int at_end = src_at_end(src);
        if (at_end < 0) {
            snprintf(err, errlen, "%s", src->why);
            goto fail;
        }
        if (at_end) break;
        const uint8_t *hp = src_take(src, 16);
        if (!hp) {
            take_fail(src, err, errlen, "truncated section header", "");
            goto fail;
        }
        char tag[5];
        memcpy(tag, hp, 4);
        tag[4] = 0;
        uint64_t slen = le64(hp + 8);
        uint64_t room = src->compact ? src->limit - src->produced + (src->len - src->off) : (uint64_t)(src->end - src->p);
        if (slen > room) {
            snprintf(err, errlen, "section %s overruns the payload", tag);
            goto fail;
        }
        int tr = read_tables(src, tag, slen, &w, &have, err, errlen);
        if (tr < 0) goto fail;
        if (tr) continue;
        const uint8_t *sb = src_take(src, (size_t)slen);
        if (!sb) {
            take_fail(src, err, errlen, "section %s overruns the payload", tag);
            goto fail;
        }
        reader r = {sb, sb + slen, 0};
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
        } else if (have & 2) {
            static const char *const life_tags[] = {"LIFE", "INBX", "MSGQ", "TRST", "BCON", "STRC",
                                                    "CLAM", "TRAD", "PROP", "SCEN", "ARTF"};
            for (int k = 0; k < 11; k++)
                if (!strcmp(tag, life_tags[k]) && (have & (1 << (6 + k)))) {
                    snprintf(err, errlen, "duplicate section %s", tag);
                    goto fail;
                }
            int lr = persist_read_life_section(tag, &r, &w, err, errlen);
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
    return 0;
fail:
    world_free(&w);
    return -1;
}

int persist_deserialize(const uint8_t *data, size_t len, world *out, char *err, size_t errlen) {
    psrc s;
    psrc_canonical(&s, data, len);
    return persist_deserialize_src(&s, out, err, errlen);
}
