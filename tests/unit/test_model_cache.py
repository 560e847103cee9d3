"""The one model cache (styledex.embed.model_cache): one load per key even under a burst of threads, different keys
load in parallel, a failed load is not kept, and the model loaders of styledex.embed share it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from styledex.embed.model_cache import MODELS, ModelCache

WAIT_S = 10.0  # upper bound on any wait below: a broken cache fails the test instead of hanging it


def test_same_key_gives_one_object_and_one_load_from_eight_threads() -> None:
    cache = ModelCache()
    loads: list[int] = []
    start = threading.Barrier(8)

    def load() -> object:
        loads.append(1)
        time.sleep(0.2)  # long enough that every thread asks while the first load is still running
        return object()

    def ask() -> object:
        start.wait(WAIT_S)
        return cache.get_or_load(("model", "cpu"), load)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: ask(), range(8)))
    assert len(loads) == 1
    assert all(r is results[0] for r in results)
    assert cache.get_or_load(("model", "cpu"), load) is results[0] and len(loads) == 1
    assert len(cache) == 1


def test_different_keys_load_independently_and_in_parallel() -> None:
    cache = ModelCache()
    a_started, b_started = threading.Event(), threading.Event()

    def load_a() -> str:
        a_started.set()
        # B's load must be able to start while A's is still running: a single global lock would deadlock here.
        assert b_started.wait(WAIT_S), "the second key waited for the first key's load"
        return "a"

    def load_b() -> str:
        assert a_started.wait(WAIT_S)
        b_started.set()
        return "b"

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(cache.get_or_load, ("model", "a"), load_a)
        b = pool.submit(cache.get_or_load, ("model", "b"), load_b)
        assert (a.result(WAIT_S), b.result(WAIT_S)) == ("a", "b")
    assert cache.get_or_load(("model", "a"), lambda: "other") == "a"
    assert len(cache) == 2


def test_clear_forgets_and_a_failed_load_is_not_cached() -> None:
    cache = ModelCache()
    first = cache.get_or_load("k", object)
    assert cache.get_or_load("k", object) is first
    cache.clear()
    assert len(cache) == 0
    assert cache.get_or_load("k", object) is not first

    def broken() -> object:
        raise ValueError("cannot read weights")

    with pytest.raises(ValueError, match="cannot read weights"):
        cache.get_or_load("bad", broken)
    assert cache.get_or_load("bad", lambda: "loaded on retry") == "loaded on retry"


def test_the_model_loaders_share_the_process_cache() -> None:
    from styledex.embed.cin_net import cin_net
    from styledex.embed.vgg import shared_encoder

    encoder = shared_encoder(["relu2_1", "relu1_1", "relu1_1"], "cpu")
    assert shared_encoder(("relu1_1", "relu2_1"), torch.device("cpu")) is encoder  # same (layers, device)
    assert shared_encoder(["relu1_1"], "cpu") is not encoder
    net = cin_net("cpu")
    assert cin_net(torch.device("cpu")) is net
    MODELS.clear()  # both live in the one process cache: clearing it makes the next call load afresh
    assert shared_encoder(("relu1_1", "relu2_1"), "cpu") is not encoder
    assert cin_net("cpu") is not net
