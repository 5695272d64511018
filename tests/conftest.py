"""Shared fixtures of the end-to-end suites.

test_images   session  {name: BuiltImage(name, path, digest, ref)} built into <repo>/target/test-images
registry      session  Registry seeded with library/busybox:latest, library/httpd:latest, berth-test/httpd:1.0,
                       library/udpecho:latest (answers UDP on 5353)
make_registry function make_registry(auth=None, seed=False, accesslog=False) -> a started Registry, stopped at teardown
berthd        session  one shared Berthd whose docker.io mirror (and insecure registry) is `registry`
make_berthd   function make_berthd(config=None, args=(), hosts=(), env=None, mirror=True, start=True,
                       binary=None, timeout=30) -> Berthd, cleaned up at teardown

Tests that use berthd or make_berthd are marked `berthd` (deselect with -m "not berthd"). They,
and lib.berthd.run_berthd, skip while there is no berthd binary, or fail when BERTH_REQUIRE_BERTHD=1.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from images.build import build_all  # noqa: E402
from lib.berthd import Berthd, require_binary  # noqa: E402
from lib.registry import Registry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = [("busybox", "library/busybox", "latest"), ("httpd", "library/httpd", "latest"),
        ("httpd", "berth-test/httpd", "1.0"), ("udpecho", "library/udpecho", "latest")]
DAEMON_FIXTURES = {"berthd", "make_berthd"}

_active_daemons: list[Berthd] = []  # their logs go into the report of a failing test


def pytest_configure(config):
    # A CI runner's SIGTERM should unwind like Ctrl-C, so fixture teardowns stop the daemons.
    def to_interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, to_interrupt)


def pytest_collection_modifyitems(items):
    for item in items:
        if DAEMON_FIXTURES & set(item.fixturenames) and not item.get_closest_marker("fake_berthd"):
            item.add_marker(pytest.mark.berthd)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed:
        for d in _active_daemons:
            rep.sections.append((f"berthd {d.tmp} stderr (tail)", d.log_text("stderr")[-4000:]))
    return rep


def _mirror_config(registry: Registry) -> dict:
    return {"registry-mirrors": [registry.url], "insecure-registries": [registry.host]}


@pytest.fixture(scope="session")
def test_images():
    return build_all(REPO / "target" / "test-images")


def _seed(reg: Registry, images) -> dict:
    return {f"{repo}:{tag}": reg.push_oci(images[name].path, repo, tag) for name, repo, tag in SEED}


@pytest.fixture(scope="session")
def registry(test_images):
    reg = Registry().start()
    try:
        reg.seeded = _seed(reg, test_images)  # "repo:tag" -> manifest digest
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def make_registry(request):
    made = []

    def make(auth=None, seed=False, accesslog=False) -> Registry:
        reg = Registry(auth=auth, accesslog=accesslog)
        made.append(reg)
        reg.start()
        reg.seeded = _seed(reg, request.getfixturevalue("test_images")) if seed else {}
        return reg

    yield make
    for reg in made:
        reg.stop()


def _daemon(config, **kw) -> Berthd:
    d = Berthd(config=config, **kw)
    _active_daemons.append(d)
    return d


def _dispose(d: Berthd) -> None:
    try:
        d.cleanup()
    finally:
        _active_daemons.remove(d)


@pytest.fixture(scope="session")
def berthd(registry):
    require_binary()
    d = _daemon(_mirror_config(registry))
    try:
        d.start()
        yield d
    finally:
        _dispose(d)


@pytest.fixture
def make_berthd(request):
    made = []

    def make(config=None, args=(), hosts=(), env=None, mirror=True, start=True, binary=None,
             timeout=30, netns=None) -> Berthd:
        require_binary(binary)
        if mirror and not isinstance(config, str):
            config = {**_mirror_config(request.getfixturevalue("registry")), **(config or {})}
        d = _daemon(config, args=args, hosts=hosts, env=env, binary=binary, netns=netns)
        made.append(d)
        return d.start(timeout) if start else d

    yield make
    errors = []
    for d in made:
        try:
            _dispose(d)
        except Exception as e:  # clean up the others before reporting
            errors.append(e)
    if errors:
        raise errors[0]
