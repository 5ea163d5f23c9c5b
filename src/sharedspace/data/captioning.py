"""The image-captioning problem of issue 28 (COCO's role in the MultiModel paper), from the
offline sources with human-written captions: Noto Color Emoji with their Unicode names for
training and validation (1 in 10 emoji, by a hash of the name without skin tones, to
validation), and Tux Paint's stamps — photographs and drawings captioned by people — as the test
set, as the issue asks. The test images differ in style from the training ones on purpose: the
set measures transfer to new pictures and phrasing, and is small (950), so report its metrics
with a confidence interval.

Only the stamps have German and French captions, so a task reads English (``language: en``);
openclipart titles and KTuberling's objects are not yet added.
"""

from pathlib import Path

from sharedspace.data.captions import CaptionedImages, gather
from sharedspace.data.datasets import dataset
from sharedspace.data.emoji import emoji_items
from sharedspace.data.parallel import split_of
from sharedspace.data.tuxpaint import stamp_items


@dataset("captions", kind="image", splits=CaptionedImages)
def load_captions(data_dir: Path | None = None) -> CaptionedImages:
    """Emoji (train/validation) and Tux Paint stamps (test) with their captions; about 10 s."""
    emoji, skipped_emoji = emoji_items(data_dir)
    stamps, skipped_stamps = stamp_items(data_dir)
    for item in emoji:
        item.name = f"emoji/{item.name}"
    assigned = [("train" if split_of(e.key) == "train" else "validation", e) for e in emoji]
    return gather([*assigned, *(("test", s) for s in stamps)], skipped_emoji + skipped_stamps)
