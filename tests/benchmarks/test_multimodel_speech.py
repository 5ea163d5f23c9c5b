"""The speech section of benchmarks/multimodel.py at a tiny size: it runs the audio path through
and its figures are rates and a share, not what the benchmark reports on a real batch."""

import importlib.util
import math
from pathlib import Path

import torch

from sharedspace.data.audio import SAMPLE_RATE

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "multimodel.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("multimodel_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_utterances_spread_their_lengths_and_are_silent_behind_the_mask():
    x, mask = load_benchmark().utterances(4, (0.1, 0.25))
    lengths = mask.sum(1)
    assert x.dtype == torch.int16 and x.shape == (4, int(0.25 * SAMPLE_RATE))
    assert lengths.tolist() == [1600, 2400, 3200, 4000]
    assert torch.equal(mask, torch.arange(x.shape[1]) < lengths[:, None])  # a prefix each
    assert (x[~mask] == 0).all() and (x[mask] != 0).float().mean() > 0.99


def test_speech_section_gives_positive_rates_and_a_front_end_share_below_the_step(capsys):
    benchmark = load_benchmark()
    torch.manual_seed(0)
    b, n, seconds = 2, 3, (0.1, 0.2)
    front_ends, decoding = benchmark.speech_timings(b, n, seconds, reps=1)
    assert list(front_ends) == ["log_mel", "waveform"]
    for alone, step in front_ends.values():
        assert 0 < alone < step < math.inf  # the step runs the front end and more
        assert 0 < alone / step < 1
    names = [name for name, _ in decoding]
    assert names == ["greedy, cached", "greedy, recomputed", "beam 4, cached", "beam 4, recomputed"]
    assert all(0 < s < math.inf for _, s in decoding)

    benchmark.print_speech(front_ends, decoding, b, n, seconds, threads=1)
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line}
    assert rows["log_mel"][-1].endswith("%") and rows["waveform"][-1].endswith("%")
    assert rows["beam"][-1].isdigit()  # the last row: beam 4, recomputed, its tokens/s
