"""One entry point: ``sharedspace train | evaluate | report | validate | reproduce | list | data``.

Errors the project raises on purpose (bad config, missing data, bad checkpoint) print as one clean
message and exit with status 2; anything else is a bug and keeps its traceback. A run stopped by
Ctrl-C or SIGTERM saves a checkpoint, prints the command that resumes it and exits with 130; Ctrl-C
in any other command prints one line and exits with 130 too.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from sharedspace import layout
from sharedspace.errors import Interrupted, SharedSpaceError


def _train(args: argparse.Namespace) -> None:
    from sharedspace.config import dump_config
    from sharedspace.resolve import load_config
    from sharedspace.runs import draw_run_figures, finished
    from sharedspace.train import distributed
    from sharedspace.train.record import Origin
    from sharedspace.train.trainer import train

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        return print(dump_config(cfg), end="")
    if "WORLD_SIZE" in os.environ:  # a torchrun worker (the launcher checked the count)
        distributed.check_processes(cfg, int(os.environ["WORLD_SIZE"]), force=True)
    else:
        distributed.check_processes(cfg, args.nproc, force=args.force_nproc)
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        # Re-launch this same command under torchrun, one process per rank. torchrun runs in a
        # process group of its own, so that each Ctrl-C or SIGTERM reaches it once, from here,
        # and it passes it on to each worker once (distributed.agent): the workers stop after
        # the step and print how to resume, then exit 0 (torchrun reports any other status as
        # a crash, with a traceback); this launcher waits and exits 130 if the run stopped
        # early. torchrun and the workers die with this process (distributed.die_with_parent).
        # torchrun's own (empty) log folder goes to a temporary folder: it would otherwise
        # stay in /tmp.
        with tempfile.TemporaryDirectory(prefix="sharedspace-torchrun-") as logs:
            agent = "from sharedspace.train import distributed; distributed.agent()"
            command = [sys.executable, "-c", agent, "--standalone"]
            command += [f"--nproc_per_node={args.nproc}", f"--log-dir={logs}"]
            command += ["-m", "sharedspace.cli", "train", str(args.config), *args.overrides]
            command += ["--resume"] * args.resume + ["--overwrite"] * args.overwrite
            env = os.environ | {distributed.PARENT: str(os.getpid())}
            with subprocess.Popen(command, env=env, start_new_session=True) as torchrun:
                forward = lambda signum, _: torchrun.send_signal(signum)  # noqa: E731
                previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
                try:
                    status = torchrun.wait()
                finally:
                    for s, handler in previous.items():
                        signal.signal(s, handler)
        stopped = status == 0 and not finished(Path(cfg.out_dir) / cfg.name)
        raise SystemExit(130 if stopped else status)
    origin = Origin(str(args.config), list(args.overrides))
    result = train(cfg, resume=args.resume, overwrite=args.overwrite, origin=origin)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result.metrics["test"], indent=2))
        for figure in draw_run_figures(result.run_dir, result.model, result.tasks):
            print(f"figure: {figure}")
        print(f"run folder: {result.run_dir} (see it all: sharedspace report {result.run_dir})")
    distributed.teardown()  # after the figures: no rank leaves while another still works


def _evaluate(args: argparse.Namespace) -> None:
    from sharedspace.runs import evaluate_on_other_data, evaluate_run

    if not args.overrides:
        return print(json.dumps(evaluate_run(args.run_dir, args.split, args.weights), indent=2))
    metrics, written = evaluate_on_other_data(
        args.run_dir, args.overrides, args.split, args.weights
    )
    print(json.dumps(metrics, indent=2))
    print(f"written: {written} (and .md, .csv beside it)")


def _figures(args: argparse.Namespace) -> None:
    from sharedspace.runs import draw_run_figures, load_run

    run = load_run(args.run_dir, args.weights)
    for figure in draw_run_figures(run.run_dir, run.model, run.tasks):
        print(f"figure: {figure}")


def _features(args: argparse.Namespace) -> None:
    from sharedspace.features import export_features

    path = export_features(args.run_dir, args.weights, args.task, args.out, args.overwrite)
    print(f"features: {path} (a zero-shot config reads them with data_dir={path.parent})")


def _report(args: argparse.Namespace) -> None:
    from sharedspace.analysis.report import write_report

    if args.out is None and len(args.paths) > 1:
        raise SharedSpaceError("report: several folders need --out FILE (where the page goes)")
    out = args.out or args.paths[0] / "report.html"
    print(f"written: {write_report(args.paths, out)} (open it in a browser)")


def _validate(args: argparse.Namespace) -> None:
    from sharedspace.config import dump_config
    from sharedspace.resolve import load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        return print(dump_config(cfg), end="")
    print(f"{args.config}: valid ({len(cfg.tasks)} tasks: {', '.join(cfg.tasks)})")


def _reproduce(args: argparse.Namespace) -> None:
    from sharedspace.experiments import EXPERIMENTS, RunOptions

    run = RunOptions(
        args.budget, args.data_dir, args.out, args.resume, args.overwrite, args.overrides,
        args.keep_checkpoints,
    )  # fmt: skip
    table = EXPERIMENTS.get(args.experiment)(run)
    print(table.read_text())
    print(f"written: {table} (and .csv beside it)")


def _discover(args: argparse.Namespace) -> None:
    from sharedspace.config import from_dict
    from sharedspace.discovery.discover import DiscoverConfig, discover
    from sharedspace.overrides import read_config

    cfg = from_dict(DiscoverConfig, read_config(args.config, args.overrides))
    run_dir = discover(cfg, resume=args.resume, overwrite=args.overwrite)
    print((run_dir / layout.RESULTS_MD).read_text())
    print(f"run folder: {run_dir} (results.md, trace.png, task_*.png)")


def _data_download(args: argparse.Namespace) -> None:
    from sharedspace.data import download

    print(f"downloaded to {download(args.name, Path(args.data_dir))}")


def _list(args: argparse.Namespace) -> None:
    from sharedspace.catalog import SECTIONS, describe

    print("\n\n".join(describe(section) for section in args.sections or SECTIONS))


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path)
    p.add_argument("overrides", nargs="*", help="key=value, +key=value, ~key; e.g. train.lr=3e-4")
    p.add_argument(
        "--print-config", action="store_true", help="print the resolved config with defaults"
    )


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sharedspace", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one experiment config")
    _config_args(p)
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes (DDP via torchrun): at most the CPUs (or visible GPUs), and dividing "
        "train.batch_size",
    )
    p.add_argument(
        "--force-nproc",
        action="store_true",
        help="allow --nproc above the CPUs available (never above the GPUs)",
    )
    _run_flags(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="evaluate a run's checkpoint on a split")
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "overrides",
        nargs="*",
        help="other data for some tasks: tasks.<task>.data.<key>=value, e.g. "
        "tasks.asr.data.source=real_speech_en (results-<split>-<sources>.json in the run folder)",
    )
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument(
        "--weights",
        default="latest",
        help="final, best (train.keep_best), latest (checkpoint) or a file; default: latest",
    )
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("figures", help="draw a run's figures again, from its folder")
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "--weights", default="final", help="final, best (train.keep_best), latest or a file"
    )
    p.set_defaults(func=_figures)

    p = sub.add_parser("features", help="a run's features of attribute–object pair pictures")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--weights", default="final", help="final, best, latest or a file")
    p.add_argument("--task", default=None, help="the task whose pictures (default: the only one)")
    p.add_argument(
        "--out", type=Path, default=None, help="default: RUN/features/features.safetensors"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=_features)

    p = sub.add_parser("report", help="one HTML page of runs: tables, curves, figures, configs")
    p.add_argument("paths", nargs="+", type=Path, help="run folders or folders holding runs")
    p.add_argument("--out", type=Path, default=None, help="default: FOLDER/report.html")
    p.set_defaults(func=_report)

    p = sub.add_parser("validate", help="check a config without loading data")
    _config_args(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("reproduce", help="run a published experiment and write its table")
    p.add_argument("experiment", help="e.g. sus")
    p.add_argument("--budget", default="default", choices=["smoke", "default", "full"])
    p.add_argument("--data-dir", default=None, help="folder of datasets (default: search path)")
    p.add_argument("--out", default="runs", help="parent folder of the run folders")
    p.add_argument("overrides", nargs="*", help="overrides applied to every configuration")
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep finished runs' resume checkpoints (else deleted; weights and results stay)",
    )
    _run_flags(p)
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("discover", help="search labellings of images for tasks (nevergrad)")
    p.add_argument("overrides", nargs="*", help="key=value; e.g. search.budget=400 tasks=3")
    p.add_argument("--config", type=Path, default=None, help="a YAML file of settings")
    _run_flags(p)
    p.set_defaults(func=_discover)

    p = sub.add_parser("list", help="what a config can name: parts, datasets, their settings")
    p.add_argument("sections", nargs="*", help="caps, spaces, tasks, samplers, weightings, …")
    p.set_defaults(func=_list)

    data = sub.add_parser("data", help="datasets").add_subparsers(
        dest="data_command", required=True
    )
    p = data.add_parser("download", help="download a dataset (needs internet)")
    p.add_argument("name")
    p.add_argument("--data-dir", required=True)
    p.set_defaults(func=_data_download)
    return root


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the user reads it: what and why, not the line of our code that said it."""
    return f"sharedspace: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    """The ``sharedspace`` command; warnings are shown in one line while it runs."""
    formatwarning = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        run_command(argv)
    finally:
        warnings.formatwarning = formatwarning


def run_command(argv: list[str] | None) -> None:
    p = parser()
    args, extra = p.parse_known_args(argv)
    # key=value overrides may also follow the options (argparse stops the positionals there)
    if extra and (
        not hasattr(args, "overrides") or any("=" not in a or a[0] == "-" for a in extra)
    ):
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra
    if "WORLD_SIZE" in os.environ:  # a torchrun worker
        from sharedspace.train import distributed

        distributed.die_with_parent()
    try:
        args.func(args)
    except Interrupted as e:
        command = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--overwrite"]
        command += ["--resume"] * ("--resume" not in command)
        if "WORLD_SIZE" in os.environ:  # a torchrun worker: the user typed --nproc
            command.append(f"--nproc={os.environ['WORLD_SIZE']}")
        if int(os.environ.get("RANK", "0")) == 0:
            resume = shlex.join(["sharedspace", *command])
            print(f"sharedspace: {e}\nresume with: {resume}", file=sys.stderr)
        if "WORLD_SIZE" in os.environ:
            from sharedspace.train import distributed

            # every rank stopped after the same step: leave together. The other ranks wait
            # here while rank 0 writes the stop's checkpoint, which holds a second Ctrl-C
            # (StopRequest.saving); so do they, rather than leave rank 0 alone in the barrier
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            distributed.teardown()
            raise SystemExit(0) from None
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        # Ctrl-C outside a training loop (whose first Ctrl-C stops after the step, above), or
        # a second one: nothing is half-written (every file is written atomically), so one line.
        # A torchrun worker exits 0, as after a stop: the launcher turns it into 130.
        if int(os.environ.get("RANK", "0")) == 0:
            print("sharedspace: interrupted", file=sys.stderr)
        raise SystemExit(0 if "WORLD_SIZE" in os.environ else 130) from None
    except SharedSpaceError as e:
        print(f"sharedspace: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as e:  # a bug of ours, not a mistake of the user's
        if os.environ.get("SHAREDSPACE_DEBUG"):
            raise
        fd, log = tempfile.mkstemp(prefix="sharedspace-crash-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        first = (str(e).splitlines() or [""])[0]
        print(
            f"sharedspace: internal error ({type(e).__name__}: {first}); the traceback is in "
            f"{log}: please report it to the sharedspace developers with that file "
            "(SHAREDSPACE_DEBUG=1 shows it here)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
