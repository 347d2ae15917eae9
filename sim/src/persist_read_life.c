/* persist_read_life.c -- validating reader of the living-universe sections (see persist_codec.h):
 * LIFE as a header and one record per probe (persist_read.c drives them), the others whole. */
#include "persist.h"
#include "persist_codec.h"

#include "life.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int persist_read_life_header(reader *r, world *w, char *err, size_t errlen) {
    w->rseed = get_u64(r);
    w->msg_seq = get_u64(r);
    w->artifacts_found = get_u64(r);
    w->messages_delivered = get_u64(r);
    w->trades_done = get_u64(r);
    w->structures_built = get_u64(r);
    const char *why = NULL;
    if (get_u32(r) != w->n_probes || r->bad) why = "life table mismatched";
    else if (!(w->L = calloc(w->n_probes, sizeof *w->L))) why = "out of memory";
    if (!why) return 0;
    snprintf(err, errlen, "%s", why);
    return -1;
}

int persist_read_life_record(const uint8_t *p, probe_life *l, char *err, size_t errlen) {
    const char *why = NULL;
    for (int t = 0; t < TRAIT_COUNT; t++) l->trait[t] = rd_f32(&p);
    for (int t = 0; t < TRAIT_COUNT; t++) l->fork_trait[t] = rd_f32(&p);
    l->drift = rd_f32(&p);
    l->earth = rd_f32(&p);
    l->threat_sev = rd_f32(&p);
    l->threat_tick = rd_u32(&p);
    l->last_company = rd_u32(&p);
    l->inbox = rd_u32(&p);
    l->threat_sub = rd_u8(&p);
    l->threat_loc = rd_u8(&p);
    l->threat_body = (int8_t)rd_u8(&p);
    l->fork_done = rd_u8(&p);
    l->n_quirks = rd_u8(&p);
    memcpy(l->quirk, p, QUIRK_SLOTS);
    p += QUIRK_SLOTS;
    l->fork_nq = rd_u8(&p);
    memcpy(l->fork_quirk, p, QUIRK_SLOTS);
    p += QUIRK_SLOTS;
    int bad = 0;
    for (int k = 0; k < MEM_SLOTS; k++) bad |= rd_mem(&p, &l->mem[k]);
    if (bad) why = "memory entry invalid";
    for (int k = 0; k < HIST_SLOTS; k++) bad |= rd_mem(&p, &l->hist[k]);
    if (bad && !why) why = "history entry invalid";
    l->hist_n = rd_u32(&p);
    for (int t = 0; t < TRAIT_COUNT && !why; t++)
        if (!finite01(l->trait[t], -1, 1) || !finite01(l->fork_trait[t], -1, 1)) why = "trait out of range";
    if (!why && (!finite01(l->drift, 0.25, 2) || !finite01(l->earth, 0, 1) || !finite01(l->threat_sev, 0, 1) ||
                 l->threat_sub >= HZ_COUNT || l->threat_loc >= LOC_COUNT || l->threat_body < -1 ||
                 l->threat_body >= GALAXY_MAX_BODIES || l->fork_done > 1 || l->n_quirks > QUIRK_SLOTS ||
                 l->fork_nq > QUIRK_SLOTS))
        why = "life record out of range";
    for (int k = 0; k < QUIRK_SLOTS && !why; k++)
        if (l->quirk[k] >= QUIRK_COUNT || l->fork_quirk[k] >= QUIRK_COUNT) why = "quirk out of range";
    if (!why) return 0;
    snprintf(err, errlen, "%s", why);
    return -1;
}

int persist_read_life_section(const char *tag, reader *r, world *w, char *err, size_t errlen) {
    const char *why = NULL;
    uint32_t n = w->n_probes;
    if (!strcmp(tag, "INBX")) {
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

