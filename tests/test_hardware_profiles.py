"""Hardware profiles: built-ins load with their sources, user files load, malformed files fail clearly."""
import pytest
import yaml

from tnas_plugin.hardware import HardwareProfile, ProfileError, available_profiles, load_profile
from tnas_plugin.hardware.profiles import SOURCED_FIELDS


def test_builtin_profiles_load_with_a_source_per_number():
    assert {"cmos45nm", "loihi"} <= set(available_profiles())
    cmos, loihi = load_profile("cmos45nm"), load_profile("loihi")
    assert (cmos.e_synop_pj, cmos.e_mac_pj) == (0.9, 4.6)  # Horowitz, ISSCC 2014 (45 nm, fp32 add / MAC)
    assert loihi.e_synop_pj == 23.6  # Davies et al., IEEE Micro 2018
    assert cmos.neuron_updates == "per_inference" and loihi.neuron_updates == "per_step"
    for profile in (cmos, loihi):
        assert isinstance(profile, HardwareProfile)
        assert all(profile.sources[key] for key in SOURCED_FIELDS)
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
        ({"e_update_pj": -1.0}, "e_update_pj"),
        ({"e_mac_pj": None}, "e_mac_pj"),
        ({"step_duration_ms": float("nan")}, "step_duration_ms"),
        ({"neuron_updates": "sometimes"}, "neuron_updates"),
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
