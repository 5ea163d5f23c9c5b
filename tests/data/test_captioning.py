"""The issue's captioning set: emoji for train/validation, Tux Paint's stamps as the test set."""

import shutil

import pytest

from sharedspace.data import DATASETS
from tests.data.test_emoji import FONT, TEST_FILE, emoji_folder
from tests.data.test_tuxpaint import REAL, fake_stamps

load = DATASETS.get("captions").load


@pytest.mark.skipif(not FONT.exists(), reason="needs `apt-get install -y fonts-noto-color-emoji`")
def test_emoji_train_and_validate_and_the_stamps_are_the_test_set(tmp_path):
    data = load(fake_stamps(emoji_folder(tmp_path), svg=False))
    assert data.names["test"] == ["animals/mammals/yak.png", "symbols/heart.png"]
    emoji = data.names["train"] + data.names["validation"]
    assert len(emoji) == 6 and all(n.startswith("emoji/U+") for n in emoji)
    assert data.captions["train"]["de"] == [None] * len(data.names["train"])  # English only
    assert data.skipped == {"captions without a picture": 1}


@pytest.mark.skipif(
    not (REAL.is_dir() and FONT.exists() and TEST_FILE.exists() and shutil.which("rsvg-convert")),
    reason="needs `apt-get install -y tuxpaint-stamps-default librsvg2-bin "
    "fonts-noto-color-emoji unicode-data`",
)
def test_real_captions(isolated_home):
    data = load(None)
    sizes = {split: len(names) for split, names in data.names.items()}
    assert sizes["test"] == 950 and sizes["train"] + sizes["validation"] == 3655
    assert 0.07 < sizes["validation"] / 3655 < 0.13
