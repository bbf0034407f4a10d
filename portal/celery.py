import os

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown

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
