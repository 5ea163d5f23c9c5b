import pytest

from sharedspace.config import TrainConfig
from sharedspace.train.schedule import lr_at


def test_cosine_with_warmup_at_its_landmarks():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(0, cfg, 110) == pytest.approx(0.1)
    assert lr_at(9, cfg, 110) == pytest.approx(1.0)  # end of warm-up
    assert lr_at(10, cfg, 110) == pytest.approx(1.0)
    assert lr_at(59, cfg, 110) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + 0.0), abs=0.02)
    assert lr_at(109, cfg, 110) == pytest.approx(0.1)  # last step: the floor


def test_constant_after_warmup():
    cfg = TrainConfig(lr=0.5, warmup_steps=2, schedule="constant")
    assert [lr_at(s, cfg, 10) for s in (0, 1, 2, 9)] == [0.25, 0.5, 0.5, 0.5]
