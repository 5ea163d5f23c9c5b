"""A folder of synthesised utterances, built once and read back: what ``synthetic_speech`` and
``spoken_words_en`` both are. A dataset plans its utterances (rows: file, transcript, text,
engine, voice, settings, split); this module draws each row's settings, speaks, augments and
writes them, and reads the folder back with every file checked.

Each row draws the engine's settings (espeak-ng variant, speed and pitch; flite's duration
stretch), a peak level and, with probability ``noise_probability``, white noise at a
signal-to-noise ratio, from the plan's seeded ``random.Random``; the noise itself comes from
``numpy`` seeded by (plan seed, row number): one seed, one build, byte for byte.

The folder holds ``<split>/NNNNN.flac`` (16 kHz mono, 16-bit), ``manifest.jsonl`` (per utterance:
the row and the file's sha256) and ``manifest.json`` (the dataset's name, the format, the plan
and whatever the dataset adds, the engine versions, the counts per split). A FLAC is written
atomically and journalled as it finishes, so an interrupted build resumes: an utterance whose
file is there with the recorded sha256 and the same plan row is skipped; a missing or damaged
one is made again. Engines run as argv lists in a bounded pool of workers.
"""

import hashlib
import io
import json
import os
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from sharedspace.data.audio import SAMPLE_RATE, AudioClips, decode_audio, soundfile, to_int16
from sharedspace.data.locate import find_dataset
from sharedspace.data.speech_engines import ENGINES
from sharedspace.data.spoken_text import spoken_form
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.errors import DataError
from sharedspace.files import atomic_write, remove_interrupted_writes, sha256_file
from sharedspace.untrusted import MiB, loads_json, read_bytes

MANIFEST = "manifest.json"
UTTERANCES = "manifest.jsonl"
JOURNAL = ".progress.jsonl"  # one row per finished utterance, while a build runs
FORMAT = 1
FLAC_LIMIT = 16 * MiB  # one utterance; 12 slow words are about 150 kB
MANIFEST_LIMIT = 256 * MiB
WORKERS = min(8, os.cpu_count() or 1)  # engine processes at a time, by default
ROW_KEYS = ("file", "transcript", "text", "engine", "voice", "settings", "split", "sha256")


class Augmentation(Protocol):
    """What a plan says about levels and noise (its other fields are the dataset's own)."""

    noise_probability: float  # of an utterance getting white noise
    snr_db: tuple[float, float]  # its signal-to-noise ratio, uniform
    peak_dbfs: tuple[float, float]  # every utterance's peak level, uniform


def planned_row(
    rng: random.Random, plan: Augmentation, split: str, number: int, voice: tuple[str, str],
    text: str,
) -> dict:  # fmt: skip
    """The manifest row (without sha256) of utterance ``number`` of ``split``: ``voice``
    (engine, voice) saying ``text`` with settings, level and noise drawn from ``rng``."""
    engine, name = voice
    settings = ENGINES[engine].settings(rng)
    settings["peak_dbfs"] = round(rng.uniform(*plan.peak_dbfs), 1)
    noisy = rng.random() < plan.noise_probability
    settings["snr_db"] = round(rng.uniform(*plan.snr_db), 1) if noisy else None
    return {
        "file": f"{split}/{number:05d}.flac", "transcript": spoken_form(text), "text": text,
        "engine": engine, "voice": name, "settings": settings, "split": split,
    }  # fmt: skip


def augmented(wave: np.ndarray, settings: dict, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 → (n,) float32 scaled to its ``peak_dbfs`` with white noise at ``snr_db``
    (none when it is None), clipped to −1…1."""
    peak = float(np.abs(wave).max()) or 1.0
    out = wave.astype(np.float64) * (10 ** (settings["peak_dbfs"] / 20) / peak)
    if settings["snr_db"] is not None:
        power = float(np.mean(out**2))
        out += rng.standard_normal(len(out)) * (power / 10 ** (settings["snr_db"] / 10)) ** 0.5
    return np.clip(out, -1, 1).astype(np.float32)


def _flac(wave: np.ndarray) -> bytes:
    """(n,) float32 → FLAC bytes, 16 kHz mono 16-bit."""
    buffer = io.BytesIO()
    soundfile().write(buffer, to_int16(wave), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _make(folder: Path, row: dict, seed: int, number: int) -> dict:
    """Synthesise, augment and write one utterance; its manifest row with the file's sha256."""
    with tempfile.TemporaryDirectory(prefix="sharedspace-speech-") as tmp:
        text = Path(tmp) / "sentence.txt"
        text.write_text(row["text"] + "\n", encoding="utf-8")
        wav = ENGINES[row["engine"]].synthesise(
            row["voice"], row["settings"], text, Path(tmp) / "speech.wav"
        )
    wave = decode_audio(wav, f"{row['engine']} {row['voice']} saying {row['text']!r}")
    data = _flac(augmented(wave, row["settings"], np.random.default_rng([seed, number])))
    path = folder / row["file"]
    return {**row, "sha256": atomic_write(path, lambda f: f.write(data))}


def _recorded(folder: Path) -> dict[str, dict]:
    """file → the row a previous build recorded (its manifest, then its journal); a torn or
    damaged line is ignored, as the file it names is then made again."""
    rows: dict[str, dict] = {}
    for path in (folder / UTTERANCES, folder / JOURNAL):
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("file"), str):
                rows[row["file"]] = row
    return rows


def _finished(folder: Path, row: dict, recorded: dict | None) -> bool:
    """Whether ``row``'s file is there, as the same plan row recorded it, with its sha256."""
    if recorded is None or {k: v for k, v in recorded.items() if k != "sha256"} != row:
        return False
    path = folder / row["file"]
    return path.is_file() and sha256_file(path) == recorded.get("sha256")


def build_utterances(
    folder: Path,
    dataset: str,
    rows: list[dict],
    seed: int,
    about: dict,
    workers: int = WORKERS,
    progress: bool = True,
) -> Path:
    """Speak ``rows`` (``planned_row``s, in file order) into ``folder`` in ``workers`` engine
    processes at a time, resuming a build that stopped (module docstring); ``manifest.json``
    says ``dataset``, ``about`` (its plan, sources, …), the engine versions and the counts.
    Returns ``folder``."""
    engines = {name: ENGINES[name] for name in ENGINES if any(r["engine"] == name for r in rows)}
    for engine in engines.values():
        engine.require()
    for split in SPLIT_NAMES:
        (folder / split).mkdir(parents=True, exist_ok=True)
        remove_interrupted_writes(folder / split)
    recorded = _recorded(folder)
    done = {
        r["file"]: recorded[r["file"]]
        for r in rows
        if _finished(folder, r, recorded.get(r["file"]))
    }
    todo = [(n, r) for n, r in enumerate(rows) if r["file"] not in done]
    if todo:  # the folder is not a finished build until its manifest is written again
        (folder / MANIFEST).unlink(missing_ok=True)
    with (
        open(folder / JOURNAL, "a", encoding="utf-8") as journal,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(total=len(rows), initial=len(done), desc=dataset, unit="utt",
             disable=not progress) as bar,
    ):  # fmt: skip
        futures = [pool.submit(_make, folder, row, seed, n) for n, row in todo]
        try:
            for future in as_completed(futures):
                made = future.result()
                journal.write(json.dumps(made, ensure_ascii=False) + "\n")
                journal.flush()
                done[made["file"]] = made
                bar.update()
        except BaseException:  # an engine's error or Ctrl-C: stop, keeping what is journalled
            pool.shutdown(cancel_futures=True)
            raise
    ordered = [done[r["file"]] for r in rows]
    _write(folder / UTTERANCES, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    manifest = {
        "dataset": dataset, "format": FORMAT, "sample_rate": SAMPLE_RATE, **about,
        "engines": {name: e.version() for name, e in engines.items()},
        "utterances": {s: sum(r["split"] == s for r in rows) for s in SPLIT_NAMES},
    }  # fmt: skip
    _write(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    (folder / JOURNAL).unlink()
    planned = {r["file"] for r in rows}
    for stale in (p for s in SPLIT_NAMES for p in (folder / s).glob("*.flac")):
        if f"{stale.parent.name}/{stale.name}" not in planned:
            stale.unlink()  # from an earlier, larger plan
    return folder


def _write(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# ------------------------------------------------------------------------------------- reading


def how_to_get(dataset: str) -> str:
    return f"build it with `sharedspace data download {dataset} --data-dir DIR`"


def read_built(
    dataset: str, folder_name: str, data_dir: Path | None
) -> tuple[dict, TranscribedAudio]:
    """The manifest and utterances of ``dataset``'s built folder (found as ``find_dataset``
    finds ``folder_name``), every file checked against the manifest's sha256."""
    folder = find_dataset(folder_name, (MANIFEST,), data_dir, how_to_get=how_to_get(dataset))
    manifest = loads_json(read_bytes(folder / MANIFEST, MANIFEST_LIMIT, DataError),
                          folder / MANIFEST, DataError)  # fmt: skip
    if not (isinstance(manifest, dict) and manifest.get("format") == FORMAT):
        raise DataError(
            f"{folder / MANIFEST}: not a format-{FORMAT} {dataset} manifest; {how_to_get(dataset)}"
        )
    rows = _rows(folder / UTTERANCES, dataset)
    counts = {s: sum(r["split"] == s for _, r in rows) for s in SPLIT_NAMES}
    if counts != manifest.get("utterances"):
        raise DataError(
            f"{folder / UTTERANCES}: {counts} utterances, but {MANIFEST} says "
            f"{manifest.get('utterances')}; an interrupted build? {how_to_get(dataset)}"
        )
    waves: dict[str, list[np.ndarray]] = {s: [] for s in SPLIT_NAMES}
    for where, row in rows:
        waves[row["split"]].append(_verified(folder, dataset, where, row))
    return manifest, TranscribedAudio(
        audio={s: AudioClips.of(w) for s, w in waves.items()},
        transcripts={s: [r["transcript"] for _, r in rows if r["split"] == s] for s in SPLIT_NAMES},
        names={s: [r["file"] for _, r in rows if r["split"] == s] for s in SPLIT_NAMES},
    )


def _rows(path: Path, dataset: str) -> list[tuple[str, dict]]:
    """``(file:line, row)`` of each manifest line, each checked for its keys and types."""
    try:
        text = read_bytes(path, MANIFEST_LIMIT, DataError).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        row = loads_json(line, where, DataError)
        if not (
            isinstance(row, dict) and set(row) == set(ROW_KEYS)
            and all(isinstance(row[k], str) for k in ROW_KEYS if k != "settings")
            and isinstance(row["settings"], dict)
            and row["split"] in SPLIT_NAMES and row["file"].startswith(f"{row['split']}/")
            and row["file"].endswith(".flac") and ".." not in row["file"]
        ):  # fmt: skip
            raise DataError(
                f"{where}: expected a row of {', '.join(ROW_KEYS)} naming a "
                f"<split>/NNNNN.flac file; {how_to_get(dataset)}"
            )
        rows.append((where, row))
    return rows


def _verified(folder: Path, dataset: str, where: str, row: dict) -> np.ndarray:
    """The row's FLAC as 16 kHz float32, after checking it is there with the recorded sha256."""
    path = folder / row["file"]
    rebuild = f"rebuild it: sharedspace data download {dataset} --data-dir {folder.parent}"
    if not path.is_file():
        raise DataError(f"{path}: missing (listed at {where}); {rebuild}")
    data = read_bytes(path, FLAC_LIMIT, DataError)
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise DataError(f"{path}: damaged (its sha256 differs from {where}); {rebuild}")
    return decode_audio(data, f"{path} (listed at {where})")
