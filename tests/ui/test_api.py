"""The review UI's HTTP API with FastAPI's TestClient: opening images (fail-closed decoder,
size limit), protection and regions, the dial and the policy, questions through the query
engine (budget, unreachable backend), saving the bytes ``veil protect`` writes, and errors as
JSON messages, never a stack trace."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from veil.anonymizers.base import create_anonymizer
from veil.protect import protect_image_bytes, with_runtime
from veil.ui.app import create_app
from veil.ui.core import UIConfig, safe_name

from .conftest import HEADERS, QUESTION, gif_animated


def client(tmp_path: Path, **kw: object) -> TestClient:
    return TestClient(create_app(UIConfig(out=str(tmp_path / "out"), **kw)), raise_server_exceptions=False)  # type: ignore[arg-type]


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path) as c:
        yield c


def upload(c: TestClient, data: bytes, name: str = "astronaut.jpg") -> str:
    r = c.post("/api/images", content=data, headers={**HEADERS, "X-Filename": name})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def no_trace(r: object) -> None:
    text = r.text  # type: ignore[attr-defined]
    assert "Traceback" not in text and 'File "' not in text
    assert r.json()["error"]  # type: ignore[attr-defined]


def test_page_and_assets_are_local(ui: TestClient) -> None:
    html = ui.get("/").text
    assert "/static/app.js" in html and "/static/app.css" in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    for name in ("app.js", "app.css"):
        r = ui.get(f"/static/{name}")
        assert r.status_code == 200 and "https://" not in r.text
    assert ui.get("/static/../app.py").status_code == 404
    assert "default-src 'self'" in ui.get("/").headers["content-security-policy"]


def test_review_save_equals_veil_protect(ui: TestClient, photo_jpeg: Path, tmp_path: Path) -> None:
    data = photo_jpeg.read_bytes()
    pid = upload(ui, data)
    r = ui.post("/api/review", json={"id": pid, "anonymizer": "faceblur"}, headers=HEADERS)
    assert r.status_code == 200, r.text
    res = r.json()
    cats = {x["category"] for x in res["regions"]}
    assert "face" in cats and cats & {"name", "phone"}
    face = next(x for x in res["regions"] if x["category"] == "face")
    assert face["hidden"] and face["in_policy"] and face["change"] > 0.03
    assert res["leaks"] >= 1  # faceblur leaves the name / phone lines readable: flagged
    prot = ui.get(f"/api/images/{pid}/protected", params={"anonymizer": "faceblur"})
    assert prot.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(ui.get(f"/api/images/{pid}/original.png").content)).size == (512, 512)

    saved = ui.post("/api/save", json={"id": pid, "anonymizer": "faceblur"}, headers=HEADERS).json()
    out = Path(saved["file"]).read_bytes()
    assert out == prot.content == protect_image_bytes(data, with_runtime(create_anonymizer("faceblur"), "auto"))
    assert b"Veil UI test camera" not in out and b"secret place" not in out
    assert not Image.open(io.BytesIO(out)).getexif()
    record = json.loads(Path(saved["record"]).read_text())
    assert record["anonymizer"].startswith("faceblur") and record["metadata"] == "stripped"
    assert record["reproducible_with_veil_protect"] is True
    assert any(r["category"] == "face" and r["hidden"] for r in record["regions"])
    assert all("text" not in r for r in record["regions"])  # the record does not copy what was read
    assert record["leaks"] and all(not r["hidden"] for r in record["leaks"])


def test_guided_policy_levels_and_policy(ui: TestClient, photo_jpeg: Path, guided_model: Path) -> None:
    pid = upload(ui, photo_jpeg.read_bytes())
    res = ui.post("/api/review", json={"id": pid, "anonymizer": str(guided_model)}, headers=HEADERS).json()
    assert res["kind"] == "guided-policy" and res["reproducible"]
    assert set(res["levels"]) >= {"face", "name", "phone", "public"} and "public" not in res["policy"]
    assert res["levels"]["nudity"] == 6.0 and "nudity" in res["policy"]  # the fixed category: the strongest blur
    assert all(r["level"] is not None for r in res["regions"]) and res["leaks"] == 0
    res2 = ui.post("/api/review", json={"id": pid, "anonymizer": str(guided_model), "policy": ["face"]},
                   headers=HEADERS).json()
    assert res2["policy"] == ["face"] and res2["reproducible"] is False and res2["levels"]["nudity"] == 0.0
    assert {r["in_policy"] for r in res2["regions"] if r["category"] != "face"} == {False}


def test_privacy_dial_changes_film_unet(ui: TestClient, photo_jpeg: Path, film_model: Path) -> None:
    pid = upload(ui, photo_jpeg.read_bytes())
    res = ui.post("/api/review", json={"id": pid, "anonymizer": str(film_model)}, headers=HEADERS).json()
    assert res["kind"] == "conditioned" and res["privacy"] == 0.5
    outs = []
    for p in (0.0, 1.0):
        r = ui.post("/api/review", json={"id": pid, "anonymizer": str(film_model), "privacy": p}, headers=HEADERS)
        assert r.json()["privacy"] == p and ":privacy=" in r.json()["anonymizer"]
        params = {"anonymizer": str(film_model), "privacy": p}
        outs.append(ui.get(f"/api/images/{pid}/protected", params=params).content)
    assert outs[0] != outs[1]
    bad = ui.post("/api/review", json={"id": pid, "anonymizer": str(film_model), "privacy": 3}, headers=HEADERS)
    assert bad.status_code == 400 and "[0, 1]" in bad.json()["error"]


def test_refused_uploads(tmp_path: Path, photo_jpeg: Path) -> None:
    with client(tmp_path, max_upload_bytes=20_000) as c:
        big = c.post("/api/images", content=photo_jpeg.read_bytes(), headers=HEADERS)
        assert big.status_code == 413 and "upload limit" in big.json()["error"]
        for body, word in ((b"", "empty"), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a PNG"),
                           (gif_animated(), "animated"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "")):
            r = c.post("/api/images", content=body, headers={**HEADERS, "X-Filename": "../../etc/x.png"})
            assert r.status_code == 422, r.text
            no_trace(r)
            assert word in r.json()["error"] and "etc/" not in r.json()["error"]
        assert c.post("/api/images", content=b"x").status_code == 403  # no X-Veil-UI header: other sites
    assert safe_name("../../a b.png") == "a_b.png" and safe_name("..") == "upload.png"


def test_errors_are_messages(ui: TestClient, photo_jpeg: Path) -> None:
    pid = upload(ui, photo_jpeg.read_bytes())
    for body, status, word in (
        ({"id": pid, "anonymizer": "nope"}, 400, "unknown anonymizer"),
        ({"id": pid, "anonymizer": "blur:sigma=-3"}, 400, ""),
        ({"id": "missing", "anonymizer": "blur"}, 422, "no open image"),
        ({"id": pid, "anonymizer": "/no/such/model"}, 400, ""),
        ({"id": pid, "anonymizer": "blur", "policy": ["faces"]}, 400, "unknown policy"),
    ):
        r = ui.post("/api/review", json=body, headers=HEADERS)
        assert r.status_code in (status, 422), (body, r.text)
        no_trace(r)
        assert word in r.json()["error"]
    r = ui.post("/api/review", content=b"{not json", headers=HEADERS)
    assert r.status_code == 400 and r.json()["error"] == "the request is not valid JSON"
    r = ui.post("/api/ask", json={"id": pid, "anonymizer": "blur", "question": " "}, headers=HEADERS)
    assert r.status_code == 400 and "question" in r.json()["error"]


def test_ask_protected_and_original_with_budget(tmp_path: Path, photo_jpeg: Path) -> None:
    with client(tmp_path, budget=3, cache=str(tmp_path / "cache.sqlite")) as c:
        pid = upload(c, photo_jpeg.read_bytes())
        body = {"id": pid, "anonymizer": "faceblur", "question": QUESTION}
        r = c.post("/api/ask", json=body, headers=HEADERS).json()
        assert r["protected"]["text"] in ("yes", "no") and r["original"] is None  # original only on request
        assert r["stats"]["queries"] == 1
        r = c.post("/api/ask", json={**body, "send_original": True}, headers=HEADERS).json()
        assert r["original"]["text"] == "yes" and r["stats"] == {**r["stats"], "queries": 2, "cache_hits": 1,
                                                                 "remaining": 1}
        r = c.post("/api/ask", json={**body, "question": "What is this? Answer with exactly one of: a; b.",
                                     "send_original": True}, headers=HEADERS)
        assert r.status_code == 402 and "budget of 3" in r.json()["error"]
        no_trace(r)
        assert c.get("/api/state").json()["stats"]["remaining"] == 0


def test_unreachable_backend(tmp_path: Path, photo_jpeg: Path) -> None:
    with client(tmp_path, backend="openai", base_url="http://127.0.0.1:9/v1", model="m") as c:
        pid = upload(c, photo_jpeg.read_bytes())
        r = c.post("/api/ask", json={"id": pid, "anonymizer": "blur", "question": QUESTION}, headers=HEADERS)
        assert r.status_code == 502, r.text
        no_trace(r)
        assert "127.0.0.1:9" in r.json()["error"]


def test_inputs_opened_at_start(tmp_path: Path, photo_jpeg: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photo_jpeg.read_bytes())
    (folder / "bad.png").write_bytes(b"not a png")
    with client(tmp_path, inputs=(str(folder), str(tmp_path / "missing.jpg"))) as c:
        st = c.get("/api/state").json()
    assert [i["name"] for i in st["images"]] == ["a.jpg"]
    assert len(st["problems"]) == 2 and any("missing.jpg" in p for p in st["problems"])
