"""MultiModel's body on CPU, measured side by side in one run: training tokens/s; decoding tokens/s
greedy and with beam 4, with and without the cache; and the MoE block against a dense
feed-forward block of the same active parameters and against the dense mixture of all experts.

    python benchmarks/multimodel.py [--batch 32] [--length 24] [--reps 5] [--threads 2]
        [--moe-size joint|default] [--moe-reps 30] [--moe-only]

The model is configs/multimodel/joint.yaml's translation path: a ``text_embedding`` cap, the
``multimodel`` body (width 64, 6/2/4 blocks, 8 experts, k = 2, expert width 128) and a ``language``
net over 8,000 subwords, on random token sequences of ``--length`` in and out (timing, not
learning). A figure is the median of ``--reps`` timed runs after one warm-up. Decoding runs
``--length`` steps for every row (no row stops early: the untrained net rarely writes <eos>, and
the steps are counted as written). The MoE block is timed on the real positions of the batch as
rows, the blocks taking turns for ``--moe-reps`` rounds; "vs k/M" divides its time by the dense
mixture's and by k/M (1.00: no routing overhead). ``--moe-size default`` times the MoE block at the
multimodel space's defaults (width 128, 16 experts of width 256) instead of joint.yaml's.
"""

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import torch

from sharedspace.config import Component
from sharedspace.data.specs import TextSpec, TokensTarget
from sharedspace.data.tokenizers import PAD_ID
from sharedspace.decoding import Decoding, beam_search, greedy
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
    parser.add_argument("--moe-size", choices=sorted(MOE_SIZES), default="joint")
    parser.add_argument("--moe-reps", type=int, default=30)
    parser.add_argument("--moe-only", action="store_true", help="time the MoE block alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if not args.moe_only:
        body_timings(args.batch, args.length, args.reps, args.threads)
    moe_block(MOE_SIZES[args.moe_size], args.batch, args.length, args.moe_reps)


def body_timings(b: int, n: int, reps: int, threads: int) -> None:
    """Training and decoding tokens/s of the whole translation path (cap, body, language net)."""
    e = BODY.width

    cap = TextEmbedding(TextEmbedding.Config(), e, TextSpec(VOCAB, n))
    body = MultiModelBody(BODY, e, num_tasks=1)
    net = Language(Language.Config(), e, TokensTarget(VOCAB, n), ("to-de",))
    parts = torch.nn.ModuleList([cap, body, net])
    optimizer = torch.optim.Adam(parts.parameters(), lr=1e-4)
    x = torch.randint(3, VOCAB, (b, n))
    y = torch.randint(3, VOCAB, (b, n))
    mask = torch.ones(b, n, dtype=torch.bool)

    def train_step() -> None:
        parts.train()
        states = body(cap(x, mask), 0, net.shifted(y, mask, 0))
        loss = torch.nn.functional.cross_entropy(net(states, 0).flatten(0, 1), y.flatten())
        loss = loss + sum(collect(body.modules()).values(), torch.zeros(()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rows = [("training (forward + backward + Adam)", median_seconds(train_step, reps))]

    @torch.no_grad()
    def decode(beam_size: int, cached: bool) -> None:
        parts.eval()
        steps, state = body.decoder(cap(x, mask), 0, cached=cached)
        tokens = net.token_steps(steps, 0)
        start = torch.full((b,), net.start_id)
        never = -1  # no token is <eos>: every row runs all n steps
        if beam_size == 1:
            greedy(tokens, state, start, n, eos=never, pad=PAD_ID)
        else:
            decoding = Decoding(beam_size=beam_size, max_len=n)
            beam_search(tokens, state, start, decoding, eos=never, pad=PAD_ID)

    for beam_size, search in ((1, "greedy"), (4, "beam 4")):
        for cached, how in ((True, "cached"), (False, "recomputed")):
            run = functools.partial(decode, beam_size, cached)
            rows.append((f"{search}, {how}", median_seconds(run, reps)))

    print(f"threads {threads}, batch {b}, {n} tokens in and out, vocabulary {VOCAB}")
    print(f"{'':<40}{'s':>9}{'tokens/s':>11}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>9.3f}{b * n / seconds:>11.0f}")


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
