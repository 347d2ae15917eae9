/* actions.c -- see actions.h. The rules are listed in docs/universe.md ("Actions"). */
#include "actions.h"

#include "events.h"
#include "life.h"
#include "society.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int read_id_field(const json_doc *d, const json_node *obj, const char *str_key,
                         const char *hi_key, const char *lo_key, uint64_t *hi, uint64_t *lo,
                         char *err, size_t errlen, int *found) {
    const json_node *s = json_get(d, obj, str_key);
    if (s) {
        size_t n;
        const char *t = json_str(d, s, &n);
        if (!t || world_parse_id(t, n, hi, lo)) {
            snprintf(err, errlen, "field '%s' must be an id string \"hi-lo\"", str_key);
            return -1;
        }
        *found = 1;
        return 0;
    }
    if (!hi_key) return 0;
    const json_node *h = json_get(d, obj, hi_key);
    const json_node *l = json_get(d, obj, lo_key);
    if (!h && !l) return 0;
    if (!h || !l) {
        snprintf(err, errlen, "fields '%s' and '%s' must both be given", hi_key, lo_key);
        return -1;
    }
    /* integers, or decimal strings (ids above 2^53 do not survive some JSON encoders) */
    const json_node *v[2] = {h, l};
    uint64_t out[2];
    for (int i = 0; i < 2; i++) {
        size_t n;
        const char *t = json_str(d, v[i], &n);
        uint64_t dummy;
        char tmp[48];
        if (t) {
            if (n == 0 || n > 20) goto bad;
            snprintf(tmp, sizeof tmp, "0-%.*s", (int)n, t);
            if (world_parse_id(tmp, n + 2, &dummy, &out[i])) goto bad;
        } else if (json_as_u64(d, v[i], &out[i])) {
            goto bad;
        }
        continue;
    bad:
        snprintf(err, errlen, "field '%s' must be an unsigned 64-bit integer", i ? lo_key : hi_key);
        return -1;
    }
    *hi = out[0];
    *lo = out[1];
    *found = 1;
    return 0;
}

int actions_parse(const json_doc *d, const json_node *obj, action *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->res = -1;
    if (!obj || obj->type != JSON_OBJECT) {
        snprintf(err, errlen, "action must be an object, got %s", json_type_name(obj));
        return -1;
    }
    /* The name may be in "type" (pipe style) or "action" (agent style). An agent message may
     * also carry "type" for its own purposes ({"type":"action","action":"mine"}), so the first
     * of the two that holds a known action name wins. */
    const json_node *cand[2];
    if (obj->count == 1) { /* the usual {"type":..}: its one member is "type", "action" or neither */
        const json_node *m = json_child(d, obj);
        size_t kl;
        const char *k = json_key(d, m, &kl);
        cand[0] = kl == 4 && !memcmp(k, "type", 4) ? m : NULL;
        cand[1] = kl == 6 && !memcmp(k, "action", 6) ? m : NULL;
    } else {
        cand[0] = json_get(d, obj, "type");
        cand[1] = json_get(d, obj, "action");
    }
    if (!cand[0] && !cand[1]) {
        snprintf(err, errlen, "action object needs 'type' or 'action'");
        return -1;
    }
    int kind = -1;
    const char *t = NULL;
    size_t n = 0;
    for (int c = 0; c < 2 && kind < 0; c++) {
        size_t cn;
        const char *ct = json_str(d, cand[c], &cn);
        if (!ct) continue;
        if (!t) {
            t = ct;
            n = cn;
        }
        for (int k = 0; k < A_COUNT; k++) /* (the names are distinct; the first byte rules out most) */
            if (world_action_names[k][0] == ct[0] && strlen(world_action_names[k]) == cn &&
                memcmp(world_action_names[k], ct, cn) == 0) {
                kind = k;
                break;
            }
    }
    if (!t) {
        const json_node *bad = cand[0] ? cand[0] : cand[1];
        snprintf(err, errlen, "action name must be a string, got %s", json_type_name(bad));
        return -1;
    }
    if (kind < 0) {
        snprintf(err, errlen, "unknown action '%.40s'", t);
        return -1;
    }
    out->kind = (uint8_t)kind;
    int found = 0;
    switch (kind) {
    case A_MINE: {
        const json_node *r = json_get(d, obj, "resource");
        const char *rs = json_str(d, r, &n);
        if (!rs) {
            snprintf(err, errlen, "mine needs a string 'resource'");
            return -1;
        }
        int ri = galaxy_resource_from_name(rs, n);
        if (ri < 0) {
            snprintf(err, errlen, "unknown resource '%.40s'", rs);
            return -1;
        }
        out->res = (int8_t)ri;
        break;
    }
    case A_NAVIGATE:
        if (read_id_field(d, obj, "target_body", "target_body_hi", "target_body_lo", &out->target_hi,
                          &out->target_lo, err, errlen, &found))
            return -1;
        if (!found && read_id_field(d, obj, "target", NULL, NULL, &out->target_hi, &out->target_lo,
                                    err, errlen, &found))
            return -1;
        if (!found) {
            snprintf(err, errlen, "navigate_to_body needs target_body_hi and target_body_lo");
            return -1;
        }
        break;
    case A_TRAVEL:
        /* the reference engine's form: system index within sector (sector_x, sector_y, sector_z) */
        if (json_get(d, obj, "target_system_id") && json_get(d, obj, "target_system_id")->type == JSON_NUMBER) {
            const json_node *ti = json_get(d, obj, "target_system_id");
            const json_node *sx = json_get(d, obj, "sector_x"), *sy = json_get(d, obj, "sector_y"),
                            *sz = json_get(d, obj, "sector_z");
            int64_t v[4];
            const json_node *nn[4] = {ti, sx, sy, sz};
            for (int k = 0; k < 4; k++)
                if (!nn[k] || json_as_i64(d, nn[k], &v[k]) || v[k] < (k ? -(1 << 20) : 0) ||
                    v[k] >= (k ? (1 << 20) : GALAXY_MAX_SYSTEMS)) {
                    snprintf(err, errlen, "travel_to_system with a numeric 'target_system_id' (0-%d) needs integer "
                             "sector_x, sector_y, sector_z", GALAXY_MAX_SYSTEMS - 1);
                    return -1;
                }
            galaxy_system_id((int32_t)v[1], (int32_t)v[2], (int32_t)v[3], (uint32_t)v[0], &out->target_hi,
                             &out->target_lo);
            break;
        }
        if (read_id_field(d, obj, "target_system_id", "target_system_hi", "target_system_lo",
                          &out->target_hi, &out->target_lo, err, errlen, &found))
            return -1;
        if (!found && read_id_field(d, obj, "target", NULL, NULL, &out->target_hi, &out->target_lo,
                                    err, errlen, &found))
            return -1;
        if (!found && read_id_field(d, obj, "system_id", NULL, NULL, &out->target_hi,
                                    &out->target_lo, err, errlen, &found))
            return -1;
        if (!found) {
            snprintf(err, errlen, "travel_to_system needs 'target_system_id' (\"hi-lo\")");
            return -1;
        }
        break;
    case A_SEND_MESSAGE:
    case A_PLACE_BEACON:
    case A_PROPOSE: {
        static const char *const keys[3][3] = {{"content", "message", "text"}, {"message", "content", "text"},
                                               {"text", "content", "message"}};
        int ki = kind == A_SEND_MESSAGE ? 0 : kind == A_PLACE_BEACON ? 1 : 2;
        const json_node *c = NULL;
        for (int k = 0; k < 3 && !c; k++) c = json_get(d, obj, keys[ki][k]);
        const char *cs = c ? json_str(d, c, &n) : NULL;
        if (!cs) {
            snprintf(err, errlen, "%s needs a string '%s'", world_action_names[kind], keys[ki][0]);
            return -1;
        }
        if (n > TEXT_MAX - 1) { /* truncate on a UTF-8 character boundary */
            n = TEXT_MAX - 1;
            while (n > 0 && ((unsigned char)cs[n] & 0xC0) == 0x80) n--;
        }
        memcpy(out->text, cs, n);
        out->text[n] = 0;
        if (kind != A_SEND_MESSAGE) break;
        const json_node *tg = json_get(d, obj, "target");
        if (!tg) tg = json_get(d, obj, "target_probe");
        if (!tg || tg->type == JSON_NULL || json_is_str(tg, d, "broadcast") || json_is_str(tg, d, "all") ||
            json_is_str(tg, d, "*")) {
            out->broadcast = 1;
            break;
        }
        const char *ts = json_str(d, tg, &n);
        if (!ts || world_parse_id(ts, n, &out->target_hi, &out->target_lo)) {
            snprintf(err, errlen, "send_message 'target' must be a probe id \"hi-lo\" or \"broadcast\"");
            return -1;
        }
        break;
    }
    case A_BUILD: {
        const json_node *st = json_get(d, obj, "structure_type");
        if (!st) st = json_get(d, obj, "structure");
        int64_t v = -1;
        if (st && st->type == JSON_NUMBER && !json_as_i64(d, st, &v) && v >= 0 && v < STRUCT_COUNT) {
            out->arg = (uint8_t)v;
            break;
        }
        for (int k = 0; st && k < STRUCT_COUNT; k++)
            if (json_is_str(st, d, world_structure_names[k])) {
                out->arg = (uint8_t)k;
                return 0;
            }
        snprintf(err, errlen, "build_structure needs 'structure_type' 0-5 or a structure name");
        return -1;
    }
    case A_TRADE:
    case A_SHARE_TECH: {
        const json_node *tg = json_get(d, obj, "target");
        if (!tg) tg = json_get(d, obj, "target_probe");
        const char *ts = json_str(d, tg, &n);
        if (!ts || world_parse_id(ts, n, &out->target_hi, &out->target_lo)) {
            snprintf(err, errlen, "%s needs 'target' as a probe id \"hi-lo\"", world_action_names[kind]);
            return -1;
        }
        if (kind == A_SHARE_TECH) goto domain;
        const char *rs = json_str(d, json_get(d, obj, "resource"), &n);
        int ri = rs ? galaxy_resource_from_name(rs, n) : -1;
        if (ri < 0) {
            snprintf(err, errlen, "trade needs a known 'resource'");
            return -1;
        }
        out->res = (int8_t)ri;
        const json_node *am = json_get(d, obj, "amount");
        if (!am || am->type != JSON_NUMBER || !(am->num > 0 && am->num <= 1e12)) {
            snprintf(err, errlen, "trade needs a positive number 'amount' (kg)");
            return -1;
        }
        out->amount = am->num;
        break;
    }
    case A_RESEARCH:
    domain: {
        const json_node *dm = json_get(d, obj, "domain");
        if (!dm) dm = json_get(d, obj, "tech");
        int64_t v = -1;
        if (dm && dm->type == JSON_NUMBER && !json_as_i64(d, dm, &v) && v >= 0 && v < TECH_COUNT) {
            out->arg = (uint8_t)v;
            break;
        }
        for (int k = 0; dm && k < TECH_COUNT; k++)
            if (json_is_str(dm, d, world_tech_names[k])) {
                out->arg = (uint8_t)k;
                return 0;
            }
        snprintf(err, errlen, "%s needs 'domain': a tech name or index 0-9", world_action_names[kind]);
        return -1;
    }
    case A_VOTE: {
        const json_node *pr = json_get(d, obj, "proposal");
        if (!pr) pr = json_get(d, obj, "proposal_id");
        const char *ps = json_str(d, pr, &n);
        uint64_t v = 0;
        int okv = 0;
        if (ps) {
            char tmp[32];
            if (n > 0 && n <= 20) {
                snprintf(tmp, sizeof tmp, "0-%.*s", (int)n, ps);
                uint64_t dummy;
                okv = !world_parse_id(tmp, n + 2, &dummy, &v);
            }
        } else if (pr) {
            okv = !json_as_u64(d, pr, &v);
        }
        if (!okv) {
            snprintf(err, errlen, "vote needs 'proposal' (the proposal id, an integer)");
            return -1;
        }
        out->proposal = v;
        const json_node *f = json_get(d, obj, "favor");
        if (!f) f = json_get(d, obj, "in_favor");
        if (!f || (f->type != JSON_TRUE && f->type != JSON_FALSE)) {
            snprintf(err, errlen, "vote needs a boolean 'favor'");
            return -1;
        }
        out->arg = f->type == JSON_TRUE;
        break;
    }
    default: break;
    }
    return 0;
}

static void record(world *w, probe *p, uint8_t kind, int reason, double amount) {
    p->act_tick = w->tick;
    p->last_action = kind;
    p->last_ok = reason == R_NONE;
    p->last_reason = (uint8_t)reason;
    p->last_amount = amount;
}

void actions_reject(world *w, uint32_t idx, uint8_t kind, int reason) {
    record(w, &w->p[idx], kind, reason, 0.0);
}

static int max_survey_here(const probe *p, const star_system *s) {
    if (p->body < 0) return 4; /* system survey */
    uint8_t t = s->bodies[p->body].type;
    int unlandable = t == BODY_GAS_GIANT || t == BODY_ICE_GIANT || t == BODY_ASTEROID_BELT;
    switch (p->location) {
    case LOC_IN_SYSTEM: return 2;
    case LOC_ORBITING: return unlandable ? 4 : 3;
    case LOC_LANDED: return 4;
    default: return 0;
    }
}

static int do_survey(world *w, uint32_t idx, const star_system *s) {
    probe *p = &w->p[idx];
    uint8_t *level = p->body >= 0 ? &p->survey[p->body] : &p->sys_survey;
    if (*level >= max_survey_here(p, s)) return R_SURVEY_MAX;
    p->energy -= world_action_energy[A_SURVEY];
    p->survey_progress = world_q6(p->survey_progress + 0.5 * (1.0 + 0.15 * (p->tech[TECH_SENSORS] - 1)));
    double need = (double)(*level + 1);
    if (p->survey_progress >= need) {
        p->survey_progress = 0.0;
        (*level)++;
        world_emit(w, idx, EV_SURVEY, (uint8_t)(p->body >= 0 ? 0 : 1), *level, 0.0, (double)*level);
        world_mark_explored(w, s->id_hi, s->id_lo);
        events_survey_levelup(w, idx, *level);
    }
    return R_NONE;
}

/* Where mining resource res is possible: see docs/universe.md ("Actions"). */
static int mine_allowed(const probe *p, const star_system *s, int res) {
    if (p->body < 0) return R_NO_BODY;
    const body *b = &s->bodies[p->body];
    if (p->location == LOC_LANDED) return R_NONE;
    if (p->location == LOC_ORBITING) {
        if (b->type == BODY_ASTEROID_BELT) return R_NONE;
        if ((b->type == BODY_GAS_GIANT || b->type == BODY_ICE_GIANT) &&
            (res == RES_HYDROGEN || res == RES_HELIUM3))
            return R_NONE;
    }
    return R_CANNOT_MINE_HERE;
}

static double nav_distance(const star_system *s, int from, int to) {
    if (from < 0) return s->bodies[to].orbit_au;
    const body *a = &s->bodies[from], *b = &s->bodies[to];
    int pa = a->parent == 0xFF ? from : a->parent, pb = b->parent == 0xFF ? to : b->parent;
    if (pa == pb) return 0.01; /* planet <-> its moon, or moon <-> moon */
    double d = fabs(a->orbit_au - b->orbit_au);
    return d < 0.01 ? 0.01 : d;
}

int actions_apply(world *w, uint32_t idx, const action *a) {
    probe *p = &w->p[idx];
    int r = R_NONE;
    double amount = 0.0;
    const star_system *s = NULL;
    if (p->status == ST_DESTROYED) {
        r = R_DESTROYED;
        goto done;
    }
    if (a->kind == A_WAIT) goto done;
    /* "mental" actions work while busy and between the stars */
    int mental = a->kind == A_SEND_MESSAGE || a->kind == A_PROPOSE || a->kind == A_VOTE || a->kind == A_RESEARCH;
    if (mental) {
        if (p->status == ST_DORMANT) r = R_DORMANT;
        else if (p->energy < world_action_energy[a->kind]) r = R_NO_ENERGY;
        else r = society_apply(w, idx, a, &amount);
        if (a->kind == A_SEND_MESSAGE) p->last_res = a->broadcast; /* which result last_action shows */
        goto done;
    }
    if (p->activity == ACT_TRAVEL) r = R_BUSY_TRAVEL;
    else if (p->activity == ACT_NAVIGATE) r = R_BUSY_NAVIGATE;
    else if (p->activity == ACT_REPLICATE) r = R_BUSY_REPLICATE;
    else if (p->status == ST_DORMANT) r = R_DORMANT;
    else if (p->energy < world_action_energy[a->kind] + world_activity_energy[ACT_NONE]) r = R_NO_ENERGY;
    if (r) goto done;
    if (p->location != LOC_INTERSTELLAR) s = world_probe_system(w, p);
    if (!s && a->kind != A_SCAN) {
        r = R_NOT_IN_SYSTEM;
        goto done;
    }
    switch (a->kind) {
    case A_SURVEY:
        r = do_survey(w, idx, s);
        amount = p->body >= 0 ? p->survey[p->body] : p->sys_survey;
        break;
    case A_MINE: {
        if (p->body < 0) {
            r = R_NO_BODY;
            break;
        }
        r = mine_allowed(p, s, a->res);
        if (r) break;
        if (p->survey[p->body] < 1) r = R_NOT_SURVEYED;
        else if (s->bodies[p->body].abundance[a->res] <= 0.0) r = R_NO_RESOURCE;
        else if (world_body_remaining(w, s, p->body, a->res) <= 0.0) r = R_EXHAUSTED;
        else if (world_cargo_total(p) >= CARGO_CAP) r = R_CARGO_FULL;
        if (r) break;
        p->last_res = (uint8_t)a->res;
        p->energy -= world_action_energy[A_MINE];
        break;
    }
    case A_REPAIR:
        if (p->hull >= 1.0) r = R_HULL_INTACT;
        else if (p->cargo[RES_IRON] < REPAIR_IRON_KG) r = R_NO_IRON;
        else p->energy -= world_action_energy[A_REPAIR];
        break;
    case A_NAVIGATE: {
        int bi = -1;
        const star_system *ts;
        if (p->location == LOC_LANDED) {
            r = R_LANDED;
            break;
        }
        ts = galaxy_body(&w->gal, a->target_hi, a->target_lo, &bi);
        if (!ts || ts->id_hi != s->id_hi || ts->id_lo != s->id_lo) {
            r = R_BAD_TARGET;
            break;
        }
        if (bi == p->body) {
            r = R_SAME_BODY;
            break;
        }
        double speed = NAV_AU_PER_TICK * (1.0 + 0.25 * (p->tech[TECH_PROPULSION] - 1)) *
                       w->cfg.travel_speed_scale;
        double ticks = ceil(nav_distance(s, p->body, bi) / speed);
        if (ticks < 1) ticks = 1;
        if (ticks > 100000) ticks = 100000;
        p->activity = ACT_NAVIGATE;
        p->nav_target = (int8_t)bi;
        p->ticks_total = p->ticks_left = (uint32_t)ticks;
        p->progress = 0.0;
        p->body = -1;
        p->location = LOC_IN_SYSTEM;
        p->survey_progress = 0.0;
        amount = ticks;
        break;
    }
    case A_ORBIT:
        if (p->location == LOC_ORBITING) r = R_ALREADY_ORBITING;
        else if (p->location == LOC_LANDED) r = R_ALREADY_LANDED;
        else if (p->body < 0) r = R_NO_BODY;
        else {
            p->location = LOC_ORBITING;
            p->survey_progress = 0.0;
            p->energy -= world_action_energy[A_ORBIT];
        }
        break;
    case A_LAND:
        if (p->location == LOC_LANDED) r = R_ALREADY_LANDED;
        else if (p->location != LOC_ORBITING) r = R_NOT_ORBITING;
        else if (!s->bodies[p->body].landable) r = R_NOT_LANDABLE;
        else {
            p->location = LOC_LANDED;
            p->survey_progress = 0.0;
            p->energy -= world_action_energy[A_LAND];
        }
        break;
    case A_LAUNCH:
        if (p->location != LOC_LANDED) r = R_NOT_LANDED;
        else {
            p->location = LOC_ORBITING;
            p->survey_progress = 0.0;
            p->energy -= world_action_energy[A_LAUNCH];
        }
        break;
    case A_SCAN:
        p->energy -= world_action_energy[A_SCAN];
        amount = world_sensor_range_ly(p) * society_struct_factor(w, p, ST_OBSERVATORY);
        break;
    case A_TRAVEL: {
        if (p->location == LOC_LANDED) {
            r = R_LANDED;
            break;
        }
        const star_system *t = galaxy_system(&w->gal, a->target_hi, a->target_lo);
        if (!t) {
            r = R_BAD_TARGET;
            break;
        }
        if (t == s || (t->id_hi == s->id_hi && t->id_lo == s->id_lo)) {
            r = R_SAME_SYSTEM;
            break;
        }
        double dist = galaxy_distance(s, t);
        if (dist > 100.0) {
            r = R_TOO_FAR;
            break;
        }
        double need = world_q3(dist * world_fuel_per_ly(p)); /* grams */
        if (p->fuel + p->cargo[RES_HYDROGEN] < need) {
            r = R_NO_FUEL;
            break;
        }
        if (p->fuel < need) { /* top up from hydrogen in cargo */
            p->cargo[RES_HYDROGEN] = world_q3(p->cargo[RES_HYDROGEN] - (need - p->fuel));
            p->fuel = need;
        }
        p->fuel = world_q3(p->fuel - need);
        double ly_per_tick = world_speed_c(w, p) / 365.25;
        double ticks = ceil(dist / ly_per_tick);
        if (ticks < 1) ticks = 1;
        if (ticks > 1e9) ticks = 1e9;
        p->activity = ACT_TRAVEL;
        p->dst_hi = t->id_hi;
        p->dst_lo = t->id_lo;
        p->ticks_total = p->ticks_left = (uint32_t)ticks;
        p->progress = 0.0;
        p->location = LOC_INTERSTELLAR;
        w->sys_dirty = 1;
        p->body = -1;
        p->survey_progress = 0.0;
        amount = ticks;
        break;
    }
    case A_REPLICATE: {
        double cost[RES_COUNT];
        world_replication_cost(w, cost);
        if ((double)w->alive >= w->cfg.max_probes) {
            r = R_POP_LIMIT;
            break;
        }
        if (p->energy < REPLICATE_MIN_ENERGY) {
            r = R_NO_ENERGY;
            break;
        }
        for (int k = 0; k < RES_COUNT; k++)
            if (p->cargo[k] < cost[k]) r = R_NO_CARGO;
        if (r) break;
        for (int k = 0; k < RES_COUNT; k++) p->cargo[k] -= cost[k];
        p->activity = ACT_REPLICATE;
        p->ticks_total = p->ticks_left =
            (uint32_t)ceil(world_replication_ticks(w, p) * society_struct_factor(w, p, ST_SHIPYARD));
        w->L[idx].fork_done = 0;
        p->progress = 0.0;
        amount = p->ticks_total;
        break;
    }
    default:
        r = society_apply(w, idx, a, &amount);
        break;
    }
done:
    record(w, p, a->kind, r, amount);
    return r;
}
