"""The check and the import of a large file as background jobs, and the files waiting
between their preview and their commit."""

from webapp.csvio import data_rows as csv_data_rows
from webapp.imports.importing import import_file
from webapp.jobs.queue import JobFailed, kind
from webapp.storage import UploadMissing, UploadStore
from webapp.vocab import Role

#: Files between their preview and their commit.
UPLOADS = UploadStore("import")
IMPORT = "import"
IMPORT_CHECK = "import-check"
#: The kept row count of a checked file: how the commit chooses between now and a job.
ROW_COUNT = "row_count"
#: The kept report of a file checked by a job, which its page shows (`ImportReport.to_json`).
REPORT = "report"
#: Row errors a failed import job names.
ERRORS_SHOWN = 5
_CHUNK = 1 << 20


def kept_file_rows(path: str) -> int:
    """The data rows of a kept file, counted cheaply before it is checked
    (`csvio.data_rows`, read in chunks): at worst a file near the bound is checked by a job."""
    with open(path, "rb") as handle:
        return csv_data_rows(iter(lambda: handle.read(_CHUNK), b""))


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


@kind(IMPORT_CHECK, "Data import check", Role.MANAGER)
def run_import_check(parameters: dict, user, progress) -> dict:
    """Check the creator's kept file as its preview does, storing nothing, and keep the report
    beside the file for its page (`imports.checked`), which offers the commit. A refused file
    ends the job done as well, its link leading to that page: it lists every refused row, as
    the preview in the request does, where a failed job could name only a few. The refused
    file stays kept, without a commit, until it is discarded there or expires."""
    try:
        staged = UPLOADS.load(parameters["token"], getattr(user, "user_id", None))
    except UploadMissing as error:
        raise JobFailed(str(error)) from None
    report = import_staged(staged, user, progress, dry_run=True, with_totals=True)
    UPLOADS.save_part(staged, REPORT, report.to_json())
    if report.ok:
        UPLOADS.save_part(staged, ROW_COUNT, report.row_count)
    return {
        "summary": report.headline(),
        "endpoint": "imports.checked",
        "values": {"token": staged.token},
        "link": f"See the check of {staged.file_name}" + (" and import it" if report.ok else ""),
    }
