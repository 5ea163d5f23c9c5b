"""Keyword spotting from synthesised to real speech (``spoken_words_en``): the words KTuberling's
English recordings say, spoken by speech synthesisers to train on, and the real recordings to
test on. Built once by ``sharedspace data download spoken_words_en --data-dir DIR`` into
``DIR/spoken-words-en/``.

Vocabulary: the 71 object names of ``ktuberling-data``'s English recordings ("ball", "camel",
"falling star", "ufo"), one class each, read from the installed package at build time and
recorded in the manifest. KLettres' letters and syllables are left out: a letter's name and a
syllable's sound ("th", "aw") are a different task, and the synthesisers read "th" as letters.

Splits: train is each word said by each of ``synthetic_speech``'s 8 training voices
``WordsPlan.train`` times (each time with its own settings, level and noise); validation by its
4 held-out voices (espeak-ng's en-029 and en-us-nyc, flite's kal16 and slt); test is the real
KTuberling recordings of the words, read from the package when the dataset loads (never copied),
so validation measures unheard voices and test the transfer from synthetic to real speech. Every
split holds every word: the ``spoken_words`` view keeps these splits.

The build folder is a ``speech_build`` folder (resumable, checksummed, ``manifest.jsonl`` per
utterance) with an empty ``test/``; ``manifest.json`` adds the plan, the voices and the words.
The default build (3,692 utterances of 0.85 s on average) took 1.1 minutes on 2 busy CPU cores
and is 57 MB.
"""

import dataclasses
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from sharedspace.data.audio import AudioClips, read_audio
from sharedspace.data.datasets import dataset
from sharedspace.data.download import FETCHERS
from sharedspace.data.locate import find_dataset
from sharedspace.data.real_speech import SOURCES, Utterance, ktuberling_words
from sharedspace.data.speech_build import WORKERS, build_utterances, planned_row, read_built
from sharedspace.data.spoken_text import spoken_form
from sharedspace.data.synthetic_speech import SPLIT_VOICES
from sharedspace.data.transcribed_audio import TranscribedAudio
from sharedspace.errors import DataError

NAME = "spoken_words_en"
FOLDER = "spoken-words-en"
SYNTHESISED = ("train", "validation")  # test is real speech
KTUBERLING = next(source for source in SOURCES if source.read is ktuberling_words)


@dataclass(frozen=True)
class WordsPlan:
    """What a build makes; the same plan and words make the same bytes. Default: 71 words ×
    8 voices × 6 = 3,408 training and 71 × 4 = 284 validation utterances."""

    seed: int = 0
    train: int = 6  # utterances of each word by each training voice
    validation: int = 1  # of each word by each held-out voice
    noise_probability: float = 0.5  # of an utterance getting white noise
    snr_db: tuple[float, float] = (10.0, 40.0)  # its signal-to-noise ratio, uniform
    peak_dbfs: tuple[float, float] = (-20.0, -1.0)  # every utterance's peak level, uniform


def ktuberling_recordings(data_dir: Path | None) -> list[Utterance]:
    """KTuberling's English recordings ``(name, file, word)``, the word in its spoken form, from
    ``data_dir`` when it holds ``ktuberling/``, else from the usual places and Debian's folder."""
    for where in ([data_dir] if data_dir is not None else []) + [None]:
        try:
            folder = find_dataset(KTUBERLING.folder, KTUBERLING.markers, where,
                                  debian_root=KTUBERLING.debian_root, how_to_get="")  # fmt: skip
        except DataError:
            continue
        return [(name, path, spoken_form(word)) for name, path, word in ktuberling_words(folder)]
    raise DataError(
        f"{NAME}: no {KTUBERLING.folder}/{KTUBERLING.markers[0]} in the data folders or "
        f"{KTUBERLING.debian_root}; get it with `apt-get install -y {KTUBERLING.package}`"
    )


def plan_words(words: list[str], plan: WordsPlan) -> list[dict]:
    """The synthesised utterances (manifest rows without sha256, in file order): per split, each
    word (sorted) by each of the split's voices, ``plan.train`` or ``plan.validation`` times."""
    rng = random.Random(plan.seed)
    rows = []
    for split in SYNTHESISED:
        voices = [v for v in SPLIT_VOICES[split] for _ in range(getattr(plan, split))]
        said = [(word, voice) for word in sorted(set(words)) for voice in voices]
        rows += [
            planned_row(rng, plan, split, i, voice, word) for i, (word, voice) in enumerate(said)
        ]
    return rows


def build_spoken_words(
    folder: Path,
    words: list[str],
    plan: WordsPlan = WordsPlan(),
    workers: int = WORKERS,
    progress: bool = True,
) -> Path:
    """Speak ``words`` into ``folder`` as ``plan`` says (module docstring), resuming a build
    that stopped; returns ``folder``."""
    if not words:
        raise DataError(f"{NAME}: no words to speak")
    about = {
        "plan": asdict(plan),
        "voices": {s: [f"{e}/{v}" for e, v in SPLIT_VOICES[s]] for s in SYNTHESISED},
        "words": sorted(set(words)),
    }
    return build_utterances(folder, NAME, plan_words(words, plan), plan.seed, about, workers,
                            progress)  # fmt: skip


def fetch_spoken_words_en(data_dir: Path) -> Path:
    """``sharedspace data download spoken_words_en``: the installed KTuberling's English words,
    spoken as the default plan says, into ``data_dir/spoken-words-en``."""
    words = [word for _, _, word in ktuberling_recordings(data_dir)]
    return build_spoken_words(Path(data_dir) / FOLDER, words)


@dataset(NAME, kind="audio", splits=TranscribedAudio)
def load_spoken_words_en(data_dir: Path | None = None) -> TranscribedAudio:
    """KTuberling's 71 English words: synthesised by the training voices (train) and held-out
    voices (validation), and the real recordings (test). Build it first: ``sharedspace data
    download spoken_words_en``; the test needs ``ktuberling-data``."""
    manifest, built = read_built(NAME, FOLDER, data_dir)
    words = manifest.get("words")
    if not (isinstance(words, list) and words and all(isinstance(w, str) for w in words)):
        raise DataError(f"{FOLDER}/manifest.json: expected a list of words under 'words'")
    real = sorted((u for u in ktuberling_recordings(data_dir) if u[2] in set(words)),
                  key=lambda u: u[0])  # fmt: skip
    unheard = sorted(set(words) - {word for _, _, word in real})
    if unheard:
        raise DataError(
            f"{NAME}: KTuberling has no English recording of {', '.join(map(repr, unheard[:3]))}"
            f" ({len(unheard)} words); install the ktuberling-data the build read, or rebuild"
        )
    return dataclasses.replace(
        built,
        audio={**built.audio, "test": AudioClips.of([read_audio(p) for _, p, _ in real])},
        transcripts={**built.transcripts, "test": [word for _, _, word in real]},
        names={**built.names, "test": [name for name, _, _ in real]},
    )


FETCHERS[NAME] = fetch_spoken_words_en
