"""The issue's captioning set: emoji, openclipart and KTuberling for train/validation, Tux Paint's
stamps as the test set."""

import shutil

import pytest

from sharedspace.data import DATASETS
from tests.data.test_emoji import FONT, TEST_FILE, emoji_folder
from tests.data.test_ktuberling import REAL as KTUBERLING
from tests.data.test_ktuberling import fake_ktuberling
from tests.data.test_openclipart import REAL as OPENCLIPART
from tests.data.test_openclipart import WORDS, fake_clipart
from tests.data.test_tuxpaint import REAL, fake_stamps

load = DATASETS.get("captions").load


@pytest.mark.skipif(
    not (FONT.exists() and shutil.which("rsvg-convert")),
    reason="needs `apt-get install -y fonts-noto-color-emoji librsvg2-bin`",
)
def test_three_sources_train_and_validate_and_the_stamps_are_the_test_set(tmp_path):
    root = fake_ktuberling(fake_clipart(fake_stamps(emoji_folder(tmp_path), svg=False)))
    data = load(root)
    assert data.names["test"] == ["animals/mammals/yak.png", "symbols/heart.png"]
    seen = data.names["train"] + data.names["validation"]
    by_source = {p: sum(n.startswith(f"{p}/") for n in seen) for p in ("emoji", "openclipart",
                                                                        "ktuberling")}  # fmt: skip
    assert by_source == {"emoji": 6, "openclipart": 3, "ktuberling": 5} and len(seen) == 14
    assert data.captions["train"]["de"] == [None] * len(data.names["train"])  # English only
    assert data.skipped["tuxpaint: captions without a picture"] == 1
    assert data.skipped["openclipart: drawings rsvg-convert cannot render"] == 1


@pytest.mark.slow
@pytest.mark.skipif(
    not (REAL.is_dir() and FONT.exists() and TEST_FILE.exists() and shutil.which("rsvg-convert")
         and OPENCLIPART.is_dir() and WORDS.exists() and KTUBERLING.is_dir()),
    reason="needs `apt-get install -y tuxpaint-stamps-default librsvg2-bin "
    "fonts-noto-color-emoji unicode-data openclipart-svg wamerican ktuberling-data`",
)  # fmt: skip
def test_real_captions(isolated_home):
    data = load(None)
    sizes = {split: len(names) for split, names in data.names.items()}
    assert sizes == {"train": 5040, "validation": 567, "test": 950}  # 3,655 + 1,457 + 495 seen
