"""The image-captioning problem of issue 28 (COCO's role in the MultiModel paper), from the
offline sources with human-written captions. Training and validation: Noto Color Emoji with their
Unicode names, openclipart drawings with their authors' titles, and KTuberling's objects with
their spoken words; 1 in 10 of each source's captions (by a hash of the split key, the rule of
``by_hash``: what hashes to validation or test there goes to validation here) to validation.
Test: Tux Paint's stamps — photographs and drawings captioned by people — as the issue asks. The
test images differ in style from the training ones on purpose: the set measures transfer to new
pictures and phrasing, and is small (950), so report its metrics with a confidence interval
(``tasks.text_scores.bleu_interval``).

Measured with every package installed (``make data-multimodel``), **6,557 pairs**:

| split      | emoji | openclipart | KTuberling | Tux Paint | all   |
|------------|------:|------------:|-----------:|----------:|------:|
| train      | 3,267 |       1,321 |        452 |         — | 5,040 |
| validation |   388 |         136 |         43 |         — |   567 |
| test       |     — |           — |          — |       950 |   950 |

Loading renders about 2,200 SVGs (openclipart, KTuberling's objects on their whole boards, Tux
Paint's SVG stamps): 1–3 minutes on 2 cores. ``skipped`` counts by ``source: reason``.
Only the stamps have German and French captions, so a task reads English (``language: en``).
"""

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sharedspace.data.captions import Captioned, CaptionedImages, gather
from sharedspace.data.datasets import dataset
from sharedspace.data.emoji import emoji_items
from sharedspace.data.ktuberling import object_items
from sharedspace.data.openclipart import clipart_items
from sharedspace.data.parallel import split_of
from sharedspace.data.tuxpaint import stamp_items

# prefix of the names → the reader of a training source
TRAINING_SOURCES: dict[str, Callable[[Path | None], tuple[list[Captioned], Counter]]] = {
    "emoji": emoji_items,
    "openclipart": clipart_items,
    "ktuberling": object_items,
}


@dataset("captions", kind="image", splits=CaptionedImages)
def load_captions(data_dir: Path | None = None) -> CaptionedImages:
    """Emoji, openclipart and KTuberling (train/validation) and Tux Paint stamps (test) with their
    captions; about 2 minutes on 2 cores (rendering openclipart's and KTuberling's SVGs)."""
    assigned, skipped = [], Counter()
    for prefix, read in TRAINING_SOURCES.items():
        items, source_skipped = read(data_dir)
        skipped += Counter({f"{prefix}: {why}": n for why, n in source_skipped.items()})
        for item in items:
            item.name = f"{prefix}/{item.name}"
            assigned.append(("train" if split_of(item.key) == "train" else "validation", item))
    stamps, skipped_stamps = stamp_items(data_dir)
    skipped += Counter({f"tuxpaint: {why}": n for why, n in skipped_stamps.items()})
    return gather([*assigned, *(("test", s) for s in stamps)], skipped)
