"""MultiModel's body on CPU, measured side by side in one run: training tokens/s; decoding tokens/s
greedy and with beam 4, with and without the cache; the same for speech recognition, with the
audio front end's utterances/s and its share of the training step; and the MoE block against a
dense feed-forward block of the same active parameters and against the dense mixture of all
experts.

    python benchmarks/multimodel.py [--batch 32] [--length 24] [--reps 5] [--threads 2]
        [--seconds 1 4] [--moe-size joint|default] [--moe-reps 30] [--audio-only | --moe-only]

The model is configs/multimodel/joint.yaml's translation path: a ``text_embedding`` cap, the
``multimodel`` body (width 64, 6/2/4 blocks, 8 experts, k = 2, expert width 128) and a ``language``
net over 8,000 subwords, on random token sequences of ``--length`` in and out (timing, not
learning). A figure is the median of ``--reps`` timed runs after one warm-up. Decoding runs
``--length`` steps for every row (no row stops early: the untrained net rarely writes <eos>, and
the steps are counted as written). The MoE block is timed on the real positions of the batch as
rows, the blocks taking turns for ``--moe-reps`` rounds; "vs k/M" divides its time by the dense
mixture's and by k/M (1.00: no routing overhead). ``--moe-size default`` times the MoE block at the
multimodel space's defaults (width 128, 16 experts of width 256) instead of joint.yaml's.

Speech recognition puts the ``audio_spectral`` cap at its defaults (log-mel, three blocks of 16,
32, 64 channels) in front of the same body and language net: ``--batch`` utterances of synthetic
16 kHz noise, their lengths evenly spread over ``--seconds`` (1–4 s: 50 positions to the body at
the longest), zero-padded to the longest with a mask, ``--length`` tokens out. Each front end
(log-mel, and the waveform frames of ``front_end: waveform``) is timed alone on the batch (the
cap's standardisation included) and within a training step of a cap using it; its share is the
one time over the other. Decoding times the log-mel cap, body and net as the text rows do.
"""

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch

from sharedspace.config import Component
from sharedspace.data.audio import SAMPLE_RATE
from sharedspace.data.specs import AudioSpec, TextSpec, TokensTarget
from sharedspace.data.tokenizers import PAD_ID
from sharedspace.decoding import Decoding, beam_search, greedy
from sharedspace.modalities.audio import FRONT_ENDS, INT16_SCALE, AudioSpectral
from sharedspace.modalities.embedding import TextEmbedding
from sharedspace.outputs.language import Language
from sharedspace.parts import collect
from sharedspace.representation import PaddedSequence
from sharedspace.spaces.blocks import MLP
from sharedspace.spaces.mixture import Mixture
from sharedspace.spaces.multimodel import MoEBlock, MultiModelBody, MultiModelConfig

VOCAB = 8000
BODY = MultiModelConfig(width=64, heads=4, experts=8, k=2, expert_width=128, max_len=96)
# the MoE block alone at joint.yaml's size, or at the multimodel space's defaults (width 128,
# 16 experts of width 256): there k/M of the mixture outweighs the gate's fixed cost
MOE_SIZES = {"joint": BODY, "default": MultiModelConfig()}


def median_seconds(run: Callable[[], object], reps: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--seconds", type=float, nargs=2, default=[1.0, 4.0], metavar=("MIN", "MAX"),
        help="the utterances' shortest and longest duration",
    )  # fmt: skip
    parser.add_argument("--moe-size", choices=sorted(MOE_SIZES), default="joint")
    parser.add_argument("--moe-reps", type=int, default=30)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--audio-only", action="store_true", help="time speech recognition alone")
    only.add_argument("--moe-only", action="store_true", help="time the MoE block alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if not (args.audio_only or args.moe_only):
        body_timings(args.batch, args.length, args.reps, args.threads)
    if not args.audio_only:
        moe_block(MOE_SIZES[args.moe_size], args.batch, args.length, args.moe_reps)
    if not args.moe_only:
        speech = speech_timings(args.batch, args.length, tuple(args.seconds), args.reps)
        print_speech(*speech, args.batch, args.length, tuple(args.seconds), args.threads)


Parts = tuple[torch.nn.Module, MultiModelBody, Language]  # a cap, the body, the language net


def with_body(cap: torch.nn.Module, n: int, task_token: str) -> Parts:
    """``cap`` → joint.yaml's body → a language net over VOCAB subwords writing n tokens."""
    e = BODY.width
    body = MultiModelBody(BODY, e, num_tasks=1)
    return cap, body, Language(Language.Config(), e, TokensTarget(VOCAB, n), (task_token,))


def training_seconds(parts: Parts, x: torch.Tensor, mask: torch.Tensor, n: int, reps: int) -> float:
    """Median seconds of a teacher-forced training step (forward, backward, Adam) on inputs ``x``
    with their ``mask`` and random targets (B, n)."""
    cap, body, net = parts
    modules = torch.nn.ModuleList(parts)
    optimizer = torch.optim.Adam(modules.parameters(), lr=1e-4)
    y = torch.randint(3, VOCAB, (len(x), n))
    y_mask = torch.ones(len(x), n, dtype=torch.bool)

    def train_step() -> None:
        modules.train()
        states = body(cap(x, mask), 0, net.shifted(y, y_mask, 0))
        loss = torch.nn.functional.cross_entropy(net(states, 0).flatten(0, 1), y.flatten())
        loss = loss + sum(collect(body.modules()).values(), torch.zeros(()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return median_seconds(train_step, reps)


def decoding_rows(
    parts: Parts, x: torch.Tensor, mask: torch.Tensor, n: int, reps: int
) -> list[tuple[str, float]]:
    """Median seconds of writing n tokens for every row of ``x``, greedy and beam 4, cached and
    recomputed; the cap and the encoder run once per decoding, inside its time."""
    cap, body, net = parts
    b = len(x)

    @torch.no_grad()
    def decode(beam_size: int, cached: bool) -> None:
        torch.nn.ModuleList(parts).eval()
        steps, state = body.decoder(body.encode(cap(x, mask), 0), cached=cached)
        tokens = net.token_steps(steps, 0)
        start = torch.full((b,), net.start_id)
        never = -1  # no token is <eos>: every row runs all n steps
        if beam_size == 1:
            greedy(tokens, state, start, n, eos=never, pad=PAD_ID)
        else:
            decoding = Decoding(beam_size=beam_size, max_len=n)
            beam_search(tokens, state, start, decoding, eos=never, pad=PAD_ID)

    rows = []
    for beam_size, search in ((1, "greedy"), (4, "beam 4")):
        for cached, how in ((True, "cached"), (False, "recomputed")):
            run = functools.partial(decode, beam_size, cached)
            rows.append((f"{search}, {how}", median_seconds(run, reps)))
    return rows


def print_token_rows(rows: list[tuple[str, float]], tokens: int) -> None:
    print(f"{'':<40}{'s':>9}{'tokens/s':>11}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>9.3f}{tokens / seconds:>11.0f}")


def body_timings(b: int, n: int, reps: int, threads: int) -> None:
    """Training and decoding tokens/s of the whole translation path (cap, body, language net)."""
    cap = TextEmbedding(TextEmbedding.Config(), BODY.width, TextSpec(VOCAB, n))
    parts = with_body(cap, n, "to-de")
    x = torch.randint(3, VOCAB, (b, n))
    mask = torch.ones(b, n, dtype=torch.bool)
    training = training_seconds(parts, x, mask, n, reps)
    rows = [("training (forward + backward + Adam)", training)]
    rows += decoding_rows(parts, x, mask, n, reps)
    print(f"threads {threads}, batch {b}, {n} tokens in and out, vocabulary {VOCAB}")
    print_token_rows(rows, b * n)


def utterances(b: int, seconds: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of b utterances, their lengths evenly spread from ``seconds[0]`` to
    ``seconds[1]``: int16 noise (B, T) at a tenth of full scale, zero behind the mask (B, T)."""
    lengths = (torch.linspace(*seconds, b) * SAMPLE_RATE).round().long()
    mask = torch.arange(int(lengths.max())) < lengths[:, None]
    noise = torch.randn(mask.shape) * 0.1 * INT16_SCALE
    return noise.clamp(-INT16_SCALE, INT16_SCALE - 1).to(torch.int16).masked_fill(~mask, 0), mask


class FrontEndTiming(NamedTuple):
    alone: float  # median seconds of the front end (standardise, then features) on the batch
    step: float  # median seconds of a training step whose cap has that front end


def speech_timings(
    b: int, n: int, seconds: tuple[float, float], reps: int
) -> tuple[dict[str, FrontEndTiming], list[tuple[str, float]]]:
    """Speech recognition (``audio_spectral`` → body → language net) on b utterances of
    ``seconds``: each front end alone and within a training step of its cap; and the log-mel
    path's decoding rows (``decoding_rows``) writing n tokens."""
    x, mask = utterances(b, seconds)
    spec = AudioSpec(SAMPLE_RATE, x.shape[1], mean=0.0, std=0.1)
    paths = {}
    for name in FRONT_ENDS:
        cap = AudioSpectral(AudioSpectral.Config(front_end=name), BODY.width, spec)
        paths[name] = with_body(cap, n, "to-en")

    def front_end(cap: AudioSpectral) -> torch.Tensor:
        return cap.front(cap.standardise(x, mask), mask.sum(1))[0]

    timings = {
        name: FrontEndTiming(
            median_seconds(functools.partial(front_end, parts[0]), reps),
            training_seconds(parts, x, mask, n, reps),
        )
        for name, parts in paths.items()
    }
    return timings, decoding_rows(paths["log_mel"], x, mask, n, reps)


def print_speech(
    front_ends: dict[str, FrontEndTiming],
    decoding: list[tuple[str, float]],
    b: int,
    n: int,
    seconds: tuple[float, float],
    threads: int,
) -> None:
    shortest, longest = seconds
    audio = sum(torch.linspace(shortest, longest, b).tolist())
    print(f"\nspeech recognition: threads {threads}, batch {b} utterances of {shortest:g}–"
          f"{longest:g} s ({audio:.0f} s of 16 kHz audio), {n} tokens out, "
          f"vocabulary {VOCAB}")  # fmt: skip
    print(f"{'front end':<16}{'alone ms':>10}{'utt/s':>9}{'step ms':>10}{'utt/s':>9}{'share':>8}")
    for name, (alone, step) in front_ends.items():
        print(f"{name:<16}{alone * 1e3:>10.1f}{b / alone:>9.0f}{step * 1e3:>10.1f}{b / step:>9.1f}"
              f"{alone / step:>8.1%}")  # fmt: skip
    training = ("training (forward + backward + Adam)", front_ends["log_mel"].step)
    print_token_rows([training, *decoding], b * n)


def interleaved_medians(runs: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds of each run over ``reps`` rounds after one warm-up round, the runs taking
    turns (forward and reversed order alternating) so that drift in the machine's load hits
    them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(reps + 1):
        for name, run in runs.items() if rep % 2 else reversed(runs.items()):
            started = time.perf_counter()
            run()
            if rep:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def moe_block(cfg: MultiModelConfig, b: int, n: int, reps: int) -> None:
    """Forward + backward of one MoE block (training: noisy gate, balance losses) on b·n positions,
    against a dense feed-forward block of the same active parameters (hidden k·expert_width) and
    the dense mixture of all M experts; and the gate alone, the part no mixture has."""
    e = cfg.width
    tokens = PaddedSequence(torch.randn(b, n, e), torch.ones(b, n, dtype=torch.bool))
    moe = MoEBlock(cfg).train()
    ff = MLP.Config(widths=[cfg.k * cfg.expert_width, e], linear_output=True)
    dense = MLP(ff, e)  # the k experts' parameters as one block: the same active parameters
    expert = Component("mlp", config=MLP.Config(widths=[cfg.expert_width, e], linear_output=True))
    mixture = Mixture(Mixture.Config(experts=cfg.experts, expert=expert), e, 1)
    rows_in = tokens.values[tokens.mask]

    def fwd_bwd(block: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            out = block()
            aux = sum(collect(moe.modules()).values(), torch.zeros(()))
            (out.square().mean() + aux).backward()

        return run

    seconds = interleaved_medians(
        {
            "moe": fwd_bwd(lambda: moe(tokens).values),
            "dense": fwd_bwd(lambda: dense(rows_in)),
            "mixture": fwd_bwd(lambda: mixture(rows_in, 0)),
            "gate": fwd_bwd(lambda: moe.moe.gate(rows_in)[1]),
        },
        reps,
    )
    moe_s, dense_s, mixture_s, gate_s = seconds.values()
    ideal = cfg.k / cfg.experts
    print(f"\nMoE block on {len(rows_in)} positions, k = {cfg.k} of M = {cfg.experts}:")
    print(f"  MoE block {moe_s * 1e3:.1f} ms; dense feed-forward of the same active parameters "
          f"{dense_s * 1e3:.1f} ms ({moe_s / dense_s:.2f}x); dense mixture of all experts "
          f"{mixture_s * 1e3:.1f} ms (vs k/M: {moe_s / mixture_s / ideal:.2f})")  # fmt: skip
    print(f"  of which the noisy top-k gate alone {gate_s * 1e3:.1f} ms "
          f"({gate_s / mixture_s / ideal:.2f} of k/M of the dense mixture)")  # fmt: skip


if __name__ == "__main__":
    main()
