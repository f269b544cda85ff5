"""Hardware profiles: per-operation energies and the time-step duration, as YAML data with their sources.

A profile is a YAML mapping with the fields of :class:`HardwareProfile` and a ``sources`` mapping that
cites a source (or states the assumption) for every number and for ``neuron_updates``. Built-in
profiles live in ``profiles/<name>.yaml`` next to this module (``cmos45nm``: Horowitz, ISSCC 2014;
``loihi``: Davies et al., IEEE Micro 2018); :func:`load_profile` also accepts the path of a user's
own file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

PROFILE_DIR = Path(__file__).with_name("profiles")

#: How neuron updates are counted per inference (see :func:`tnas_plugin.hardware.estimate_energy`).
NEURON_UPDATE_MODES = {
    "per_step": "time-stepped core: every neuron is updated at every time step (neurons x steps)",
    "per_inference": "event-driven TTFS core: every neuron is evaluated once per inference (neurons)",
}


class ProfileError(ValueError):
    """A hardware profile file is missing, unreadable or has an invalid field."""


@dataclass(frozen=True)
class HardwareProfile:
    """Per-operation costs of one hardware target (energies in picojoules)."""

    name: str
    description: str
    e_synop_pj: float  #: one synaptic operation: a spike delivered through one non-zero synapse
    e_update_pj: float  #: one neuron update
    e_mac_pj: float  #: one multiply-accumulate of the ANN twin (comparison platform)
    neuron_updates: str  #: a key of NEURON_UPDATE_MODES
    step_duration_ms: float  #: wall-clock duration of one time step
    sources: dict[str, str]  #: field name -> source or stated assumption
    path: str  #: the file the profile was read from


ENERGY_FIELDS = ("e_synop_pj", "e_update_pj", "e_mac_pj", "step_duration_ms")
SOURCED_FIELDS = ENERGY_FIELDS + ("neuron_updates",)


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
    ``neuron_updates`` mode, or a number without a source.
    """
    path = _resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
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
    if data.get("neuron_updates") not in NEURON_UPDATE_MODES:
        raise ProfileError(f"{path}: field 'neuron_updates' must be one of {sorted(NEURON_UPDATE_MODES)}, "
                           f"got {data.get('neuron_updates')!r}")
    sources = data.get("sources")
    if not isinstance(sources, dict):
        raise ProfileError(f"{path}: field 'sources' must map each of {list(SOURCED_FIELDS)} to its source, got {sources!r}")
    for key in SOURCED_FIELDS:
        if not isinstance(sources.get(key), str) or not sources[key].strip():
            raise ProfileError(f"{path}: field 'sources.{key}' must name the source of {key!r}")
    return HardwareProfile(
        name=data["name"],
        description=data["description"],
        neuron_updates=data["neuron_updates"],
        sources={str(k): str(v) for k, v in sources.items()},
        path=str(path),
        **numbers,
    )
