"""Parts from the user's own files: a space and a task kind registered outside the package train,
evaluate and run in 2 processes through the command line, as ours do."""

import json
import re
import sys
import textwrap

import pytest
import torch
import yaml

from sharedspace.config import CONFIGS, to_dict
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.spaces import SPACES
from sharedspace.tasks import TASKS
from tests.test_cli import run_cli
from tests.tiny import tiny_config
from tests.train.test_distributed import cli_train

PLUGIN = '''
"""A gated linear space and a hinge-loss classifier, registered from outside the package."""
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from sharedspace.spaces import SPACES
from sharedspace.tasks import TASKS, LossTerms
from sharedspace.tasks.classification import Classification


@SPACES.register("{space}")
class GatedLinear(nn.Module):
    """One linear layer with a learned gate per task."""

    forms = {{"vector": "vector"}}
    aux_losses = ()

    @dataclass
    class Config:
        out_dim: int = 16

    def __init__(self, cfg, in_dim, num_tasks):
        super().__init__()
        self.linear, self.out_dim = nn.Linear(in_dim, cfg.out_dim), cfg.out_dim
        self.gate = nn.Parameter(torch.zeros(num_tasks, cfg.out_dim))

    def forward(self, h, task):
        return self.linear(h) * torch.sigmoid(self.gate[task])


@TASKS.register("{task}")
class HingeClassification(Classification):
    """Classification trained with the multi-class hinge loss."""

    def loss(self, output, batch):
        return LossTerms.per_example(F.multi_margin_loss(output, batch["y"], reduction="none"))
'''


IMAGES = {"kind": "classification", "modality": "image", "data": {"source": "fashion_mnist"}}
TINY = {"name": "x", "tasks": {"c": IMAGES}}


def write_plugin(folder, tag):
    """A plug-in file whose names carry ``tag`` (each test registers its own, once)."""
    path = folder / "parts" / f"my_parts_{tag}.py"
    path.parent.mkdir()
    path.write_text(textwrap.dedent(PLUGIN.format(space=f"gated_{tag}", task=f"hinge_{tag}")))
    return path


def plugin_config(data_dir, tmp_path, tag):
    """A config file beside ``parts/`` that imports the plug-in by a relative path."""
    write_plugin(tmp_path, tag)
    raw = to_dict(tiny_config(data_dir, tmp_path, max_steps=6, log_every=1))
    raw["imports"] = [f"parts/my_parts_{tag}.py"]
    raw["model"]["space"] = {"name": f"gated_{tag}"}
    raw["tasks"]["classification"]["kind"] = f"hinge_{tag}"
    raw["tasks"]["classification"]["head"] = {}
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_space_and_task_kind_from_a_file_train_and_evaluate(capsys, tiny_data_dir, tmp_path):
    path = plugin_config(tiny_data_dir, tmp_path, "a")
    status, out, err = run_cli(capsys, "train", path)
    assert status == 0, err
    assert "gated_a" in SPACES and "hinge_a" in TASKS
    saved = load_config(tmp_path / "tiny" / "config.yaml")
    assert saved.imports == [str(tmp_path / "parts" / "my_parts_a.py")]  # absolute: found again
    trained = json.loads((tmp_path / "tiny" / "results.json").read_text())["test"]
    status, out, err = run_cli(capsys, "evaluate", tmp_path / "tiny")
    assert status == 0, err
    assert json.loads(out)["classification"] == pytest.approx(trained["classification"])
    load_config(path)  # importing the same file again registers nothing twice


@pytest.mark.slow
def test_a_plugin_config_runs_in_two_processes(tiny_data_dir, tmp_path):
    path = plugin_config(tiny_data_dir, tmp_path, "b")
    cli_train(path, "--nproc=2")  # each torchrun process imports the file itself
    records = (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()
    assert any(json.loads(r)["split"] == "test" for r in records)


def test_a_module_name_is_imported_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "my_module_parts.py").write_text(
        "from sharedspace.spaces import SPACES\nfrom sharedspace.spaces.none import NoSpace\n"
        "SPACES.register('none_again')(type('Again', (NoSpace,), {}))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    data = {**TINY, "imports": ["my_module_parts"], "model": {"space": "none_again"}}
    assert load_config(data=data).model.space.name == "none_again"


@pytest.mark.parametrize(
    ("imports", "message"),
    [
        (["no_such_module_xyz"], r"imports\.0: no module named 'no_such_module_xyz'"),
        (["missing.py"], r"imports\.0: .*missing\.py: plug-in file not found"),
        ("my_parts", r"imports: expected a list of module names or \.py files"),
    ],
)
def test_a_bad_import_is_a_one_line_error(imports, message):
    with pytest.raises(ConfigError, match=message):
        load_config(data={"name": "x", "tasks": {}, "imports": imports})


def test_installed_packages_register_parts_through_entry_points(capsys, tmp_path, monkeypatch):
    (tmp_path / "ep_parts_pkg.py").write_text(
        "from sharedspace.train.sampling import SAMPLERS, UniformSampler\n"
        "SAMPLERS.register('uniform_from_entry_point')(type('U', (UniformSampler,), {}))\n"
    )
    info = tmp_path / "ep_parts_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-parts-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sharedspace.parts]\nmine = ep_parts_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    status, out, _ = run_cli(capsys, "list", "samplers")
    assert status == 0 and "uniform_from_entry_point" in out
    data = {**TINY, "train": {"sampler": "uniform_from_entry_point"}}
    assert load_config(data=data).train.sampler.name == "uniform_from_entry_point"


def test_the_example_plugin_config_resolves_and_its_space_runs():
    cfg = load_config(CONFIGS.parents[2] / "examples" / "plugin.yaml")
    assert cfg.model.space.name == "gated" and cfg.model.space.config.width == 256
    space = SPACES.get("gated")(cfg.model.space.config, in_dim=8, num_tasks=2)
    z = space(torch.randn(4, 8), 1)
    z.sum().backward()
    assert z.shape == (4, 256) and space.gate_logits.grad[1].abs().sum() > 0
    assert space.gate_logits.grad[0].abs().sum() == 0  # task 0's gate is not touched


BROKEN = {  # a plug-in's fault → what the message says after the plug-in's file
    "syntax": ("x = 1\ndef broken(:\n", r"line 2: SyntaxError: "),
    "missing_import": (
        "import json\nimport no_such_dependency_xyz\n",
        r"line 2: ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
    ),
    "registered_twice": (
        "from sharedspace.spaces import SPACES\nfrom sharedspace.spaces.none import NoSpace\n\n"
        "SPACES.register('sus')(NoSpace)\n",
        r"line 4: ValueError: space 'sus' is registered twice",
    ),
    "raises": ("a = 1\nb = a / 0\n", r"line 2: ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("fault", list(BROKEN))
@pytest.mark.parametrize("how", ["file", "module"])
def test_a_broken_plugin_is_one_line_naming_its_file_and_key(
    capsys, tmp_path, monkeypatch, fault, how
):
    code, problem = BROKEN[fault]
    name = f"broken_{fault}_{how}"
    (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({**TINY, "imports": ["json", f"{name}.py" if how == "file" else name]})
    )
    status, _, err = run_cli(capsys, "validate", path)
    assert status == 2 and "internal error" not in err and err.count("\n") == 1, err
    where = re.escape(f"{path}: imports.1: plug-in {tmp_path / name}.py, ")
    assert re.match(f"sharedspace: error: {where}{problem}", err), err
    assert not any(m.startswith(("broken_", "sharedspace_plugin_broken_")) for m in sys.modules)


@pytest.mark.parametrize("name", ["", ".relative", "a..b", "my-parts", "parts/mine"])
def test_an_import_that_is_no_module_name_is_a_one_line_error(name):
    with pytest.raises(ConfigError, match=r"imports\.0: .* is neither a module name nor a \.py"):
        load_config(data={**TINY, "imports": [name]})


def test_an_installed_plugin_that_fails_names_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "ep_broken_pkg.py").write_text("import json\nraise RuntimeError('boom')\n")
    info = tmp_path / "ep_broken_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-broken-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sharedspace.parts]\nbroken = ep_broken_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    where = re.escape(f"plug-in {tmp_path / 'ep_broken_pkg.py'}, line 2: RuntimeError: boom")
    with pytest.raises(ConfigError, match=rf"entry point broken = ep_broken_pkg .*: {where}$"):
        load_config(data=TINY)
