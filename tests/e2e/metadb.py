"""What the metadata database says, read with plain SQL (psycopg2), as an operator would check it.

The REST API does not show which triggerer holds a trigger, nor a task's process id: these are read
here. The secret scan reads every row of every table as text, plus the trigger kwargs decrypted with
the deployment's Fernet key where Airflow stored them encrypted (a raw scan of ciphertext would prove
nothing about what the triggerer is handed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg2
from cryptography.fernet import Fernet


@dataclass(frozen=True)
class DeferredTask:
    """A deferred task instance and the trigger it waits on.

    :param state: the task instance's state.
    :param trigger_id: its trigger.
    :param classpath: the trigger's class.
    :param triggerer_id: the job holding the trigger, or ``None`` while unassigned.
    :param triggerer_state: that job's state.
    :param triggerer_hostname: that job's host.
    :param heartbeat_age_s: seconds since that job's last heartbeat.
    """

    state: str | None
    trigger_id: int | None
    classpath: str | None
    triggerer_id: int | None
    triggerer_state: str | None
    triggerer_hostname: str | None
    heartbeat_age_s: float | None


class MetadataDB:
    """Read-only queries on the deployment's metadata database.

    :param dsn: a libpq connection string or URL (``postgresql://...``).
    :param fernet_key: the deployment's ``[core] fernet_key``.
    """

    def __init__(self, dsn: str, fernet_key: str) -> None:
        self.dsn = dsn
        self.fernet = Fernet(fernet_key.encode())

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one query in its own connection (autocommit: every read sees the latest state).

        :param sql: the query.
        :param params: its parameters.
        """
        connection = psycopg2.connect(self.dsn)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def deferred_task(self, dag_id: str, run_id: str, task_id: str) -> DeferredTask | None:
        """The task instance, its trigger and the triggerer job holding it.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        found = self.rows(
            """
            SELECT ti.state, ti.trigger_id, tr.classpath, tr.triggerer_id, job.state, job.hostname,
                   EXTRACT(EPOCH FROM (now() - job.latest_heartbeat))
            FROM task_instance ti
            LEFT JOIN trigger tr ON tr.id = ti.trigger_id
            LEFT JOIN job ON job.id = tr.triggerer_id AND job.job_type = 'TriggererJob'
            WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s AND ti.map_index = -1
            """,
            dag_id,
            run_id,
            task_id,
        )
        if not found:
            return None
        state, trigger_id, classpath, triggerer_id, job_state, hostname, age = found[0]
        return DeferredTask(
            state, trigger_id, classpath, triggerer_id, job_state, hostname, None if age is None else float(age)
        )

    def task_process(self, dag_id: str, run_id: str, task_id: str) -> tuple[str | None, int | None, int]:
        """``(state, pid, try_number)`` of a task instance.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        found = self.rows(
            "SELECT state, pid, try_number FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = -1",
            dag_id,
            run_id,
            task_id,
        )
        return found[0] if found else (None, None, 0)

    def everything_as_text(self) -> dict[str, str]:
        """Every table's rows as text, and the decrypted trigger kwargs under ``trigger (decrypted kwargs)``."""
        tables = [
            row[0]
            for row in self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE'"
            )
        ]
        dump = {
            table: "\n".join(str(row[0]) for row in self.rows(f'SELECT CAST(t AS text) FROM "{table}" t'))
            for table in tables
        }
        decrypted = [self.readable_kwargs(row[0])[0] for row in self.rows("SELECT kwargs FROM trigger")]
        dump["trigger (decrypted kwargs)"] = "\n".join(decrypted)
        return dump

    def trigger_kwargs(self, trigger_id: int) -> tuple[str, bool]:
        """One trigger's kwargs as readable text, and whether they were stored encrypted.

        :param trigger_id: the trigger.
        """
        return self.readable_kwargs(self.rows("SELECT kwargs FROM trigger WHERE id = %s", trigger_id)[0][0])

    def readable_kwargs(self, stored: str) -> tuple[str, bool]:
        """Stored trigger kwargs as text: decrypted, unless stored as plain JSON (which Airflow also reads).

        :param stored: the ``trigger.kwargs`` column.
        """
        if stored.startswith("{"):
            return stored, False
        return self.fernet.decrypt(stored.encode()).decode(), True

    def count(self, table: str) -> int:
        """Rows of a table (for the printed scan summary).

        :param table: the table.
        """
        return int(self.rows(f'SELECT count(*) FROM "{table}"')[0][0])


def as_json(value: Any) -> str:
    """Compact JSON for printed observations.

    :param value: any JSON-serializable value.
    """
    return json.dumps(value, separators=(",", ":"), default=str)
