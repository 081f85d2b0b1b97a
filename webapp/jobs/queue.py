"""The job queue: long work queued by a page, claimed and run by `flask jobs work`.

The `jobs` table is the queue; there is no other service. A worker claims one job at a time
(`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional UPDATE on SQLite) under a
lease, runs it in the app's session, and writes its progress, heartbeat and outcome on
connections of their own in short transactions, so a page sees them while the work's own
transaction is still open. A job whose lease ran out (its worker died) is taken again once;
after a second loss it is marked failed. The work stores all of its rows in one transaction,
so a failed or abandoned job has stored nothing.
"""

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from webapp.extensions import db, rollback_quietly
from webapp.models import Job, User, utcnow
from webapp.vocab import JobStatus, Role

log = logging.getLogger(__name__)

#: Claims of one job: the first, and one more after its worker died.
MAX_ATTEMPTS = 2
#: What a job whose worker died twice says.
ABANDONED = (
    "the worker running this job stopped twice before it finished; nothing was stored: "
    "start it again"
)
#: What a job that stopped on an error nobody foresaw says (the log has the traceback).
UNEXPECTED = "the job stopped on an unexpected error; nothing was stored (the log has details)"


class JobFailed(Exception):
    """The work was refused or failed; its message is for the user, and nothing was stored."""


@dataclass(frozen=True)
class Kind:
    """A kind of job: its title, the role that may start and watch it, and its work.

    `run(parameters, user, progress)` does the work and returns the result:
    {"url": where to go next, "summary": one sentence}."""

    name: str
    title: str
    role: Role
    run: Callable[[dict, User | None, Callable], dict]


#: Every kind of job, by name; each area registers its own with `kind`.
KINDS: dict[str, Kind] = {}


def kind(name: str, title: str, role: Role):
    """Register the decorated function as the work of the job kind `name`."""

    def register(run):
        KINDS[name] = Kind(name, title, Role(role), run)
        return run

    return register


def enqueue(kind_name: str, parameters: dict, user) -> Job:
    """Queue a job of `kind_name` for `user` and commit it; a worker picks it up."""
    if kind_name not in KINDS:
        raise KeyError(kind_name)
    job = Job(
        kind=kind_name,
        parameters=parameters,
        status=JobStatus.QUEUED,
        message="Waiting for a worker to start it.",
        created_by_user_id=getattr(user, "user_id", None),
    )
    db.session.add(job)
    db.session.commit()
    return job


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])


def _takeable(now):
    """Queued, or running under a lease that ran out."""
    return (Job.status == JobStatus.QUEUED) | (
        (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now)
    )


def claim(engine=None) -> tuple[uuid.UUID, str] | None:
    """Take the oldest takeable job in a transaction of its own: (job id, claim token), or None.

    A running job whose lease ran out after its last attempt is marked failed first."""
    engine = engine or db.engine
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            update(Job)
            .where(
                Job.status == JobStatus.RUNNING,
                Job.lease_expires_at < now,
                Job.attempts >= MAX_ATTEMPTS,
            )
            .values(status=JobStatus.FAILED, error=ABANDONED, finished_at=now, claim=None)
        )
        query = select(Job.job_id).where(_takeable(now)).order_by(Job.created_at).limit(1)
        if engine.dialect.name == "postgresql":
            # Two workers never wait on each other: each skips the row the other holds.
            query = query.with_for_update(skip_locked=True)
        job_id = conn.execute(query).scalar()
        if job_id is None:
            return None
        token = secrets.token_hex(16)
        # Conditional: on SQLite two workers may have read the same row; one UPDATE wins.
        taken = conn.execute(
            update(Job)
            .where(Job.job_id == job_id, _takeable(now))
            .values(
                status=JobStatus.RUNNING,
                claim=token,
                attempts=Job.attempts + 1,
                started_at=now,
                lease_expires_at=now + _lease(),
                message="Started.",
            )
        ).rowcount
    return (job_id, token) if taken == 1 else None


def _write(engine, job_id, token, **values) -> bool:
    """Update the job while this worker holds its claim, in a short transaction of its own.

    On SQLite the database has one writer: while the work's own transaction writes, the update
    is skipped (False) rather than waited for."""
    statement = (
        update(Job)
        .where(Job.job_id == job_id, Job.claim == token, Job.status == JobStatus.RUNNING)
        .values(**values)
    )
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout = 50")
            try:
                written = conn.execute(statement).rowcount
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA busy_timeout = 5000")
    except OperationalError:
        if not sqlite:
            raise
        return False
    return written == 1


class Progress:
    """The `progress(done, total, message)` callback given to the work: writes at most one
    update every `interval` seconds (and always the last, done == total), with a new lease."""

    def __init__(self, engine, job_id, token, lease: timedelta, interval: float):
        self.engine, self.job_id, self.token = engine, job_id, token
        self.lease, self.interval = lease, interval
        self.last = 0.0
        self.pending = None

    def __call__(self, done: int, total: int, message: str) -> None:
        self.pending = (done, total, message)
        now = time.monotonic()
        if done < total and now - self.last < self.interval:
            return
        self.flush()

    def flush(self) -> None:
        """Write the latest values heard, if any are waiting."""
        if self.pending is None:
            return
        done, total, message = self.pending
        self.last = time.monotonic()
        if _write(
            self.engine,
            self.job_id,
            self.token,
            progress_done=done,
            progress_total=total,
            message=message,
            lease_expires_at=utcnow() + self.lease,
        ):
            self.pending = None


class Heartbeat:
    """Renews the job's lease from a thread while the work runs (a quarter of the lease apart),
    so a long period without progress does not let another worker take the job."""

    def __init__(self, engine, job_id, token, lease: timedelta):
        self.engine, self.job_id, self.token, self.lease = engine, job_id, token, lease
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"job-{job_id}")

    def _beat(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 4):
            try:
                _write(
                    self.engine,
                    self.job_id,
                    self.token,
                    lease_expires_at=utcnow() + self.lease,
                )
            except Exception:  # noqa: BLE001 - a lost beat is retried at the next one
                log.warning("could not renew the lease of job %s", self.job_id)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join()


def _finish(engine, job_id, token, **values) -> None:
    now = utcnow()
    if not _write(engine, job_id, token, finished_at=now, lease_expires_at=None, **values):
        log.warning("job %s was taken by another worker before it finished here", job_id)


def run_one() -> uuid.UUID | None:
    """Claim one job and run it to its end in the app's session; the job's id, or None when
    nothing was waiting. The work's failure is stored on the job, not raised."""
    engine = db.engine
    claimed = claim(engine)
    if claimed is None:
        return None
    job_id, token = claimed
    job = db.session.execute(
        select(Job).where(Job.job_id == job_id).execution_options(populate_existing=True)
    ).scalar_one()
    job_kind = KINDS.get(job.kind)
    lease = _lease()
    progress = Progress(engine, job_id, token, lease, current_app.config["JOB_PROGRESS_SECONDS"])
    parameters, user = dict(job.parameters), job.created_by
    db.session.commit()  # no transaction is held open across the work's own
    with Heartbeat(engine, job_id, token, lease):
        try:
            if job_kind is None:
                raise JobFailed(f"no worker knows the job kind {job.kind!r}")
            result = job_kind.run(parameters, user, progress)
        except JobFailed as error:
            rollback_quietly()
            progress.flush()  # how far it got, which SQLite may not have let it write
            _finish(engine, job_id, token, status=JobStatus.FAILED, error=str(error))
        except Exception:
            rollback_quietly()
            log.exception("job %s (%s) failed", job_id, job.kind)
            progress.flush()
            _finish(engine, job_id, token, status=JobStatus.FAILED, error=UNEXPECTED)
        else:
            progress.flush()
            _finish(
                engine,
                job_id,
                token,
                status=JobStatus.DONE,
                result=result,
                message="Done.",
            )
    return job_id


def work(poll_seconds: float = 1.0, stop: threading.Event | None = None, once: bool = False):
    """Run jobs one after the other until `stop` is set; wait `poll_seconds` when none waits.
    With `once`, return when no job waits."""
    stop = stop or threading.Event()
    while not stop.is_set():
        if run_one() is None:
            if once:
                return
            stop.wait(poll_seconds)
