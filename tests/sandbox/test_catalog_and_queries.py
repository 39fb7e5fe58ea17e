"""Datasets, queries, the query grammar and the test-query endpoint, over HTTPS."""

from __future__ import annotations

import pytest

from airflow_provider_insights.sandbox import SandboxProcess
from tests.seed_data import DYNAMICS_USAGE_ITEM

from ._client import DYNAMICS_QUERY, Api

pytestmark = pytest.mark.integration

MPN_DATASETS = {
    "CustomersAndTenants",
    "SeatsSubscriptionsAndRevenue",
    "AzureUsage",
    "MSLearn",
    "OfficeUsage",
    "Profile",
    "TrainingCompletions",
    "DynamicsUsage",
    "CompetencySummaryHistory",
    "PowerBIUsage",
    "EMSUsage",
    "CompetencyPeformanceRequirement",
    "ResellerPerformance",
    "CLASAgreementRenewalsPropensity",
    "CLASAzurePropensity",
    "CLASD365Propensity",
    "CLASM365Propensity",
    "TeamsUsage3PApps",
    "TeamsUsageWorkload",
    "TeamsUsageMeetingsAndCalls",
    "CloudProductsResellerPerformance",
}
SEED_DYNAMICS_USAGE = DYNAMICS_USAGE_ITEM


@pytest.fixture
def api(sb: SandboxProcess) -> Api:
    # The session sandbox is shared: start from an empty state so counts below are this test's own.
    sb.admin.wipe()
    sb.admin.configure(page_size=100)
    return Api(sb)


def test_mpn_catalog_has_the_seed_datasets(api: Api) -> None:
    body = api.ok("GET", "ScheduledDataset")
    assert {item["datasetName"] for item in body["value"]} == MPN_DATASETS
    assert body["message"] == "Dataset fetched successfully" and body["dataRedacted"] is False


def test_dynamics_usage_is_exactly_the_seed(api: Api) -> None:
    body = api.ok("GET", "ScheduledDataset", params={"datasetName": "dynamicsusage"})
    assert body["value"] == [SEED_DYNAMICS_USAGE] and body["totalCount"] == 1


def test_cmp_catalog_and_envelope(sb: SandboxProcess) -> None:
    for base in ("insights/v1.1/cmp", "insights/v1/cmp"):
        body = Api(sb, "cmp").ok("GET", f"{sb.url}/{base}/ScheduledDataset", params={"datasetName": "ISVOrder"})
        assert body["value"][0]["availableMetrics"] == []
        assert "minimumRecurrenceInterval" not in body["value"][0]
        assert "dataRedacted" not in body
    names = {item["datasetName"] for item in Api(sb, "cmp").ok("GET", "ScheduledDataset")["value"]}
    assert {
        "ISVOrder",
        "ISVUsage",
        "ISVCustomer",
        "ISVMarketplaceInsights",
        "ISVRevenue",
        "ISVOfferRetention",
        "ISVQualityOfService",
        "ISVOrderV2",
        "ISVLicense",
        "ISVVMImageVersion",
    } == names


def test_system_queries_and_user_queries(api: Api) -> None:
    system = api.ok("GET", "ScheduledQueries", params={"includeOnlySystemQueries": "true"})["value"]
    assert {q["type"] for q in system} == {"system"}
    assert "6209a8fd-93af-442e-8b3f-3df0f77e8463" in {q["queryId"] for q in system}
    created = api.ok("POST", "ScheduledQueries", json={"Name": "Subs", "Description": "d", "Query": DYNAMICS_QUERY})
    assert created["message"] == "Query created successfully"
    query = created["value"][0]
    assert query["type"] == "userDefined" and query["createdTime"].endswith("Z")
    only_user = api.ok("GET", "ScheduledQueries", params={"includeSystemQueries": "false"})["value"]
    assert [q["queryId"] for q in only_user] == [query["queryId"]]
    by_name = api.ok("GET", "ScheduledQueries", params={"queryName": "SUBS"})["value"]
    assert [q["queryId"] for q in by_name] == [query["queryId"]]
    assert api.ok("GET", "ScheduledQueries", params={"queryName": "Sub"})["value"] == []
    by_id = api.ok("GET", "ScheduledQueries", params={"queryId": query["queryId"]})["value"]
    assert by_id[0]["query"] == DYNAMICS_QUERY


def test_cmp_system_queries_are_separate_from_mpn(sb: SandboxProcess) -> None:
    cmp_ids = {q["queryId"] for q in Api(sb, "cmp").ok("GET", "ScheduledQueries")["value"]}
    assert "b9df4929-073f-4795-b0cb-a2c81b11e28d" in cmp_ids
    assert "6209a8fd-93af-442e-8b3f-3df0f77e8463" not in cmp_ids


def test_delete_query(api: Api) -> None:
    query_id = api.create_query()
    deleted = api.ok("DELETE", f"ScheduledQueries/{query_id}")
    assert deleted["value"][0]["queryId"] == query_id and deleted["value"][0]["modifiedTime"] is None
    again = api.call("DELETE", f"ScheduledQueries/{query_id}")
    assert again.status_code == 404 and again.json()["message"] == "No item found with given filters."
    system = api.call("DELETE", "ScheduledQueries/6209a8fd-93af-442e-8b3f-3df0f77e8463")
    assert system.status_code == 400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT SubscriptionId FROM NoSuchDataset", "Invalid table name"),
        ("SELECT NoSuchColumn FROM DynamicsUsage", "Incorrect column name"),
        ("SELECT SubscriptionId FROM DynamicsUsage WHERE NoSuchColumn = 'x'", "Incorrect column name"),
        ("SELECT * FROM DynamicsUsage", "SELECT *"),
        ("SELECT SubscriptionId FROM DynamicsUsage WHERE SKU = 'a' OR SKU = 'b'", "OR is not supported"),
        ("SELECT SKU, TotalSoldSeats FROM DynamicsUsage GROUP BY SKU", "GROUP BY"),
        ("SELECT SUM(TotalSoldSeats) FROM DynamicsUsage", "SUM()"),
        ("SELECT SubscriptionId FROM DynamicsUsage TIMESPAN LAST_7_DAYS", "TIMESPAN"),
        ("SELECT SubscriptionId FROM DynamicsUsage LIMIT 0", "LIMIT"),
        ("SELECT SubscriptionId", "unexpected end"),
        ("", "Null or missing value"),
    ],
)
def test_grammar_errors(api: Api, text: str, message: str) -> None:
    response = api.call("POST", "ScheduledQueries", json={"Name": "bad", "Query": text})
    body = response.json()
    assert response.status_code == 400 and body["statusCode"] == 400
    assert message in body["message"]


def test_grammar_accepts_the_documented_forms_case_insensitively(api: Api) -> None:
    text = (
        "select distinct customername, sku, totalsoldseats from dynamicsusage "
        "where SKU in ('A','B') and TotalSoldSeats >= 10 and CustomerName not like '%x%' "
        "order by TotalSoldSeats desc, sku limit 10 timespan last_6_months"
    )
    assert api.create_query(text)


def test_missing_name_is_a_null_value(api: Api) -> None:
    response = api.call("POST", "ScheduledQueries", json={"Query": DYNAMICS_QUERY})
    assert response.status_code == 400 and response.json()["message"] == "Null or missing value"


def test_test_query_by_text_and_by_id(api: Api) -> None:
    by_text = api.ok("GET", "ScheduledQueries/testQueryResult", params={"exportQuery": DYNAMICS_QUERY})
    assert by_text["totalCount"] == 100 and len(by_text["value"]) == 100
    assert set(by_text["value"][0]) == {"SubscriptionId", "CustomerName", "Month", "TotalSoldSeats"}
    again = api.ok("GET", "ScheduledQueries/testQueryResult", params={"exportQuery": DYNAMICS_QUERY})
    assert again["value"] == by_text["value"]
    query_id = api.create_query("SELECT SKU FROM DynamicsUsage LIMIT 7")
    by_id = api.ok(
        "GET", "ScheduledQueries/testQueryResult", params={"queryId": query_id, "startTime": "2024-01-01T00:00:00Z"}
    )
    assert len(by_id["value"]) == 7 and set(by_id["value"][0]) == {"SKU"}


def test_test_query_errors(api: Api) -> None:
    unknown = api.call("GET", "ScheduledQueries/testQueryResult", params={"queryId": "nope"})
    assert unknown.status_code == 400 and unknown.json()["message"] == "Invalid QueryId"
    bad = api.call("GET", "ScheduledQueries/testQueryResult", params={"exportQuery": "SELECT x FROM DynamicsUsage"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("Incorrect column name")
    assert api.call("GET", "ScheduledQueries/testQueryResult").json()["message"] == "Null or missing value"
