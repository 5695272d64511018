"""The app's tray menu, read and clicked over D-Bus: libayatana-appindicator exports the menu
as com.canonical.dbusmenu on the session bus (what a desktop's tray shows), so a test sees the
same labels and sends the same clicks a user's tray would. Uses gdbus (libglib2.0-bin)."""
from __future__ import annotations

import os
import re
import subprocess
import time

ITEMS = "/org/ayatana/NotificationItem"
MENU = "com.canonical.dbusmenu"


class TrayError(RuntimeError):
    pass


class Tray:
    def __init__(self, bus_address: str, timeout: float = 30):
        self.env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus_address}
        self.dest, self.path = self._find(timeout)

    def _gdbus(self, *args: str, check: bool = True) -> str:
        cp = subprocess.run(["gdbus", *args], capture_output=True, text=True, env=self.env, timeout=30)
        if check and cp.returncode:
            raise TrayError(f"gdbus {' '.join(args)}: {cp.stderr.strip()}")
        return cp.stdout

    def _find(self, timeout: float) -> tuple[str, str]:
        """The bus name and menu object of the app's tray item."""
        deadline = time.monotonic() + timeout
        while True:
            names = re.findall(r"'(:[0-9.]+)'", self._gdbus(
                "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path",
                "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.ListNames"))
            for name in names:
                out = self._gdbus("introspect", "--session", "--dest", name, "--object-path", ITEMS,
                                  check=False)
                # Child nodes only (indented, relative): the item, e.g. tray_icon_tray_app_berth.
                for node in re.findall(r"^\s+node ([^/\s]\S*) \{", out, re.M):
                    return name, f"{ITEMS}/{node}/Menu"
            if time.monotonic() > deadline:
                raise TrayError(f"no tray item on the session bus after {timeout}s (names: {names})")
            time.sleep(0.2)

    def items(self) -> list[tuple[int, str, bool]]:
        """The menu's items: (dbusmenu id, label, enabled); separators left out."""
        out = self._gdbus("call", "--session", "--dest", self.dest, "--object-path", self.path,
                          "--method", f"{MENU}.GetLayout", "--", "0", "-1", "[]")
        found = []
        for item_id, props in re.findall(r"<\((\d+), \{(.*?)\}, @av \[\]\)>", out):
            label = re.search(r"'label': <'((?:[^'\\]|\\.)*)'>", props)
            if not label:
                continue
            enabled = "'enabled': <false>" not in props
            found.append((int(item_id), label.group(1), enabled))
        return found

    def status(self) -> str:
        """The status line (the first item)."""
        items = self.items()
        if not items:
            raise TrayError("the tray menu has no items")
        return items[0][1]

    def wait_status(self, want: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (seen := self.status()) != want:
            if time.monotonic() > deadline:
                raise TrayError(f"tray status is {seen!r}, expected {want!r} within {timeout}s")
            time.sleep(0.1)

    def click(self, label_prefix: str) -> None:
        for item_id, label, enabled in self.items():
            if label.startswith(label_prefix):
                if not enabled:
                    raise TrayError(f"tray item {label!r} is disabled")
                self._gdbus("call", "--session", "--dest", self.dest, "--object-path", self.path,
                            "--method", f"{MENU}.Event", "--", str(item_id), "clicked", "<''>", "0")
                return
        raise TrayError(f"no tray item starting with {label_prefix!r}: {self.items()}")
