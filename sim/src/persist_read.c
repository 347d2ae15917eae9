/* persist_read.c -- persist_deserialize: validates every enum and index of a payload before
 * building a new world (see persist.h). */
#include "persist.h"
#include "persist_codec.h"

#include "society.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    ok = 0;
    return ok;
fail:
    world_free(&w);
    return -1;
}

