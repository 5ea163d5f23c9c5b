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


def test_linear_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=0, schedule="linear", min_lr_ratio=0.2)
    assert [lr_at(s, cfg, 5) for s in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_rsqrt_peaks_at_the_end_of_warmup_then_falls_as_one_over_sqrt_step():
    """The Transformer's ("noam") schedule: continuous at the warm-up's end, lr·sqrt(w/step)."""
    cfg = TrainConfig(lr=1.0, warmup_steps=4, schedule="rsqrt")
    assert [lr_at(s, cfg, 100) for s in (0, 3, 4, 15, 63)] == pytest.approx(
        [0.25, 1.0, (4 / 5) ** 0.5, 0.5, 0.25]
    )


def test_step_schedule_drops_once_at_its_fraction():
    """TFG's: lr until 3/4 of training, then lr ÷ 10 (40 steps: steps 0–29, then 30–39)."""
    cfg = TrainConfig(lr=1e-4, warmup_steps=0, schedule="step", min_lr_ratio=0.1, decay_at=0.75)
    rates = [lr_at(s, cfg, 40) for s in range(40)]
    assert rates[:30] == [1e-4] * 30
    assert rates[30:] == pytest.approx([1e-5] * 10)
