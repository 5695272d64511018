"""docker login / push / pull against a registry with htpasswd auth."""
import json

import pytest

USER, PASSWORD = "berth", "s3cret-pw"


@pytest.fixture
def auth_registry(make_registry):
    return make_registry(auth=(USER, PASSWORD))


def login(d, reg, password=PASSWORD, check=True):
    return d.docker("login", "-u", USER, "--password-stdin", reg.host, input=password + "\n", check=check)


def test_login_checks_credentials_against_the_registry(make_berthd, auth_registry):
    d = make_berthd()
    assert "Login Succeeded" in login(d, auth_registry).stdout
    bad = login(d, auth_registry, password="wrong", check=False)
    assert bad.returncode == 1
    assert "401" in bad.stderr or "unauthorized" in bad.stderr.lower()


def test_push_then_pull_back_gives_the_same_image(make_berthd, auth_registry):
    d = make_berthd()
    d.docker("pull", "busybox")
    target = auth_registry.ref("team/busybox", "1")
    d.docker("tag", "busybox", target)
    anonymous = d.docker("push", target, check=False)
    assert anonymous.returncode == 1
    login(d, auth_registry)
    out = d.docker("push", target).stdout
    assert f"The push refers to repository [{auth_registry.host}/team/busybox]" in out
    assert "Pushed" in out
    assert "1: digest: sha256:" in out
    pushed_digest = out.split("1: digest: ")[1].split()[0]
    again = d.docker("push", target).stdout
    assert "Layer already exists" in again
    image_id = json.loads(d.docker("image", "inspect", "busybox").stdout)[0]["Id"]
    # The registry serves exactly what was pushed.
    r = auth_registry.get("/v2/team/busybox/manifests/1",
                          headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == pushed_digest
    assert r.json()["config"]["digest"] == image_id
    d.docker("rmi", "-f", image_id)
    d.docker("pull", target)
    assert json.loads(d.docker("image", "inspect", target).stdout)[0]["Id"] == image_id


def test_pull_from_an_auth_registry_needs_login(make_berthd, auth_registry, test_images):
    auth_registry.push_oci(test_images["busybox"].path, "private/busybox", "1")
    d = make_berthd()
    ref = auth_registry.ref("private/busybox", "1")
    cp = d.docker("pull", ref, check=False)
    assert cp.returncode == 1
    login(d, auth_registry)
    assert "Status: Downloaded newer image" in d.docker("pull", ref).stdout


def test_push_of_a_missing_image_is_explained(berthd, registry):
    cp = berthd.docker("push", registry.ref("nothing/here", "1"), check=False)
    assert cp.returncode == 1
    assert "An image does not exist locally with the tag" in cp.stderr


def test_search_is_clearly_unsupported(berthd):
    cp = berthd.docker("search", "busybox", check=False)
    assert cp.returncode == 1 and "not supported" in cp.stderr

