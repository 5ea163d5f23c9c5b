"""Word vectors trained here, offline, for names of classes and attributes (zero-shot pairs, TFG).

No pretrained vectors exist on these machines, so they are trained from real English text the
project's loaders read: Debian's fortunes (``text.load_fortunes``) and the English messages of the
gettext catalogs (``gettext.load_gettext``, ``sharedspace data download gettext``); fortunes alone
lacks words such as *rotate*, *outline*, *invert* and *stripe*. The method is PPMI + truncated SVD
as tuned by Levy, Goldberg & Dagan (2015), "Improving Distributional Similarity with Lessons
Learned from Word Embeddings" (TACL 3):

- text is lowercased and cut into words (letters with inner apostrophes); the vocabulary is the
  words seen at least ``min_count`` times; a word's contexts are the words at most ``window``
  places before or after it in the same document (a rare word keeps its place but counts for
  nothing);
- positive PMI with context distribution smoothing: ``max(0, log(#(w,c) Z / (#(w) #(c)^α)))``
  with ``Z = Σ_c #(c)^α`` and α = 0.75;
- ``W = U_d Σ_d^p`` of the rank-``dim`` truncated SVD of that matrix (eigenvalue weighting ``p`` =
  0.5 by default; 0 is the other setting the paper recommends), each row L2-normalised.

A name of several words (``ankle boot``, ``T-shirt/top``: split on spaces, slashes and hyphens) is
the mean of its words' vectors (not renormalised); a one-letter piece beside longer ones (the T of
T-shirt) and a word the vocabulary lacks are skipped. A missing word first tries its variants
(``variants``: a plural or singular, a past participle's stem: striped → stripe, dotted → dot) and
then ``STAND_INS`` (pullover → sweater: no text here holds *pullover*); a name with no word left is
a DataError naming it and the corpus.

Trained vectors are cached in ``locate.cache_folder() / "word-vectors"`` as one safetensors file
(the matrix; the vocabulary in its metadata) keyed by the digest of the corpus's documents, ``dim``
and every setting; a cache file that cannot be read or does not hold what this module writes is
trained again and replaced, never trusted.

Measured on fortunes + gettext (Debian 12, 2 busy cores): 55,469 documents, 649,608 words (fortunes
432k, gettext 218k), 14,562 words in the vocabulary at the defaults; a first call takes about 8 s
(3 s reading the corpora, 4 s training), a call in a new process 3-4 s (the corpora are read again
to check their digest), a second call in the same process nothing. Every attribute and object name
of the TFG problems (Fashion-MNIST's and CIFAR-10's classes; red ... framed) has a vector; those
found through a variant or stand-in: striped → stripe, dotted → dot, rotated → rotate, outlined →
outline, framed → frame, trouser → trousers, sneaker → sneakers, ankle → ankles, pullover →
sweater, sandal → shoe. Mean cosine among red, green, blue is 0.84, to the 20 object names 0.19.
"""

import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save
from scipy import sparse
from sklearn.utils.extmath import randomized_svd

from sharedspace.data.datasets import DATASETS, ParallelSplits, TextSplits
from sharedspace.data.locate import cache_folder
from sharedspace.errors import DataError, clip
from sharedspace.files import atomic_write
from sharedspace.untrusted import MiB, loads_json, read_safetensors

CORPORA = ("fortunes", "gettext")  # text datasets whose (English) documents are the corpus
CACHE_VERSION = 1  # bump when the same corpus and settings would give other vectors
FORMAT = "sharedspace.word_vectors"
CACHE_LIMIT = 256 * MiB  # 20k words × 64 floats are 5 MB; the vocabulary rides in the header
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")  # on lowercased text: don't, o'clock; digits dropped
NAME_PIECES = re.compile(r"[\s/\-]+")
# Words that no corpus here holds in any form (nor min_count times), each with a word of the same
# sense to use instead; the names they serve: Fashion-MNIST's Pullover and Sandal
STAND_INS = {"pullover": "sweater", "sandal": "shoe"}


@dataclass(frozen=True)
class PpmiSvd:
    """How the vectors are trained (Levy, Goldberg & Dagan 2015); every field keys the cache."""

    dim: int = 64  # rank of the truncated SVD: the vectors' length
    window: int = 5  # context words on each side (symmetric, unweighted, within a document)
    min_count: int = 3  # a word seen fewer times is not in the vocabulary
    alpha: float = 0.75  # context distribution smoothing: #(c)^α
    power: float = 0.5  # eigenvalue weighting p: W = U Σ^p (0.5 or 0 in the paper)
    seed: int = 0  # randomized SVD's random state


@dataclass
class WordVectors:
    """A vocabulary and its vectors, (V, dim) float32 with unit rows; ``corpus`` says whence."""

    words: list[str]
    vectors: torch.Tensor  # (V, dim)
    corpus: str

    def __post_init__(self) -> None:
        self.index = {word: i for i, word in enumerate(self.words)}

    def find(self, word: str) -> str | None:
        """The vocabulary word that stands for ``word``: itself, a variant, a stand-in, or None."""
        stand_in = STAND_INS.get(word)
        candidates = [word, *variants(word)] + ([stand_in, *variants(stand_in)] if stand_in else [])
        for candidate in candidates:
            if candidate in self.index:
                return candidate
        return None

    def resolve(self, name: str) -> list[tuple[str, str]]:
        """(piece of ``name``, vocabulary word used for it) for each piece that has one."""
        pieces = [p for p in NAME_PIECES.split(name.lower()) if p]
        if any(len(p) > 1 for p in pieces):
            pieces = [p for p in pieces if len(p) > 1]  # the T of T-shirt
        found = [(piece, self.find(piece)) for piece in pieces]
        return [(piece, word) for piece, word in found if word is not None]

    def embed(self, names: Sequence[str]) -> torch.Tensor:
        """(len(names), dim) float32: each name the mean of its words' vectors."""
        rows = []
        for name in names:
            used = self.resolve(name)
            if not used:
                raise DataError(
                    f"word vectors: no word of {clip(name)!r} is in the vocabulary of "
                    f"{self.corpus} (nor a plural, singular or stem of one)"
                )
            rows.append(self.vectors[[self.index[word] for _, word in used]].mean(0))
        return torch.stack(rows) if rows else torch.zeros(0, self.vectors.shape[1])

    def nearest(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` vocabulary words of highest cosine to ``word`` (itself left out)."""
        found = self.find(word)
        if found is None:
            return []
        row = self.index[found]
        cosines = self.vectors @ self.vectors[row]
        top = cosines.topk(min(k + 1, len(self.words))).indices.tolist()
        return [(self.words[i], round(float(cosines[i]), 3)) for i in top if i != row][:k]


def variants(word: str) -> list[str]:
    """Forms that may stand for ``word`` when it is missing, most likely first: a plural or
    singular, and a past participle's stem (rotated → rotate, inverted → invert, dotted → dot,
    carried → carry) and that stem's plural."""
    if word.endswith("ed") and len(word) > 4:
        stems = [word[:-1], word[:-2]]  # rotate(d), invert(ed)
        if word[-3] == word[-4]:
            stems.append(word[:-3])  # dot(ted), blur(red)
        if word.endswith("ied"):
            stems.append(word[:-3] + "y")
        return [form for stem in stems for form in (stem, stem + "s")]
    if word.endswith("es"):
        return [word[:-1], word[:-2]]
    return [word[:-1]] if word.endswith("s") else [word + "s", word + "es"]


def tokenize(text: str) -> list[str]:
    """The words of ``text``, lowercased (letters, with apostrophes inside a word)."""
    return WORD.findall(text.lower())


def train_ppmi_svd(documents: Sequence[str], settings: PpmiSvd, corpus: str = "") -> WordVectors:
    """PPMI + truncated SVD vectors of the words seen ``min_count`` times in ``documents``.

    Counts are sparse (V × V, one entry per co-occurring pair); a window never crosses a
    document's end. Fortunes + gettext (0.65M words, V = 14.6k) train in about 4 s on 2 cores.
    """
    docs = [tokenize(doc) for doc in documents]
    counts = Counter(word for doc in docs for word in doc)
    words = sorted(w for w, n in counts.items() if n >= settings.min_count)
    if len(words) <= settings.dim:
        raise DataError(
            f"word vectors: {corpus or 'the corpus'} has {len(words)} words seen "
            f"{settings.min_count}+ times, too few for {settings.dim} dimensions"
        )
    index = {word: i for i, word in enumerate(words)}
    matrix = ppmi(cooccurrences(docs, index, settings.window), settings.alpha)
    u, s, _ = randomized_svd(matrix, settings.dim, n_iter=5, random_state=settings.seed)
    vectors = u * s**settings.power
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    kept = norms[:, 0] > 1e-6  # a word with no positive context has no direction: left out
    vectors = (vectors / np.maximum(norms, 1e-6))[kept].astype(np.float32)
    kept_words = [word for word, keep in zip(words, kept, strict=True) if keep]
    return WordVectors(kept_words, torch.from_numpy(vectors), corpus)


def cooccurrences(
    docs: Sequence[Sequence[str]], index: dict[str, int], window: int
) -> sparse.csr_matrix:
    """(V, V) counts of word ``index[w]`` with context ``index[c]`` at most ``window`` places
    away in the same document, both directions (symmetric); a word not in ``index`` keeps its
    place and counts for nothing."""
    # all documents in one id stream, ``window`` gaps (-1) between them; a rare word is -1 too
    gap = [-1] * window
    ids = np.array([i for doc in docs for i in (*(index.get(w, -1) for w in doc), *gap)], np.int64)
    rows, cols = [], []
    for offset in range(1, window + 1):
        left, right = ids[:-offset], ids[offset:]
        keep = (left >= 0) & (right >= 0)
        rows += [left[keep], right[keep]]
        cols += [right[keep], left[keep]]
    row, col = np.concatenate(rows), np.concatenate(cols)
    size = len(index)
    counts = sparse.csr_matrix((np.ones(len(row)), (row, col)), shape=(size, size))
    counts.sum_duplicates()
    return counts


def ppmi(pairs: sparse.csr_matrix, alpha: float) -> sparse.csr_matrix:
    """max(0, PMI) of a word × context count matrix, contexts' counts raised to ``alpha``."""
    word_counts = np.asarray(pairs.sum(axis=1)).ravel()
    smoothed = np.asarray(pairs.sum(axis=0)).ravel() ** alpha
    coo = pairs.tocoo()
    pmi = (
        np.log(coo.data)
        + np.log(smoothed.sum())
        - np.log(word_counts[coo.row])
        - np.log(smoothed[coo.col])
    )
    keep = pmi > 0
    shape = pairs.shape
    return sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=shape)


def english_documents(corpus: str, data_dir: Path | None = None) -> list[str]:
    """Every document of text dataset ``corpus``, all splits: a TextSplits' documents, or a
    ParallelSplits' English side."""
    splits = DATASETS.get(corpus).load(data_dir)
    if isinstance(splits, TextSplits):
        return splits.train + splits.validation + splits.test
    if isinstance(splits, ParallelSplits) and "en" in splits.sides:
        return [row["en"] for split in (splits.train, splits.validation, splits.test)
                for row in split if "en" in row]  # fmt: skip
    raise DataError(f"word vectors: {corpus} is not English text (documents or an 'en' side)")


def trained_vectors(
    settings: PpmiSvd, data_dir: Path | None = None, corpora: Sequence[str] = CORPORA
) -> WordVectors:
    """The vectors of ``corpora``'s documents (each dataset read with ``data_dir``): read from the
    cache when it holds these very ones, else trained and cached."""
    documents = [doc for corpus in corpora for doc in english_documents(corpus, data_dir)]
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(hashlib.sha256(doc.encode()).digest())
    corpus = f"{'+'.join(corpora)} ({len(documents):,} documents, sha256 {digest.hexdigest()[:12]})"
    key = hashlib.sha256(
        json.dumps([CACHE_VERSION, digest.hexdigest(), asdict(settings)]).encode()
    ).hexdigest()
    path = cache_folder() / "word-vectors" / f"ppmi-svd-{key[:20]}.safetensors"
    cached = _read_cache(path, key, settings.dim, corpus)
    if cached is not None:
        return cached
    trained = train_ppmi_svd(documents, settings, corpus)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "key": key, "words": json.dumps(trained.words)}
    atomic_write(path, lambda f: f.write(save({"vectors": trained.vectors}, metadata)))
    return trained


def _read_cache(path: Path, key: str, dim: int, corpus: str) -> WordVectors | None:
    """The cached vectors, or None when the file is absent or not exactly what this module writes
    for ``key`` (unreadable, another key, bad shapes, not unit rows, repeated words)."""
    if not path.is_file():
        return None
    try:
        tensors, metadata = read_safetensors(path, CACHE_LIMIT, DataError)
        words = loads_json(metadata.get("words", "null"), path, DataError)
    except DataError:
        return None
    vectors = tensors.get("vectors")
    if (
        metadata.get("format") != FORMAT
        or metadata.get("key") != key
        or not isinstance(words, list)
        or not all(isinstance(w, str) for w in words)
        or len(set(words)) != len(words)
        or vectors is None
        or vectors.dtype != torch.float32
        or vectors.shape != (len(words), dim)
        or not torch.allclose(vectors.norm(dim=1), torch.ones(len(words)), atol=1e-3)
    ):
        return None
    return WordVectors(words, vectors, corpus)


def word_vectors(names: Sequence[str], dim: int = 64, data_dir: Path | None = None) -> torch.Tensor:
    """(len(names), dim) float32 vectors of ``names`` (a name of several words is their mean),
    from PPMI-SVD vectors of fortunes + gettext's English (``CORPORA``), trained once and cached
    on disk; within a process the vectors are kept, so the next call costs no reading at all."""
    return _kept(dim, data_dir, tuple(CORPORA), cache_folder()).embed(names)


@functools.lru_cache(maxsize=8)
def _kept(dim: int, data_dir: Path | None, corpora: tuple[str, ...], cache: Path) -> WordVectors:
    """``trained_vectors`` once per process and arguments (``cache``, the cache folder, keys it
    too: a test pointing ``$SHAREDSPACE_CACHE_DIR`` elsewhere gets its own)."""
    return trained_vectors(PpmiSvd(dim=dim), data_dir, corpora)
