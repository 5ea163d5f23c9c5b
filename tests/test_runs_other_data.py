"""A trained run evaluated on other data (``sharedspace evaluate RUN tasks.<t>.data.<key>=…``):
tiny speech recognition and keyword-spotting runs trained on tones, evaluated on a test-only set
of the same sentences, louder and off-centre — the trained model with its trained statistics and
tokenizer, its numbers in a file of their own; other overrides, other classes and longer targets
refused in one line."""

import json

import numpy as np
import pytest
import torch

from sharedspace.data import DATASETS, dataset
from sharedspace.data.audio import AudioClips
from sharedspace.data.transcribed_audio import SPLIT_NAMES, TranscribedAudio
from sharedspace.errors import ConfigError
from sharedspace.resolve import load_config
from sharedspace.runs import Run, evaluate_on_other_data, evaluate_run, load_run
from sharedspace.tasks.audio_data import audio_spec
from sharedspace.tasks.transcript_data import Transcripts
from sharedspace.train.evaluation import evaluate
from sharedspace.train.trainer import train
from tests.data.registry_checks import isolate
from tests.tasks.test_transcript_data import SENTENCES, asr_config, load_tones, spoken
from tests.test_cli import run_cli

pytest.importorskip("jiwer", reason="pip install 'sharedspace[audio]'")


def only_test(sentences: list[str], level: float, offset: float) -> TranscribedAudio:
    """``sentences`` spoken in tones at ``level`` of the training tones' and shifted by
    ``offset``, all in the test split (as real_speech_en)."""
    empty = AudioClips.of([])
    clips = AudioClips.of([level * spoken(s) + np.float32(offset) for s in sentences])
    transcripts = {"train": [], "validation": [], "test": list(sentences)}
    names = {s: [f"{i}.wav" for i in range(len(transcripts[s]))] for s in SPLIT_NAMES}
    return TranscribedAudio(
        {"train": empty, "validation": empty, "test": clips}, transcripts, names
    )


def load_loud_tones(data_dir=None) -> TranscribedAudio:
    return only_test(SENTENCES, 1.8, 0.05)


def load_other_tones(data_dir=None) -> TranscribedAudio:
    """Sentences of which one is no training sentence: other classes for keyword spotting."""
    return only_test([*SENTENCES[:-1], "di di"], 1.0, 0.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A speech recognition run (dataset statistics, not per utterance) and a keyword-spotting
    run, each trained a few steps on ``tones`` (their ``TrainResult``s); the toy datasets stay
    registered for the module's tests."""
    out = tmp_path_factory.mktemp("runs")
    asr = {
        "kind": "seq2seq",
        "modality": "audio",
        "output": "text",
        "data": {"source": "tones", "tokenizer": "char", "vocab_size": 16, "max_len": 10},
    }
    words = {"kind": "classification", "modality": "audio", "data": {"source": "tones"}}
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, DATASETS)
        for name, load in (("tones", load_tones), ("loud_tones", load_loud_tones),
                           ("other_tones", load_other_tones)):  # fmt: skip
            dataset(name, kind="audio", splits=TranscribedAudio)(load)
        asr_run = train(load_config(data=asr_config(out, {"asr": asr}, max_steps=3)))
        spotting = asr_config(out, {"words": words}, max_steps=3) | {"name": "words"}
        spotting["model"] |= {"space": {"name": "sus", "hidden": [16], "out_dim": 16}}
        del spotting["model"]["outputs"]
        yield asr_run, train(load_config(data=spotting))


def test_speech_recognition_is_evaluated_on_a_test_only_set_as_trained(runs):
    """The numbers are those of the trained model (the TRAINED level and tokenizer) on the new
    utterances, computed here by hand; the new set's own level would give others."""
    run_dir = runs[0].run_dir
    before = {name: (run_dir / name).read_bytes() for name in ("results.json", "run.json")}
    metrics, written = evaluate_on_other_data(run_dir, ["tasks.asr.data.source=loud_tones"])
    assert written == run_dir / "results-test-loud_tones.json"
    assert json.loads(written.read_text())["test"] == metrics
    assert (run_dir / "results-test-loud_tones.md").read_text().count("| asr |") == len(
        metrics["asr"]
    )
    assert {name: (run_dir / name).read_bytes() for name in before} == before

    run = load_run(run_dir, "latest")
    cap, trained, loud = (
        run.model.caps["audio"],
        audio_spec("tones", None),
        audio_spec("loud_tones", None),
    )
    assert (cap.mean, cap.std) == (trained.mean, trained.std) != (loud.mean, loud.std)
    cfg = Transcripts.Config(tokenizer="char", vocab_size=16, max_len=10)
    state = run.task("asr").data.state  # the trained tokenizer
    data = Transcripts.prepare("loud_tones", cfg, None, 0, "tasks.asr.data", state)
    assert len(data.splits["test"]) == len(SENTENCES)
    task = run.task("asr")
    task.data = data
    by_hand = evaluate(run.model, task, "test", 100, torch.device("cpu"))
    assert metrics["asr"] == pytest.approx(by_hand)
    assert set(metrics["asr"]) >= {"wer", "cer", "token_accuracy"}
    cap.mean, cap.std = loud.mean, loud.std  # the new set's statistics: other numbers
    assert evaluate(run.model, task, "test", 100, torch.device("cpu"))["loss"] != pytest.approx(
        by_hand["loss"]
    )


def test_the_run_a_train_call_holds_is_evaluated_as_its_folder(runs):
    """``Run.of`` (what ``reproduce`` evaluates, its data not rebuilt) gives the numbers and
    the file that the run folder loaded from disk gives."""
    overrides = ["tasks.asr.data.source=loud_tones"]
    from_disk, path = evaluate_on_other_data(runs[0].run_dir, overrides)
    recorded = json.loads(path.read_text())["evaluation"]
    held, written = evaluate_on_other_data(Run.of(runs[0]), overrides)
    assert written == path and held["asr"] == pytest.approx(from_disk["asr"])
    assert json.loads(path.read_text())["evaluation"] == recorded | {
        "weights": str(runs[0].run_dir / "model.safetensors")
    }


def test_the_command_prints_and_writes_the_numbers(capsys, runs):
    status, out, err = run_cli(
        capsys, "evaluate", runs[0].run_dir, "--split", "test", "tasks.asr.data.source=loud_tones"
    )
    assert status == 0, err
    printed, written = out.rsplit("written: ", 1)
    path = runs[0].run_dir / "results-test-loud_tones.json"
    assert (
        written.startswith(f"{path} ")
        and json.loads(printed) == json.loads(path.read_text())["test"]
    )
    assert set(json.loads(printed)) == {"asr"}
    # without overrides: every task on its own data, as before, and no file
    status, out, _ = run_cli(capsys, "evaluate", runs[0].run_dir, "--split", "validation")
    assert status == 0 and set(json.loads(out)) == {"asr"}
    assert not list(runs[0].run_dir.glob("results-validation*"))


def test_a_change_beside_the_source_gets_a_file_of_its_own(runs):
    overrides = ["tasks.asr.data.source=loud_tones", "tasks.asr.data.eval_size=2"]
    metrics, written = evaluate_on_other_data(runs[0].run_dir, overrides)
    assert written.name.startswith("results-test-loud_tones-") and written.suffix == ".json"
    assert written.name != "results-test-loud_tones.json"
    assert json.loads(written.read_text())["evaluation"]["overrides"] == overrides
    full, _ = evaluate_on_other_data(runs[0].run_dir, overrides[:1])
    assert metrics != full  # two utterances of six


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.width=8", r"^override 'model.width=8': evaluation changes data only \("),
        ("train.lr=1", "evaluation changes data only"),
        ("tasks.asr.kind=classification", "evaluation changes data only"),
        ("tasks.nope.data.source=loud_tones", r"the run has no task 'nope' \(its tasks: asr\)"),
        ("tasks.asr.data.max_len=13", r"^tasks.asr.data.max_len: 13 tokens, but the trained "
                                      r"model decodes at most 12 \(model.space.max_len\)$"),
    ],
)  # fmt: skip
def test_anything_but_data_that_fits_is_refused_in_one_line(runs, override, message):
    with pytest.raises(ConfigError, match=message) as caught:
        evaluate_on_other_data(runs[0].run_dir, ["tasks.asr.data.source=loud_tones", override])
    assert "\n" not in str(caught.value)


def test_an_empty_split_of_the_new_data_is_refused(runs):
    with pytest.raises(ConfigError, match="loud_tones has no validation examples"):
        evaluate_on_other_data(runs[0].run_dir, ["tasks.asr.data.source=loud_tones"], "validation")


def test_keyword_spotting_reads_the_same_classes_or_nothing(runs):
    """The same sentences (the test-only set pools them, sorted as in training) are evaluated;
    a set with one other sentence has other classes: refused, not scored against wrong names."""
    words = runs[1].run_dir
    metrics, _ = evaluate_on_other_data(words, ["tasks.words.data.source=loud_tones"])
    assert set(metrics["words"]) >= {"accuracy", "loss"}
    with pytest.raises(
        ConfigError, match=r"^tasks.words.data: other_tones's targets .*another vocabulary$"
    ):
        evaluate_on_other_data(words, ["tasks.words.data.source=other_tones"])
    assert evaluate_run(words, "test")["words"]["accuracy"] >= 0  # its own data: unchanged
