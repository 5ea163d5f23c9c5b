"""A user's own folder of transcribed speech (``transcribed_audio``): audio files with a transcript
each, read into the audio data kind (``data.audio``: 16 kHz mono int16).

The folder (untrusted) holds .wav, .flac or .ogg files, in subfolders or not, and one table:
``transcripts.tsv`` (``file<TAB>transcript`` lines; a first line ``file<TAB>transcript`` is a
header) or ``transcripts.jsonl`` (one ``{"file": "a.wav", "transcript": "..."}`` per line). A
malformed line, an empty transcript, a file listed twice or missing is a DataError naming
``file:line``; an unreadable audio file, one naming the audio file and the line that lists it.

There is no official split: an utterance's split is a hash of its transcript as lower-case words
without articles (``parallel.split_of``, 90 / 5 / 5 %, as captioned images), so every recording of
one sentence falls in one split and a test sentence is never heard in training.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sharedspace.data.audio import AudioClips, read_audio
from sharedspace.data.captions import caption_key, clean
from sharedspace.data.datasets import dataset
from sharedspace.data.parallel import split_of
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, inside, loads_json, read_bytes, regular_file

SPLIT_NAMES = ("train", "validation", "test")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
TABLE_LIMIT = 256 * MiB  # one transcripts.tsv or transcripts.jsonl
TABLES = ("transcripts.tsv", "transcripts.jsonl")


@dataclass
class TranscribedAudio:
    """Utterances and their transcripts per split (train, validation, test), aligned by index:
    ``audio[split]`` utterance i is ``names[split][i]`` (its path in the folder) and says
    ``transcripts[split][i]`` (whitespace collapsed). Each split is ordered by name."""

    audio: dict[str, AudioClips]
    transcripts: dict[str, list[str]]
    names: dict[str, list[str]]


@dataclass
class _Row:
    """One utterance a table lists, with where it was listed (``file:line``)."""

    where: str
    file: str
    transcript: str


@dataset("transcribed_audio", kind="audio", splits=TranscribedAudio)
def load_transcribed_audio(data_dir: Path | None = None) -> TranscribedAudio:
    """Your own transcribed speech: ``data_dir`` is a folder of .wav/.flac/.ogg files with
    ``transcripts.tsv`` or ``transcripts.jsonl`` (module docstring); resampled once to 16 kHz
    mono, split by a hash of each transcript."""
    if data_dir is None:
        raise DataError(
            "transcribed_audio: give data_dir, a folder of audio files with transcripts"
        )
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    tables = [folder / name for name in TABLES if (folder / name).exists()]
    if not tables:
        raise DataError(f"{folder}: no transcripts.tsv or transcripts.jsonl")
    if len(tables) > 1:
        raise DataError(f"{folder}: holds both transcripts.tsv and transcripts.jsonl; keep one")
    rows = _tsv_rows(tables[0]) if tables[0].suffix == ".tsv" else _jsonl_rows(tables[0])
    if not rows:
        raise DataError(f"{tables[0]}: no transcripts")
    _check(rows)
    by_split: dict[str, list[_Row]] = {split: [] for split in SPLIT_NAMES}
    for row in sorted(rows, key=lambda r: r.file):
        by_split[split_of(caption_key(row.transcript))].append(row)
    return TranscribedAudio(
        audio={
            s: AudioClips.of([_wave(folder, r) for r in found]) for s, found in by_split.items()
        },
        transcripts={s: [r.transcript for r in found] for s, found in by_split.items()},
        names={s: [r.file for r in found] for s, found in by_split.items()},
    )


def _wave(folder: Path, row: _Row) -> np.ndarray:
    """The row's audio, read from inside ``folder`` only, as 16 kHz mono float32."""
    path = folder / row.file
    if Path(row.file).is_absolute() or not inside(path, folder):
        raise DataError(f"{row.where}: audio {row.file!r} is not inside {folder}")
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise DataError(f"{row.where}: {row.file!r} is not a {', '.join(AUDIO_SUFFIXES)} file")
    if not regular_file(path):
        raise DataError(f"{row.where}: audio {row.file!r} not found in {folder}")
    return read_audio(path, f"{path} (listed at {row.where})")


def _lines(path: Path) -> list[tuple[str, str]]:
    """``(file:line, text)`` of each non-blank line of a UTF-8 file."""
    try:
        text = read_bytes(path, TABLE_LIMIT, DataError).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    return [(f"{path}:{n}", line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _tsv_rows(path: Path) -> list[_Row]:
    """``file<TAB>transcript`` lines, after an optional ``file<TAB>transcript`` header."""
    lines = _lines(path)
    if lines and lines[0][1].split("\t")[0].strip().lower() == "file":
        lines.pop(0)
    rows = []
    for where, line in lines:
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{where}: {len(fields)} tab-separated fields, expected 2 (file, transcript)"
            )
        rows.append(_Row(where, fields[0].strip(), clean(fields[1])))
    return rows


def _jsonl_rows(path: Path) -> list[_Row]:
    """One ``{"file": …, "transcript": …}`` object per line."""
    rows = []
    for where, line in _lines(path):
        record = loads_json(line, where, DataError)
        if not (
            isinstance(record, dict)
            and set(record) == {"file", "transcript"}
            and all(isinstance(v, str) for v in record.values())
        ):
            raise DataError(f'{where}: expected {{"file": "...", "transcript": "..."}}')
        rows.append(_Row(where, record["file"].strip(), clean(record["transcript"])))
    return rows


def _check(rows: list[_Row]) -> None:
    """Each file listed once and with a transcript."""
    first: dict[str, str] = {}
    for row in rows:
        if not row.transcript:
            raise DataError(f"{row.where}: empty transcript for {row.file!r}")
        if row.file in first:
            raise DataError(
                f"{row.where}: {row.file!r} is listed twice (first at {first[row.file]})"
            )
        first[row.file] = row.where
