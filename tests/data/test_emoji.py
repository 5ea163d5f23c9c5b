"""Noto Color Emoji: emoji-test.txt in its real format, rendering with the real font."""

from pathlib import Path

import pytest

from sharedspace.data import DATASETS
from sharedspace.data.emoji import read_emoji_test
from sharedspace.errors import DataError

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
TEST_FILE = Path("/usr/share/unicode/emoji/emoji-test.txt")
EMOJI_TEST = """# emoji-test.txt
# Version: 15.0

# group: Smileys & Emotion

# subgroup: face-smiling
1F600         ; fully-qualified # 😀 E1.0 grinning face
263A FE0F     ; fully-qualified # ☺️ E0.6 smiling face
263A   ; unqualified # ☺ E0.6 smiling face

# group: People & Body
1F44D         ; fully-qualified # 👍 E0.6 thumbs up
1F44D 1F3FB   ; fully-qualified # 👍🏻 E1.0 thumbs up: light skin tone
1F44D 1F3FF   ; fully-qualified # 👍🏿 E1.0 thumbs up: dark skin tone
1F468 200D 1F469 200D 1F467   ; fully-qualified # 👨‍👩‍👧 E2.0 family: man, woman, girl

# group: Component
1F3FB   ; component # 🏻 E1.0 light skin tone
"""


def emoji_folder(root: Path) -> Path:
    (root / "unicode" / "emoji").mkdir(parents=True)
    (root / "unicode" / "emoji" / "emoji-test.txt").write_text(EMOJI_TEST, encoding="utf-8")
    (root / "noto").mkdir()
    (root / "noto" / "NotoColorEmoji.ttf").symlink_to(FONT)
    return root


def test_emoji_test_file_gives_fully_qualified_emoji_with_names_and_groups(tmp_path):
    path = tmp_path / "emoji-test.txt"
    path.write_text(EMOJI_TEST, encoding="utf-8")
    found = read_emoji_test(path)
    assert [name for _, name, _ in found] == [
        "grinning face",
        "smiling face",
        "thumbs up",
        "thumbs up: light skin tone",
        "thumbs up: dark skin tone",
        "family: man, woman, girl",
    ]
    assert found[1][0] == "263A FE0F" and found[2][2] == "People & Body"
    path.write_text(EMOJI_TEST + "1F600 fully-qualified grinning face\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"emoji-test\.txt:19: expected `CODE POINTS ; status"):
        read_emoji_test(path)


@pytest.mark.skipif(not FONT.exists(), reason="needs `apt-get install -y fonts-noto-color-emoji`")
def test_emoji_render_as_one_glyph_and_skin_tones_share_a_split(tmp_path):
    data = DATASETS.get("noto_emoji").load(emoji_folder(tmp_path))
    where = {c: (s, i) for s, caps in data.captions.items() for i, c in enumerate(caps["en"])}
    assert len(where) == 6 and data.skipped == {}  # the ZWJ family is one glyph
    thumbs = {where[n][0] for n in where if n.startswith("thumbs up")}
    assert len(thumbs) == 1
    split, i = where["grinning face"]
    assert data.groups[split][i] == "Smileys & Emotion"
    assert data.names[split][i] == "U+1F600"
    image = data.images[split][i].float()  # yellow face on white: strong red, weak blue
    assert image[0].mean() > 200 and image[2].mean() < image[0].mean() - 40


@pytest.mark.skipif(
    not (FONT.exists() and TEST_FILE.exists()),
    reason="needs `apt-get install -y fonts-noto-color-emoji unicode-data`",
)
def test_real_noto_emoji(isolated_home):
    data = DATASETS.get("noto_emoji").load(None)
    assert sum(len(v) for v in data.names.values()) == 3655 and data.skipped == {}
    assert len({g for s in data.groups.values() for g in s}) == 9
    assert data.languages == ("en",)
