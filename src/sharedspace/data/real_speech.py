"""Real human English speech that Debian ships (``real_speech_en``): a test of transfer from
synthesised speech to people, about 5 minutes of isolated words, letters and short phrases. Every
utterance is in the TEST split; train and validation are empty (a model trains elsewhere, on
``synthetic_speech``).

Four sources, each a Debian package (all four are required, so the test is the same everywhere):
- ``ktuberling-data``: KTuberling's spoken object names. ``sounds/en.soundtheme`` is XML,
  ``<sound name="egypt_camel" file="en/egypt_camel.ogg"/>``; a name becomes its word as
  ``ktuberling_objects`` captions it (the theme's prefix dropped, misspellings fixed, read from
  ``pics/*.theme``): "camel". 71 recordings.
- ``klettres-data``: KLettres' letters and syllables, ``<lang>/sounds.xml`` of the same shape,
  files relative to the KLettres folder; English (``en``: A–Z and 19 syllables) and British
  (``en_GB``: 23 syllables and short words). 45 + 49 recordings.
- ``tuxpaint-stamps-default``: Tux Paint's spoken stamp captions, ``NAME_desc.ogg`` beside the
  stamp's ``NAME.txt``, whose first line is the English caption (``captions.read_caption_file``):
  "A frog.". 65 recordings (one, ``wallaby_desc.ogg``, has no caption file and is left out).
- ``pocketsphinx-testdata``: CMU Sphinx's test utterances with reference transcripts,
  ``test/data/<set>/*transcription`` lines ``<s> ten of clubs </s> (001)`` naming
  ``<set>/001.wav``: 5 card names and 5 LibriVox sentences (its 4 headerless ``.raw`` files have
  no reference transcript and are not read). 10 recordings.

Transcripts are ``spoken_text.spoken_form``: lower case, words of letters and digits, no
punctuation — the form the synthetic speech's transcripts take, so a model trained on one is
scored on the other word for word ("A frog." → "a frog", the letter "B" → "b").
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sharedspace.data.audio import AudioClips, read_audio
from sharedspace.data.captions import read_caption_file
from sharedspace.data.datasets import dataset
from sharedspace.data.ktuberling import caption, read_theme, theme_prefix
from sharedspace.data.locate import find_dataset
from sharedspace.data.spoken_text import spoken_form
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.data.tuxpaint import DEBIAN_ROOT as TUXPAINT_ROOT
from sharedspace.data.tuxpaint import FOLDER as TUXPAINT_FOLDER
from sharedspace.errors import DataError
from sharedspace.untrusted import MiB, inside, read_bytes, regular_file

LISTING_LIMIT = 1 * MiB  # one soundtheme, sounds.xml or transcription file (the largest: 8 kB)
KLETTRES_LANGUAGES = ("en", "en_GB")
# Tux Paint captions whose words are run together
CAPTION_FIXES = {"mountaingoat": "mountain goat"}
# a Sphinx transcription line: "<s> words </s> (fileid)"
SPHINX_LINE = re.compile(r"\s*(?:<s>)?(?P<words>.*?)(?:</s>)?\s*\((?P<id>[\w.-]+)\)\s*")

Utterance = tuple[str, Path, str]  # (name, audio file, transcript as written)


@dataclass(frozen=True)
class Source:
    """One package's recordings: found as ``find_dataset`` finds ``folder``, read by ``read``."""

    folder: str
    markers: tuple[str, ...]
    debian_root: Path
    package: str
    read: Callable[[Path], list[Utterance]]


def _sounds(path: Path) -> list[tuple[str, str]]:
    """``(name, file)`` of each ``<sound name=… file=…/>`` of an XML listing."""
    try:
        root = ET.fromstring(read_bytes(path, LISTING_LIMIT, DataError))
    except ET.ParseError as e:
        raise DataError(f"{path}: not XML ({e})") from None
    found = []
    for sound in root.iter("sound"):
        name, file = sound.get("name", "").strip(), sound.get("file", "").strip()
        if not (name and file):
            raise DataError(
                f'{path}: expected <sound name="NAME" file="FILE"/>, got {sound.attrib}'
            )
        found.append((name, file))
    return found


def _audio_file(folder: Path, file: str, where: str) -> Path:
    """``folder/file``, which must be a regular file inside ``folder``."""
    path = folder / file
    if not (inside(path, folder) and regular_file(path)):
        raise DataError(f"{where}: its audio {file!r} is not a file inside {folder}")
    return path


def ktuberling_words(folder: Path) -> list[Utterance]:
    """KTuberling's English recordings, each said word as ``ktuberling_objects`` captions it."""
    words = {}
    for theme in sorted((folder / "pics").glob("*.theme")):
        objects = read_theme(theme)[1]
        prefix = theme_prefix([sound for _, sound in objects])
        words.update({sound: caption(sound, prefix) for _, sound in objects})
    listing = folder / "sounds" / "en.soundtheme"
    return [
        (f"ktuberling/{file}", _audio_file(listing.parent, file, str(listing)),
         words.get(name, caption(name, "")))
        for name, file in _sounds(listing)
    ]  # fmt: skip


def klettres_sounds(folder: Path) -> list[Utterance]:
    """KLettres' English and British letters and syllables."""
    listings = [folder / language / "sounds.xml" for language in KLETTRES_LANGUAGES]
    return [
        (f"klettres/{file}", _audio_file(folder, file, str(listing)), name)
        for listing in listings
        for name, file in _sounds(listing)
    ]


def tuxpaint_captions(folder: Path) -> list[Utterance]:
    """Tux Paint's spoken English captions: ``NAME_desc.ogg`` with ``NAME.txt``'s first line."""
    found = []
    for audio in sorted(folder.rglob("*_desc.ogg")):
        text = audio.with_name(audio.name.removesuffix("_desc.ogg") + ".txt")
        if regular_file(text, folder) and "en" in (captions := read_caption_file(text)):
            words = " ".join(CAPTION_FIXES.get(w, w) for w in spoken_form(captions["en"]).split())
            found.append((f"tuxpaint/{audio.relative_to(folder).as_posix()}", audio, words))
    return found


def sphinx_utterances(folder: Path) -> list[Utterance]:
    """pocketsphinx's test utterances: each ``test/data/<set>/*transcription`` line names a WAV
    beside it."""
    found = []
    for listing in sorted((folder / "test" / "data").glob("*/*transcription")):
        text = read_bytes(listing, LISTING_LIMIT, DataError).decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{listing}:{number}"
            match = SPHINX_LINE.fullmatch(line)
            if match is None or not match["words"].strip():
                raise DataError(f"{where}: expected '<s> words </s> (fileid)', got {line[:60]!r}")
            wav = _audio_file(listing.parent, f"{match['id']}.wav", where)
            found.append((f"pocketsphinx/{wav.relative_to(folder / 'test' / 'data').as_posix()}",
                          wav, match["words"]))  # fmt: skip
    return found


SOURCES = (
    Source("ktuberling", ("sounds/en.soundtheme",), Path("/usr/share"), "ktuberling-data",
           ktuberling_words),
    Source("klettres", ("en/sounds.xml",), Path("/usr/share"), "klettres-data", klettres_sounds),
    Source(TUXPAINT_FOLDER, ("*/*_desc.ogg", "*/*/*_desc.ogg", "*/*/*/*_desc.ogg"), TUXPAINT_ROOT,
           "tuxpaint-stamps-default", tuxpaint_captions),
    Source("pocketsphinx", ("test/data/*/*transcription",), Path("/usr/share"),
           "pocketsphinx-testdata", sphinx_utterances),
)  # fmt: skip


def _locate(source: Source, data_dir: Path | None) -> Path:
    """The source's folder, or a one-line DataError naming where we looked and the package."""
    try:
        return find_dataset(source.folder, source.markers, data_dir,
                            debian_root=source.debian_root, how_to_get="")  # fmt: skip
    except DataError:
        places = data_dir if data_dir is not None else f"the data folders or {source.debian_root}"
        raise DataError(
            f"real_speech_en: no {source.folder}/{source.markers[0]} in {places}; "
            f"get it with `apt-get install -y {source.package}`"
        ) from None


def real_utterances(data_dir: Path | None = None) -> dict[str, list[Utterance]]:
    """Each source's utterances (folder name → list), transcripts in their spoken form."""
    found = {}
    for source in SOURCES:
        folder = _locate(source, data_dir)
        found[source.folder] = [(n, p, spoken_form(t)) for n, p, t in source.read(folder)]
    return found


@dataset("real_speech_en", kind="audio", splits=TranscribedAudio)
def load_real_speech_en(data_dir: Path | None = None) -> TranscribedAudio:
    """Real English recordings from Debian (KTuberling's words, KLettres' letters and syllables,
    Tux Paint's captions, pocketsphinx's test utterances): all in the test split; transcripts
    lower case without punctuation."""
    found = real_utterances(data_dir).values()
    utterances = sorted((u for source in found for u in source), key=lambda u: u[0])
    waves = {
        s: [read_audio(p) for _, p, _ in utterances] if s == "test" else [] for s in SPLIT_NAMES
    }
    return TranscribedAudio(
        audio={s: AudioClips.of(w) for s, w in waves.items()},
        transcripts={s: [t for _, _, t in utterances] if s == "test" else [] for s in SPLIT_NAMES},
        names={s: [n for n, _, _ in utterances] if s == "test" else [] for s in SPLIT_NAMES},
    )
