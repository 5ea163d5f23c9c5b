"""Real speech from Debian packages: tiny copies of the four packages' files written here in
their exact formats (a KTuberling soundtheme and theme, KLettres' sounds.xml, a Tux Paint stamp's
NAME.txt beside NAME_desc.ogg, Sphinx transcription files beside WAVs), transcripts in spoken
form, everything in the test split, one-line errors, and the installed packages' counts."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS
from sharedspace.data.audio import AudioClips
from sharedspace.data.real_speech import SOURCES, load_real_speech_en, real_utterances
from sharedspace.errors import DataError

sf = pytest.importorskip("soundfile", reason="pip install 'sharedspace[audio]'")
PACKAGES = {
    Path("/usr/share/ktuberling/sounds/en.soundtheme"): "ktuberling-data",
    Path("/usr/share/klettres/en/sounds.xml"): "klettres-data",
    Path("/usr/share/tuxpaint/stamps"): "tuxpaint-stamps-default",
    Path("/usr/share/pocketsphinx/test/data"): "pocketsphinx-testdata",
}


def ogg(path: Path, n: int = 4410, rate: int = 44100, channels: int = 2) -> None:
    """Vorbis, as the KDE and Tux Paint recordings are (44.1 kHz stereo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = 0.3 * np.sin(np.arange(n) * 2 * np.pi * 440 / rate)
    sf.write(path, np.stack([wave] * channels, 1), rate, format="OGG", subtype="VORBIS")


def fake_packages(root: Path) -> Path:
    """The four packages' files under ``root``, as find_dataset looks for them in a data_dir."""
    ktuberling = root / "ktuberling"
    (ktuberling / "pics").mkdir(parents=True)
    (ktuberling / "pics" / "egypt.svg").write_text("<svg/>")
    objects = "".join(f'<object name="o{i}" sound="egypt_{w}"/>' for i, w in
                      enumerate(["camel", "palmtree", "man"]))  # fmt: skip
    (ktuberling / "pics" / "egypt.theme").write_text(
        f'<playground gameboard="egypt.svg" desktop="egypt.desktop">{objects}</playground>'
    )
    (ktuberling / "sounds").mkdir()
    (ktuberling / "sounds" / "en.soundtheme").write_text(
        '<language code="en">\n  <sound name="egypt_camel" file="en/egypt_camel.ogg" />\n'
        '  <sound name="egypt_palmtree" file="en/egypt_palmtree.ogg" />\n'
        '  <sound name="ball" file="en/ball.ogg" />\n</language>\n'
    )
    for name in ("egypt_camel", "egypt_palmtree", "ball"):
        ogg(ktuberling / "sounds" / "en" / f"{name}.ogg")

    klettres = root / "klettres"
    for language, sounds in (
        ("en", {"B": "alpha/B", "TH": "syllab/th"}),
        ("en_GB", {"ARM": "syllab/arm"}),
    ):
        items = "".join(
            f'<sound name="{n}" file="{language}/{f}.ogg" />' for n, f in sounds.items()
        )
        (klettres / language).mkdir(parents=True)
        (klettres / language / "sounds.xml").write_text(
            f'<!-- KDE EDU KLettres -->\n<klettres><language code="{language}"><menuitem><label>'
            f"&amp;English</label></menuitem><alphabet>{items}</alphabet></language></klettres>"
        )
        for f in sounds.values():
            ogg(klettres / language / f"{f}.ogg")

    stamps = root / "stamps" / "animals" / "goats"
    stamps.mkdir(parents=True)
    (stamps / "goat.txt").write_text("A mountaingoat.\nde.utf8=Eine Bergziege.\n")
    ogg(stamps / "goat_desc.ogg")
    ogg(stamps / "goat_desc_fr.ogg")  # another language: not read
    ogg(stamps / "goat.ogg")  # the stamp's sound effect, not speech: not read
    ogg(stamps / "wallaby_desc.ogg")  # no caption file: left out

    cards = root / "pocketsphinx" / "test" / "data" / "cards"
    cards.mkdir(parents=True)
    (cards / "cards.transcription").write_text(
        "<s> ten of clubs  </s> (001)\n<s> five five  </s> (002)\n"
    )
    for i, n in ((1, 1600), (2, 3200)):
        sf.write(cards / f"00{i}.wav", np.zeros(n, np.int16), 16000)
    return root


def test_every_recording_is_a_test_utterance_with_a_spoken_form_transcript(tmp_path, isolated_home):
    ds = DATASETS.get("real_speech_en").load(fake_packages(tmp_path))
    assert ds.names["test"] == [
        "klettres/en/alpha/B.ogg", "klettres/en/syllab/th.ogg", "klettres/en_GB/syllab/arm.ogg",
        "ktuberling/en/ball.ogg", "ktuberling/en/egypt_camel.ogg",
        "ktuberling/en/egypt_palmtree.ogg", "pocketsphinx/cards/001.wav",
        "pocketsphinx/cards/002.wav", "tuxpaint/animals/goats/goat_desc.ogg",
    ]  # fmt: skip
    assert ds.transcripts["test"] == [
        "b", "th", "arm", "ball", "camel", "palm tree", "ten of clubs", "five five",
        "a mountain goat",
    ]  # fmt: skip
    lengths = ds.audio["test"].lengths.tolist()
    assert lengths[6:8] == [1600, 3200]  # 16 kHz WAV read as it is
    assert all(abs(n - 1600) <= 16 for n in lengths[:6] + lengths[8:])  # 0.1 s at 44.1 kHz → 16 kHz
    for split in ("train", "validation"):
        assert len(ds.audio[split]) == 0 and ds.transcripts[split] == ds.names[split] == []
        x, mask = ds.audio[split].batch(torch.zeros(0, dtype=torch.long))
        assert x.shape == mask.shape == (0, 0)


def test_each_source_counts_what_it_read(tmp_path, isolated_home):
    found = real_utterances(fake_packages(tmp_path))
    assert {name: len(u) for name, u in found.items()} == {
        "ktuberling": 3, "klettres": 3, "stamps": 1, "pocketsphinx": 2,
    }  # fmt: skip


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.folder)
def test_a_missing_package_is_one_line_naming_it(tmp_path, isolated_home, source):
    root = fake_packages(tmp_path)
    for path in sorted((root / source.folder).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    with pytest.raises(DataError, match=rf"apt-get install -y {source.package}`$") as caught:
        load_real_speech_en(root)
    assert "\n" not in str(caught.value)


def test_a_bad_transcription_line_or_a_file_outside_names_where(tmp_path, isolated_home):
    root = fake_packages(tmp_path)
    listing = root / "pocketsphinx" / "test" / "data" / "cards" / "cards.transcription"
    listing.write_text("<s> ten of clubs </s> (001)\n<s> no file id </s>\n")
    with pytest.raises(
        DataError, match=r"cards\.transcription:2: expected '<s> words </s> \(fileid\)'"
    ):
        load_real_speech_en(root)
    listing.write_text("<s> ten of clubs </s> (003)\n")
    with pytest.raises(
        DataError, match=r"cards\.transcription:1: its audio '003\.wav' is not a file"
    ):
        load_real_speech_en(root)
    listing.write_text("<s> ten of clubs </s> (001)\n")
    theme = root / "ktuberling" / "sounds" / "en.soundtheme"
    theme.write_text('<language code="en"><sound name="ball" file="../../secret.ogg"/></language>')
    ogg(root / "secret.ogg")
    with pytest.raises(
        DataError, match=r"en\.soundtheme: its audio '\.\./\.\./secret\.ogg' is not"
    ):
        load_real_speech_en(root)


@pytest.mark.skipif(
    not all(p.exists() for p in PACKAGES),
    reason=f"needs `apt-get install -y {' '.join(PACKAGES.values())}`",
)
def test_the_installed_packages(isolated_home):
    found = real_utterances()
    assert {name: len(u) for name, u in found.items()} == {
        "ktuberling": 71, "klettres": 94, "stamps": 65, "pocketsphinx": 10,
    }  # fmt: skip
    transcripts = {t for source in found.values() for _, _, t in source}
    assert {"palm tree", "a frog", "ten of clubs", "th", "z"} <= transcripts
    assert all(t == t.lower() and "." not in t for t in transcripts)
    ds = load_real_speech_en()
    assert len(ds.audio["test"]) == 240 and not ds.names["train"] and not ds.names["validation"]
    minutes = float(ds.audio["test"].lengths.sum()) / 16000 / 60
    assert 5 < minutes < 6  # 5.4 minutes of speech
    assert isinstance(ds.audio["train"], AudioClips) and len(ds.audio["train"]) == 0
