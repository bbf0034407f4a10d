"""A paginator for the logs that grow without end: it counts up to a cap, not every row."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


def capped_count(queryset, cap: int) -> int:
    """How many rows, counting no further than ``cap + 1``: more than ``cap`` means "more than cap"."""
    return queryset.order_by()[: cap + 1].count()


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` rows (``SELECT COUNT(*) FROM (… LIMIT cap + 1)``), so a page of a log with
    millions of entries costs the same as one of a log with thousands. Past the cap the page says so
    ("page 1 of more than 200") and a filter narrows it down."""

    cap = 10_000

    @cached_property
    def _counted(self) -> int:
        return capped_count(self.object_list, self.cap)

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def more_than_counted(self) -> bool:
        return self._counted > self.cap
