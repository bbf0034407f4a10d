import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _load_urls_before_fork(**kwargs) -> None:
    # The first task to build a link (the e-mail when an order becomes active) otherwise imports the
    # whole URLconf, views and API schemas in its own run: about half a second, once per pool process.
    # Loaded in the parent, every forked pool process has it already.
    from importlib import import_module

    from django.conf import settings

    import_module(settings.ROOT_URLCONF)


@worker_process_init.connect
def _new_http_pool_after_fork(**kwargs) -> None:
    # A pool process starts with a copy of the parent's HTTP client; it must make its own (portal.clients).
    from portal.clients import forget_shared_http_client

    forget_shared_http_client()


@worker_process_shutdown.connect
def _close_http_pool(**kwargs) -> None:
    from portal.clients import close_shared_http_client

    close_shared_http_client()


@task_prerun.connect
@task_postrun.connect
def _database_connection_as_in_a_request(task=None, **kwargs) -> None:
    # Celery's Django fixup closes the connection around every task unless CELERY_DB_REUSE_MAX is set
    # (settings), ignoring CONN_MAX_AGE: a new PostgreSQL connection per message, most of a worker's
    # time in a backlog (bench/provisioning.py, issue 15). Here a worker keeps or drops it as a web
    # worker does between requests: CONN_MAX_AGE, broken connections and the health check. Not for a
    # task run in-process: that is inside the caller's transaction.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
