"""How styledex.ray_engine starts Ray: a local start that times out is tried again, a named cluster is not."""

from __future__ import annotations

import pytest

from styledex.ray_engine import LOCAL_START_ATTEMPTS, RayUnavailable, _init_ray


class FlakyRay:
    """Stands in for the ``ray`` module: ``init`` fails its first ``failures`` calls the way a slow raylet does."""

    def __init__(self, failures: int) -> None:
        self.failures, self.inits, self.shutdowns, self.up = failures, [], 0, False

    def init(self, address: str | None = None, **_: object) -> None:
        self.inits.append(address)
        if len(self.inits) <= self.failures:
            self.up = True  # Ray leaves itself half-initialized after a failed start
            raise Exception("The current node timed out during startup. This could happen because\n of load")
        self.up = True

    def is_initialized(self) -> bool:
        return self.up

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.up = False


def test_a_local_start_that_times_out_once_is_tried_again() -> None:
    ray = FlakyRay(failures=1)
    _init_ray(ray, None)
    assert ray.inits == [None, None]
    assert ray.shutdowns == 1  # the half-started runtime is torn down before the second try
    assert ray.is_initialized()


def test_a_local_start_that_keeps_failing_gives_up_with_one_line() -> None:
    ray = FlakyRay(failures=LOCAL_START_ATTEMPTS)
    with pytest.raises(RayUnavailable) as caught:
        _init_ray(ray, None)
    assert len(ray.inits) == LOCAL_START_ATTEMPTS
    message = str(caught.value)
    assert message.startswith("cannot start or join Ray at a local runtime: The current node timed out")
    assert "\n" not in message


def test_joining_a_named_cluster_is_tried_once() -> None:
    ray = FlakyRay(failures=1)
    with pytest.raises(RayUnavailable, match="cannot start or join Ray at 10.0.0.1:6379"):
        _init_ray(ray, "10.0.0.1:6379")
    assert ray.inits == ["10.0.0.1:6379"]
