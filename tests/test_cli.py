"""The command line: clean errors for bad input, train → evaluate round trip."""

import json
import warnings

import pytest

import sharedspace.cli
from sharedspace.cli import main, one_line_warning
from sharedspace.config import save_config
from tests.tiny import tiny_config


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of one ``sharedspace`` call."""
    try:
        main([str(a) for a in argv])
        status = 0
    except SystemExit as e:
        status = e.code
    except KeyboardInterrupt:  # not pytest's own: that would end the whole session
        pytest.fail("Ctrl-C escaped sharedspace's main (a traceback)")
    out, err = capsys.readouterr()
    return status, out, err


def test_a_config_typo_is_one_clear_message(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ntasks: {}\ntrain: {epohcs: 3}\n")
    status, _, err = run_cli(capsys, "validate", path)
    assert status == 2
    assert "train.epohcs: unknown key (did you mean 'epochs'?)" in err
    assert "Traceback" not in err


def test_overrides_may_follow_the_options(capsys):
    status, out, _ = run_cli(capsys, "validate", "configs/sus/all_three.yaml", "train.lr=0.01")
    assert status == 0 and "3 tasks" in out
    status, _, err = run_cli(capsys, "validate", "configs/sus/all_three.yaml", "--bogus")
    assert status == 2 and "unrecognized arguments: --bogus" in err


def test_missing_data_names_where_it_looked(capsys, tmp_path):
    cfg = tiny_config(tmp_path / "nowhere", tmp_path, max_steps=1)
    save_config(cfg, tmp_path / "c.yaml")
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml")
    assert status == 2 and "fashion-mnist" in err and str(tmp_path / "nowhere") in err


def test_train_then_evaluate_gives_the_same_test_numbers(capsys, tiny_data_dir, tmp_path):
    cfg = tiny_config(tiny_data_dir, tmp_path, tasks=("classification", "next_word"), max_steps=8)
    save_config(cfg, tmp_path / "c.yaml")
    status, out, _ = run_cli(capsys, "train", tmp_path / "c.yaml")
    assert status == 0
    trained = json.loads((tmp_path / "tiny" / "results.json").read_text())["test"]
    status, out, _ = run_cli(capsys, "evaluate", tmp_path / "tiny", "--split", "test")
    assert status == 0
    evaluated = json.loads(out)
    for task, values in trained.items():
        assert evaluated[task] == pytest.approx(values)
    (tmp_path / "tiny" / "space_pca.png").unlink()
    status, out, _ = run_cli(capsys, "figures", tmp_path / "tiny")
    assert status == 0 and out == f"figure: {tmp_path / 'tiny' / 'space_pca.png'}\n"
    assert (tmp_path / "tiny" / "space_pca.png").stat().st_size > 0
    status, _, err = run_cli(capsys, "figures", tmp_path / "tiny", "--weights", "best")
    assert status == 2 and "no best weights" in err


def test_list_shows_every_registered_part_with_its_settings(capsys):
    from sharedspace.catalog import SECTIONS

    status, out, _ = run_cli(capsys, "list")
    assert status == 0
    for registry, _ in SECTIONS.values():
        for name in registry:
            assert f"\n  {name}" in out
    assert "      hidden: list[int] = [1024, 1024]" in out  # the sus space's settings
    assert "      c: float = 0.4" in out  # cagrad's
    status, out, _ = run_cli(capsys, "list", "samplers")
    assert status == 0 and out.startswith("samplers (train.sampler.name)") and "sus" not in out
    status, _, err = run_cli(capsys, "list", "spaec")
    assert status == 2 and "unknown section 'spaec'" in err


def test_print_config_shows_the_resolved_config_with_defaults(capsys):
    import yaml

    path = "configs/sus/classification.yaml"
    status, out, _ = run_cli(capsys, "train", path, "--print-config", "model.space.hidden=[8]")
    assert status == 0
    printed = yaml.safe_load(out)  # only the config: nothing trained
    assert printed["model"]["space"] == {
        "name": "sus", "hidden": [8], "out_dim": 512, "negative_slope": 0.01
    }  # fmt: skip
    assert printed["train"]["lr"] == 1e-3 and printed["tasks"]["classification"]["head"] == {}
    status, out2, _ = run_cli(capsys, "validate", path, "--print-config", "model.space.hidden=[8]")
    assert status == 0 and out2 == out


def test_a_bug_is_one_line_pointing_at_its_traceback_in_a_file(capsys, monkeypatch, tmp_path):
    def broken(_):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("sharedspace.cli._validate", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    monkeypatch.delenv("SHAREDSPACE_DEBUG", raising=False)
    status, _, err = run_cli(capsys, "validate", "configs/mtl/parity_shared.yaml")
    assert status == 1 and len(err.splitlines()) == 1
    assert err.startswith("sharedspace: internal error (RuntimeError: boom); the traceback is in")
    (log,) = tmp_path.glob("sharedspace-crash-*.log")
    assert "Traceback" in log.read_text() and "second line" in log.read_text()
    monkeypatch.setenv("SHAREDSPACE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["validate", "configs/mtl/parity_shared.yaml"])


@pytest.fixture
def no_launch(monkeypatch):
    """Fail if anything would start: the checks must come before torchrun and the data."""

    def popen(*args, **kwargs):
        raise SystemExit("would start torchrun")

    monkeypatch.setattr("subprocess.Popen", popen)
    monkeypatch.setattr("sharedspace.train.distributed.available_cpus", lambda: 4)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nproc=0"], "--nproc 0: must be at least 1"),
        (["--nproc=-1"], "--nproc -1: must be at least 1"),
        (["--nproc=999"], "--nproc 999: more processes than the 4 CPUs available"),
        (["--nproc=5"], "--force-nproc starts them anyway"),
        (["--nproc=3"], "train.batch_size: 32 does not split into 3 equal parts"),
        (["--nproc=5", "--force-nproc"], "train.batch_size: 32 does not split into 5"),
        (["--nproc=4", "tasks.classification.data.train_size=10"], "train_size: 10 does not"),
        (["train.device=cuda", "--nproc=2", "--force-nproc"], "than the 1 visible CUDA devices"),
    ],
)
def test_nproc_is_checked_before_any_process_starts(
    capsys, tmp_path, monkeypatch, no_launch, argv, message
):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    save_config(tiny_config(tmp_path / "no-data", tmp_path), tmp_path / "c.yaml")
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml", *argv)
    assert status == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("sharedspace: error: ") and message in err
    assert not (tmp_path / "tiny").exists()


def test_a_valid_nproc_passes_the_checks(capsys, tmp_path, no_launch):
    """1 process (any batch), and 2 that share the batch, go on (to the missing data here)."""
    save_config(tiny_config(tmp_path / "no-data", tmp_path), tmp_path / "c.yaml")
    status, _, err = run_cli(capsys, "train", tmp_path / "c.yaml", "train.batch_size=7")
    assert status == 2 and "no-data" in err  # got past the checks, to the data
    status, _, _ = run_cli(capsys, "train", tmp_path / "c.yaml", "--nproc=2")
    assert status == "would start torchrun"
    status, out, _ = run_cli(capsys, "train", "--help")
    assert status == 0 and "--force-nproc" in out


@pytest.mark.parametrize(
    "command, argv",
    [
        ("_train", ["train", "c.yaml"]),
        ("_evaluate", ["evaluate", "runs/x"]),
        ("_report", ["report", "runs/x"]),
        ("_figures", ["figures", "runs/x"]),
        ("_validate", ["validate", "c.yaml"]),
        ("_reproduce", ["reproduce", "sus"]),
        ("_discover", ["discover"]),
        ("_list", ["list"]),
        ("_data_download", ["data", "download", "cifar10", "--data-dir", "d"]),
    ],
)
def test_ctrl_c_in_any_command_is_one_line_and_status_130(capsys, monkeypatch, command, argv):
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(f"sharedspace.cli.{command}", interrupted)
    status, _, err = run_cli(capsys, *argv)
    assert status == 130 and err == "sharedspace: interrupted\n"


def test_warnings_reach_the_user_as_one_line(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(sharedspace.cli, "run_command", lambda argv: shown.append(
        warnings.formatwarning("3 of 9 test examples are long", UserWarning, "/x.py", 7, "w()")
    ))  # fmt: skip
    main(["list", "spaces"])
    assert shown == ["sharedspace: warning: 3 of 9 test examples are long\n"]
    assert warnings.formatwarning is not one_line_warning  # as it was, after the command
