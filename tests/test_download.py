"""``download_mask_rcnn`` against a real HTTP server on 127.0.0.1 serving a tarball built here (holding the
stand-in weights of ``mask_rcnn_standin``) and the real OpenCV text graph from ../shared."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mask_rcnn_standin as standin
import pytest

from privacy_filter.errors import ModelError, UserError
from privacy_filter.segment.download import (
    COCO_LABELS,
    PART_PREFIX,
    PBTXT_SHA256,
    TARBALL_MEMBER,
    download_mask_rcnn,
    main,
)
from privacy_filter.segment.mask_rcnn import (
    GRAPH_NAME,
    LABELS_NAME,
    WEIGHTS_NAME,
    MaskRCNNSegmenter,
    load_labels,
)

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.skipif(
    not standin.real_pbtxt().is_file(),
    reason=f"real text graph not found at {standin.real_pbtxt()}; set PRIVACY_FILTER_SHARED",
), pytest.mark.required_in_ci]


def make_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """Serves ``routes`` (path -> bytes) over HTTP; anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = Server()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="module")
def standin_weights(tmp_path_factory) -> bytes:
    return (standin.cached_standin_dir(tmp_path_factory) / WEIGHTS_NAME).read_bytes()


@pytest.fixture(scope="module")
def good(server, standin_weights) -> dict[str, str]:
    """URLs of a good tarball and the real text graph."""
    server.routes["/zoo/model.tar.gz"] = make_tarball({TARBALL_MEMBER: standin_weights})
    server.routes["/extra/graph.pbtxt"] = standin.real_pbtxt().read_bytes()
    return {"tarball_url": server.url("/zoo/model.tar.gz"), "pbtxt_url": server.url("/extra/graph.pbtxt")}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())} if folder.exists() else {}


def test_good_files_are_installed_and_load(tmp_path, good, standin_weights, capsys) -> None:
    dest = tmp_path / "new" / "mask-rcnn-coco"  # created, parents too
    download_mask_rcnn(dest, **good)
    assert sorted(p.name for p in dest.iterdir()) == sorted([WEIGHTS_NAME, GRAPH_NAME, LABELS_NAME])
    assert (dest / WEIGHTS_NAME).read_bytes() == standin_weights
    assert hashlib.sha256((dest / GRAPH_NAME).read_bytes()).hexdigest() == PBTXT_SHA256
    assert load_labels(dest / LABELS_NAME) == list(COCO_LABELS)
    assert MaskRCNNSegmenter(dest).person_class_id == 0
    # The progress bar: one self-overwriting line per file, with bytes, percent and speed.
    err = capsys.readouterr().err
    assert err.count("\n") == 2
    last = err.splitlines()[-1].split("\r")[-1]
    assert "model tarball" in last and "100.0%" in last and "MB/s" in last


def test_reinstall_replaces_model_but_keeps_existing_labels(tmp_path, good, standin_weights) -> None:
    (tmp_path / WEIGHTS_NAME).write_bytes(b"old weights")
    (tmp_path / GRAPH_NAME).write_text("old graph")
    (tmp_path / LABELS_NAME).write_text("person\nmy label\n")
    download_mask_rcnn(tmp_path, progress=False, **good)
    assert (tmp_path / WEIGHTS_NAME).read_bytes() == standin_weights
    assert (tmp_path / LABELS_NAME).read_text() == "person\nmy label\n"
    assert not list(tmp_path.glob(PART_PREFIX + "*"))


def test_embedded_labels_are_the_seeds_file() -> None:
    assert list(COCO_LABELS) == load_labels(REPO / "mask-rcnn-coco" / LABELS_NAME)
    assert list(COCO_LABELS) == load_labels(standin.real_pbtxt().parent / LABELS_NAME)


@pytest.fixture(scope="module")
def bad(server, good) -> dict[str, dict[str, str]]:
    """download_mask_rcnn URL arguments for each way a download can be bad."""
    graph = standin.real_pbtxt().read_bytes()
    tarball = server.routes["/zoo/model.tar.gz"]
    server.routes.update({
        "/bad/graph.pbtxt": graph + b"# edited\n",
        "/bad/good.pbtxt": graph,
        "/bad/truncated.tar.gz": tarball[: len(tarball) // 2],
        "/bad/garbage.tar.gz": b"<html>moved</html>" * 100,
        "/bad/other-member.tar.gz": make_tarball({"mask_rcnn_inception_v2_coco_2018_01_28/model.ckpt": b"x"}),
        "/bad/not-a-graph.tar.gz": make_tarball({TARBALL_MEMBER: b"not a graph" * 100}),
        "/bad/good.tar.gz": tarball,
    })
    u = server.url
    return {
        "wrong checksum": {"tarball_url": u("/bad/good.tar.gz"), "pbtxt_url": u("/bad/graph.pbtxt")},
        "pbtxt 404": {"tarball_url": u("/bad/good.tar.gz"), "pbtxt_url": u("/missing.pbtxt")},
        "tarball 404": {"tarball_url": u("/missing.tar.gz"), "pbtxt_url": u("/bad/good.pbtxt")},
        "truncated tarball": {"tarball_url": u("/bad/truncated.tar.gz"), "pbtxt_url": u("/bad/good.pbtxt")},
        "not a tarball": {"tarball_url": u("/bad/garbage.tar.gz"), "pbtxt_url": u("/bad/good.pbtxt")},
        "missing member": {"tarball_url": u("/bad/other-member.tar.gz"), "pbtxt_url": u("/bad/good.pbtxt")},
        "member not a graph": {"tarball_url": u("/bad/not-a-graph.tar.gz"), "pbtxt_url": u("/bad/good.pbtxt")},
        "no server": {"tarball_url": "http://127.0.0.1:9/x.tar.gz", "pbtxt_url": "http://127.0.0.1:9/x.pbtxt"},
    }


EXPECTED = {
    "wrong checksum": (ModelError, "sha256"),
    "pbtxt 404": (UserError, "HTTP 404"),
    "tarball 404": (UserError, "HTTP 404"),
    "truncated tarball": (ModelError, "broken"),
    "not a tarball": (ModelError, "broken"),
    "missing member": (ModelError, "has no " + TARBALL_MEMBER),
    "member not a graph": (ModelError, "does not load"),
    "no server": (UserError, "cannot download"),
}


@pytest.mark.parametrize("case", list(EXPECTED))
@pytest.mark.parametrize("existing", [False, True], ids=["empty", "existing"])
def test_bad_downloads_are_refused_and_leave_nothing(tmp_path, bad, case, existing) -> None:
    if existing:
        (tmp_path / WEIGHTS_NAME).write_bytes(b"the user's weights")
        (tmp_path / GRAPH_NAME).write_text("the user's graph")
    before = snapshot(tmp_path)
    kind, words = EXPECTED[case]
    with pytest.raises(kind, match=words) as error:
        download_mask_rcnn(tmp_path, progress=False, **bad[case])
    assert "\n" not in str(error.value)
    assert snapshot(tmp_path) == before  # no half-written, temporary or labels file; old files intact


def test_failure_removes_the_folder_it_created(tmp_path, bad) -> None:
    dest = tmp_path / "mask-rcnn-coco"
    with pytest.raises(UserError):
        download_mask_rcnn(dest, progress=False, **bad["tarball 404"])
    assert not dest.exists()


def test_main_reports_one_line_and_exit_code(tmp_path, bad, capsys) -> None:
    assert main(tmp_path, progress=False, **bad["tarball 404"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "HTTP 404" in err
