"""daemon.json, flags, --validate, SIGHUP reload, pid file, socket permissions."""
import grp
import json
import os
import stat
import time

import pytest

from lib.berthd import BerthdError, run_berthd


def validate(tmp_path, text: str, *flags):
    f = tmp_path / "daemon.json"
    f.write_text(text)
    return run_berthd("--validate", "--config-file", str(f), *flags), f


def one_line(s: str) -> str:
    lines = [l for l in s.strip().splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line, got: {s!r}"
    return lines[0]


def test_validate_accepts_a_good_file(tmp_path):
    cp, _ = validate(tmp_path, json.dumps({"debug": True, "registry-mirrors": ["http://127.0.0.1:5000"],
                                           "labels": ["a=b"], "live-restore": True}))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == "configuration OK"


def test_validate_accepts_an_empty_object(tmp_path):
    cp, _ = validate(tmp_path, "{}")
    assert (cp.returncode, cp.stdout.strip()) == (0, "configuration OK")


def test_broken_json_names_the_file_and_line(tmp_path):
    cp, f = validate(tmp_path, '{\n  "debug": true,\n  "labels": ["a=b",]\n}\n')
    assert cp.returncode == 1
    line = one_line(cp.stderr)
    assert str(f) in line and "line 3" in line


def test_unknown_key_is_named(tmp_path):
    cp, f = validate(tmp_path, '{"debug": true, "no-such-option": 1}')
    assert cp.returncode == 1
    line = one_line(cp.stderr)
    assert str(f) in line
    assert "the following directives don't match any configuration option: no-such-option" in line


def test_wrong_type_names_the_key(tmp_path):
    cp, f = validate(tmp_path, '{\n"debug": "yes"\n}')
    assert cp.returncode == 1
    line = one_line(cp.stderr)
    assert str(f) in line and '"debug"' in line


def test_invalid_value_is_explained(tmp_path):
    cp, _ = validate(tmp_path, '{"log-level": "chatty"}')
    assert cp.returncode == 1
    assert "invalid logging level: chatty" in one_line(cp.stderr)


def test_flag_and_file_conflict_lists_both(tmp_path):
    cp, f = validate(tmp_path, '{"debug": false, "labels": ["x=1"]}', "--debug", "--label", "y=2")
    assert cp.returncode == 1
    line = one_line(cp.stderr)
    assert "the following directives are specified both as a flag and in the configuration file" in line
    assert "debug: (from flag: true, from file: false)" in line
    assert "labels" in line


def test_a_missing_explicit_config_file_is_an_error(tmp_path):
    cp = run_berthd("--validate", "--config-file", str(tmp_path / "absent.json"))
    assert cp.returncode == 1 and "absent.json" in cp.stderr


def test_daemon_refuses_to_start_with_a_broken_file(make_berthd):
    with pytest.raises(BerthdError) as e:
        make_berthd(config='{"debug": tru', mirror=False)
    assert "exited with 1" in str(e.value) and "daemon.json" in str(e.value)


def test_recognised_but_unsupported_keys_are_logged_not_ignored(make_berthd):
    d = make_berthd(config={"userns-remap": "default"}, mirror=False)
    assert "userns-remap" in d.log_text()
    assert "not supported" in d.log_text()


def test_help_lists_dockerd_flags():
    cp = run_berthd("--help")
    assert cp.returncode == 0
    for flag in ["--config-file", "--data-root", "--exec-root", "--host", "--tlsverify", "--validate",
                 "--pidfile", "--log-level", "--group", "--live-restore"]:
        assert flag in cp.stdout


def test_socket_is_0660_and_owned_by_the_docker_group_or_root(berthd):
    st = os.stat(berthd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    try:
        want = grp.getgrnam("docker").gr_gid
    except KeyError:
        want = 0
    assert st.st_gid == want


def test_group_flag_sets_the_socket_group(make_berthd):
    g = grp.getgrgid(100) if _has_gid(100) else grp.getgrgid(0)
    d = make_berthd(args=["--group", g.gr_name], mirror=False)
    assert os.stat(d.sock).st_gid == g.gr_gid


def _has_gid(gid):
    try:
        grp.getgrgid(gid)
        return True
    except KeyError:
        return False


def test_unknown_group_is_an_error(make_berthd):
    with pytest.raises(BerthdError) as e:
        make_berthd(args=["--group", "no-such-group-berth"], mirror=False)
    assert "no-such-group-berth" in str(e.value)


def test_pidfile_guards_the_state_and_sigterm_cleans_up(make_berthd):
    d = make_berthd(mirror=False)
    assert int(d.pidfile.read_text()) == d.pid
    twin = make_berthd(mirror=False, start=False)
    twin.argv = lambda: [str(twin.binary), "--data-root", str(twin.data_root), "--exec-root", str(twin.exec_root),
                         "-H", twin.url, "--pidfile", str(d.pidfile), "--config-file", str(twin.config_file)]
    with pytest.raises(BerthdError) as e:
        twin.start()
    assert "pid file found" in str(e.value)
    assert d.stop() == 0
    assert not d.pidfile.exists() and not d.sock.exists()


def test_engine_id_survives_a_restart(make_berthd):
    d = make_berthd(mirror=False)
    first = json.loads(d.api("GET", "/info")[2])["ID"]
    d.restart()
    assert json.loads(d.api("GET", "/info")[2])["ID"] == first


def info(d):
    return json.loads(d.api("GET", "/v1.50/info")[2])


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sighup_reloads_reloadable_keys(make_berthd):
    d = make_berthd(config={"debug": False, "labels": ["tier=a"], "live-restore": False}, mirror=False)
    assert info(d)["Debug"] is False
    d.config_file.write_text(json.dumps({"debug": True, "labels": ["tier=b"], "live-restore": True,
                                         "registry-mirrors": ["http://127.0.0.1:1"]}))
    d.sighup()
    wait_for(lambda: info(d)["Debug"] is True, "debug to turn on")
    i = info(d)
    assert i["Labels"] == ["tier=b"]
    assert i["LiveRestoreEnabled"] is True
    assert i["RegistryConfig"]["Mirrors"] == ["http://127.0.0.1:1/"]
    assert "live-restore" in d.log_text()


def test_sighup_with_a_broken_file_keeps_the_running_config(make_berthd):
    d = make_berthd(config={"labels": ["keep=me"]}, mirror=False)
    d.config_file.write_text('{"labels": ["oops"')
    d.sighup()
    wait_for(lambda: "keeping the running one" in d.log_text(), "the reload error in the log")
    assert info(d)["Labels"] == ["keep=me"]
    assert d.running()


def test_sighup_does_not_apply_keys_that_need_a_restart(make_berthd, tmp_path):
    d = make_berthd(config={}, mirror=False)
    d.config_file.write_text(json.dumps({"storage-driver": "vfs"}))
    d.sighup()
    wait_for(lambda: "needs a daemon restart" in d.log_text(), "the needs-restart warning")
    assert info(d)["Driver"] == "overlay2"


def test_socket_directory_lets_the_group_reach_the_socket(make_berthd, tmp_path):
    # The socket inside the exec root (as with the default /var/run/berth/docker.sock).
    d = make_berthd(mirror=False, start=False)
    sock = d.exec_root / "docker.sock"
    d.hosts = [f"unix://{sock}"]
    d.start()
    mode = stat.S_IMODE(os.stat(d.exec_root).st_mode)
    assert mode & 0o011 == 0o011, oct(mode)  # group and others may traverse
    assert mode & 0o044 == 0, oct(mode)      # but not list
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
