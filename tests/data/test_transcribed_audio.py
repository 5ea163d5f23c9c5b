"""A user's folder of transcribed speech, read from tiny WAV, FLAC and Ogg files written here:
resampled to 16 kHz with the right length, stereo mixed to mono, split by transcript, and every
mistake a one-line DataError naming the file (and the line that lists it)."""

import sys

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.data.audio import AudioClips, decode_audio
from sharedspace.data.transcribed_audio import load_transcribed_audio
from sharedspace.errors import DataError, SharedSpaceError

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")


def tone(hz: float, n: int, rate: int, level: float = 0.5) -> np.ndarray:
    return (level * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def write(folder, name: str, samples: np.ndarray, rate: int, fmt: str | None = None) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, format=fmt)


def table(folder, text: str, name: str = "transcripts.tsv") -> None:
    (folder / name).write_text(text, encoding="utf-8")


def find(ds, name: str) -> tuple[str, int]:
    """The split and index of the utterance from file ``name``."""
    (found,) = [(s, names.index(name)) for s, names in ds.names.items() if name in names]
    return found


def wave(ds, name: str) -> np.ndarray:
    split, i = find(ds, name)
    clips = ds.audio[split]
    return clips.samples[clips.offsets[i] : clips.offsets[i + 1]].numpy()


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "speech"
    d.mkdir()
    return d


def test_files_are_resampled_to_16_khz_mono_int16_and_keep_their_pitch(folder):
    rng = np.random.default_rng(0)
    exact = np.round(rng.uniform(-0.5, 0.5, 1234) * 32768).astype(np.int16)
    write(folder, "a.wav", exact, 16000)
    write(folder, "low/b.flac", tone(440, 8000, 8000), 8000)  # 1 s at 8 kHz
    write(folder, "c.ogg", tone(440, 4410, 44100), 44100)  # 0.1 s at 44.1 kHz
    left, right = tone(440, 3000, 16000), tone(880, 3000, 16000, 0.25)
    write(folder, "stereo.wav", np.stack([left, right], 1), 16000, "WAV")
    table(folder, "file\ttranscript\na.wav\tone\nlow/b.flac\ttwo  words\nc.ogg\tthree\n"
          "stereo.wav\tfour\n")  # fmt: skip
    ds = load_transcribed_audio(folder)
    assert set(ds.audio) == {"train", "validation", "test"}
    assert all(c.samples.dtype == torch.int16 for c in ds.audio.values())
    np.testing.assert_array_equal(wave(ds, "a.wav"), exact)  # 16 kHz PCM passes untouched
    low = wave(ds, "low/b.flac")
    assert len(low) == 16000 and len(wave(ds, "c.ogg")) == 1600
    spectrum = np.abs(np.fft.rfft(low[2000:14000] / 32768))  # away from the filter's edges
    assert np.argmax(spectrum) * 16000 / 12000 == pytest.approx(440, abs=2)
    mono = (left + right) / 2  # each channel was stored as int16: a step each way, and one more
    np.testing.assert_allclose(wave(ds, "stereo.wav") / 32768, mono, atol=2 / 32768)
    split, i = find(ds, "low/b.flac")
    assert ds.transcripts[split][i] == "two words"


def test_the_jsonl_table_and_the_split_by_transcript(folder):
    lines = []
    for k in range(24):
        write(folder, f"w{k}.wav", tone(300 + k, 400, 16000), 16000)
        lines.append(f'{{"file": "w{k}.wav", "transcript": "The word {k % 8}"}}')
    table(folder, "\n".join(lines) + "\n", "transcripts.jsonl")
    ds = load_transcribed_audio(folder)
    split_of_word = {}
    for split, words in ds.transcripts.items():
        for w in words:
            assert split_of_word.setdefault(w.lower(), split) == split  # one split per sentence
        assert ds.names[split] == sorted(ds.names[split])
        assert len(ds.audio[split]) == len(words) == len(ds.names[split])
    assert sum(len(c) for c in ds.audio.values()) == 24


def test_a_damaged_file_is_one_line_naming_it_and_its_line(folder):
    write(folder, "good.wav", tone(440, 800, 16000), 16000)
    (folder / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk that is not audio")
    table(folder, "good.wav\tfine\nbad.wav\tbroken\n")
    with pytest.raises(DataError, match=r"bad\.wav \(listed at .*transcripts\.tsv:2\): not read"):
        load_transcribed_audio(folder)
    with pytest.raises(DataError) as caught:
        load_transcribed_audio(folder)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a.wav\thello\nmissing.flac\tthere\n",
            r"transcripts\.tsv:2: audio 'missing\.flac' not found",
        ),
        ("a.wav\t  \n", r"transcripts\.tsv:1: empty transcript for 'a\.wav'"),
        ("a.wav\thi\nb\n", r"transcripts\.tsv:2: 1 tab-separated fields, expected 2"),
        (
            "a.wav\thi\na.wav\tho\n",
            r"transcripts\.tsv:2: 'a\.wav' is listed twice \(first at .*:1\)",
        ),
        ("../a.wav\thi\n", r"transcripts\.tsv:1: audio '\.\./a\.wav' is not inside"),
        ("a.mp3\thi\n", r"transcripts\.tsv:1: 'a\.mp3' is not a \.wav, \.flac, \.ogg file"),
    ],
)
def test_table_mistakes_name_the_file_and_line(folder, text, expected):
    write(folder, "a.wav", tone(440, 800, 16000), 16000)
    table(folder, text)
    with pytest.raises(DataError, match=expected) as caught:
        load_transcribed_audio(folder)
    assert "\n" not in str(caught.value)


def test_folder_mistakes(folder, tmp_path):
    with pytest.raises(DataError, match=r"speech: no transcripts\.tsv or transcripts\.jsonl$"):
        load_transcribed_audio(folder)
    table(folder, "")
    table(folder, "", "transcripts.jsonl")
    with pytest.raises(DataError, match="holds both"):
        load_transcribed_audio(folder)
    (folder / "transcripts.jsonl").unlink()
    with pytest.raises(DataError, match=r"transcripts\.tsv: no transcripts"):
        load_transcribed_audio(folder)
    table(folder, '{"file": "a.wav"}\n', "transcripts.jsonl")
    (folder / "transcripts.tsv").unlink()
    with pytest.raises(DataError, match=r"jsonl:1: expected \{\"file\""):
        load_transcribed_audio(folder)
    with pytest.raises(DataError, match="no such folder"):
        load_transcribed_audio(tmp_path / "nowhere")
    with pytest.raises(DataError, match="give data_dir"):
        DATASETS.get("transcribed_audio").load(None)


def test_without_soundfile_reading_audio_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile → ImportError
    with pytest.raises(SharedSpaceError, match=r"^reading audio needs soundfile: pip install "
                       r"'sharedspace\[audio\]'"):  # fmt: skip
        decode_audio(b"RIFF", "x.wav")


def test_clips_cut_padded_batches_and_join():
    a = AudioClips.of([np.full(3, 0.5, np.float32), np.full(5, -0.25, np.float32)])
    b = AudioClips.of([np.full(2, 1.0, np.float32)])  # full scale clips to 32767
    joined = AudioClips.cat([a, b])
    assert joined.lengths.tolist() == [3, 5, 2]
    x, mask = joined.batch(torch.tensor([2, 0]))
    assert x.dtype == torch.int16 and x.tolist() == [[32767, 32767, 0], [16384, 16384, 16384]]
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    mean, std = a.moments()
    values = np.array([0.5] * 3 + [-0.25] * 5)
    assert mean == pytest.approx(values.mean()) and std == pytest.approx(values.std())
