"""VecUniverse: the C engine in-process, every probe stepped at once with numpy arrays.

The engine is ``libuniverse.so`` (built from the same sources as ``universe-sim``; the C API is
``sim/src/vec.h``), loaded with ctypes. A step hands the engine one int32 action id per probe slot
and ``PARAMS`` float32 parameters, and the engine fills preallocated numpy arrays: the feature
rows, the reward components, and the slots born and destroyed. No JSON, no Python loop over
probes. Same seed + same actions give the same state hash as ``universe-sim --pipe``.

Probe slot ``i`` is probe id ``"1-{i+1}"``; slots are never reused (a destroyed probe keeps its
slot, ``alive`` 0). The encodings are documented in docs/research.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("universed.rl needs numpy: pip install 'universed[rl]'") from exc

__all__ = [
    "ACTIONS",
    "ACTION_ENCODING_VERSION",
    "FEATURES",
    "FEATURE_NAMES",
    "N_ACTIONS",
    "N_ACTIONS_V1",
    "PARAMS",
    "REWARDS",
    "REWARD_NAMES",
    "VERSION",
    "StepResult",
    "VecUniverse",
    "find_library",
]

LIBRARY = "libuniverse.so"
PARAMS = 4
N_ACTIONS = 21  # ids 0..20 (action encoding 2)
N_ACTIONS_V1 = 13  # ids 0..12: the physical actions of encoding 1, unchanged in 2
SLOT_MAX = TOKEN_MAX = 2**24 - 1  # the largest integer a float32 parameter holds exactly
FEATURES = 64
REWARDS = 8
NEIGH = 4
# feature, action, reward encodings (vec.h: UV_*_VERSION); the library must match
VERSION = {"features": 1, "actions": 2, "rewards": 1}
ACTION_ENCODING_VERSION = VERSION["actions"]

ACTIONS = (
    "wait",
    "survey",
    "mine",
    "repair",
    "navigate_to_body",
    "enter_orbit",
    "land",
    "launch",
    "scan",
    "travel_to_system",
    "replicate",
    "research",
    "build_structure",
    # action encoding 2: the social actions (parameters in docs/research.md)
    "send_message",
    "place_beacon",
    "trade",
    "claim_system",
    "revoke_claim",
    "propose",
    "vote",
    "share_tech",
)
RESOURCES = (
    "iron",
    "silicon",
    "rare_earth",
    "water",
    "hydrogen",
    "helium3",
    "carbon",
    "uranium",
    "exotic",
)
FEATURE_NAMES: tuple[str, ...] = (
    "alive",
    "status",
    "location",
    "activity",
    "hull",
    "energy",
    "fuel",
    "cargo",
    *(f"cargo_{r}" for r in RESOURCES),
    "progress",
    "ticks_left",
    "body",
    "system_survey",
    "body_survey",
    "n_bodies",
    "star_class",
    "body_type",
    "landable",
    "research",
    "last_action",
    "last_ok",
    "generation",
    "children",
    *(f"abundance_{r}" for r in RESOURCES),
    *(f"neighbor{k}_distance" for k in range(NEIGH)),
    *(f"neighbor{k}_explored" for k in range(NEIGH)),
    *(
        f"tech_{t}"
        for t in (
            "propulsion",
            "sensors",
            "mining",
            "construction",
            "computing",
            "energy",
            "materials",
            "communication",
            "weapons",
            "biotech",
        )
    ),
    "system_explored",
    "age",
    "replicate_ready",
    "mine_ready",
    "reserved0",
    "reserved1",
)
REWARD_NAMES = (
    "replicated",
    "explored",
    "mined_t",
    "surveys",
    "discoveries",
    "damage",
    "destroyed",
    "alive",
)
assert len(FEATURE_NAMES) == FEATURES and len(ACTIONS) == N_ACTIONS

_u32p = ctypes.POINTER(ctypes.c_uint32)
_f32p = ctypes.POINTER(ctypes.c_float)
_i32p = ctypes.POINTER(ctypes.c_int32)


def find_library(explicit: str = "") -> Path:
    """Locate libuniverse.so: ``explicit``, ``$UNIVERSED_LIBUNIVERSE``, packaged, ``sim/build``.

    Raises:
        FileNotFoundError: listing the places looked at.
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    env = os.environ.get("UNIVERSED_LIBUNIVERSE")
    if env:
        candidates.append(Path(env))
    candidates.append(Path(str(resources.files("universed").joinpath("_bin", LIBRARY))))
    candidates.append(Path(__file__).resolve().parents[2] / "sim" / "build" / LIBRARY)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{LIBRARY} not found (build it with `make -C sim`); looked at "
        + ", ".join(str(p) for p in candidates)
    )


_LIB: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is not None:
        return _LIB
    lib = ctypes.CDLL(str(find_library()))
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "uv_version": (ctypes.c_uint32, []),
        "uv_create": (ctypes.c_void_p, [ctypes.c_uint64, ctypes.c_uint32]),
        "uv_free": (None, [ctypes.c_void_p]),
        "uv_n_probes": (ctypes.c_uint32, [ctypes.c_void_p]),
        "uv_alive": (ctypes.c_uint32, [ctypes.c_void_p]),
        "uv_tick": (ctypes.c_uint64, [ctypes.c_void_p]),
        "uv_explored": (ctypes.c_uint64, [ctypes.c_void_p]),
        "uv_step": (
            ctypes.c_int,
            [
                ctypes.c_void_p,
                _i32p,
                _f32p,
                ctypes.c_uint32,
                _f32p,
                _u32p,
                _u32p,
                _u32p,
                _u32p,
                ctypes.c_uint32,
            ],
        ),
        "uv_observe": (ctypes.c_long, [ctypes.c_void_p, _f32p, ctypes.c_uint32]),
        "uv_hash": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)]),
        "uv_snapshot": (ctypes.c_long, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
        "uv_restore": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "uv_save": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "uv_load": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "uv_config": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_char_p, ctypes.c_size_t],
        ),
        "uv_describe": (
            ctypes.c_int,
            [
                ctypes.c_void_p,
                ctypes.c_uint32,
                ctypes.c_int32,
                _f32p,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ],
        ),
        "uv_neighbor": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, _i32p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    want = VERSION["features"] << 16 | VERSION["actions"] << 8 | VERSION["rewards"]
    got = lib.uv_version()
    if got != want:
        raise ImportError(
            f"{LIBRARY} speaks encoding version {got:#x}, this module {want:#x}: rebuild the engine"
        )
    _LIB = lib
    return lib


def _ptr(a: np.ndarray, kind: Any) -> Any:
    return a.ctypes.data_as(kind)


@dataclass
class StepResult:
    """One step's output. The arrays are views of buffers the next step overwrites: copy to keep.

    ``obs`` (n_probes, FEATURES) float32, every slot (dead ones have ``alive`` 0);
    ``rewards`` (n_probes,) float32 (``components @ weights``); ``components`` (n_probes, REWARDS);
    ``terminated`` (n_probes,) bool: destroyed in this step; ``born`` / ``died`` slot indices.
    """

    obs: np.ndarray
    rewards: np.ndarray
    components: np.ndarray
    terminated: np.ndarray
    born: np.ndarray
    died: np.ndarray


class VecUniverse:
    """One universe in-process. ``VecUniverse(seed, probes=1, config={...})``.

    ``probes`` is the population at start (Bob plus clones, like ``universe-sim --populate``);
    ``config`` takes the pipe's ``config`` keys (``max_probes``, ``replication_time_scale``, ...).
    Actions follow action encoding ``ACTION_ENCODING_VERSION`` (2: ids 0-12 as in 1, plus the
    social actions 13-20; docs/research.md).
    """

    ACTION_ENCODING_VERSION = ACTION_ENCODING_VERSION
    ACTIONS = ACTIONS

    def __init__(
        self,
        seed: int = 42,
        probes: int = 1,
        config: Mapping[str, float] | None = None,
        reward_weights: Any = None,
    ) -> None:
        if isinstance(probes, bool) or not isinstance(probes, int | np.integer):
            raise TypeError(f"probes must be an integer, got {type(probes).__name__}")
        if probes < 1:
            raise ValueError(f"probes must be >= 1 (Bob plus clones), got {probes}")
        if probes > 50_000_000:
            raise ValueError(f"probes must be <= 50,000,000, got {probes}")
        if not 0 <= int(seed) < 2**64:
            raise ValueError(f"seed must be an unsigned 64-bit integer, got {seed}")
        self._L = _lib()
        self._h: int | None = self._L.uv_create(int(seed), int(probes))
        if not self._h:
            raise MemoryError("the engine could not create the universe")
        self.seed = int(seed)
        self._cap = 0
        self._grow(int(probes))
        self.weights = np.zeros(REWARDS, np.float32)
        if reward_weights is not None:
            self.set_reward_weights(reward_weights)
        for key, value in (config or {}).items():
            self.configure(key, value)

    # ------------------------------------------------------------------ buffers
    def _grow(self, n: int) -> None:
        need = 2 * n + 16
        if need <= self._cap:
            return
        cap = max(1024, need, self._cap * 2)
        self._obs = np.zeros((cap, FEATURES), np.float32)
        self._comp = np.zeros((cap, REWARDS), np.float32)
        self._born = np.zeros(cap, np.uint32)
        self._died = np.zeros(cap, np.uint32)
        self._term = np.zeros(cap, bool)
        self._zeros_params = np.zeros((cap, PARAMS), np.float32)
        self._cap = cap

    def _handle(self) -> int:
        if not self._h:
            raise ValueError("this VecUniverse is closed")
        return self._h

    # ------------------------------------------------------------------ properties
    @property
    def n_probes(self) -> int:
        """Probe slots ever created (live and destroyed)."""
        return int(self._L.uv_n_probes(self._handle()))

    @property
    def alive(self) -> int:
        return int(self._L.uv_alive(self._handle()))

    @property
    def tick(self) -> int:
        return int(self._L.uv_tick(self._handle()))

    @property
    def explored(self) -> int:
        """Systems explored so far (a probe reached survey level 1 there)."""
        return int(self._L.uv_explored(self._handle()))

    def set_reward_weights(self, weights: Any) -> None:
        w = np.asarray(weights, np.float32)
        if w.shape != (REWARDS,):
            raise ValueError(f"reward weights must have shape ({REWARDS},), got {w.shape}")
        self.weights = w

    def configure(self, key: str, value: float) -> None:
        """Set one engine config key (the pipe's ``config`` names and ranges)."""
        err = ctypes.create_string_buffer(200)
        if self._L.uv_config(self._handle(), key.encode(), float(value), err, 200):
            raise ValueError(err.value.decode())

    # ------------------------------------------------------------------ stepping
    def step(
        self, actions: Any = None, params: Any = None, observe: bool = True, rewards: bool = True
    ) -> StepResult:
        """One tick. ``actions``: int array (n_probes,) of action ids (None: everybody waits);
        ``params``: float array (n_probes, PARAMS) or None (zeros). ``observe=False`` /
        ``rewards=False`` skip filling the feature rows / reward components (stale then)."""
        h = self._handle()
        n0 = self.n_probes
        self._grow(n0)
        a = None
        if actions is None:
            a_ptr, p_ptr, n = None, None, 0
        else:
            a = np.asarray(actions)
            if a.shape != (n0,):
                raise ValueError(
                    f"actions must have shape ({n0},) (one per probe slot), got {a.shape}"
                )
            if a.dtype.kind not in "iu":
                raise ValueError(f"actions must be integers (action ids), got dtype {a.dtype}")
            a = np.ascontiguousarray(a, np.int32)
            if params is None:
                p = self._zeros_params[:n0]
            else:
                p = np.asarray(params)
                if p.shape != (n0, PARAMS):
                    raise ValueError(f"params must have shape ({n0}, {PARAMS}), got {p.shape}")
                p = np.ascontiguousarray(p, np.float32)
            a_ptr, p_ptr, n = _ptr(a, _i32p), _ptr(p, _f32p), n0
        nb, nd = ctypes.c_uint32(), ctypes.c_uint32()
        rc = self._L.uv_step(
            h,
            a_ptr,
            p_ptr,
            n,
            _ptr(self._comp, _f32p) if rewards else None,
            _ptr(self._born, _u32p),
            ctypes.byref(nb),
            _ptr(self._died, _u32p),
            ctypes.byref(nd),
            self._cap,
        )
        if rc == -3 and a is not None:
            bad = int(nb.value)
            raise ValueError(f"action id {int(a[bad])} of slot {bad} is not in 0..{N_ACTIONS - 1}")
        if rc:
            raise RuntimeError(f"uv_step failed ({rc})")
        n1 = self.n_probes
        comp = self._comp[:n1]
        if observe:
            self._L.uv_observe(h, _ptr(self._obs, _f32p), self._cap)
        died = self._died[: nd.value]
        term = self._term[:n1]
        term[:] = False
        term[died] = True
        return StepResult(
            obs=self._obs[:n1],
            rewards=self._weigh(comp) if rewards else np.zeros(n1, np.float32),
            components=comp,
            terminated=term,
            born=self._born[: nb.value],
            died=died,
        )

    def _weigh(self, comp: np.ndarray) -> np.ndarray:
        """comp @ weights without BLAS (its threads would spin beside the engine)."""
        out = np.zeros(len(comp), np.float32)
        for k in np.flatnonzero(self.weights):
            out += comp[:, k] * self.weights[k]
        return out

    def observe(self) -> np.ndarray:
        """The feature rows of every slot, (n_probes, FEATURES) float32 (a view: copy to keep)."""
        n = self.n_probes
        self._grow(n)
        self._L.uv_observe(self._handle(), _ptr(self._obs, _f32p), self._cap)
        return self._obs[:n]

    # ------------------------------------------------------------------ state
    def hash(self) -> str:
        """The state hash, 16 hex digits, exactly the pipe's ``hash`` reply."""
        out = ctypes.c_uint64()
        if self._L.uv_hash(self._handle(), ctypes.byref(out)):
            raise MemoryError("out of memory while hashing")
        return f"{out.value:016x}"

    def snapshot(self) -> bytes:
        """The canonical state bytes (what the pipe's snapshots hold); ``restore`` takes them."""
        h = self._handle()
        n = self._L.uv_snapshot(h, None, 0)
        if n < 0:
            raise MemoryError("out of memory taking a snapshot")
        buf = ctypes.create_string_buffer(n)
        self._L.uv_snapshot(h, buf, n)
        return buf.raw[:n]

    def restore(self, data: bytes) -> None:
        err = ctypes.create_string_buffer(200)
        if self._L.uv_restore(self._handle(), bytes(data), len(data), err, 200):
            raise ValueError(f"snapshot unusable: {err.value.decode()}")

    def save(self, path: str | os.PathLike[str]) -> None:
        """An atomic save file, the same format as the pipe's ``save``."""
        err = ctypes.create_string_buffer(300)
        if self._L.uv_save(self._handle(), os.fsencode(path), err, 300):
            raise OSError(err.value.decode())

    def load(self, path: str | os.PathLike[str]) -> None:
        err = ctypes.create_string_buffer(300)
        if self._L.uv_load(self._handle(), os.fsencode(path), err, 300):
            raise OSError(err.value.decode())

    # ------------------------------------------------------------------ helpers
    def describe(self, slot: int, action: int, params: Any = None) -> dict[str, Any] | None:
        """The pipe action object equivalent to ``action`` of ``slot`` now (None for wait)."""
        import json

        p = np.zeros((self.n_probes, PARAMS), np.float32)
        if params is not None:
            p[slot] = np.asarray(params, np.float32)
        buf = ctypes.create_string_buffer(512)
        if self._L.uv_describe(self._handle(), slot, action, _ptr(p, _f32p), buf, 512) < 0:
            raise ValueError(f"bad slot {slot} or action {action}")
        out: dict[str, Any] | None = json.loads(buf.value)
        return out

    def neighbor(self, slot: int, k: int) -> tuple[int, int, int, int] | None:
        """Neighbour ``k`` of ``slot``'s system as (sector x, y, z, index), or None."""
        out = (ctypes.c_int32 * 4)()
        if self._L.uv_neighbor(self._handle(), slot, k, out):
            return None
        return (out[0], out[1], out[2], out[3])

    def close(self) -> None:
        if self._h:
            self._L.uv_free(self._h)
            self._h = None

    def __enter__(self) -> VecUniverse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (Ray moves universes between workers): seed, snapshot and weights."""
        return {"seed": self.seed, "state": self.snapshot(), "weights": self.weights.tolist()}

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.__init__(st["seed"], 1, None, st["weights"])  # type: ignore[misc]
        self.restore(st["state"])
