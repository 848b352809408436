"""Names as the design page gives them, written out by hand: the tests' independent reference.

The code derives these from its specs; the tests compare against this copy, so a spec that drifts
from the design fails a test instead of changing the expectation with it.
"""

ENDPOINT_NAMES = (
    "all_orders_by_range",
    "get_money_from_routes_by_range",
    "most_visited_location_from_trackcode_by_range",
    "count_trackcode_by_range",
    "count_orders_by_range",
    "count_trackcode_lost_by_range",
    "most_required_service_by_range",
    "count_delivered_trackcode_before_promise_time_by_range",
)
