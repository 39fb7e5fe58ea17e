"""``make e2e``: the example DAGs in a real Airflow deployment on loopback, driven through its REST API.

PostgreSQL (metadata database) and Redis (Celery broker) from Debian, Airflow 3 as separate processes
(api-server, scheduler, dag-processor, triggerer, and two Celery workers under the CeleryExecutor),
the sandbox, moto's S3 server and Azurite. Run with ``python -m tests.e2e.run`` (see ``run.py``); it
prints what it observes, step by step, and exits non-zero when a check fails.

Only ``test_*.py`` modules here are pytest tests (fast, no deployment); the rest is the runner.
"""
