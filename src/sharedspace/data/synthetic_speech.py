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
Each utterance draws its voice, then its settings, level and noise (``speech_build``), all from
the plan's seed: one seed, one build, byte for byte.

The folder is a ``speech_build`` folder: ``<split>/NNNNN.flac``, ``manifest.jsonl`` (per
utterance: file, transcript — its ``spoken_form`` —, text, engine, voice, settings, split,
sha256) and ``manifest.json`` (the plan, the engine versions, the sentence sources and split,
the counts); an interrupted build resumes.
"""

import random
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from sharedspace.data.datasets import DATASETS, dataset
from sharedspace.data.download import FETCHERS
from sharedspace.data.speech_build import WORKERS, build_utterances, planned_row, read_built
from sharedspace.data.speech_engines import ENGINES
from sharedspace.data.spoken_text import speakable_sentences, spoken_form
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.errors import DataError

FOLDER = "synthetic-speech"
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
            voice = rng.choice(SPLIT_VOICES[split])
            text = sentences[split][i % len(sentences[split])]
            rows.append(planned_row(rng, plan, split, i, voice, text))
        sentences[split] = sentences[split][:count]
    return rows, sentences


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
    about = {
        "plan": asdict(plan),
        "sources": {name: len(found) for name, found in sorted(sources.items())},
        "voices": {s: [f"{e}/{v}" for e, v in SPLIT_VOICES[s]] for s in SPLIT_NAMES},
        "sentences": sentences,
    }
    return build_utterances(folder, "synthetic_speech", rows, plan.seed, about, workers, progress)


def fetch_synthetic_speech(data_dir: Path) -> Path:
    """``sharedspace data download synthetic_speech``: the default plan into
    ``data_dir/synthetic-speech``."""
    return build_synthetic_speech(Path(data_dir) / FOLDER, english_train_sentences(data_dir))


@dataset("synthetic_speech", kind="audio", splits=TranscribedAudio)
def load_synthetic_speech(data_dir: Path | None = None) -> TranscribedAudio:
    """English sentences spoken by espeak-ng and flite (train, validation: held-out voices and
    sentences) and festival (test: a held-out engine on held-out sentences); every file checked
    against the manifest's sha256. Build it first: ``sharedspace data download
    synthetic_speech``."""
    return read_built("synthetic_speech", FOLDER, data_dir)[1]


FETCHERS["synthetic_speech"] = fetch_synthetic_speech
