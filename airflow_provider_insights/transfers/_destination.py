"""Where a transfer writes: the destination, checked before a byte is downloaded.

A destination is a URI Airflow's ``ObjectStoragePath`` understands (``s3://``, ``abfs://``,
``file:///``...) or an ``ObjectStoragePath``. Airflow reads ``scheme://conn_id@bucket/key`` as
naming a connection, and falls back to anonymous credentials when that connection does not exist;
a file URL with a host writes under the worker's working directory. Both are refused here, with
every other mistake that can be seen before downloading: an empty destination, an unknown scheme,
a missing bucket or container, a folder where the file should go. Every error names the input.

Nothing here imports Airflow at module level: the operator's module imports this one at DAG parse.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_insights.exceptions import (
    PartnerInsightsConfigError,
    PartnerInsightsError,
    PartnerInsightsValidationError,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: What a destination looks like, for error messages.
DESTINATION_FORMS = (
    "s3://bucket/key.csv",
    "abfs://container/key.csv",
    "file:///absolute/path.csv",
    "any of these ending in / (a folder)",
)
_LOCAL_SCHEMES = ("file", "local")


def asset_uri(destination: str) -> str:
    """The destination URI without the ``conn_id@`` part (an Asset names data, not credentials).

    :param destination: the destination URI.
    """
    parts = urlsplit(destination)
    if not parts.scheme:
        return destination
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_folder(destination: str | ObjectStoragePath) -> bool:
    """Whether the destination names a folder (a URI ending in ``/``) the file is to be named in.

    :param destination: the rendered destination.
    """
    return isinstance(destination, str) and destination.endswith("/")


def check_destination(destination: Any, conn_id: str | None) -> None:
    """Refuse a destination that cannot be right, before the service or the store is asked anything.

    :param destination: the rendered ``destination`` argument.
    :param conn_id: the rendered ``destination_conn_id`` argument.
    :raises PartnerInsightsValidationError: naming ``destination`` or ``destination_conn_id``.
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        if conn_id is not None:
            _check_connection(conn_id, "destination_conn_id")
        else:
            _check_connection(_conn_id_of(destination), "destination")
        return
    text = "" if destination is None else str(destination)
    if not text.strip():
        raise PartnerInsightsValidationError(
            "destination", f"{text!r} is empty (did a template render to nothing?)", allowed=DESTINATION_FORMS
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _LOCAL_SCHEMES or not scheme:
        _check_local_form(text, parts.netloc, parts.path, scheme)
    elif not parts.netloc.rpartition("@")[2]:
        raise PartnerInsightsValidationError(
            "destination", f"{text!r} names no bucket or container", allowed=DESTINATION_FORMS
        )
    in_uri = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    if in_uri is not None and conn_id is not None and in_uri != conn_id:
        raise PartnerInsightsValidationError(
            "destination",
            f"{asset_uri(text)!r} names connection {in_uri!r} before '@' and destination_conn_id is {conn_id!r}; "
            "Airflow would use the one in the URI. Name the connection once (a container@account URL "
            "is read the same way: write abfs://container/path and set destination_conn_id)",
        )
    if in_uri is not None:
        _check_connection(in_uri, "destination")
    else:
        _check_connection(conn_id, "destination_conn_id")


def _check_local_form(text: str, host: str, path: str, scheme: str) -> None:
    if host:
        # file://tmp/x.csv: "tmp" is a host, and Airflow writes tmp/x.csv under the working folder.
        meant = path if host.lower() == "localhost" else f"/{host}{path}"
        raise PartnerInsightsValidationError(
            "destination",
            f"{text!r} has a host ({host!r}): a file URL's path starts after a third slash, so this would "
            "write under the worker's working directory",
            allowed=f"file://{meant}",
        )
    if not os.path.isabs(path if scheme else text):
        raise PartnerInsightsValidationError(
            "destination",
            f"{text!r} is a relative path: it would be written under the worker's working directory",
            allowed="file:///absolute/path",
        )


def _check_connection(conn_id: str | None, field: str) -> None:
    """Refuse a named connection that does not exist (Airflow would go on with no credentials)."""
    if conn_id is None:
        return
    if not conn_id.strip():
        raise PartnerInsightsValidationError(
            field, f"{conn_id!r} is empty (did a template render to nothing?); leave it unset for the default"
        )
    from airflow.sdk import BaseHook

    from airflow_provider_insights._compat import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise PartnerInsightsValidationError(
            field,
            f"connection {conn_id!r} does not exist",
            allowed="an Airflow connection id for the destination's store",
        ) from None


def destination_path(destination: Any, conn_id: str | None, *, file_name: str) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` to write, its filesystem set up (an unknown scheme is refused here).

    :param destination: the rendered destination (checked by :func:`check_destination`).
    :param conn_id: the rendered ``destination_conn_id``.
    :param file_name: the file's name when the destination is a folder.
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath) and conn_id is None:
        path = destination
    else:
        text = f"{destination}{file_name}" if is_folder(destination) else destination
        # conn_id=None is not "no override" on every Airflow: 3.1 replaces the connection a URL names
        # (s3://conn@bucket/...) with None, and the store then goes on with no credentials.
        named = {} if conn_id is None else {"conn_id": conn_id}
        try:
            path = ObjectStoragePath(text, **named)
        except ValueError as err:  # fsspec knows no such protocol
            raise _unknown_scheme(str(destination), err) from None
    try:
        path.fs  # noqa: B018 - sets the filesystem up: the scheme's provider and the connection
    except PartnerInsightsError:
        raise
    except Exception as err:
        from airflow.sdk.io.fs import has_fs

        if not has_fs(path.protocol or "file"):
            raise _unknown_scheme(str(destination), err) from None
        raise _store_error(path, "could not be set up", err) from err
    return path


def _conn_id_of(path: ObjectStoragePath) -> str | None:
    from airflow_provider_insights._compat import storage_conn_id  # imports Airflow: not at DAG parse

    return storage_conn_id(path)


def _unknown_scheme(destination: str, err: BaseException) -> PartnerInsightsValidationError:
    scheme = urlsplit(destination).scheme
    return PartnerInsightsValidationError(
        "destination",
        f"{asset_uri(destination)!r}: no filesystem is registered for scheme {scheme!r} "
        f"({type(err).__name__}); install the Airflow provider that brings it",
        allowed=_registered_schemes(),
    )


def _registered_schemes() -> list[str]:
    try:
        from airflow.sdk.io.fs import _register_filesystems

        return sorted(f"{scheme}://" for scheme in _register_filesystems())
    except Exception:  # a private helper of Airflow's: the list is only a hint
        return []


def _store_error(path: ObjectStoragePath, what: str, err: BaseException) -> PartnerInsightsConfigError:
    # The library's own text stays in the chained error: it may quote a connection string.
    return PartnerInsightsConfigError(
        f"destination {asset_uri(str(path))!r} {what} with destination connection {_conn_id_of(path)!r}: "
        f"{type(err).__name__}; check the destination and its connection"
    )


def existing_object(path: ObjectStoragePath) -> bool:
    """Whether an object is already at ``path``; refuse a missing bucket or a folder there.

    :param path: the destination (from :func:`destination_path`).
    :raises PartnerInsightsValidationError: naming ``destination``.
    :raises PartnerInsightsConfigError: the store could not be asked (credentials, network).
    """
    from fsspec.implementations.local import LocalFileSystem

    fs = path.fs
    uri = asset_uri(str(path))
    try:
        if isinstance(fs, LocalFileSystem):
            _check_local_parent(path.path, uri)
        else:
            _check_bucket(fs, path, uri)
        try:
            kind = fs.info(path.path).get("type")
        except FileNotFoundError:
            return False
    except PartnerInsightsError:
        raise
    except Exception as err:
        raise _store_error(path, "could not be checked", err) from err
    if kind == "directory":
        raise PartnerInsightsValidationError(
            "destination",
            f"{uri!r} is an existing folder; end the destination with '/' to write the file into it",
        )
    return True


def _check_bucket(fs: Any, path: ObjectStoragePath, uri: str) -> None:
    bucket = path.path.split("/", 1)[0]
    if bucket and not fs.exists(bucket):
        raise PartnerInsightsValidationError(
            "destination",
            f"{uri!r}: bucket or container {bucket!r} does not exist, "
            f"or connection {_conn_id_of(path)!r} cannot see it",
        )


def _check_local_parent(target: str, uri: str) -> None:
    folder = Path(target).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise PartnerInsightsValidationError("destination", f"{uri!r}: {str(folder)!r} is a file, not a folder")
