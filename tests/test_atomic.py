"""The one atomic write (tnas_plugin.atomic): a whole new file or the old one, never a part, no temporary left."""
import pytest

from tnas_plugin.atomic import atomic_file, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as stream:
            stream.write("half")
            raise RuntimeError("stopped while writing")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
    with atomic_file(target, "wb") as stream:
        stream.write(b"new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
