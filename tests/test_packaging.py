"""What ``pip install .`` installs: the package with its configs, so ``reproduce`` and
``sharedspace train sus/all_three`` work away from the source tree."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from sharedspace.config import CONFIGS, load_yaml, packaged_config, shipped_configs
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config


def test_a_packaged_config_is_found_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    assert load_config("sus/all_three").name == "sus-all_three"
    assert packaged_config("configs/sus/next_word.yaml") == CONFIGS / "sus" / "next_word.yaml"
    assert packaged_config("../pyproject") is None
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found \(packaged configs"):
        load_yaml(tmp_path / "nope.yaml")


@pytest.mark.slow
def test_the_wheel_holds_every_shipped_config(tmp_path):
    root = CONFIGS.parents[2]
    tree = tmp_path / "tree"
    shutil.copytree(root / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, tree / name)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*command, "-w", tmp_path / "dist", tree], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("sharedspace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sharedspace/configs/{p.relative_to(CONFIGS)}" for p in shipped_configs()}
    assert len(expected) >= 8 and expected <= names
