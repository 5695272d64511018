"""docker build (the classic builder, as the docker CLI without buildx uses it) against berthd."""
import json

import pytest


@pytest.fixture(scope="module")
def d(berthd):
    berthd.docker("pull", "busybox")
    return berthd


def _ctx(tmp_path, dockerfile: str, files: dict | None = None):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data)
    return str(tmp_path)


def _containers(d) -> set[str]:
    return set(d.docker("ps", "-aq").stdout.split())


def _images(d, *args: str) -> set[str]:
    return set(d.docker("images", "-q", *args).stdout.split())


def test_a_dockerfile_builds_an_image_that_runs(d, tmp_path):
    before = _containers(d)
    dangling_before, all_before = _images(d, "--filter", "dangling=true"), _images(d, "-a")
    ctx = _ctx(tmp_path, """
FROM busybox
ARG GREETING=hello
ENV APP=/app
WORKDIR $APP
COPY . .
COPY files/a.txt /opt/
RUN echo "$GREETING from $APP" > out.txt && echo built-in-run
LABEL purpose=test
EXPOSE 8080
CMD ["cat", "out.txt"]
""", {"files/a.txt": "a\n", "secret.txt": "no\n", ".dockerignore": "secret.txt\n"})
    cp = d.docker("build", "-t", "built:1", "--build-arg", "GREETING=hi", ctx, timeout=300)
    assert "Step 1/10 : FROM busybox" in cp.stdout, cp.stdout
    assert "built-in-run" in cp.stdout  # the RUN's output is streamed
    assert "Successfully tagged built:1" in cp.stdout, cp.stdout
    try:
        assert d.docker("run", "--rm", "built:1").stdout == "hi from /app\n"
        listing = d.docker("run", "--rm", "built:1", "ls", "-A", "/app").stdout.split()
        assert "Dockerfile" in listing and "files" in listing and "out.txt" in listing
        assert "secret.txt" not in listing  # .dockerignore
        assert d.docker("run", "--rm", "built:1", "cat", "/opt/a.txt").stdout == "a\n"
        cfg = json.loads(d.docker("image", "inspect", "built:1").stdout)[0]["Config"]
        assert cfg["WorkingDir"] == "/app"
        assert "APP=/app" in cfg["Env"]
        assert not any(e.startswith("GREETING=") for e in cfg["Env"])  # build args are not kept
        assert cfg["Labels"]["purpose"] == "test"
        assert "8080/tcp" in cfg["ExposedPorts"]
        assert cfg["Cmd"] == ["cat", "out.txt"]
        history = d.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "built:1").stdout
        assert 'CMD ["cat", "out.txt"]' in history
        assert "echo \"$GREETING from $APP\"" in history
        # No intermediate container is left; the steps' images are hidden without -a.
        assert _containers(d) == before
        assert _images(d, "--filter", "dangling=true") == dangling_before
        assert len(_images(d, "-a") - all_before) == 8  # one per step but FROM and ARG
        # The last tag goes: the image and the steps' images it was built on go with it.
        out = d.docker("rmi", "built:1").stdout
        assert out.startswith("Untagged: built:1\n"), out
        assert out.count("Deleted: sha256:") >= 9, out
        assert _images(d, "-a") == all_before
        d.docker("image", "inspect", "busybox")  # the base stays
    finally:
        d.docker("rmi", "built:1", check=False)


def test_quiet_prints_only_the_id_and_children_keep_their_parent(d, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo quiet > /q\n")
    out = d.docker("build", "-q", ctx, timeout=300).stdout
    image = out.strip()
    assert image.startswith("sha256:") and len(image) == 71, out
    try:
        parent = json.loads(d.docker("image", "inspect", image).stdout)[0]["Parent"]
        assert parent.startswith("sha256:")
        # An image another is built on cannot go by ID (dockerd's rule).
        refused = d.docker("rmi", parent, check=False)
        assert refused.returncode == 1
        assert "image has dependent child images" in refused.stderr, refused.stderr
    finally:
        d.docker("rmi", image, check=False)


def test_stages_build_on_each_other_and_target_stops_early(d, tmp_path):
    ctx = _ctx(tmp_path, """
FROM busybox AS base
RUN echo from-base > /base.txt
FROM base AS final
RUN cat /base.txt > /final.txt
""")
    d.docker("build", "-t", "staged:1", ctx, timeout=300)
    d.docker("build", "-t", "staged:base", "--target", "base", ctx, timeout=300)
    try:
        assert d.docker("run", "--rm", "staged:1", "cat", "/final.txt").stdout == "from-base\n"
        missing = d.docker("run", "--rm", "staged:base", "cat", "/final.txt", check=False)
        assert missing.returncode == 1
    finally:
        d.docker("rmi", "staged:1", "staged:base", check=False)


def test_a_failing_step_stops_the_build_with_dockers_message(d, tmp_path):
    before = _containers(d)
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo before; exit 3\nRUN echo never\n")
    cp = d.docker("build", "-t", "broken:1", ctx, check=False, timeout=300)
    assert cp.returncode == 1
    assert "The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3" in cp.stderr, cp.stderr
    assert "never" not in cp.stdout
    assert d.docker("image", "inspect", "broken:1", check=False).returncode == 1
    assert _containers(d) == before


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nCOPY ../outside /x\n", "forbidden path outside the build context"),
    ("FROM busybox\nCOPY nothing-here /x\n", "file not found in build context"),
    ("FROM busybox\nBOGUS x\n", "unknown instruction: BOGUS"),
    ("FROM busybox\nCOPY --from=other /a /b\n", "COPY --from is not supported by Berth's builder yet"),
])
def test_bad_steps_are_refused_clearly(d, tmp_path, dockerfile, message):
    cp = d.docker("build", _ctx(tmp_path, dockerfile), check=False, timeout=300)
    assert cp.returncode == 1
    assert message in cp.stderr, cp.stderr


def test_docker_py_builds_from_a_directory_and_a_gzipped_context(d, tmp_path):
    import io
    import tarfile
    c = d.client()
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n", {"msg": "from docker-py\n"})
    image, logs = c.images.build(path=ctx, tag="pybuilt:1", rm=True)
    try:
        assert any("Successfully built" in (entry.get("stream") or "") for entry in logs)
        assert c.containers.run("pybuilt:1", remove=True) == b"from docker-py\n"
    finally:
        c.images.remove("pybuilt:1")
    # A gzipped tar as the whole context (what docker-py sends with custom_context and gzip).
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in [("Dockerfile", b"FROM busybox\nRUN echo zipped > /z\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw.seek(0)
    image, _ = c.images.build(fileobj=raw, custom_context=True, encoding="gzip", tag="pyzip:1")
    try:
        assert c.containers.run("pyzip:1", ["cat", "/z"], remove=True) == b"zipped\n"
    finally:
        c.images.remove("pyzip:1")


def test_the_cache_skips_steps_made_before_until_something_changes(d, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nARG V=1\nCOPY app.txt /app.txt\nRUN echo ran-$V && cat /app.txt > /copy\n"
                         "CMD [\"cat\", \"/copy\"]\n", {"app.txt": "one\n"})
    first = d.docker("build", "-t", "cached:1", ctx, timeout=300).stdout
    assert "Using cache" not in first and "ran-1" in first
    try:
        # The steps' images are not dangling: a prune keeps them, and so the cache.
        d.docker("image", "prune", "-f")
        again = d.docker("build", "-t", "cached:1", ctx, timeout=300).stdout
        assert again.count(" ---> Using cache") == 3, again  # COPY, RUN, CMD
        assert "ran-1" not in again  # the RUN did not run
        assert d.docker("build", "-q", ctx, timeout=300).stdout.strip() == \
            d.docker("image", "inspect", "-f", "{{.Id}}", "cached:1").stdout.strip()
        # Another build arg: the RUN runs again (the COPY before it is still cached).
        other = d.docker("build", "--build-arg", "V=2", "-t", "cached:2", ctx, timeout=300).stdout
        assert other.count(" ---> Using cache") == 1 and "ran-2" in other, other
        # Changed file contents: the COPY and what follows run again.
        (tmp_path / "app.txt").write_text("two\n")
        changed = d.docker("build", "-t", "cached:3", ctx, timeout=300).stdout
        assert "Using cache" not in changed and "ran-1" in changed, changed
        assert d.docker("run", "--rm", "cached:3").stdout == "two\n"
        assert d.docker("run", "--rm", "cached:1").stdout == "one\n"
        # --no-cache runs everything.
        fresh = d.docker("build", "--no-cache", "-t", "cached:4", ctx, timeout=300).stdout
        assert "Using cache" not in fresh and "ran-1" in fresh
    finally:
        d.docker("rmi", "cached:1", "cached:2", "cached:3", "cached:4", check=False)


def test_onbuild_triggers_run_in_the_next_build(d, tmp_path):
    base = tmp_path / "base"
    child = tmp_path / "child"
    base.mkdir()
    child.mkdir()
    d.docker("build", "-t", "onbuild-base:1", _ctx(base, "FROM busybox\nONBUILD RUN echo triggered > /t\n"),
             timeout=300)
    try:
        assert d.docker("run", "--rm", "onbuild-base:1", "ls", "/t", check=False).returncode == 1
        out = d.docker("build", "-t", "onbuild-child:1", _ctx(child, "FROM onbuild-base:1\nCMD [\"cat\", \"/t\"]\n"),
                       timeout=300).stdout
        assert "# Executing 1 build trigger" in out, out
        assert d.docker("run", "--rm", "onbuild-child:1").stdout == "triggered\n"
        cfg = json.loads(d.docker("image", "inspect", "onbuild-child:1").stdout)[0]["Config"]
        assert not cfg.get("OnBuild")  # triggers are not inherited
    finally:
        d.docker("rmi", "onbuild-child:1", "onbuild-base:1", check=False)
