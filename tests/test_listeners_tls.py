"""TCP listeners: TLS with client verification, TLS only, and plain TCP only on request."""
import subprocess
from pathlib import Path

import pytest

from lib.berthd import BerthdError
from lib.ports import free_port


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", cwd=d)


def make_cert(d: Path, ca: str, name: str, ext: str):
    (d / f"{name}.ext").write_text(ext)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
            "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    make_cert(d, "ca", "client", "extendedKeyUsage=clientAuth\n")
    make_cert(d, "otherca", "intruder", "extendedKeyUsage=clientAuth\n")
    return d


def tls_daemon(make_berthd, pki, *flags):
    port = free_port()
    d = make_berthd(hosts=[f"tcp://127.0.0.1:{port}"], mirror=False,
                    args=[*flags, "--tlscert", str(pki / "server.pem"), "--tlskey", str(pki / "server-key.pem")])
    return d, f"tcp://127.0.0.1:{port}"


def docker_tcp(d, url, *tls_args, check=True):
    # docker() always passes -H unix://...; a second -H is refused, so call the CLI directly.
    env = {"DOCKER_CONFIG": str(d.docker_config), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(["docker", "-H", url, *tls_args, "version", "--format", "{{.Server.APIVersion}}"],
                          capture_output=True, text=True, env=env, timeout=60, check=check)


def test_tlsverify_accepts_a_client_of_the_ca(make_berthd, pki):
    d, url = tls_daemon(make_berthd, pki, "--tlsverify", "--tlscacert", str(pki / "ca.pem"))
    out = docker_tcp(d, url, "--tlsverify", "--tlscacert", str(pki / "ca.pem"),
                     "--tlscert", str(pki / "client.pem"), "--tlskey", str(pki / "client-key.pem"))
    assert out.stdout.strip() == "1.50"


def test_tlsverify_refuses_a_client_of_another_ca(make_berthd, pki):
    d, url = tls_daemon(make_berthd, pki, "--tlsverify", "--tlscacert", str(pki / "ca.pem"))
    out = docker_tcp(d, url, "--tlsverify", "--tlscacert", str(pki / "ca.pem"),
                     "--tlscert", str(pki / "intruder.pem"), "--tlskey", str(pki / "intruder-key.pem"),
                     check=False)
    assert out.returncode != 0
    assert "1.50" not in out.stdout
    assert "certificate" in out.stderr.lower() or "tls" in out.stderr.lower(), out.stderr


def test_tlsverify_refuses_a_client_without_certificate(make_berthd, pki):
    d, url = tls_daemon(make_berthd, pki, "--tlsverify", "--tlscacert", str(pki / "ca.pem"))
    out = docker_tcp(d, url, "--tls", "--tlscacert", str(pki / "ca.pem"), check=False)
    assert out.returncode != 0 and "1.50" not in out.stdout


def test_plain_http_to_a_tls_port_gets_nothing(make_berthd, pki):
    d, url = tls_daemon(make_berthd, pki, "--tlsverify", "--tlscacert", str(pki / "ca.pem"))
    out = docker_tcp(d, url, check=False)
    assert out.returncode != 0 and "1.50" not in out.stdout
    assert d.running()


def test_tls_with_verify_off_serves_any_client(make_berthd, pki):
    d, url = tls_daemon(make_berthd, pki, "--tls", "--tlsverify=false")
    out = docker_tcp(d, url, "--tls", "--tlscacert", str(pki / "ca.pem"))
    assert out.stdout.strip() == "1.50"


def test_tls_alone_implies_verify_as_in_dockerd(make_berthd, pki):
    # moby: "if TLSVerify is unset it follows TLS", so --tls alone wants client certificates.
    d, url = tls_daemon(make_berthd, pki, "--tls", "--tlscacert", str(pki / "ca.pem"))
    anonymous = docker_tcp(d, url, "--tls", "--tlscacert", str(pki / "ca.pem"), check=False)
    assert anonymous.returncode != 0
    known = docker_tcp(d, url, "--tlsverify", "--tlscacert", str(pki / "ca.pem"),
                       "--tlscert", str(pki / "client.pem"), "--tlskey", str(pki / "client-key.pem"))
    assert known.stdout.strip() == "1.50"


def test_plain_tcp_is_refused_unless_asked_for(make_berthd):
    port = free_port()
    with pytest.raises(BerthdError) as e:
        make_berthd(hosts=[f"tcp://127.0.0.1:{port}"], mirror=False)
    assert "--tls=false" in str(e.value)
    assert "exited with 1" in str(e.value)


def test_plain_tcp_when_explicit_warns_loudly(make_berthd):
    port = free_port()
    d = make_berthd(hosts=[f"tcp://127.0.0.1:{port}"], mirror=False, args=["--tls=false"])
    out = docker_tcp(d, f"tcp://127.0.0.1:{port}")
    assert out.stdout.strip() == "1.50"
    assert "WITHOUT TLS" in d.log_text()


def test_bad_tls_files_stop_startup_with_a_clear_error(make_berthd, pki, tmp_path):
    port = free_port()
    with pytest.raises(BerthdError) as e:
        make_berthd(hosts=[f"tcp://127.0.0.1:{port}"], mirror=False,
                    args=["--tlsverify", "--tlscacert", str(tmp_path / "missing.pem"),
                          "--tlscert", str(pki / "server.pem"), "--tlskey", str(pki / "server-key.pem")])
    assert "missing.pem" in str(e.value)
