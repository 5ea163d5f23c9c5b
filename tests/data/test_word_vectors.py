"""PPMI-SVD word vectors (data/word_vectors.py): counts and PPMI against independent formulas,
shared contexts → close vectors on a generated corpus, names, the cache, and the real corpus."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import sparse

from sharedspace.data import word_vectors as wv
from sharedspace.data.word_vectors import PpmiSvd, WordVectors, trained_vectors
from sharedspace.errors import DataError

ANIMAL_CONTEXTS = ["feed", "pet", "fur", "tail", "purr", "vet", "bowl", "leash"]
VEHICLE_CONTEXTS = ["drive", "fuel", "wheel", "road", "engine", "brake", "garage", "park"]
TINY = PpmiSvd(dim=4, window=2, min_count=2)
ATTRIBUTES = "red green blue striped dotted small large rotated blurred inverted outlined framed"
FASHION_MNIST = "T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag"
CIFAR10 = "airplane automobile bird cat deer dog frog horse ship truck"
OBJECTS = [*FASHION_MNIST.split(), "Ankle boot", *CIFAR10.split()]


def animal_vehicle_text(paragraphs: int = 300, seed: int = 0) -> str:
    """cat and dog each with 5 of the animal contexts, car and bus with the vehicle ones, one
    paragraph per sentence."""
    rng = random.Random(seed)
    lines = []
    for _ in range(paragraphs):
        word = rng.choice(["cat", "dog", "car", "bus"])
        contexts = ANIMAL_CONTEXTS if word in ("cat", "dog") else VEHICLE_CONTEXTS
        sentence = rng.sample(contexts, 5)
        sentence.insert(rng.randrange(6), word)
        lines.append(" ".join(sentence).capitalize() + ".")
    return "\n\n".join(lines) + "\n"


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A generated text_files corpus, with a cache folder of its own."""
    monkeypatch.setenv("SHAREDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "animals_and_vehicles.txt").write_text(animal_vehicle_text())
    return folder


def cosine(vectors: WordVectors, a: str, b: str) -> float:
    return float(vectors.vectors[vectors.index[a]] @ vectors.vectors[vectors.index[b]])


def test_cooccurrences_count_a_symmetric_window_within_documents():
    index = {"a": 0, "b": 1, "c": 2}
    docs = [["a", "b", "rare", "c"], ["c", "a"]]
    one = wv.cooccurrences(docs, index, window=1).toarray()
    # a-b once; b and c are two places apart (rare keeps its place); c-a once, in doc 2 only
    np.testing.assert_array_equal(one, [[0, 1, 1], [1, 0, 0], [1, 0, 0]])
    two = wv.cooccurrences(docs, index, window=2).toarray()
    np.testing.assert_array_equal(two, [[0, 1, 1], [1, 0, 1], [1, 1, 0]])


def test_ppmi_matches_the_formula_with_smoothed_contexts():
    counts = np.array([[0.0, 2, 1], [2, 0, 3], [1, 3, 4]])
    total = counts.sum()
    p_word = counts.sum(1, keepdims=True) / total
    smoothed = counts.sum(0) ** 0.75
    with np.errstate(divide="ignore"):
        pmi = np.log((counts / total) / (p_word * (smoothed / smoothed.sum())))
    expected = np.where(counts > 0, np.maximum(pmi, 0), 0)
    got = wv.ppmi(sparse.csr_matrix(counts), alpha=0.75).toarray()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_shared_contexts_give_a_higher_cosine():
    vectors = wv.train_ppmi_svd(animal_vehicle_text().split("\n\n"), TINY, "generated")
    assert vectors.vectors.shape == (len(vectors.words), 4)
    torch.testing.assert_close(vectors.vectors.norm(dim=1), torch.ones(len(vectors.words)))
    assert cosine(vectors, "cat", "dog") > 0.9
    assert cosine(vectors, "car", "bus") > 0.9
    for animal in ("cat", "dog"):
        for vehicle in ("car", "bus"):
            assert cosine(vectors, animal, vehicle) < 0.3
    assert [word for word, _ in vectors.nearest("cat", 1)] == ["dog"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("striped", ["stripe", "stripes", "strip", "strips"]),
        ("dotted", ["dotte", "dottes", "dott", "dotts", "dot", "dots"]),
        ("carried", ["carrie", "carries", "carri", "carris", "carry", "carrys"]),
        ("sneaker", ["sneakers", "sneakeres"]),
        ("ankles", ["ankle", "ankl"]),
        ("boxes", ["boxe", "box"]),
    ],
)
def test_variants_of_a_missing_word(word, expected):
    assert wv.variants(word) == expected


def test_names_average_their_words_with_variants_and_stand_ins():
    words = ["ankles", "boot", "shirt", "top", "stripe", "sweater"]
    vectors = WordVectors(words, torch.eye(6), "hand-made")
    got = vectors.embed(["Ankle boot", "T-shirt/top", "striped", "Pullover", "boot unknownword"])
    expected = torch.eye(6)[[0, 1, 2, 3, 4, 5, 1]]
    expected = torch.stack(
        [(expected[0] + expected[1]) / 2, (expected[2] + expected[3]) / 2, *expected[4:]]
    )
    torch.testing.assert_close(got, expected)
    assert vectors.resolve("T-shirt/top") == [("shirt", "shirt"), ("top", "top")]  # no T
    assert vectors.embed([]).shape == (0, 6)


def test_an_unknown_name_is_one_line_naming_it_and_the_corpus():
    vectors = WordVectors(["cat"], torch.eye(1), "fortunes (12 documents)")
    with pytest.raises(DataError, match=r"'zorb-quux'.*fortunes \(12 documents\)") as error:
        vectors.embed(["cat", "zorb-quux"])
    assert "\n" not in str(error.value)


def test_word_vectors_of_a_corpus(corpus, monkeypatch):
    monkeypatch.setattr(wv, "CORPORA", ("text_files",))
    got = wv.word_vectors(["cat", "dog", "cat/dog", "Car bus"], dim=4, data_dir=corpus)
    assert got.shape == (4, 4) and got.dtype == torch.float32
    torch.testing.assert_close(got[2], (got[0] + got[1]) / 2)
    monkeypatch.setattr(wv, "trained_vectors", None)  # kept in this process: not even read again
    torch.testing.assert_close(wv.word_vectors(["cat"], dim=4, data_dir=corpus)[0], got[0])
    with pytest.raises(DataError, match=r"'airplane'.*text_files"):
        wv.word_vectors(["airplane"], dim=4, data_dir=corpus)


def test_the_cache_is_reused_and_keyed_by_corpus_and_settings(corpus, monkeypatch):
    first = trained_vectors(TINY, corpus, ("text_files",))
    [cached] = (corpus.parent / "cache" / "word-vectors").iterdir()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    train = wv.train_ppmi_svd
    monkeypatch.setattr(wv, "train_ppmi_svd", no_training)
    second = trained_vectors(TINY, corpus, ("text_files",))
    assert second.words == first.words
    torch.testing.assert_close(second.vectors, first.vectors, rtol=0, atol=0)

    monkeypatch.setattr(wv, "train_ppmi_svd", train)
    trained_vectors(PpmiSvd(dim=3, window=2, min_count=2), corpus, ("text_files",))
    with open(corpus / "animals_and_vehicles.txt", "a") as f:
        f.write("\nA new paragraph about a cat.\n")
    trained_vectors(TINY, corpus, ("text_files",))
    assert len(list(cached.parent.iterdir())) == 3  # one file per corpus × settings


def _planted_non_unit_rows(path: Path) -> None:
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    save_file({"vectors": load_file(path)["vectors"] * 2}, path, metadata)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        lambda path: path.write_bytes(b"\xff" * 64),
        lambda path: path.write_bytes(b""),
        _planted_non_unit_rows,
    ],
    ids=["truncated", "garbage", "empty", "not-unit-rows"],
)
def test_a_damaged_cache_is_trained_again(corpus, monkeypatch, damage):
    first = trained_vectors(TINY, corpus, ("text_files",))
    [cached] = (corpus.parent / "cache" / "word-vectors").iterdir()
    damage(cached)
    calls = []
    train = wv.train_ppmi_svd
    monkeypatch.setattr(wv, "train_ppmi_svd", lambda *a: calls.append(1) or train(*a))
    again = trained_vectors(TINY, corpus, ("text_files",))
    assert calls == [1]
    torch.testing.assert_close(again.vectors, first.vectors)
    trained_vectors(TINY, corpus, ("text_files",))  # the file was replaced by a good one
    assert calls == [1]


@pytest.mark.slow
def test_real_corpus_covers_the_attribute_and_object_names(tmp_path, monkeypatch):
    """Fortunes + gettext's English (8-20 s, trained into an empty cache): every attribute
    and object name has a vector, and the colours are closer to each other than to the objects
    (measured: 0.84 among red/green/blue against 0.19 to the 20 objects)."""
    monkeypatch.setenv("SHAREDSPACE_CACHE_DIR", str(tmp_path))
    try:
        vectors = trained_vectors(PpmiSvd(), None, wv.CORPORA)
    except DataError as e:
        if "no folder holding" not in str(e):
            raise
        pytest.skip(f"needs fortunes (apt-get install fortunes) and gettext: {str(e)[:80]}")
    names = [*ATTRIBUTES.split(), *OBJECTS]
    got = vectors.embed(names)  # no name without a word
    assert got.shape == (32, 64) and torch.isfinite(got).all()
    assert (got.norm(dim=1) > 0.5).all()
    colours = torch.nn.functional.normalize(vectors.embed(["red", "green", "blue"]), dim=1)
    objects = torch.nn.functional.normalize(vectors.embed(OBJECTS), dim=1)
    among = (colours @ colours.T)[~torch.eye(3, dtype=torch.bool)].mean()
    to_objects = (colours @ objects.T).mean()
    assert among > to_objects + 0.3, (float(among), float(to_objects))
    assert {"green", "blue"} & {word for word, _ in vectors.nearest("red", 3)}
