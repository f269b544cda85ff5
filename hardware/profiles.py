"""Hardware profiles: per-operation energies and times, as YAML data with their sources.

A profile is a YAML mapping with the fields of :class:`HardwareProfile` and a ``sources`` mapping that
cites a source (or states the assumption) for every number and for ``latency_model``. It charges the
terms of a :class:`~tnas_plugin.hardware.cost.CostReport`: synaptic events, active and inactive neuron
updates (spiking networks) or MACs (the ANN twin). Built-in
profiles live in ``profiles/<name>.yaml`` next to this module (``cmos45nm``: Horowitz, ISSCC 2014;
``loihi``: Davies et al., IEEE Micro 2018); :func:`load_profile` also accepts the path of a user's
own file.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from tnas_plugin.errors import InputError
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it

PROFILE_DIR = Path(__file__).with_name("profiles")

ENERGY_FIELDS = ("e_synop_pj", "e_update_active_pj", "e_update_inactive_pj", "e_mac_pj", "step_duration_ms")
TIMING_FIELDS = ("t_synop_ns", "t_update_active_ns", "t_update_inactive_ns", "neurons_per_core")


@dataclass(frozen=True)
class LatencyModel:
    """How latency is computed (the formula: :func:`tnas_plugin.hardware.estimate_energy`) and the optional
    profile fields it needs (a profile supports the model when it has all of them)."""

    description: str
    needs: tuple[str, ...] = ()


#: The latency models by name: the one table the profiles, the energy model and ``tnas-er synops`` read.
LATENCY_MODELS = {
    "fixed_step": LatencyModel("time steps x step_duration_ms (a stated step duration, not a measurement)"),
    "core_time": LatencyModel("per step, the slowest core's synaptic events x t_synop_ns + active updates x "
                              "t_update_active_ns + inactive updates x t_update_inactive_ns, neurons packed in layer "
                              "order, neurons_per_core per core", needs=TIMING_FIELDS),
}


class ProfileError(InputError, ValueError):
    """A hardware profile file is missing, unreadable or has an invalid field."""


@dataclass(frozen=True)
class HardwareProfile:
    """Per-operation costs of one hardware target (energies in picojoules)."""

    name: str
    description: str
    e_synop_pj: float  #: one synaptic event: a spike delivered through one non-zero synapse
    e_update_active_pj: float  #: one active neuron update (received input or changed state)
    e_update_inactive_pj: float  #: one inactive neuron update
    e_mac_pj: float  #: one multiply-accumulate of the ANN twin (comparison platform)
    step_duration_ms: float  #: wall-clock duration of one time step for the ``fixed_step`` latency model
    latency_model: str  #: the default key of LATENCY_MODELS
    sources: dict[str, str]  #: field name -> source or stated assumption
    path: str  #: the file the profile was read from
    t_synop_ns: float | None = None  #: core time per synaptic event (``core_time`` model)
    t_update_active_ns: float | None = None  #: core time per active update
    t_update_inactive_ns: float | None = None  #: core time per inactive update
    neurons_per_core: int | None = None  #: neurons mapped to one core

    @property
    def latency_models(self) -> tuple[str, ...]:
        """The latency models this profile supports (:data:`LATENCY_MODELS` whose fields it has)."""
        return supported_models(name for name in TIMING_FIELDS if getattr(self, name) is not None)


def supported_models(fields_given) -> tuple[str, ...]:
    """The latency models a profile with the optional fields ``fields_given`` supports, in table order."""
    given = set(fields_given)
    return tuple(name for name, model in LATENCY_MODELS.items() if given >= set(model.needs))


def available_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    builtin = PROFILE_DIR / f"{name_or_path}.yaml"
    if not builtin.exists():
        raise ProfileError(f"unknown hardware profile {str(name_or_path)!r}: not a file and not one of {available_profiles()}")
    return builtin


def _number(path: Path, data: dict, key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ProfileError(f"{path}: field {key!r} must be a finite number >= 0, got {value!r}")
    return float(value)


def load_profile(name_or_path: str | Path) -> HardwareProfile:
    """Load a built-in profile by name (e.g. ``"loihi"``) or a profile YAML file by path.

    Raises :class:`ProfileError` naming the file and the offending field when the file is missing,
    is not a YAML mapping, lacks a field, has a non-numeric/negative number, an unknown
    ``latency_model``, only some of the timing fields of ``core_time``, or a number without a source.

    Parameters
    ----------
    name_or_path
        The name of a built-in profile (one of :func:`available_profiles`, e.g. ``"cmos45nm"`` or
        ``"loihi"``), or the path of a profile YAML file (``.yaml``/``.yml``, or any existing file).

    Example
    -------
    >>> profile = load_profile("loihi")
    >>> profile.name in available_profiles()
    True
    >>> own = load_profile("my_chip.yaml")  # doctest: +SKIP
    """
    path = _resolve(name_or_path)
    try:
        version = path.stat()
    except OSError as error:
        raise ProfileError(f"{path}: cannot read hardware profile ({error.strerror})") from error
    return _load(path, version.st_mtime_ns, version.st_size)


@functools.lru_cache(maxsize=16)
def _load(path: Path, modified_ns: int, size: int) -> HardwareProfile:
    """:func:`load_profile` of one version of one file (its time and size), parsed once per process: every
    trial and measurement reads its profile again, and a warm trial pool hands its parse to the trials."""
    try:
        data = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except OSError as error:
        raise ProfileError(f"{path}: cannot read hardware profile ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ProfileError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a hardware profile must be a YAML mapping, got {type(data).__name__}")
    known = {f.name for f in fields(HardwareProfile)} - {"path"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProfileError(f"{path}: unknown field {unknown[0]!r} (expected {sorted(known)})")
    for key in ("name", "description"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ProfileError(f"{path}: field {key!r} must be a non-empty string, got {data.get(key)!r}")
    numbers = {key: _number(path, data, key) for key in ENERGY_FIELDS}
    timing = [key for key in TIMING_FIELDS if key in data]
    if timing and len(timing) != len(TIMING_FIELDS):
        missing = sorted(set(TIMING_FIELDS) - set(timing))
        raise ProfileError(f"{path}: field {missing[0]!r} is missing: the core_time latency model needs all of {list(TIMING_FIELDS)}")
    numbers.update({key: _number(path, data, key) for key in timing})
    if timing:
        if numbers["neurons_per_core"] < 1 or numbers["neurons_per_core"] != int(numbers["neurons_per_core"]):
            raise ProfileError(f"{path}: field 'neurons_per_core' must be a positive integer, got {data['neurons_per_core']!r}")
        numbers["neurons_per_core"] = int(numbers["neurons_per_core"])
    allowed = supported_models(timing)
    if data.get("latency_model") not in allowed:
        raise ProfileError(f"{path}: field 'latency_model' must be one of {list(allowed)}, got {data.get('latency_model')!r}")
    sources = data.get("sources")
    sourced = (*ENERGY_FIELDS, *timing, "latency_model")
    if not isinstance(sources, dict):
        raise ProfileError(f"{path}: field 'sources' must map each of {list(sourced)} to its source, got {sources!r}")
    for key in sourced:
        if not isinstance(sources.get(key), str) or not sources[key].strip():
            raise ProfileError(f"{path}: field 'sources.{key}' must name the source of {key!r}")
    return HardwareProfile(
        name=data["name"],
        description=data["description"],
        latency_model=data["latency_model"],
        sources={str(k): str(v) for k, v in sources.items()},
        path=str(path),
        **numbers,
    )
