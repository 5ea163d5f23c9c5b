"""Synthesised English speech to train speech recognition on (``synthetic_speech``), built once by
``sharedspace data download synthetic_speech --data-dir DIR`` into ``DIR/synthetic-speech/``.

Sentences: the ``spoken_text.speakable`` sentences (3–12 words of plain letters and punctuation)
of the TRAIN split of the project's English text — fortunes' train documents and, when
``gettext`` has been downloaded, ``gettext_heldout``'s train messages (``parallel.split_of``'s
train bucket of every package but the two held out), so no sentence any text task tests on is
ever spoken. Sentences are one per spoken form; a seeded shuffle sets aside the test sentences,
then the validation sentences, and the rest are the training sentences: the three splits never
share a sentence.

Voices (``SPLIT_VOICES``): train is spoken by 6 espeak-ng voices and flite's awb and rms;
validation by held-out voices (espeak-ng's en-029 and en-us-nyc, flite's kal16 and slt) on its
own sentences, so it measures voices and sentences the model never heard; test by festival's
voices only (a third engine) on the held-out sentences. Festival's kal and slt speak with the
speakers of flite's kal16 and slt, which is why those two are validation voices, never train.
Each utterance draws its voice, the engine's settings (espeak-ng variant, speed and pitch;
flite's duration stretch), a peak level and, with probability ``noise_probability``, white noise
at a signal-to-noise ratio, all from the plan's seed: one seed, one build, byte for byte.

The folder holds ``<split>/NNNNN.flac`` (16 kHz mono, 16-bit), ``manifest.jsonl`` (per utterance:
file, transcript — its ``spoken_form`` —, text, engine, voice, settings, split, sha256) and
``manifest.json`` (the plan, the engine versions, the sentence sources and split, the counts).
A FLAC is written atomically and journalled as it finishes, so an interrupted build resumes:
an utterance whose file is there with the recorded sha256 and the same plan row is skipped; a
missing or damaged one is made again. Engines run as argv lists in a bounded pool of workers.
"""

import hashlib
import io
import json
import os
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sharedspace.data.audio import SAMPLE_RATE, AudioClips, decode_audio, soundfile, to_int16
from sharedspace.data.datasets import DATASETS, dataset
from sharedspace.data.download import FETCHERS
from sharedspace.data.locate import find_dataset
from sharedspace.data.speech_engines import ENGINES
from sharedspace.data.spoken_text import speakable_sentences, spoken_form
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.errors import DataError
from sharedspace.files import atomic_write, remove_interrupted_writes, sha256_file
from sharedspace.untrusted import MiB, loads_json, read_bytes

FOLDER = "synthetic-speech"
MANIFEST = "manifest.json"
UTTERANCES = "manifest.jsonl"
JOURNAL = ".progress.jsonl"  # one row per finished utterance, while a build runs
FORMAT = 1
FLAC_LIMIT = 16 * MiB  # one utterance; 12 slow words are about 150 kB
MANIFEST_LIMIT = 256 * MiB
HOW_TO_GET = "build it with `sharedspace data download synthetic_speech --data-dir DIR`"
WORKERS = min(8, os.cpu_count() or 1)  # engine processes at a time, by default
ROW_KEYS = ("file", "transcript", "text", "engine", "voice", "settings", "split", "sha256")
SPLIT_VOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "train": (
        *(("espeak-ng", v) for v in ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan",
                                     "en-gb-x-rp", "en-gb-x-gbcwmd")),
        ("flite", "awb"), ("flite", "rms"),
    ),
    "validation": (("espeak-ng", "en-029"), ("espeak-ng", "en-us-nyc"),
                   ("flite", "kal16"), ("flite", "slt")),
    "test": tuple(("festival", v) for v in ENGINES["festival"].voices),
}  # fmt: skip


@dataclass(frozen=True)
class SpeechPlan:
    """What a build makes; the same plan and sentences make the same bytes."""

    seed: int = 0
    train: int = 4000  # utterances per split
    validation: int = 300
    test: int = 300
    noise_probability: float = 0.5  # of an utterance getting white noise
    snr_db: tuple[float, float] = (10.0, 40.0)  # its signal-to-noise ratio, uniform
    peak_dbfs: tuple[float, float] = (-20.0, -1.0)  # every utterance's peak level, uniform


def english_train_sentences(data_dir: Path | None) -> dict[str, list[str]]:
    """Speakable sentences of the train split of fortunes (from ``data_dir``, else the usual
    places) and of ``gettext_heldout`` (skipped, with a note, when not downloaded)."""
    fortunes = DATASETS.get("fortunes")
    try:
        documents = fortunes.load(data_dir).train
    except DataError:
        documents = fortunes.load(None).train
    sources = {"fortunes": [s for d in documents for s in speakable_sentences(d)]}
    try:
        messages = DATASETS.get("gettext_heldout").load(data_dir).train
    except DataError:
        tqdm.write("synthetic_speech: gettext is not downloaded; speaking fortunes only")
    else:
        sources["gettext_heldout"] = [s for m in messages for s in speakable_sentences(m["en"])]
    return sources


def plan_utterances(
    sources: dict[str, list[str]], plan: SpeechPlan
) -> tuple[list[dict], dict[str, list[str]]]:
    """The utterances (manifest rows without sha256, in file order) and each split's sentences."""
    by_form = {spoken_form(s): s for source in sorted(sources) for s in sorted(sources[source])}
    pool = [by_form[form] for form in sorted(by_form)]
    rng = random.Random(plan.seed)
    rng.shuffle(pool)
    if len(pool) <= plan.test + plan.validation:
        raise DataError(
            f"synthetic_speech: {len(pool)} distinct sentences, but the plan holds out "
            f"{plan.test} + {plan.validation} and needs more for training"
        )
    held = {"test": pool[: plan.test], "validation": pool[plan.test : plan.test + plan.validation]}
    sentences = {"train": pool[plan.test + plan.validation :], **held}
    rows = []
    for split in SPLIT_NAMES:
        count = getattr(plan, split)
        for i in range(count):
            engine, voice = rng.choice(SPLIT_VOICES[split])
            settings = ENGINES[engine].settings(rng)
            settings["peak_dbfs"] = round(rng.uniform(*plan.peak_dbfs), 1)
            noisy = rng.random() < plan.noise_probability
            settings["snr_db"] = round(rng.uniform(*plan.snr_db), 1) if noisy else None
            text = sentences[split][i % len(sentences[split])]
            rows.append({
                "file": f"{split}/{i:05d}.flac", "transcript": spoken_form(text), "text": text,
                "engine": engine, "voice": voice, "settings": settings, "split": split,
            })  # fmt: skip
        sentences[split] = sentences[split][:count]
    return rows, sentences


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


def build_synthetic_speech(
    folder: Path,
    sources: dict[str, list[str]],
    plan: SpeechPlan = SpeechPlan(),
    workers: int = WORKERS,
    progress: bool = True,
) -> Path:
    """Speak ``sources``' sentences into ``folder`` as ``plan`` says (module docstring), in
    ``workers`` engine processes at a time, resuming a build that stopped; returns ``folder``."""
    rows, sentences = plan_utterances(sources, plan)
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
        tqdm(total=len(rows), initial=len(done), desc="synthetic_speech", unit="utt",
             disable=not progress) as bar,
    ):  # fmt: skip
        futures = [pool.submit(_make, folder, row, plan.seed, n) for n, row in todo]
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
        "dataset": "synthetic_speech", "format": FORMAT, "sample_rate": SAMPLE_RATE,
        "plan": asdict(plan), "engines": {name: e.version() for name, e in engines.items()},
        "sources": {name: len(found) for name, found in sorted(sources.items())},
        "voices": {s: [f"{e}/{v}" for e, v in SPLIT_VOICES[s]] for s in SPLIT_NAMES},
        "utterances": {s: getattr(plan, s) for s in SPLIT_NAMES},
        "sentences": sentences,
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


def fetch_synthetic_speech(data_dir: Path) -> Path:
    """``sharedspace data download synthetic_speech``: the default plan into
    ``data_dir/synthetic-speech``."""
    return build_synthetic_speech(Path(data_dir) / FOLDER, english_train_sentences(data_dir))


# ------------------------------------------------------------------------------------- reading


def _rows(path: Path) -> list[tuple[str, dict]]:
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
                f"<split>/NNNNN.flac file; {HOW_TO_GET}"
            )
        rows.append((where, row))
    return rows


@dataset("synthetic_speech", kind="audio", splits=TranscribedAudio)
def load_synthetic_speech(data_dir: Path | None = None) -> TranscribedAudio:
    """English sentences spoken by espeak-ng and flite (train, validation: held-out voices and
    sentences) and festival (test: a held-out engine on held-out sentences); every file checked
    against the manifest's sha256. Build it first: ``sharedspace data download
    synthetic_speech``."""
    folder = find_dataset(FOLDER, (MANIFEST,), data_dir, how_to_get=HOW_TO_GET)
    manifest = loads_json(read_bytes(folder / MANIFEST, MANIFEST_LIMIT, DataError),
                          folder / MANIFEST, DataError)  # fmt: skip
    if not (isinstance(manifest, dict) and manifest.get("format") == FORMAT):
        raise DataError(
            f"{folder / MANIFEST}: not a format-{FORMAT} synthetic_speech manifest; {HOW_TO_GET}"
        )
    rows = _rows(folder / UTTERANCES)
    counts = {s: sum(r["split"] == s for _, r in rows) for s in SPLIT_NAMES}
    if counts != manifest.get("utterances"):
        raise DataError(
            f"{folder / UTTERANCES}: {counts} utterances, but {MANIFEST} says "
            f"{manifest.get('utterances')}; an interrupted build? {HOW_TO_GET}"
        )
    waves: dict[str, list[np.ndarray]] = {s: [] for s in SPLIT_NAMES}
    for where, row in rows:
        waves[row["split"]].append(_verified(folder, where, row))
    return TranscribedAudio(
        audio={s: AudioClips.of(w) for s, w in waves.items()},
        transcripts={s: [r["transcript"] for _, r in rows if r["split"] == s] for s in SPLIT_NAMES},
        names={s: [r["file"] for _, r in rows if r["split"] == s] for s in SPLIT_NAMES},
    )


def _verified(folder: Path, where: str, row: dict) -> np.ndarray:
    """The row's FLAC as 16 kHz float32, after checking it is there with the recorded sha256."""
    path = folder / row["file"]
    rebuild = f"rebuild it: sharedspace data download synthetic_speech --data-dir {folder.parent}"
    if not path.is_file():
        raise DataError(f"{path}: missing (listed at {where}); {rebuild}")
    data = read_bytes(path, FLAC_LIMIT, DataError)
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise DataError(f"{path}: damaged (its sha256 differs from {where}); {rebuild}")
    return decode_audio(data, f"{path} (listed at {where})")


FETCHERS["synthetic_speech"] = fetch_synthetic_speech
