"""Synthetic speech: the sentence filter and source (train split only), a plan that keeps voices
and sentences apart and is the same for a seed, the level and noise augmentation, a missing
engine, a tiny build with the real engines (deterministic, resumed after deletion, damage and an
interruption), and the reader on a folder written here in the exact format (so CI covers it)."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sharedspace.data import DATASETS, speech_build
from sharedspace.data.speech_build import augmented
from sharedspace.data.spoken_text import speakable, speakable_sentences, spoken_form
from sharedspace.data.synthetic_speech import (
    SPLIT_VOICES,
    SpeechPlan,
    build_synthetic_speech,
    english_train_sentences,
    load_synthetic_speech,
    plan_utterances,
)
from sharedspace.errors import DataError

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")
ENGINES_PRESENT = all(shutil.which(p) for p in ("espeak-ng", "flite", "text2wave"))
NEEDS_ENGINES = pytest.mark.skipif(
    not ENGINES_PRESENT, reason="apt-get install espeak-ng flite festival festvox-kallpc16k "
    "festvox-kdlpc16k festvox-us-slt-hts"
)  # fmt: skip
MAKE = speech_build._make  # what made_files wraps
TINY = SpeechPlan(seed=3, train=8, validation=2, test=2)


def names(n: int) -> list[str]:
    """n distinct made-up words of letters only: ``ba``, ``ca``, …"""
    return ["".join(chr(98 + (i // 20**k) % 20) for k in range(3)) for i in range(n)]


def sentences(n: int) -> dict[str, list[str]]:
    return {"made_up": [f"The {w} walks home slowly." for w in names(n)]}


def split_of(rows: list[dict], split: str, key: str) -> set:
    return {row[key] for row in rows if row["split"] == split}


# ------------------------------------------------------------------------------- sentences


def test_spoken_form_and_the_speakable_filter():
    assert spoken_form("Don't PANIC -- it's well-known.") == "don't panic it's well known"
    assert spoken_form("\u201cWhy?\u201d she asked\u2019") == "why she asked"
    assert speakable("The meek don't want it.")
    for bad in (
        "Two words.",
        "In 1984 it rained.",
        "The GNU project is old.",
        "lowercase start is a fragment",
        "Use a (bracket) here.",
        "One two three four five six seven eight nine ten eleven twelve thirteen.",
    ):
        assert not speakable(bad), bad  # fmt: skip
    text = "Power is poison.  It  corrupts.\nThe greatest remedy for anger is delay. -- Seneca"
    assert speakable_sentences(text) == [
        "Power is poison.",
        "The greatest remedy for anger is delay.",
    ]


def test_only_the_train_split_of_the_english_text_is_spoken(tmp_path, isolated_home):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    fortunes = [f"The {w} fortune is kind.\n\t\t-- Someone Famous" for w in names(40)]
    (folder / "quotes").write_text("\n%\n".join(fortunes) + "\n%\n")
    (folder / "quotes.dat").write_bytes(b"\x00\x02")
    found = english_train_sentences(tmp_path)  # gettext is not downloaded: fortunes only
    train = DATASETS.get("fortunes").load(tmp_path).train
    assert list(found) == ["fortunes"]
    assert found["fortunes"] == [doc.split("\n")[0] for doc in train]
    assert len(found["fortunes"]) == 36  # 40 less the 2 validation and 2 test fortunes


# ------------------------------------------------------------------------------------ the plan


def test_the_plan_keeps_voices_and_sentences_apart_and_follows_its_seed():
    plan = SpeechPlan(seed=1, train=60, validation=10, test=10)
    rows, used = plan_utterances(sentences(100), plan)
    assert [r["file"] for r in rows[:2]] == ["train/00000.flac", "train/00001.flac"]
    assert {s: len(split_of(rows, s, "file")) for s in used} == {
        "train": 60,
        "validation": 10,
        "test": 10,
    }
    transcripts = {s: split_of(rows, s, "transcript") for s in used}
    assert not transcripts["test"] & (transcripts["train"] | transcripts["validation"])
    assert not transcripts["validation"] & transcripts["train"]
    voices = {s: {(r["engine"], r["voice"]) for r in rows if r["split"] == s} for s in used}
    assert not (voices["validation"] | voices["test"]) & set(SPLIT_VOICES["train"])
    assert {engine for engine, _ in voices["test"]} == {"festival"}
    assert {engine for engine, _ in voices["train"]} == {"espeak-ng", "flite"}
    assert {spoken_form(s) for s in used["test"]} == transcripts["test"]
    assert plan_utterances(sentences(100), plan)[0] == rows  # the same seed, the same plan
    assert (
        plan_utterances(sentences(100), SpeechPlan(seed=2, train=60, validation=10, test=10))[0]
        != rows
    )


def test_a_plan_holding_out_every_sentence_is_an_error():
    with pytest.raises(DataError, match="20 distinct sentences, but the plan holds out 10 \\+ 10"):
        plan_utterances(sentences(20), SpeechPlan(train=5, validation=10, test=10))


def test_level_and_noise_augmentation():
    wave = np.sin(np.linspace(0, 2000, 32000)).astype(np.float32) * 0.3
    clean = augmented(wave, {"peak_dbfs": -6.0, "snr_db": None}, np.random.default_rng(0))
    assert np.abs(clean).max() == pytest.approx(10 ** (-6 / 20), rel=1e-5)
    noisy = augmented(wave, {"peak_dbfs": -6.0, "snr_db": 20.0}, np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean) ** 2.0))
    assert snr == pytest.approx(20, abs=0.3)


def test_a_missing_engine_is_one_line_naming_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        DataError, match=r"^espeak-ng: not found on PATH; install it: apt-get install espeak-ng$"
    ):
        build_synthetic_speech(tmp_path / "out", sentences(30), TINY, progress=False)


# ------------------------------------------------------------------ a build with the engines


class Interrupted(Exception):
    """Stands for Ctrl-C in a worker (pytest treats a real KeyboardInterrupt as the user's)."""


def made_files(monkeypatch, fail_after: int | None = None) -> list[str]:
    """Record the files ``_make`` writes (and fail once ``fail_after`` are written)."""
    made: list[str] = []

    def recording(folder, row, seed, number):
        if fail_after is not None and len(made) >= fail_after:
            raise Interrupted
        made.append(row["file"])
        return MAKE(folder, row, seed, number)

    monkeypatch.setattr(speech_build, "_make", recording)
    return made


@NEEDS_ENGINES
def test_a_tiny_build_is_deterministic_resumes_and_reads_back(tmp_path, monkeypatch):
    first = build_synthetic_speech(tmp_path / "a", sentences(30), TINY, progress=False)
    second = build_synthetic_speech(tmp_path / "b", sentences(30), TINY, workers=1, progress=False)
    lines = (first / "manifest.jsonl").read_text()
    assert lines == (second / "manifest.jsonl").read_text()  # sha256s included: the same bytes
    assert (first / "manifest.json").read_text() == (second / "manifest.json").read_text()
    manifest = json.loads((first / "manifest.json").read_text())
    assert set(manifest["engines"]) == {"espeak-ng", "flite", "festival"}
    assert manifest["sentences"]["test"] and not (
        set(manifest["sentences"]["test"]) & set(manifest["sentences"]["train"])
    )
    assert not (first / ".progress.jsonl").exists()

    (first / "train" / "00003.flac").unlink()
    (first / "validation" / "00001.flac").write_bytes(b"fLaC damaged")
    made = made_files(monkeypatch)
    build_synthetic_speech(first, sentences(30), TINY, progress=False)
    assert sorted(made) == ["train/00003.flac", "validation/00001.flac"]
    assert (first / "manifest.jsonl").read_text() == lines

    ds = load_synthetic_speech(first)  # data_dir may name the dataset's own folder
    assert ds.names["test"] == ["test/00000.flac", "test/00001.flac"]


@NEEDS_ENGINES
def test_an_interrupted_build_resumes_from_its_journal(tmp_path, monkeypatch):
    folder = tmp_path / "synthetic-speech"
    made_files(monkeypatch, fail_after=5)
    with pytest.raises(Interrupted):
        build_synthetic_speech(folder, sentences(30), TINY, workers=1, progress=False)
    journal = [
        json.loads(line)["file"] for line in (folder / ".progress.jsonl").read_text().splitlines()
    ]
    assert len(journal) == 5 and not (folder / "manifest.jsonl").exists()
    made = made_files(monkeypatch)
    build_synthetic_speech(folder, sentences(30), TINY, progress=False)
    assert len(made) == 7 and not set(made) & set(journal)
    ds = load_synthetic_speech(tmp_path)
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert {s: len(ds.audio[s]) for s in ds.audio} == {"train": 8, "validation": 2, "test": 2}
    assert ds.transcripts["test"] == [r["transcript"] for r in rows if r["split"] == "test"]
    assert all(int(n) > 8000 for n in ds.audio["train"].lengths)  # over half a second each


# --------------------------------------------------------------------- the reader, no engines


def write_folder(root: Path, waves: dict[str, list[np.ndarray]]) -> Path:
    """A synthetic-speech folder as the build writes it, from float waves per split."""
    folder = root / "synthetic-speech"
    lines = []
    for split, found in waves.items():
        (folder / split).mkdir(parents=True)
        for i, wave in enumerate(found):
            file = f"{split}/{i:05d}.flac"
            sf.write(folder / file, wave, 16000, format="FLAC", subtype="PCM_16")
            digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
            settings = {"variant": "", "speed": 175, "pitch": 50, "peak_dbfs": -3.0, "snr_db": None}
            row = {"file": file, "transcript": f"{split} word {i}", "text": f"{split} word {i}.",
                   "engine": "espeak-ng", "voice": "en-us", "settings": settings, "split": split,
                   "sha256": digest}  # fmt: skip
            lines.append(json.dumps(row))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    counts = {split: len(found) for split, found in waves.items()}
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "utterances": counts}))
    return folder


@pytest.fixture
def written(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    waves = {
        "train": [rng.uniform(-0.5, 0.5, 1600 + 100 * i).astype(np.float32) for i in range(3)],
        "validation": [rng.uniform(-0.5, 0.5, 800).astype(np.float32)],
        "test": [],
    }
    write_folder(tmp_path, waves)
    return tmp_path


def test_the_reader_gives_each_split_its_utterances_and_transcripts(written, isolated_home):
    ds = DATASETS.get("synthetic_speech").load(written)
    assert ds.names["train"] == ["train/00000.flac", "train/00001.flac", "train/00002.flac"]
    assert ds.transcripts["validation"] == ["validation word 0"]
    assert ds.audio["train"].lengths.tolist() == [1600, 1700, 1800]
    assert len(ds.audio["test"]) == 0 and ds.transcripts["test"] == []
    flac = sf.read(written / "synthetic-speech" / "train" / "00001.flac", dtype="int16")[0]
    clips = ds.audio["train"]
    np.testing.assert_array_equal(clips.samples[clips.offsets[1] : clips.offsets[2]].numpy(), flac)


def test_a_missing_or_damaged_file_names_it_and_the_rebuild_command(written):
    folder = written / "synthetic-speech"
    (folder / "train" / "00001.flac").unlink()
    with pytest.raises(DataError, match=r"00001\.flac: missing \(listed at .*manifest\.jsonl:2\); "
                       r"rebuild it: sharedspace data download synthetic_speech"):  # fmt: skip
        load_synthetic_speech(written)
    sf.write(folder / "train" / "00001.flac", np.zeros(1700, np.float32), 16000, format="FLAC")
    with pytest.raises(
        DataError, match=r"00001\.flac: damaged \(its sha256 differs from .*:2\)"
    ) as e:
        load_synthetic_speech(written)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", r"manifest\.jsonl:2: "),
        ('{"file": "train/00000.flac"}', r"manifest\.jsonl:2: expected a row of file, transcript"),
        (None, r"manifest\.jsonl:2: expected a row .* naming a <split>/NNNNN\.flac file"),
    ],
)
def test_a_damaged_manifest_line_names_its_file_and_line(written, line, expected):
    path = written / "synthetic-speech" / "manifest.jsonl"
    lines = path.read_text().splitlines()
    if line is None:  # a row escaping its folder
        row = json.loads(lines[1])
        line = json.dumps({**row, "file": "train/../../x.flac"})
    path.write_text("\n".join([lines[0], line, *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=expected):
        load_synthetic_speech(written)


def test_an_unfinished_manifest_or_no_build_says_how_to_build_it(written, tmp_path, isolated_home):
    path = written / "synthetic-speech" / "manifest.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(
        DataError, match=r"'validation': 0.*but manifest\.json says .*an interrupted"
    ):
        load_synthetic_speech(written)
    with pytest.raises(
        DataError, match="sharedspace data download synthetic_speech --data-dir DIR"
    ):
        load_synthetic_speech(tmp_path / "nothing")
