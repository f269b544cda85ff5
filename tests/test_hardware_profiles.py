"""Hardware profiles: built-ins load with their sources, user files load, malformed files fail clearly."""
import pytest
import yaml

from tnas_plugin.hardware import HardwareProfile, ProfileError, available_profiles, load_profile
from tnas_plugin.hardware.profiles import ENERGY_FIELDS, TIMING_FIELDS


def test_builtin_profiles_load_with_a_source_per_number():
    assert {"cmos45nm", "loihi"} <= set(available_profiles())
    cmos, loihi = load_profile("cmos45nm"), load_profile("loihi")
    assert (cmos.e_synop_pj, cmos.e_mac_pj) == (0.9, 4.6)  # Horowitz, ISSCC 2014 (45 nm, fp32 add / MAC)
    # Davies et al., IEEE Micro 2018, Table 2
    assert (loihi.e_synop_pj, loihi.e_update_active_pj, loihi.e_update_inactive_pj) == (23.6, 81.0, 52.0)
    assert (loihi.t_synop_ns, loihi.t_update_active_ns, loihi.t_update_inactive_ns, loihi.neurons_per_core) == (3.5, 8.4, 5.3, 1024)
    assert loihi.latency_model == "core_time" and loihi.latency_models == ("fixed_step", "core_time")
    assert cmos.latency_model == "fixed_step" and cmos.latency_models == ("fixed_step",)
    assert all(loihi.sources[key] for key in TIMING_FIELDS)
    for profile in (cmos, loihi):
        assert isinstance(profile, HardwareProfile)
        assert all(profile.sources[key] for key in (*ENERGY_FIELDS, "latency_model"))
    assert "Horowitz" in cmos.sources["e_mac_pj"] and "Davies" in loihi.sources["e_synop_pj"]


def valid_profile() -> dict:
    return yaml.safe_load(open(load_profile("loihi").path))


def test_user_profile_from_a_path(tmp_path):
    data = valid_profile() | {"name": "mychip", "e_synop_pj": 2.5}
    path = tmp_path / "mychip.yaml"
    path.write_text(yaml.safe_dump(data))
    profile = load_profile(path)
    assert (profile.name, profile.e_synop_pj, profile.path) == ("mychip", 2.5, str(path))
    assert load_profile(str(path)) == profile


@pytest.mark.parametrize(
    "change, field",
    [
        ({"e_synop_pj": "fast"}, "e_synop_pj"),
        ({"e_update_active_pj": -1.0}, "e_update_active_pj"),
        ({"e_update_inactive_pj": "x"}, "e_update_inactive_pj"),
        ({"neurons_per_core": 0.5}, "neurons_per_core"),
        ({"e_mac_pj": None}, "e_mac_pj"),
        ({"step_duration_ms": float("nan")}, "step_duration_ms"),
        ({"latency_model": "sometimes"}, "latency_model"),
        ({"name": ""}, "name"),
        ({"sources": "a paper"}, "sources"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_malformed_profile_names_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(valid_profile() | change))
    with pytest.raises(ProfileError, match=f"{path}.*'{field}'"):
        load_profile(path)


def test_missing_field_and_missing_source_are_named(tmp_path):
    data = valid_profile()
    del data["e_mac_pj"]
    path = tmp_path / "nomac.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=f"{path}.*'e_mac_pj'"):
        load_profile(path)
    data = valid_profile()
    del data["t_synop_ns"]  # core_time needs every per-operation time
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=f"{path}.*'t_synop_ns'"):
        load_profile(path)
    for key in TIMING_FIELDS[1:]:  # without any of them only fixed_step is possible
        del data[key]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=f"{path}.*'latency_model'"):
        load_profile(path)
    data = valid_profile()
    del data["sources"]["e_synop_pj"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=f"{path}.*'sources.e_synop_pj'"):
        load_profile(path)


def test_unreadable_or_unknown_profiles(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=f"{path}: not valid YAML"):
        load_profile(path)
    path.write_text("- a list\n")
    with pytest.raises(ProfileError, match="must be a YAML mapping"):
        load_profile(path)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.yaml")
    with pytest.raises(ProfileError, match="unknown hardware profile 'tpu'.*cmos45nm"):
        load_profile("tpu")
