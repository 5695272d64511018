"""The desktop app (src-tauri/) itself: built by the Tauri CLI, started under Xvfb against a
real berthd (DOCKER_HOST), its webview driven over WebDriver (tauri-driver + Debian's
WebKitWebDriver) and its tray menu read and clicked over D-Bus, as a desktop's tray does.
The window lists containers started with the docker CLI (before it opened and while it is
open: the list follows engine events) and streams a log; the tray follows the engine and
drives it."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from desktop.harness import BUILD_CMD, app_binary, missing_tools, running_app
from desktop.tray import Tray
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
    berthd.docker("run", "-d", "--name", BEFORE, "busybox", "sh", "-c", "echo desktop-log-1; exec sleep 600")
    try:
        yield
    finally:
        berthd.docker("rm", "-f", BEFORE, AFTER, check=False)


@pytest.fixture
def app_session(desktop_app, berthd, containers):
    with running_app(desktop_app, berthd) as (session, _driver):
        yield session


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
    # A log is a stream: opened by the page, forwarded as stream-<id> events.
    row = _row(app_session, BEFORE, "running")
    app_session.click(app_session.find_in(row, '[data-testid="container-logs"]'))
    app_session.wait_for('[data-testid="logs-output"]', text="desktop-log-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = app_session.screenshot_png()
    assert png.startswith(b"\x89PNG"), png[:16]
    (SHOTS / "desktop-containers.png").write_bytes(png)
    # ...and one stopped with the CLI shows as stopped, its log stream ended.
    berthd.docker("stop", "-t", "1", BEFORE)
    _row(app_session, BEFORE, "exited")
    app_session.wait_for('[data-testid="logs-state"][data-state="ended"]')


def test_tray_follows_the_engine_and_drives_it(desktop_app, make_berthd):
    """The tray's menu as a desktop shows it (dbusmenu over D-Bus): Open Dashboard shows the
    window, the status line follows the engine going away and coming back, Settings opens the
    settings view, Stop stops berthd, Quit ends the app."""
    d = make_berthd()
    with running_app(desktop_app, d, args=["--hidden"]) as (session, driver):
        tray = Tray(driver.bus_address)
        tray.wait_status("Engine: Running")
        # Started in the tray only; Open Dashboard shows the window.
        assert session.execute("return document.visibilityState") == "hidden"
        tray.click("Open Dashboard")
        _wait_visible(session)
        labels = [label for _, label, _ in tray.items()]
        for want in ("Start", "Stop", "Restart", "Open Dashboard", "Settings", "Quit"):
            assert any(label.startswith(want) for label in labels), labels
        d.stop()
        tray.wait_status("Engine: Stopped")
        d.start()
        tray.wait_status("Engine: Running")

        tray.click("Settings")
        session.wait_for('[data-testid="settings-form"]')
        assert session.execute("return location.hash") == "#settings"
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "desktop-settings.png").write_bytes(session.screenshot_png())

        tray.click("Stop")  # a native berthd: SIGTERM through its pidfile
        tray.wait_status("Engine: Stopped")
        assert d.proc.wait(30) == 0

        assert driver.app_pids(), "the app is not running before Quit"
        tray.click("Quit")
        driver.wait_app_gone()


def _wait_visible(session: Session, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (state := session.execute("return document.visibilityState")) != "visible":
        assert time.monotonic() < deadline, f"the window stays {state}"
        time.sleep(0.1)


def test_tray_reports_a_failed_action(desktop_app, berthd):
    """Stop with a pidfile that names no process: the status line says Error and why, and the
    engine keeps running."""
    # Short: the menu shows the first 80 characters of a message.
    missing = Path(f"/tmp/nobd-{os.getpid()}.pid")
    assert not missing.exists()
    with running_app(desktop_app, berthd, pidfile=missing) as (_session, driver):
        tray = Tray(driver.bus_address)
        tray.wait_status("Engine: Running")
        tray.click("Stop")
        deadline = time.monotonic() + 30
        while not (status := tray.status()).startswith("Engine: Error"):
            assert time.monotonic() < deadline, f"tray status stays {status!r}"
            time.sleep(0.1)
        assert "berthd is not running" in status and str(missing) in status, status
        assert berthd.running()
        # After an error every action may be retried.
        enabled = {label: on for _, label, on in tray.items()}
        assert enabled["Start"] and enabled["Stop"] and enabled["Restart"], enabled
