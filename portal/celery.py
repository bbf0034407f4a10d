import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _new_http_pool_after_fork(**kwargs) -> None:
    # A pool process starts with a copy of the parent's HTTP client; it must make its own (portal.clients).
    from portal.clients import forget_shared_http_client

    forget_shared_http_client()


@worker_process_shutdown.connect
def _close_http_pool(**kwargs) -> None:
    from portal.clients import close_shared_http_client

    close_shared_http_client()
