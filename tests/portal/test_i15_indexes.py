"""The indexes the national-scale pages rely on (issue 15) are there and the planner can use them.

`enable_seqscan = off` makes PostgreSQL take any usable index over a scan of these small test tables, so
the plan names the index exactly when the query's shape matches it; a query the index cannot serve (a
changed ordering, a search Django renders differently) would show a sequential scan and fail here.
"""

import pytest
from django.db import connection

from members.models import Organisation
from orders import selectors
from orders.models import Order
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_staff_queue_walks_its_state_in_submission_order_by_index():
    queue = selectors.order_queue(state=Order.State.SUBMITTED)
    assert "order_queue_state_submitted" in plan(queue[:50])


def test_an_objects_history_is_found_by_index():
    events = AuditEvent.objects.filter(object_type="orders.order", object_id="42").order_by("-created_at")
    assert "audit_object_recent" in plan(events[:20])


def test_a_name_search_uses_the_trigram_index():
    # Unordered: with more rows in the test database the planner may rather walk the name index
    # (organisation_by_name) for the ordering and filter; the search itself is the trigram index's.
    found = Organisation.objects.filter(name__icontains="vidda").order_by()
    assert "members_organisation_name_trgm" in plan(found)


def test_the_directory_reads_its_first_page_in_name_order_off_the_index():
    from members.selectors import organisation_directory

    assert "organisation_by_name" in plan(organisation_directory()[:50])


def test_the_customer_centre_counts_open_orders_through_the_state_index():
    open_orders = Order.objects.filter(state__in=(Order.State.SUBMITTED, Order.State.FAILED)).order_by()
    found = plan(open_orders.values("id"))
    assert "Seq Scan" not in found and "Index Cond: ((state)::text = ANY" in found
