/* world.h -- the whole simulation state and its public API.
 *
 * Layout (data-oriented): probes live in two parallel arrays indexed by probe index
 * (id "1-N" has index N-1, so index order is id order):
 *   - probe       hot fields touched every tick, fixed size, no pointers;
 *   - probe_cold  rarely touched data (name, lineage) plus an `ext` slot reserved for the later
 *                 "living universe" layer's per-probe block (always NULL today).
 * Global mutable tables (explored systems, body depletion, this tick's event log) sit beside
 * them. The galaxy cache is derived data (a pure function of the seed) and is never saved.
 *
 * Invariants: n_probes only grows (destroyed probes keep their slot, status DESTROYED);
 * alive == number of probes whose status != DESTROYED; ev_head of a probe is meaningful only
 * when ev_epoch == world.epoch.
 */
#ifndef WORLD_H
#define WORLD_H

#include "galaxy.h"
#include "hmap.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define TECH_COUNT 10
#define TECH_MAX 10
#define PROBE_ID_HI 1ULL

enum tech {
    TECH_PROPULSION, TECH_SENSORS, TECH_MINING, TECH_CONSTRUCTION, TECH_COMPUTING,
    TECH_ENERGY, TECH_MATERIALS, TECH_COMMUNICATION, TECH_WEAPONS, TECH_BIOTECH
};
enum probe_status {
    ST_ACTIVE, ST_TRAVELING, ST_MINING, ST_BUILDING, ST_REPLICATING, ST_DORMANT, ST_DAMAGED,
    ST_DESTROYED, ST_COUNT
};
enum probe_location { LOC_INTERSTELLAR, LOC_IN_SYSTEM, LOC_ORBITING, LOC_LANDED, LOC_DOCKED, LOC_COUNT };
enum probe_activity { ACT_NONE, ACT_NAVIGATE, ACT_TRAVEL, ACT_REPLICATE, ACT_COUNT };
enum action_kind {
    A_WAIT, A_SURVEY, A_MINE, A_REPAIR, A_NAVIGATE, A_ORBIT, A_LAND, A_LAUNCH, A_SCAN, A_TRAVEL,
    A_REPLICATE, A_SEND_MESSAGE, A_PLACE_BEACON, A_BUILD, A_TRADE, A_CLAIM, A_REVOKE, A_PROPOSE,
    A_VOTE, A_RESEARCH, A_SHARE_TECH, A_COUNT
};
extern const char *const world_tech_names[TECH_COUNT];
extern const char *const world_status_names[ST_COUNT];
extern const char *const world_location_names[LOC_COUNT];
extern const char *const world_activity_names[ACT_COUNT];
extern const char *const world_action_names[A_COUNT];

/* Why an action was rejected. Index into world_reason_text. */
enum reason {
    R_NONE, R_MALFORMED, R_UNKNOWN_PROBE, R_DESTROYED, R_BUSY_TRAVEL, R_BUSY_NAVIGATE,
    R_BUSY_REPLICATE, R_DORMANT, R_NO_ENERGY, R_NO_BODY, R_NOT_IN_SYSTEM, R_NOT_ORBITING,
    R_NOT_LANDED, R_ALREADY_ORBITING, R_ALREADY_LANDED, R_NOT_LANDABLE, R_LANDED, R_SURVEY_MAX,
    R_NOT_SURVEYED, R_CANNOT_MINE_HERE, R_NO_RESOURCE, R_EXHAUSTED, R_CARGO_FULL, R_HULL_INTACT,
    R_NO_IRON, R_BAD_TARGET, R_SAME_BODY, R_SAME_SYSTEM, R_NO_FUEL, R_TOO_FAR, R_NO_CARGO,
    R_POP_LIMIT, R_DUPLICATE, R_NO_ROUTE, R_BEACON_LIMIT, R_NO_MATERIALS, R_BUILDERS_FULL,
    R_BAD_PROBE_TARGET, R_NOT_SAME_SYSTEM, R_NO_RESOURCES, R_CLAIMED, R_NOT_CLAIMANT,
    R_UNKNOWN_PROPOSAL, R_PROPOSAL_CLOSED, R_ALREADY_VOTED, R_TECH_MAX, R_RESEARCHING,
    R_NOTHING_TO_SHARE, R_LIMIT, R_COUNT
};
extern const char *const world_reason_text[R_COUNT];

typedef struct probe {
    uint64_t sys_hi, sys_lo;   /* current system; while interstellar: the departure system */
    uint64_t dst_hi, dst_lo;   /* interstellar destination (valid while activity == ACT_TRAVEL) */
    uint64_t act_tick;         /* tick in which last_action was taken (else it was "wait") */
    double hull;               /* 0..1; 0 = destroyed */
    double energy;             /* joules */
    double fuel;               /* kg */
    double cargo[RES_COUNT];   /* kg per resource */
    double progress;           /* 0..1 of the current activity */
    double survey_progress;    /* work done toward the next survey level of the current target */
    double solar;              /* energy generation factor of the current location (cached) */
    double last_amount;        /* numeric outcome of last_action (kg mined, hull gained, ...) */
    uint32_t ticks_left;       /* remaining ticks of the current activity */
    uint32_t ticks_total;      /* total ticks of the current activity */
    uint32_t ev_head;          /* 1 + index of this probe's first event in the epoch's log */
    uint32_t ev_epoch;         /* epoch for which ev_head is valid */
    int8_t body;               /* current body index in the system, -1 none */
    int8_t nav_target;         /* navigate target body index */
    uint8_t status;            /* enum probe_status */
    uint8_t location;          /* enum probe_location */
    uint8_t activity;          /* enum probe_activity */
    uint8_t last_action;       /* enum action_kind of the action taken at act_tick */
    uint8_t last_ok;           /* 1 accepted, 0 rejected */
    uint8_t last_reason;       /* enum reason when rejected */
    uint8_t last_res;          /* resource argument of last mine */
    uint8_t sys_survey;        /* survey level (0..4) of the current system itself */
    uint8_t tech[TECH_COUNT];  /* 1..TECH_MAX */
    uint8_t survey[GALAXY_MAX_BODIES]; /* survey level per body of the current system */
    uint8_t research;          /* 1 + tech domain being researched, 0 none */
    uint32_t research_left;    /* ticks of research left */
    uint32_t research_total;   /* ticks of the current research */
} probe;

typedef struct probe_cold {
    uint64_t parent_hi, parent_lo; /* parent id, 0-0 for Bob */
    uint64_t born_tick;        /* tick of birth */
    uint32_t generation;       /* Bob = 0 */
    uint32_t children;         /* number of children built */
    char name[32];             /* NUL-terminated */
    void *ext;                 /* reserved for future per-probe cold data; NULL, never saved */
} probe_cold;

typedef struct world_config {
    double event_freq_discovery;   /* chance per probe per tick of a random discovery */
    double event_freq_hazard;      /* chance per probe per tick of a hazard */
    double hazard_damage_scale;    /* multiplies hazard hull damage */
    double mining_rate_scale;      /* multiplies mining yield */
    double travel_speed_scale;     /* multiplies in-system and interstellar speed */
    double energy_scale;           /* multiplies energy generation */
    double replication_time_scale; /* multiplies replication duration */
    double replication_cost_scale; /* multiplies replication resource cost */
    double max_probes;             /* replication refused when alive >= this */
    double event_freq_anomaly;     /* chance per probe per tick in a system of an anomaly */
    double event_freq_encounter;   /* ... of an encounter */
    double event_freq_crisis;      /* ... of a crisis */
    double event_freq_wonder;      /* ... of a wonder */
    double proposal_ticks;         /* voting period of a proposal */
    double trade_ticks;            /* delivery time of a trade across systems */
} world_config;

typedef struct config_key {
    const char *name;   /* key in the config command */
    size_t offset;      /* offsetof(world_config, field) */
    double min, max;    /* accepted range (inclusive) */
    double def;         /* default */
    int integer;        /* value must be integral */
} config_key;
extern const config_key world_config_keys[];
extern const size_t world_config_nkeys;

enum event_type { EV_HAZARD, EV_DISCOVERY, EV_ARRIVAL, EV_BORN, EV_REPLICATED, EV_DESTROYED,
                  EV_SURVEY, EV_DORMANT, EV_THREAT, EV_ANOMALY, EV_ENCOUNTER, EV_CRISIS, EV_WONDER,
                  EV_MESSAGE, EV_BEACON, EV_FORK, EV_TRADE, EV_STRUCTURE, EV_PROPOSAL, EV_RESEARCH,
                  EV_ARTIFACT, EV_CLAIM, EV_TYPE_COUNT };
extern const char *const world_event_type_names[EV_TYPE_COUNT];
enum hazard_sub { HZ_SOLAR_FLARE, HZ_ASTEROID_IMPACT, HZ_RADIATION, HZ_MICROMETEORITE, HZ_COUNT };
enum trait { TR_CURIOSITY, TR_CAUTION, TR_SOCIABILITY, TR_HUMOR, TR_EMPATHY, TR_AMBITION,
             TR_CREATIVITY, TR_STUBBORNNESS, TR_ANGST, TR_NOSTALGIA, TRAIT_COUNT };
extern const char *const world_trait_names[TRAIT_COUNT];
enum structure_type { ST_MINING_STATION, ST_RELAY, ST_OBSERVATORY, ST_HABITAT, ST_SHIPYARD,
                      ST_FACTORY, STRUCT_COUNT };
extern const char *const world_structure_names[STRUCT_COUNT];
extern const char *const world_hazard_names[HZ_COUNT];
enum discovery_sub { DS_RICH_DEPOSIT, DS_DERELICT, DS_TECH_INSIGHT, DS_ANOMALY, DS_COUNT };
extern const char *const world_discovery_names[DS_COUNT];

/* One entry of the generic event log. New event types (messages, encounters...) add enum values
 * and reuse the numeric slots; persist.c saves the log as its own section. */
typedef struct event {
    uint64_t tick;       /* tick the event happened in */
    uint32_t probe;      /* probe index */
    uint32_t next;       /* 1 + index of this probe's next event in the log (0 = end) */
    uint8_t type;        /* enum event_type */
    uint8_t subtype;     /* hazard_sub / discovery_sub / ... */
    uint8_t arg;         /* small argument (resource, tech index, ...) */
    uint8_t injected;    /* 1 if created by the inject command (kept until the next tick) */
    double severity;     /* hazards: 0..1 */
    double value;        /* damage, kg found, new level, ... */
} event;

typedef struct world_metrics {
    uint64_t spawned;          /* probes ever created (Bob and --populate included) */
    uint64_t destroyed;        /* probes destroyed */
    uint64_t discoveries;      /* discovery events */
    uint64_t hazards;          /* hazard events */
    uint64_t hazards_survived; /* hazards that did not destroy their probe */
} world_metrics;

/* ---- the living-universe layer (docs/universe.md "Living universe") ---- */
#define MEM_SLOTS 8
#define HIST_SLOTS 12
#define QUIRK_SLOTS 4
#define INBOX_SLOTS 8
#define TEXT_MAX 128

/* One parsed agent action (actions_parse; applied by actions_apply / society_apply). */
typedef struct action {
    uint8_t kind;        /* enum action_kind */
    int8_t res;          /* mine / trade: resource index, else -1 */
    uint8_t arg;         /* build_structure: type; research / share_tech: domain; vote: favor */
    uint8_t broadcast;   /* send_message without a probe target */
    uint64_t target_hi;  /* navigate_to_body / travel_to_system target; probe target */
    uint64_t target_lo;
    uint64_t proposal;   /* vote: proposal id */
    double amount;       /* trade: kg */
    char text[TEXT_MAX]; /* send_message content, place_beacon message, propose text */
} action;

/* A memory / history entry: an event remembered with an emotional weight that fades. */
typedef struct mem_entry {
    uint32_t tick;       /* tick it happened (saturates at 2^32-1) */
    float weight;        /* emotional weight when formed, 0..1 (0 = empty slot) */
    float value;         /* the event's value */
    uint8_t type;        /* enum event_type */
    uint8_t subtype;     /* its subtype */
    uint8_t arg;         /* its arg */
    uint8_t pad;
} mem_entry;

/* Cold per-probe block of the living layer (parallel to probe / probe_cold). */
typedef struct probe_life {
    float trait[TRAIT_COUNT];      /* personality, each in [-1, 1] */
    float fork_trait[TRAIT_COUNT]; /* child personality drawn at the consciousness fork */
    float drift;                   /* personal drift rate (multiplies every trait change) */
    float earth;                   /* clarity of Earth memories, 1 for Bob, fades per generation */
    float threat_sev;              /* pending threat severity */
    uint32_t threat_tick;          /* tick the pending threat lands, 0 none */
    uint32_t last_company;         /* last tick another probe was around or contacted us */
    uint32_t inbox;                /* 1 + slab index of the inbox, 0 none */
    uint32_t trust_head;           /* 1 + first trust record of this probe, 0 none */
    uint8_t threat_sub;            /* pending threat subtype (enum hazard_sub) */
    uint8_t threat_loc;            /* location when announced */
    int8_t threat_body;            /* body when announced */
    uint8_t fork_done;             /* 1 once the consciousness fork of the current build happened */
    uint8_t n_quirks;              /* quirks in use */
    uint8_t quirk[QUIRK_SLOTS];    /* quirk indices */
    uint8_t fork_nq;               /* quirks drawn for the child at the fork */
    uint8_t fork_quirk[QUIRK_SLOTS];
    mem_entry mem[MEM_SLOTS];      /* episodic memories */
    mem_entry hist[HIST_SLOTS];    /* ring of the latest significant events (history command) */
    uint32_t hist_n;               /* events ever written to hist */
} probe_life;

typedef struct message {
    uint64_t arrive;     /* tick of arrival */
    uint64_t sent;       /* tick sent */
    uint64_t seq;        /* global send order (tie break) */
    uint32_t from, to;   /* probe indices */
    uint8_t broadcast;   /* 1 if sent as a broadcast */
    uint8_t relayed;     /* 1 if it went through relay satellites */
    char text[TEXT_MAX]; /* NUL-terminated */
} message;

typedef struct inbox_slab {
    uint32_t n;                 /* messages ever delivered here */
    message m[INBOX_SLOTS];     /* ring: the latest INBOX_SLOTS */
} inbox_slab;

typedef struct trust_rec {
    uint32_t a, b;              /* probe indices, a < b */
    uint32_t next_a, next_b;    /* 1 + next record in a's / b's list */
    double v;                   /* trust in [-1, 1] */
} trust_rec;

typedef struct beacon {
    uint64_t sys_hi, sys_lo;    /* system */
    uint64_t tick;              /* placed */
    uint32_t owner;             /* probe index */
    uint32_t next;              /* 1 + next beacon in this system */
    char text[TEXT_MAX];
} beacon;

typedef struct structure {
    uint64_t sys_hi, sys_lo;    /* system */
    uint64_t started, finished; /* ticks (finished 0 while building) */
    double progress;            /* 0..1 */
    uint32_t owner;             /* initiating probe */
    uint32_t builder[4];        /* builders */
    uint32_t next;              /* 1 + next structure in this system */
    uint8_t type;               /* enum structure_type */
    uint8_t n_builders;         /* 1..4 */
} structure;

typedef struct trade {
    uint64_t due;               /* delivery tick */
    uint64_t created;
    double kg;
    uint32_t from, to;
    uint8_t res;
} trade;

typedef struct proposal {
    uint64_t created, deadline;
    uint32_t proposer;
    uint32_t yes, no;
    uint8_t resolved, passed;
    char text[TEXT_MAX];
} proposal;

typedef struct scenario_event {
    uint64_t at_tick;           /* tick it fires in */
    double severity;            /* 0..1 */
    uint32_t target;            /* 1 + probe index, 0 = every live probe */
    uint8_t type;               /* enum event_type (hazard, discovery, anomaly, encounter, crisis, wonder) */
    uint8_t subtype;
} scenario_event;

typedef struct world {
    uint64_t seed;             /* universe seed */
    uint64_t tick;             /* ticks completed */
    world_config cfg;          /* tunables (saved and hashed) */
    world_metrics m;           /* counters */
    probe *p;                  /* hot probe data [n_probes] */
    probe_cold *c;             /* cold probe data [n_probes] */
    uint32_t n_probes;         /* probes ever created */
    uint32_t cap_probes;       /* allocated */
    uint32_t alive;            /* probes not destroyed */
    hmap explored;             /* explored system ids -> tick first explored */
    hmap depl_index;           /* body id -> row in depl */
    double (*depl)[RES_COUNT]; /* kg mined so far per body and resource */
    uint32_t n_depl, cap_depl; /* rows used / allocated */
    event *ev;                 /* event log of the current epoch (since the last tick reply) */
    uint32_t n_ev, cap_ev;     /* used / allocated */
    uint32_t epoch;            /* bumps when the log is cleared; never saved */
    galaxy gal;                /* lazily generated galaxy (cache, not state) */
    /* living-universe state (all saved and hashed) */
    uint64_t rseed;            /* seed of event randomness (= seed unless forked) */
    probe_life *L;             /* [n_probes] */
    inbox_slab *inbox; uint32_t n_inbox, cap_inbox;
    message *mq; uint32_t n_mq, cap_mq;      /* in-flight messages, min-heap on (arrive, seq) */
    uint64_t msg_seq;          /* messages ever sent */
    trust_rec *trust; uint32_t n_trust, cap_trust; hmap trust_ix; /* (a,b) -> record */
    beacon *bcn; uint32_t n_bcn, cap_bcn; hmap bcn_ix;            /* system -> 1 + head */
    structure *st; uint32_t n_st, cap_st; hmap st_ix;             /* system -> 1 + head */
    hmap claims;               /* system -> 1 + claimant (0 = revoked) */
    trade *tr; uint32_t n_tr, cap_tr;        /* pending trades across systems */
    proposal *pr; uint32_t n_pr, cap_pr; hmap votes; /* (proposal, probe) -> 1 + favor */
    scenario_event *sc; uint32_t n_sc, cap_sc; char sc_name[64];
    uint64_t artifacts_found, messages_delivered, trades_done, structures_built;
    /* derived indexes (rebuilt on demand, never saved) */
    uint32_t *threat_b[8]; uint32_t n_threat_b[8], cap_threat_b[8]; /* probes by landing tick % 8 */
    hmap art_taken;            /* body -> tick its artifact was recovered */
    hmap sys_ix;               /* system -> 1 + first entry in sys_pr */
    uint32_t *sys_pr, *sys_next; uint32_t cap_sys_pr; int sys_dirty;
    uint64_t thr_hz, thr_ds, thr_enc; /* fast no-event thresholds (events_prepare) */
    /* transient per-tick lists (not state) */
    uint32_t *born, n_born, cap_born;
    uint32_t *died, n_died, cap_died;
} world;

/* Creates the universe for seed: Bob in the home system. populate >= 1 is the total number of
 * probes at start (extra ones are clones of Bob, for benchmarks/tests). 0 ok, -1 on OOM. */
int world_init(world *w, uint64_t seed, uint32_t populate);
void world_free(world *w);
void world_init_tables(world *w); /* empty living-layer tables (world_init and load) */
void world_config_defaults(world_config *cfg);
/* Probe index from id, or -1. */
int64_t world_probe_index(const world *w, uint64_t hi, uint64_t lo);
/* Append a probe (zeroed hot/cold); returns index or -1 on OOM. */
int64_t world_add_probe(world *w);
const star_system *world_probe_system(world *w, const probe *p);
/* Remaining kg of resource r in body bi of system s. */
double world_body_remaining(const world *w, const star_system *s, int bi, int r);
int world_deplete(world *w, const star_system *s, int bi, int r, double kg);
int world_mark_explored(world *w, uint64_t hi, uint64_t lo);
void world_clear_events(world *w);
/* Append log entry k to the event list of its probe for this epoch (world_emit, relinking). */
void world_link_event(world *w, uint32_t k);
/* Rebuild per-probe event lists from the log (after load/restore). */
void world_relink_events(world *w);
double world_avg_tech(const world *w);
double world_cargo_total(const probe *p);
/* Per-probe derived constants used by several modules. */
double world_sensor_range_ly(const probe *p);
double world_speed_c(const world *w, const probe *p);
double world_fuel_per_ly(const probe *p);
double world_energy_gen(const world *w, const probe *p);
double world_star_solar(const star_system *s);
void world_replication_cost(const world *w, double out[RES_COUNT]);
uint32_t world_replication_ticks(const world *w, const probe *p);
void world_set_name(probe_cold *c, const char *name);
/* Parse "hi-lo" (two unsigned decimal integers). 0 ok, -1 malformed. */
int world_parse_id(const char *s, size_t len, uint64_t *hi, uint64_t *lo);
/* The probe index named by the id text s[0..len), or -1: world_parse_id then world_probe_index,
 * with a shortcut for the usual form "1-" and up to nine digits (the same result). */
static inline int64_t world_probe_index_of(const world *w, const char *s, size_t len) {
    if (len >= 3 && len <= 11 && s[0] == '1' && s[1] == '-') {
        uint64_t lo = 0;
        size_t i = 2;
        unsigned d;
        while (i < len && (d = (unsigned)(unsigned char)s[i] - '0') < 10) {
            lo = lo * 10 + d;
            i++;
        }
        if (i == len) return lo == 0 || lo > w->n_probes ? -1 : (int64_t)(lo - 1);
    }
    uint64_t hi, lo;
    if (world_parse_id(s, len, &hi, &lo)) return -1;
    return world_probe_index(w, hi, lo);
}
/* Start-of-tick housekeeping: drop last tick's events (injected ones stay), clear born/died. */
void world_begin_tick(world *w);
/* Recompute status from state (see docs/universe.md "Status"). */
void world_update_status(world *w, probe *p);
int world_note_born(world *w, uint32_t idx);
/* Append idx to this tick's list of destroyed probes (world_destroy in events.c). */
int world_note_died(world *w, uint32_t idx);
/* Spatial index: 1 + first entry (w->sys_pr / w->sys_next) of the live probes in a system (not
 * interstellar), in id order; 0 if none. Rebuilt lazily when probes moved. */
uint32_t world_sys_first(world *w, uint64_t hi, uint64_t lo);

/* Fixed resolutions: state numbers are rounded to these after every change, which keeps them
 * short and exact in JSON (see docs/universe.md "Resolution"). */
static inline double world_q6(double v) { return (double)llround(v * 1e6) / 1e6; }
static inline double world_q3(double v) { return (double)llround(v * 1e3) / 1e3; }

/* Constants (documented in docs/universe.md). */
#define ENERGY_CAP 2.0e12
#define ENERGY_BASE_GEN 3.0e9
#define ENERGY_IDLE 5.0e8
#define ENERGY_DORMANT_BELOW 1.0e9
#define ENERGY_WAKE_ABOVE 1.0e10
#define FUEL_CAP 100000.0
#define CARGO_CAP 1000000.0
#define MINE_BASE_KG 1000.0
#define REPAIR_HULL 0.02
#define REPAIR_IRON_KG 10.0
#define REPLICATE_BASE_TICKS 200.0
#define REPLICATE_CHILD_ENERGY 2.5e11
#define REPLICATE_MIN_ENERGY 1.0e10
#define NAV_AU_PER_TICK 0.5
#define SCAN_MAX_RESULTS 20
#define DAMAGED_BELOW 0.5
#define LIGHT_TICKS_PER_LY 365.0
#define RELAY_RANGE_LY 20.0
#define MSG_ENERGY 1.0e9
#define BROADCAST_ENERGY 5.0e9
#define BEACON_ENERGY 2.0e9
#define BEACONS_PER_SYSTEM 16
#define RESEARCH_ENERGY 1.0e9



/* Energy cost (J) charged in the tick an action is taken (activities charge per tick). */
extern const double world_action_energy[A_COUNT];
extern const double world_activity_energy[ACT_COUNT];
#endif
