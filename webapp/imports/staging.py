"""Uploaded files waiting between their preview and their commit.

The bytes are kept in the instance folder under a random token, with who uploaded them
and what was asked (kind, provider, replace); a commit checks the file again from there.
"""

import contextlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass

from flask import current_app

#: Staged files older than this are removed when the next file is staged.
MAX_AGE_SECONDS = 24 * 3600
_CHUNK = 1 << 20


class StagedFileMissing(LookupError):
    """The staged file is gone (committed, discarded, expired) or is someone else's."""


class StagedFileNotYours(StagedFileMissing):
    """The staged file was uploaded by another user: it is left alone."""


@dataclass
class StagedFile:
    """An uploaded file kept for its commit."""

    token: str
    file_name: str
    kind: str
    provider_name: str
    replace: bool
    user_id: str

    @property
    def path(self) -> str:
        """Where the bytes are."""
        return os.path.join(_folder(), f"{self.token}.csv")


def _folder() -> str:
    folder = os.path.join(current_app.instance_path, "import-uploads")
    os.makedirs(folder, exist_ok=True)
    return folder


def stage(stream, file_name, kind, provider_name, replace, user_id) -> StagedFile:
    """Copy an uploaded stream to the staging folder, in chunks; returns its record."""
    _remove_expired()
    staged = StagedFile(
        token=secrets.token_urlsafe(16),
        file_name=os.path.basename(file_name or "upload.csv")[:255],
        kind=kind,
        provider_name=provider_name,
        replace=bool(replace),
        user_id=str(user_id),
    )
    with open(staged.path, "wb") as out:
        while chunk := stream.read(_CHUNK):
            out.write(chunk)
    with open(_meta_path(staged.token), "w", encoding="utf-8") as out:
        json.dump(asdict(staged), out)
    return staged


def load(token: str, user_id) -> StagedFile:
    """The staged file of this token, if it belongs to this user."""
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        raise StagedFileMissing("this upload is no longer available; upload the file again")
    try:
        with open(_meta_path(token), encoding="utf-8") as handle:
            staged = StagedFile(**json.load(handle))
    except (OSError, ValueError, TypeError):
        raise StagedFileMissing(
            "this upload is no longer available; upload the file again"
        ) from None
    if staged.user_id != str(user_id):
        raise StagedFileNotYours("this upload is another user's; it was left as it is")
    if not os.path.exists(staged.path):
        raise StagedFileMissing("this upload is no longer available; upload the file again")
    return staged


def discard(staged: StagedFile) -> None:
    """Remove a staged file and its record."""
    for path in (staged.path, _meta_path(staged.token)):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _meta_path(token: str) -> str:
    return os.path.join(_folder(), f"{token}.json")


def _remove_expired() -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    folder = _folder()
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if os.path.getmtime(path) < cutoff:
                os.remove(path)
        except OSError:
            continue
