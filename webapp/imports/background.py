"""An import of a previewed file as a background job, and the files waiting between their
preview and their commit."""

from webapp.imports.importing import import_file
from webapp.jobs.queue import JobFailed, kind
from webapp.storage import UploadMissing, UploadStore
from webapp.vocab import Role

#: Files between their preview and their commit.
UPLOADS = UploadStore("import")
IMPORT = "import"
#: Row errors a failed import job names.
ERRORS_SHOWN = 5


def import_staged(staged, user, progress=None, **options):
    """Import (or, with dry_run, check) a kept file as its preview asked."""
    return import_file(
        staged.meta["kind"],
        UPLOADS.path(staged),
        staged.meta["provider_name"],
        file_name=staged.file_name,
        user=user,
        replace=staged.meta["replace"],
        progress=progress,
        **options,
    )


def failure_text(report) -> str:
    """Why an import stored nothing, with its first row errors."""
    errors = report.errors.errors[:ERRORS_SHOWN]
    named = "; ".join(f"line {e.line}, {e.column}: {e.reason}" for e in errors)
    return f"{report.headline()}{' (' + named + ')' if named else ''}"


@kind(IMPORT, "Data import", Role.MANAGER)
def run_import(parameters: dict, user, progress) -> dict:
    """Import the creator's previewed file: all its rows or none; the kept file is dropped
    either way, as the page's own import does."""
    try:
        staged = UPLOADS.load(parameters["token"], getattr(user, "user_id", None))
    except UploadMissing as error:
        raise JobFailed(str(error)) from None
    try:
        report = import_staged(staged, user, progress)
    finally:
        UPLOADS.discard(staged.token)
    if not report.ok:
        raise JobFailed(failure_text(report))
    return {
        "summary": report.headline(),
        "endpoint": "imports.payload_detail",
        "values": {"payload_id": str(report.payload_id)},
        "link": f"See {report.file_name} and the rows it brought",
    }
