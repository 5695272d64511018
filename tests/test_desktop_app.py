"""The desktop app (src-tauri/) itself: built by the Tauri CLI, started under Xvfb against a
real berthd (DOCKER_HOST), driven over WebDriver (tauri-driver + Debian's WebKitWebDriver).
It must list a container started with the docker CLI, both one running before the window
opened and one started while it is open (the list follows engine events)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop.harness import BUILD_CMD, TauriDriver, Xvfb, app_binary, missing_tools
from desktop.webdriver import Session

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "docs" / "screenshots"


def _require(ok: bool, why: str) -> None:
    # CI (BERTH_REQUIRE_BERTHD=1) builds everything first: a missing piece there is a failure.
    if ok:
        return
    if os.environ.get("BERTH_REQUIRE_BERTHD") == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def desktop_app():
    binary = app_binary()
    _require(binary.exists(), f"no desktop app at {binary} (build it: {BUILD_CMD})")
    missing = missing_tools()
    _require(not missing, f"missing: {', '.join(missing)}")
    return binary


BEFORE = "desktop-before"  # running before the app starts
AFTER = "desktop-after"  # started while the window is open


@pytest.fixture
def containers(berthd):
    berthd.docker("run", "-d", "--name", BEFORE, "busybox", "sleep", "600")
    try:
        yield
    finally:
        berthd.docker("rm", "-f", BEFORE, AFTER, check=False)


@pytest.fixture
def app_session(desktop_app, berthd, containers):
    xvfb = Xvfb().start()
    driver = TauriDriver(xvfb.display, {"DOCKER_HOST": berthd.url})
    session = None
    try:
        driver.start()
        session = Session(driver.url, {
            "browserName": "wry",
            "tauri:options": {
                "application": str(desktop_app),
                "args": ["--daemon-config", str(berthd.config_file),
                         "--daemon-pidfile", str(berthd.pidfile)],
            },
        })
        yield session
    except Exception as e:
        raise AssertionError(f"{e}\n--- tauri-driver and app log ---\n{driver.log_text()}") from e
    finally:
        if session:
            session.quit()
        driver.stop()
        xvfb.stop()


def _row(session: Session, name: str, state: str, timeout: float = 30) -> str:
    return session.wait_for(f'[data-testid="container-row"][data-name="{name}"][data-state="{state}"]',
                            timeout=timeout)


def test_app_lists_running_containers(app_session, berthd):
    # The window opens on the containers view and shows what already runs...
    row = _row(app_session, BEFORE, "running")
    assert "busybox" in app_session.text(row)
    # ...and a container started now appears without a reload (engine events)...
    berthd.docker("run", "-d", "--name", AFTER, "busybox", "sleep", "600")
    row = _row(app_session, AFTER, "running")
    assert "busybox" in app_session.text(row)
    # The page runs inside Tauri (the IPC transport), not a browser tab.
    assert app_session.execute("return typeof window.__TAURI_INTERNALS__ === 'object'")
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = app_session.screenshot_png()
    assert png.startswith(b"\x89PNG"), png[:16]
    (SHOTS / "desktop-containers.png").write_bytes(png)
    # ...and one stopped with the CLI shows as stopped.
    berthd.docker("stop", "-t", "1", BEFORE)
    _row(app_session, BEFORE, "exited")
