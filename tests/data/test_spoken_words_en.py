"""Keyword spotting from synthetic to real speech (``spoken_words_en``): a plan that gives every
word to every voice of its split, a tiny build with the real engines (deterministic, resumed
after deletion and damage), the reader on a folder and a KTuberling written here in the exact
formats (so CI covers it), and the installed KTuberling's words as the test split."""

import dataclasses
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS, speech_build
from sharedspace.data import spoken_words_en as words_en
from sharedspace.data.audio import read_audio, to_int16
from sharedspace.data.spoken_words_en import (
    WordsPlan,
    build_spoken_words,
    ktuberling_recordings,
    load_spoken_words_en,
    plan_words,
)
from sharedspace.data.synthetic_speech import SPLIT_VOICES
from sharedspace.errors import DataError

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")
NEEDS_ENGINES = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("espeak-ng", "flite")),
    reason="apt-get install espeak-ng flite",
)
WORDS = ["ball", "camel", "palm tree"]
TINY = WordsPlan(seed=5, train=1, validation=1)  # 3 × 8 train, 3 × 4 validation utterances
INSTALLED = Path("/usr/share/ktuberling/sounds/en.soundtheme")


# ------------------------------------------------------------------------------------ the plan


def test_every_word_is_said_by_every_voice_of_its_split_and_the_plan_follows_its_seed():
    plan = WordsPlan(seed=1, train=2, validation=1)
    rows = plan_words(["camel", "ball", "palm tree", "ball"], plan)  # duplicates count once
    said = {
        split: Counter(
            (r["transcript"], r["engine"], r["voice"]) for r in rows if r["split"] == split
        )
        for split in ("train", "validation")
    }
    assert said["train"] == {(w, e, v): 2 for w in WORDS for e, v in SPLIT_VOICES["train"]}
    assert said["validation"] == {
        (w, e, v): 1 for w in WORDS for e, v in SPLIT_VOICES["validation"]
    }
    assert [r["file"] for r in rows[:2]] == ["train/00000.flac", "train/00001.flac"]
    assert rows[48]["file"] == "validation/00000.flac" and len(rows) == 48 + 12
    assert len({json.dumps(r["settings"], sort_keys=True) for r in rows}) > 50  # drawn anew each
    assert plan_words(WORDS, plan) == rows
    assert plan_words(WORDS, WordsPlan(seed=2, train=2, validation=1)) != rows


# ------------------------------------------------------------- KTuberling, in its exact format


def ogg(path: Path, hz: float, n: int = 22050) -> None:
    """Vorbis at 44.1 kHz stereo, as KTuberling's recordings are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = 0.3 * np.sin(np.arange(n) * 2 * np.pi * hz / 44100)
    sf.write(path, np.stack([wave, wave], 1), 44100, format="OGG", subtype="VORBIS")


def write_ktuberling(root: Path) -> Path:
    """``root/ktuberling``: a theme whose prefix ``egypt_`` is dropped, and four recordings of
    which "hat" is no word of the tests' vocabulary."""
    folder = root / "ktuberling"
    (folder / "pics").mkdir(parents=True)
    (folder / "pics" / "egypt.svg").write_text("<svg/>")
    objects = '<object name="o1" sound="egypt_camel"/><object name="o2" sound="egypt_palmtree"/>'
    (folder / "pics" / "egypt.theme").write_text(
        f'<playground gameboard="egypt.svg" desktop="egypt.desktop">{objects}</playground>'
    )
    sounds = {"egypt_camel": 300, "egypt_palmtree": 500, "ball": 700, "hat": 900}
    listing = "".join(f'  <sound name="{n}" file="en/{n}.ogg" />\n' for n in sounds)
    (folder / "sounds").mkdir()
    (folder / "sounds" / "en.soundtheme").write_text(
        f'<language code="en">\n{listing}</language>\n'
    )
    for name, hz in sounds.items():
        ogg(folder / "sounds" / "en" / f"{name}.ogg", hz)
    return folder


def write_built(root: Path, words: list[str], per_split: int = 2) -> Path:
    """``root/spoken-words-en`` as the build writes it: FLACs, manifest.jsonl, manifest.json."""
    folder = root / "spoken-words-en"
    rng = np.random.default_rng(0)
    lines = []
    for split in ("train", "validation"):
        (folder / split).mkdir(parents=True)
        for i in range(per_split * len(words)):
            file, word = f"{split}/{i:05d}.flac", words[i % len(words)]
            sf.write(
                folder / file, rng.uniform(-0.4, 0.4, 1600 + 80 * i), 16000, "PCM_16", format="FLAC"
            )
            settings = {"variant": "", "speed": 175, "pitch": 50, "peak_dbfs": -3.0, "snr_db": None}
            row = {"file": file, "transcript": word, "text": word, "engine": "espeak-ng",
                   "voice": "en-us", "settings": settings, "split": split,
                   "sha256": hashlib.sha256((folder / file).read_bytes()).hexdigest()}  # fmt: skip
            lines.append(json.dumps(row))
    (folder / "test").mkdir()
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    counts = {"train": per_split * len(words), "validation": per_split * len(words), "test": 0}
    manifest = {"dataset": "spoken_words_en", "format": 1, "words": words, "utterances": counts}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_reader_trains_on_the_build_and_tests_on_the_real_recordings(tmp_path, isolated_home):
    write_built(tmp_path, WORDS)
    real = write_ktuberling(tmp_path)
    ds = DATASETS.get("spoken_words_en").load(tmp_path)
    assert ds.names["train"][:2] == ["train/00000.flac", "train/00001.flac"]
    assert ds.transcripts["train"] == WORDS * 2 and ds.transcripts["validation"] == WORDS * 2
    assert ds.audio["train"].lengths.tolist() == [1600 + 80 * i for i in range(6)]
    # exactly the real recordings of the words, by name; "hat" is not a word of the build
    names = ("ball", "egypt_camel", "egypt_palmtree")
    assert ds.names["test"] == [f"ktuberling/en/{name}.ogg" for name in names]
    assert ds.transcripts["test"] == ["ball", "camel", "palm tree"]
    clips = ds.audio["test"]
    for i, name in enumerate(names):
        expected = read_audio(real / "sounds" / "en" / f"{name}.ogg")  # 44.1 kHz stereo → 16 kHz
        got = clips.samples[clips.offsets[i] : clips.offsets[i + 1]].numpy()
        np.testing.assert_array_equal(got, to_int16(expected))


def test_a_word_without_a_real_recording_or_no_ktuberling_is_one_line(tmp_path, monkeypatch):
    write_built(tmp_path, [*WORDS, "zebra", "yak"])
    write_ktuberling(tmp_path)
    with pytest.raises(
        DataError, match=r"^spoken_words_en: KTuberling has no English recording of 'yak', 'zebra' "
        r"\(2 words\); install the ktuberling-data the build read, or rebuild$"
    ):  # fmt: skip
        load_spoken_words_en(tmp_path)
    shutil.rmtree(tmp_path / "ktuberling")
    nowhere = dataclasses.replace(words_en.KTUBERLING, debian_root=tmp_path)
    monkeypatch.setattr(words_en, "KTUBERLING", nowhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHAREDSPACE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"^spoken_words_en: no ktuberling/sounds/en\.soundtheme .*"
                       r"get it with `apt-get install -y ktuberling-data`$"):  # fmt: skip
        load_spoken_words_en(tmp_path)


def test_a_damaged_utterance_or_no_build_names_the_build_command(tmp_path, isolated_home):
    folder = write_built(tmp_path, WORDS)
    write_ktuberling(tmp_path)
    (folder / "validation" / "00002.flac").write_bytes(b"fLaC damaged")
    with pytest.raises(DataError, match=r"00002\.flac: damaged .* rebuild it: sharedspace data "
                       r"download spoken_words_en --data-dir"):  # fmt: skip
        load_spoken_words_en(tmp_path)
    with pytest.raises(DataError, match="sharedspace data download spoken_words_en --data-dir DIR"):
        load_spoken_words_en(tmp_path / "nothing")


@pytest.mark.skipif(not INSTALLED.is_file(), reason="apt-get install ktuberling-data")
def test_the_installed_ktuberling_gives_71_words_each_its_real_recording(tmp_path, isolated_home):
    recordings = ktuberling_recordings(None)
    words = sorted({word for _, _, word in recordings})
    assert len(words) == len(recordings) == 71 and {"falling star", "ufo", "camel"} <= set(words)
    write_built(tmp_path, words, per_split=1)  # no ktuberling/ in tmp_path: Debian's is read
    ds = load_spoken_words_en(tmp_path)
    assert ds.names["test"] == sorted(name for name, _, _ in recordings)
    assert sorted(ds.transcripts["test"]) == words
    assert set(ds.transcripts["train"]) == set(ds.transcripts["validation"]) == set(words)


# ------------------------------------------------------------------ a build with the engines


@NEEDS_ENGINES
def test_a_tiny_build_is_deterministic_resumes_and_reads_back(tmp_path, monkeypatch, isolated_home):
    first = build_spoken_words(tmp_path / "spoken-words-en", WORDS, TINY, progress=False)
    second = build_spoken_words(tmp_path / "b", WORDS, TINY, workers=1, progress=False)
    lines = (first / "manifest.jsonl").read_text()
    assert lines == (second / "manifest.jsonl").read_text()  # sha256s included: the same bytes
    assert (first / "manifest.json").read_text() == (second / "manifest.json").read_text()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["words"] == WORDS and set(manifest["engines"]) == {"espeak-ng", "flite"}
    assert manifest["utterances"] == {"train": 24, "validation": 12, "test": 0}

    (first / "train" / "00007.flac").unlink()
    (first / "validation" / "00003.flac").write_bytes(b"fLaC damaged")
    made: list[str] = []
    make = speech_build._make

    def recording(folder, row, seed, number):
        made.append(row["file"])
        return make(folder, row, seed, number)

    monkeypatch.setattr(speech_build, "_make", recording)
    build_spoken_words(first, WORDS, TINY, progress=False)
    assert sorted(made) == ["train/00007.flac", "validation/00003.flac"]
    assert (first / "manifest.jsonl").read_text() == lines

    write_ktuberling(tmp_path)
    ds = load_spoken_words_en(tmp_path)
    assert [len(ds.audio[s]) for s in ("train", "validation", "test")] == [24, 12, 3]
    assert all(int(n) > 3200 for n in ds.audio["train"].lengths)  # a word: over 0.2 s
    assert torch.all(ds.audio["validation"].lengths > 3200)
