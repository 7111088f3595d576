"""Model packages: a model's files and ``keel-model.json``, stored in the object store.

A package is a folder by content: each model file is an object, and the manifest
(``keel-model.json``: flavor, signature, file digests, Python and library versions,
requirements, source run, training data) is an object too, whose digest names the package.
Building a package saves the model, loads it back and predicts on the input example, so a
package that cannot be loaded is never stored.
"""

from __future__ import annotations

import io
import json
import platform
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from keel.errors import IntegrityError, InvalidInput, KeelError, StoreVersionError
from keel.store.objects import ObjectStore, check_digest

from .flavors import Flavor, flavor_for

if TYPE_CHECKING:
    import pandas as pd

    from ._signature import Signature

__all__ = [
    "EXAMPLE_FILE",
    "FORMAT",
    "MANIFEST_FILE",
    "PackageManifest",
    "build_package",
    "read_package",
    "verified_package",
]

MANIFEST_FILE = "keel-model.json"
EXAMPLE_FILE = "keel-input-example.parquet"
"""The first rows of the input example, kept for documentation and export; verified when
the package loads, read only on demand (:attr:`LoadedModel.input_example`)."""
FORMAT = 1
"""Version of the manifest layout; a package from a newer keel is refused, not misread."""
EXAMPLE_ROWS = 5


@dataclass
class PackageManifest:
    """What ``keel-model.json`` records about a packaged model."""

    flavor: str
    signature: dict[str, Any] | None
    files: dict[str, str]
    """File name (relative to the package folder) -> object digest."""
    python: str
    libraries: dict[str, str]
    requirements: list[str]
    source_run: str | None = None
    training_data: list[str] = field(default_factory=list)
    created_at: int = 0
    """Milliseconds since the Unix epoch, in packages from older keels; 0 now: the version
    record holds the time, so that the same model gives the same package (stored once, and
    sent to a keel server once)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model_files(self) -> dict[str, str]:
        """The files the flavor loads (every file but the stored input example)."""
        return {k: v for k, v in self.files.items() if k != EXAMPLE_FILE}

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): equal manifests give equal digests."""
        data = {"format": FORMAT, **asdict(self)}
        return json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, *, digest: str = "?") -> PackageManifest:
        """Read ``keel-model.json``; IntegrityError if it is not a package manifest."""
        try:
            data = json.loads(raw)
            fmt = data.pop("format")
            if fmt > FORMAT:
                raise StoreVersionError(
                    f"Model package {digest} has format {fmt}, newer than this keel reads "
                    f"({FORMAT}). Upgrade keel: pip install -U keelml."
                )
            manifest = cls(**data)
        except KeelError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(
                f"Object {digest} is not a keel model package (no valid {MANIFEST_FILE}): "
                f"{exc}. Check that the digest is a package's, as register_model returns."
            ) from exc
        for name, file_digest in manifest.files.items():
            _check_file_name(name, digest)
            check_digest(file_digest)
        return manifest


def build_package(
    model: Any,
    objects: ObjectStore,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    source_run: str | None = None,
    training_data: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> tuple[str, PackageManifest]:
    """Save ``model`` as a package in ``objects``; return the manifest's digest and itself.

    The signature is inferred from ``input_example`` (a DataFrame, dict of columns, list of
    row dicts or 2-D array) and the model's predictions on it. Without an example no
    signature is recorded and predictions are not checked.

    Raises:
        InvalidInput: no flavor handles the model, the example does not fit the model, or
            the saved model cannot be loaded back.
    """
    chosen = flavor_for(model, flavor)
    frame = _example_frame(model, input_example) if input_example is not None else None
    with tempfile.TemporaryDirectory(prefix="keel-package-") as tmp:
        folder = Path(tmp)
        names = chosen.save(model, folder)
        for name in names:
            _check_file_name(name, "being built")
            if not (folder / name).is_file():
                raise InvalidInput(
                    f"The {chosen.name} flavor listed {name!r} but did not write it. "
                    "Fix the flavor's save() to return the files it wrote."
                )
        signature = _check_round_trip(chosen, folder, frame)
        digests = objects.put_many([folder / name for name in names])
    files = dict(zip(names, digests, strict=True))
    if frame is not None and (example := _example_bytes(frame)) is not None:
        files[EXAMPLE_FILE] = objects.put(example)
    requirements = chosen.requirements()
    manifest = PackageManifest(
        flavor=chosen.name,
        signature=signature.to_dict() if signature is not None else None,
        files=files,
        python=platform.python_version(),
        libraries=_libraries(requirements),
        requirements=[*requirements, _pin("keelml")],
        source_run=source_run,
        training_data=list(training_data),
        extra=dict(extra or {}),
    )
    return objects.put(manifest.to_json()), manifest


def read_package(objects: ObjectStore, digest: str) -> PackageManifest:
    """The manifest of the package ``digest`` (verified against its digest).

    Raises:
        ObjectNotFound: no such object.
        IntegrityError: the object is corrupt or not a package manifest.
    """
    check_digest(digest)
    return PackageManifest.from_json(objects.read_bytes(digest), digest=digest)


def verified_package(objects: ObjectStore, digest: str, name: str) -> PackageManifest:
    """The manifest of package ``digest`` once every file it declares is in ``objects`` and
    matches its digest: what a keel server checks before recording a client's package.

    Raises:
        InvalidInput: the package or one of its files is missing, corrupt, or the object
            is not a package manifest (the request's fault, not the store's).
    """
    from keel.errors import ObjectNotFound

    check_digest(digest)
    try:
        manifest = read_package(objects, digest)
        if not isinstance(manifest.files, dict) or not isinstance(manifest.flavor, str):
            raise IntegrityError(f"Object {digest} is not a keel model package manifest.")
    except ObjectNotFound:
        raise InvalidInput(
            f"Cannot register {name!r}: package {digest} is not in the object store. Push "
            "the package's files and manifest first (client.objects.put_many), then register."
        ) from None
    except (IntegrityError, AttributeError, TypeError) as exc:
        raise InvalidInput(
            f"Cannot register {name!r}: object {digest} is not a valid keel model package "
            f"({str(exc)[:200]}). Register what build_package returned."
        ) from None
    if not _FLAVOR_NAME.match(manifest.flavor):
        raise InvalidInput(
            f"Cannot register {name!r}: package {digest} names the flavor "
            f"{manifest.flavor[:60]!r}; a flavor name is 1 to 50 lowercase letters, digits "
            "or '_', starting with a letter."
        )
    for file_name, file_digest in manifest.files.items():
        try:
            intact = objects.verify(file_digest)
        except ObjectNotFound:
            intact = None
        if not intact:
            problem = "is not in the object store" if intact is None else "is corrupt"
            raise InvalidInput(
                f"Cannot register {name!r}: file {file_name[:100]!r} (object {file_digest}) "
                f"of package {digest} {problem}. Push every file the manifest declares, "
                "then register again. Nothing was recorded."
            )
    return manifest


_FLAVOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def _example_frame(model: Any, example: Any) -> pd.DataFrame:
    """The example as a frame, its columns in the order the model was fitted on."""
    import pandas as pd

    from ._signature import to_frame

    fitted = getattr(model, "feature_names_in_", None)
    fitted = [str(n) for n in fitted] if fitted is not None else None
    frame = to_frame(example, columns=fitted if not isinstance(example, pd.DataFrame) else None)
    if fitted is None or [str(c) for c in frame.columns] == fitted:
        return frame
    given = [str(c) for c in frame.columns]
    missing = [n for n in fitted if n not in given]
    extra = [c for c in given if c not in fitted]
    if missing or extra:
        raise InvalidInput(
            f"The input example's columns differ from those the model was fitted on: "
            f"missing {missing}, unexpected {extra}. Give an example with exactly the "
            "training columns (drop the label)."
        )
    return frame[fitted]


def _check_round_trip(flavor: Flavor, folder: Path, frame: pd.DataFrame | None) -> Signature | None:
    """Load the saved files back and predict on the example: the output gives the signature."""
    from ._signature import enforce, infer_signature

    try:
        loaded = flavor.load(folder, trust=True)  # the caller's own model, just written
    except KeelError:
        raise
    except Exception as exc:  # any library error means the package would be unusable
        raise InvalidInput(
            f"The {flavor.name} flavor saved the model but cannot load it back: {exc}. "
            "Register it with flavor='pyfunc' if it has a predict method."
        ) from exc
    if frame is None:
        return None
    inputs = infer_signature(frame)
    enforced = enforce(inputs, frame, model="the model being registered")
    try:
        output = flavor.predict(loaded, enforced)
    except Exception as exc:  # the model's own error, whatever its type
        raise InvalidInput(
            f"The model cannot predict on its input example: {type(exc).__name__}: {exc}. "
            "Give an example of exactly what the model takes (features only, no label)."
        ) from exc
    return infer_signature(frame, output)


def _example_bytes(frame: pd.DataFrame) -> bytes | None:
    buffer = io.BytesIO()
    try:
        frame.head(EXAMPLE_ROWS).to_parquet(buffer, index=False)
    except (ValueError, TypeError, ImportError, ArithmeticError):
        return None  # e.g. objects Parquet cannot hold: the example is optional
    except Exception as exc:  # pyarrow's own errors (ArrowInvalid is a ValueError, most are)
        if type(exc).__module__.startswith("pyarrow"):
            return None
        raise
    return buffer.getvalue()


def _check_file_name(name: str, package: str) -> None:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or name != str(path):
        raise IntegrityError(
            f"Model package {package} lists the file {name!r}, which is not a plain relative "
            "path inside the package. The package was not written by keel; do not load it."
        )


def _pin(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # packaging only

    try:
        return f"{dist}=={version(dist)}"
    except PackageNotFoundError:
        return dist


def _libraries(requirements: list[str]) -> dict[str, str]:
    libraries = {}
    for requirement in [*requirements, _pin("numpy"), _pin("pandas"), _pin("keelml")]:
        name, sep, pinned = requirement.partition("==")
        if sep:
            libraries[name] = pinned
    return libraries
