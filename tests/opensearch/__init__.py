"""What only the OpenSearch index has: its URL, its mapping and failures, exactness against the
rule on many random documents, and hosts that keep it following their store through outages.

The search contract runs on ``opensearch://`` by itself (the provider declares its test store:
a fresh index prefix per test, its index and template deleted afterwards). Without
``WFE_TEST_OPENSEARCH_URL`` the server tests are skipped, or failed under
``WFE_REQUIRE_SERVICES=1``.
"""
