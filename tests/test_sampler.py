"""The persona sampler: valid personas of nobody in particular, with the data's spread."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personas.io import PersonaFileError
from personas.sampled import SAMPLED_FILE, SampledPersonas
from personas.sampler import PersonaSampler, nearest_distances
from simulator.core.keyed import exponentials, normals, uniforms
from simulator.core.rng import Streams
from simulator.core.rundir import RunDirError
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import Prepared, simulate
from simulator.population import build_run_personas, run_personas


@pytest.fixture(scope="module")
def real(small_config: RunConfig, prepared: Prepared):  # type: ignore[no-untyped-def]
    config = small_config.model_copy(update={"personas": 10_000, "population": "data"})
    everyone = int(prepared.split.train["user_id"].n_unique())
    people = build_run_personas(config, prepared, Streams(0))
    return people[:everyone], people[everyone:]


def test_beyond_the_data_the_sampler_draws_the_rest(real) -> None:  # type: ignore[no-untyped-def]
    dataset_users, sampled = real
    assert len(dataset_users) + len(sampled) == 10_000
    assert all(p.provenance.source == "dataset" for p in dataset_users)
    assert all(p.provenance.source == "sampler" for p in sampled)
    first = sampled[0].provenance
    assert first.sampler is not None and first.sampler.startswith("gaussian-copula/1")
    assert first.seed is not None and first.split == dataset_users[0].provenance.split
    assert sampled[0].target_user == sampled[0].id  # nobody the target knows


def test_sampled_personas_are_nobody_real(real) -> None:  # type: ignore[no-untyped-def]
    dataset_users, sampled = real
    sampler = PersonaSampler.fit(dataset_users, 5.0)
    r, s = sampler.vectors(dataset_users), sampler.vectors(sampled[:3000])
    between_real = nearest_distances(r, r, same=True)
    to_real = nearest_distances(s, r)
    assert to_real.min() > 0.0
    # No closer to some real person than real people are to each other, bar chance.
    assert (to_real < np.percentile(between_real, 5)).mean() <= 0.05


def test_marginals_follow_the_data(real) -> None:  # type: ignore[no-untyped-def]
    dataset_users, sampled = real
    for trait in ("conformity", "diversity", "patience", "items_per_session"):
        a = np.array([getattr(p.traits, trait) for p in dataset_users])
        b = np.array([getattr(p.traits, trait) for p in sampled])
        assert b.min() >= a.min() - 1e-9 and b.max() <= a.max() + 1e-9
        assert abs(np.median(b) - np.median(a)) <= 0.1 * (a.std() + 1e-9) + 0.02 * abs(np.median(a))


def test_the_seed_keys_the_sample(real) -> None:  # type: ignore[no-untyped-def]
    dataset_users, _ = real
    sampler = PersonaSampler.fit(dataset_users)
    assert sampler.sample(5, 3) == sampler.sample(5, 3)
    assert sampler.sample(5, 3) != sampler.sample(5, 4)
    assert sampler.sample(5, 3)[2:] == sampler.sample(3, 3, start=2)


def test_a_sampled_population_holds_no_dataset_user(small_config, prepared) -> None:  # type: ignore[no-untyped-def]
    config = small_config.model_copy(update={"personas": 7, "population": "sampled"})
    people = build_run_personas(config, prepared, Streams(0))
    assert len(people) == 7 and all(p.provenance.user_id is None for p in people)


def test_too_few_to_fit_is_refused(real) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="at least 3"):
        PersonaSampler.fit(real[0][:2])


@settings(max_examples=50, deadline=None)
@given(
    keys=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=40),
    counter=st.integers(0, 2**40),
)
def test_addressed_draws_do_not_depend_on_the_batch(keys: list[int], counter: int) -> None:
    k = np.array(keys, dtype=np.uint64)
    u = uniforms(k, counter, 5)
    assert ((u >= 0) & (u < 1)).all()
    order = np.arange(len(k))[::-1]
    assert np.array_equal(uniforms(k[order], counter, 5), u[order])
    assert np.array_equal(uniforms(k[:1], counter, 5), u[:1])
    assert (exponentials(k, counter) >= 0).all() and np.isfinite(normals(k, counter)).all()


def test_addressed_draws_look_uniform() -> None:
    u = uniforms(np.arange(20_000, dtype=np.uint64), 1, 2)
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert counts.min() > 1800 and counts.max() < 2200  # chi-square would be ~10 here
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.03


def test_the_table_is_the_personas_and_survives_its_file(real, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dataset_users, _ = real
    sampler = PersonaSampler.fit(dataset_users, 5.0)
    table = sampler.sample_table(40, 7, start=3)
    assert list(table) == sampler.sample(40, 7, start=3)
    assert table.ids() == [p.id for p in table] and table.ids()[0] == "sampled-7-3"
    back = SampledPersonas.read(table.write(tmp_path / "t.parquet"))
    assert list(back) == list(table)


def test_a_bad_table_is_refused_naming_the_field(real, tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = PersonaSampler.fit(real[0], 5.0).sample_table(5, 1)
    table.columns["patience"][2] = 1.5
    path = table.write(tmp_path / "t.parquet")
    with pytest.raises(PersonaFileError, match=r"row 2: patience = 1.5 is outside"):
        SampledPersonas.read(path)
    path.write_bytes(b"not parquet")
    with pytest.raises(PersonaFileError, match="not a sampled-persona table"):
        SampledPersonas.read(path)


def test_readers_refuse_a_sampled_table_changed_after_the_run(small_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = small_config.model_copy(
        update={"personas": 30, "population": "sampled", "days": 1, "calibrate": False}
    )
    simulate(config, tmp_path / "run")
    people = run_personas(tmp_path / "run")
    assert len(people) == 30 and people.real == [] and people.sampled is not None
    columns = {name: values.copy() for name, values in people.sampled.columns.items()}
    columns["conformity"][0] = 0.123
    SampledPersonas(people.sampled.origin, columns).write(tmp_path / "run" / SAMPLED_FILE)
    with pytest.raises(RunDirError, match="changed since the run started"):
        run_personas(tmp_path / "run")
