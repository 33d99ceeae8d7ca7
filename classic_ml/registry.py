"""Getting a model back: from the MLflow registry by alias, or from the local copy of the last champion.

The API serves ``models:/<registered_model>@champion``. Each time a champion is loaded (or
promoted by training) its files are copied to ``settings.classic.local_model_dir/champion``,
so a restart while the registry is unreachable still serves the last champion (with a log line
saying so). The sklearn pipeline is loaded directly (not through pyfunc) to keep predictions fast.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sklearn.pipeline import Pipeline

from classic_ml.schema import SCHEMA_FILE, FeatureSchema
from genaiops.settings import Settings

log = logging.getLogger(__name__)

INFO_FILE = "model_info.json"
TRAIN_COMMAND = "run `genaiops train` to train and register one"


class NoModelError(LookupError):
    """The registry answered but holds no version under the alias."""


class RegistryUnavailableError(RuntimeError):
    """The registry could not be asked (server down, database unreadable)."""


@dataclass
class LoadedModel:
    pipeline: Pipeline
    schema: FeatureSchema
    name: str
    version: str
    run_id: str | None
    source: str  # "registry" or "local"
    model_dir: Path


def read_model_dir(model_dir: Path, name: str, version: str, run_id: str | None, source: str) -> LoadedModel:
    """An MLflow sklearn model folder (with its feature schema in extra_files) as a ``LoadedModel``."""
    import mlflow.sklearn

    schema = FeatureSchema.load(model_dir / "extra_files" / SCHEMA_FILE)
    pipeline = mlflow.sklearn.load_model(str(model_dir))
    return LoadedModel(pipeline, schema, name, str(version), run_id, source, model_dir)


def load_registered(settings: Settings, alias: str = "champion", dst: Path | None = None) -> LoadedModel:
    """The version under ``alias``, downloaded to ``dst`` (a temp folder by default)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from genaiops.tracking import mlflow_store

    name = settings.classic.registered_model
    try:
        client = mlflow_store(settings).client
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            raise NoModelError(f"no version of {name!r} has the alias {alias!r}") from exc
        raise RegistryUnavailableError(f"model registry {settings.mlflow.tracking_uri}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store means "unreachable"
        raise RegistryUnavailableError(f"model registry {settings.mlflow.tracking_uri}: {exc}") from exc
    target = Path(dst or tempfile.mkdtemp(prefix="classic-model-"))
    try:
        # the version's own artifact URI: ``models:/`` URIs would resolve against MLflow's global registry URI
        source = client.get_model_version_download_uri(name, version.version)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(target), tracking_uri=settings.mlflow.tracking_uri
        )
    except Exception as exc:  # noqa: BLE001 - artifact store down or files gone
        raise RegistryUnavailableError(f"cannot download {name} v{version.version}: {exc}") from exc
    return read_model_dir(Path(local), name, version.version, version.run_id, "registry")


def local_champion_dir(settings: Settings) -> Path:
    assert settings.classic.local_model_dir is not None
    return Path(settings.classic.local_model_dir) / "champion"


def save_local_copy(settings: Settings, model: LoadedModel) -> Path:
    """Copy ``model``'s folder to the local champion slot (swapped in whole, never half-written)."""
    final = local_champion_dir(settings)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".champion-{time.time_ns()}"
    shutil.copytree(model.model_dir, staging)
    info = {"name": model.name, "version": model.version, "run_id": model.run_id, "saved_at": time.time()}
    (staging / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")
    old = final.parent / f".old-{time.time_ns()}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_local(settings: Settings) -> LoadedModel | None:
    """The local copy of the last champion, or None when there is none (or it is unreadable)."""
    folder = local_champion_dir(settings)
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        return read_model_dir(folder, info["name"], info["version"], info.get("run_id"), "local")
    except Exception:  # noqa: BLE001 - a broken copy is as good as none; say why
        log.exception("the local model copy in %s is unreadable", folder)
        return None


def local_version(settings: Settings) -> str | None:
    info_path = local_champion_dir(settings) / INFO_FILE
    if not info_path.is_file():
        return None
    return str(json.loads(info_path.read_text(encoding="utf-8")).get("version"))


def load_for_serving(settings: Settings) -> LoadedModel | None:
    """The champion from the registry (refreshing the local copy), else the local copy, else None."""
    name = settings.classic.registered_model
    try:
        with tempfile.TemporaryDirectory(prefix="classic-champion-") as tmp:
            model = load_registered(settings, "champion", Path(tmp))
            if local_version(settings) != model.version:
                save_local_copy(settings, model)
            model.model_dir = local_champion_dir(settings)
        log.info("serving %s v%s from the registry", name, model.version)
        return model
    except NoModelError:
        log.warning("no champion of %r in the registry: %s", name, TRAIN_COMMAND)
        return None
    except RegistryUnavailableError as exc:
        local = load_local(settings)
        if local is None:
            log.error("model registry unreachable (%s) and no local copy: no model to serve", exc)
            return None
        log.warning(
            "model registry unreachable (%s): serving the last local model %s v%s from %s",
            exc,
            local.name,
            local.version,
            local.model_dir,
        )
        return local
