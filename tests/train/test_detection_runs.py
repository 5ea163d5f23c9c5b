"""Detection through `sharedspace train`: 2 processes train what 1 does (that the same weights
score the same AP on 1 or 2 processes is tests/tasks/test_detection.py's), a run stopped and
resumed ends with the weights of one that ran straight through, and rotation shares the
backbone."""

import json

import pytest
import torch
import yaml

from tests.data.cutout_files import write_cutouts
from tests.train.test_distributed import cli_train, final_state, train_losses

STEPS = 48


def detection_config(tmp_path, name: str, max_steps: int = STEPS):
    """Scenes of 32 px from a folder of 2 classes of objects, a tiny backbone, no space."""
    data_dir = tmp_path / "objects"
    if not data_dir.exists():
        write_cutouts(data_dir)
    cfg = {
        "name": name,
        "out_dir": str(tmp_path),
        "data_dir": str(data_dir),
        "tasks": {
            "detect": {
                "kind": "detection",
                "modality": "image",
                "data": {"source": "object_cutouts", "size": 32, "scenes": 64, "eval_scenes": 7},
                "head": {"hidden": 8},
            }
        },
        "model": {
            "width": 16,
            "modalities": {
                "image": {
                    "name": "image_resnet",
                    "stem": 8,
                    "channels": [8, 16],
                    "blocks": [1, 1],
                    "strides": [1, 2],
                }
            },
            "space": "none",
        },
        "train": {
            "max_steps": max_steps,
            "batch_size": 8,
            "lr": 1e-2,
            "log_every": 1,
            "checkpoint_every": 8,
            "progress": False,
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def validations(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "validation"]


@pytest.mark.slow
def test_two_processes_train_and_score_what_one_does(tmp_path):
    for nproc in (1, 2):
        cli_train(detection_config(tmp_path, f"det{nproc}"), f"--nproc={nproc}")
    one, two = (train_losses(tmp_path / f"det{n}") for n in (1, 2))
    assert [r[:2] for r in one] == [r[:2] for r in two] and len(one) == STEPS
    # losses agree to 1e-3 relative and weights to 1e-3, a tenth of one Adam step at lr 1e-2:
    # two half batches sum in another order than one whole, and at this learning rate Adam
    # carries that noise into the weights (a conv before a GroupNorm has a gradient direction
    # that is zero in exact arithmetic: its scale); by step 48 the losses differ by ~1e-4
    assert [r[2] for r in two] == pytest.approx([r[2] for r in one], rel=1e-3)
    w1, w2 = (final_state(tmp_path / f"det{n}")["model"] for n in (1, 2))
    for name, value in w1.items():
        torch.testing.assert_close(w2[name], value, rtol=0, atol=1e-3, msg=name)
    v1, v2 = validations(tmp_path / "det1"), validations(tmp_path / "det2")
    assert [v["step"] for v in v1] == [v["step"] for v in v2] and "ap/cutouts/square" in v2[-1]
    assert v1[-1]["ap50"] > 0.05  # it learnt; the same weights score the same AP on 1 or 2
    # processes (tests/tasks/test_detection.py), so the AP here differs only as the weights do


@pytest.mark.slow
def test_a_stopped_run_resumes_to_the_weights_of_one_run_straight_through(tmp_path):
    cli_train(detection_config(tmp_path, "straight", max_steps=12))
    cli_train(detection_config(tmp_path, "stopped", max_steps=6))  # mid-epoch (8 steps)
    cli_train(detection_config(tmp_path, "stopped", max_steps=12), "--resume")
    straight, resumed = (final_state(tmp_path / n) for n in ("straight", "stopped"))
    assert resumed["step"] == straight["step"] == 12
    for name, weight in straight["model"].items():
        assert torch.equal(weight, resumed["model"][name]), name


@pytest.mark.slow
def test_detection_and_rotation_share_the_backbone_on_the_same_scenes(tmp_path):
    """with_rotation.yaml's pairing on a user's cutouts: one image cap for both tasks (the
    rotation task's scenes give the statistics of the detection task's), both trained each step
    and both scored."""
    path = detection_config(tmp_path, "pair", max_steps=4)
    cfg = yaml.safe_load(path.read_text())
    data = {**cfg["tasks"]["detect"]["data"], "view": "rotations"}
    cfg["tasks"]["detect"]["data"]["train_size"] = 16  # labelled: the first 16 of 64 scenes
    cfg["tasks"]["rotation"] = {"kind": "classification", "modality": "image", "data": data}
    cfg["train"] |= {"sampler": "all", "weighting": {"name": "fixed", "weights": {"rotation": 0.1}}}
    path.write_text(yaml.safe_dump(cfg))
    cli_train(path)
    steps = train_losses(tmp_path / "pair")
    assert [(s, t) for s, t, _ in steps] == [
        (s, t) for s in range(1, 5) for t in ("detect", "rotation")
    ]
    weights = final_state(tmp_path / "pair")["model"]
    assert {k.split(".")[1] for k in weights if k.startswith("caps.")} == {"image"}
    test = json.loads((tmp_path / "pair" / "results.json").read_text())["test"]
    assert {"ap", "ap50"} <= set(test["detect"]) and "accuracy" in test["rotation"]
