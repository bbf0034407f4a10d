from django.core.management.base import BaseCommand

from portal.simulator import SimulatorServer


class Command(BaseCommand):
    help = "Serve the backing-services simulator (HelseID client registry, VKP access registry, mail API)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument("--verbose", action="store_true", help="Log every request.")

    def handle(self, *args, host, port, verbose, **options):
        server = SimulatorServer((host, port), verbose=verbose)
        self.stdout.write(
            f"Backing-services simulator on {server.url} (BACKING_SERVICES_URL={server.url}); Ctrl+C stops"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
