"""Datasets and system queries served by the reference server, copied from Microsoft's pages.

Sources (each dataset/query below names its own):

- MPN ``DynamicsUsage``: the "Make your first API call" walkthrough (partner-center-pr, MPN,
  ``insights-programmatic-first-api-call.md``, 2021-07-14), ``GET ScheduledDataset`` response example,
  including ``minimumRecurrenceInterval: 24``.
- MPN ``CustomersAndTenants`` / ``Profile`` columns and system query ids: MPN system queries page
  (partner-center-pr.ko-kr ``partner-center/insights-programmatic-system-queries.md``).
- CMP ``ISVUsage`` / ``ISVOrder`` / ``ISVCustomer`` and their system query ids: azure-docs
  ``articles/marketplace/analytics-system-queries.md`` and ``analytics-make-your-first-api-call.md``
  (``ISVOrder`` has ``"availableMetrics": []``).

Column lists are trimmed to what the tests need; names are spelt as the pages spell them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.seed_data import DYNAMICS_USAGE_ITEM

STANDARD_RANGES = ("LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME")


@dataclass(frozen=True)
class CatalogDataset:
    """One dataset as the ``ScheduledDataset`` endpoint describes it."""

    name: str
    columns: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    date_ranges: tuple[str, ...] = STANDARD_RANGES
    minimum_recurrence_interval: int | None = None

    def item(self, program: str) -> dict:
        """The dataset as an item of the envelope's value (MPN adds ``minimumRecurrenceInterval``)."""
        body: dict = {
            "datasetName": self.name,
            "selectableColumns": list(self.columns),
            "availableMetrics": list(self.metrics),
            "availableDateRanges": list(self.date_ranges),
        }
        if program == "mpn":
            body["minimumRecurrenceInterval"] = self.minimum_recurrence_interval
        return body


@dataclass(frozen=True)
class SystemQuery:
    """A predefined query (``type: system``); cannot be deleted."""

    query_id: str
    name: str
    query: str
    description: str = ""
    extra: dict = field(default_factory=dict)


MPN_DATASETS = (
    CatalogDataset(
        name=DYNAMICS_USAGE_ITEM["datasetName"],
        columns=tuple(DYNAMICS_USAGE_ITEM["selectableColumns"]),
        metrics=tuple(DYNAMICS_USAGE_ITEM["availableMetrics"]),
        date_ranges=tuple(DYNAMICS_USAGE_ITEM["availableDateRanges"]),
        minimum_recurrence_interval=DYNAMICS_USAGE_ITEM["minimumRecurrenceInterval"],
    ),
    CatalogDataset(
        name="CustomersAndTenants",
        columns=(
            "PGAMpnId",
            "MpnId",
            "PartnerName",
            "CustomerName",
            "CustomerTpid",
            "DUNSNumber",
            "CustomerSegment",
            "CustomerMarket",
            "CustomerTenantId",
            "Product",
            "SKU",
            "Month",
            "SalesChannel",
            "IsDuplicateRowForPGA",
            "AvailableSeats",
            "BilledRevenueUSD",
            "AzureConsumedRevenueUSD",
        ),
        metrics=("CustomerCount", "CustomerTenantCount"),
        minimum_recurrence_interval=4,
    ),
    CatalogDataset(
        name="Profile",
        columns=("MPNId", "PartnerName", "PGA_MPNId", "PGA_PartnerName", "City", "Country", "AccountType"),
        minimum_recurrence_interval=4,
    ),
)

MPN_SYSTEM_QUERIES = (
    SystemQuery(
        query_id="6664daf3-c161-423a-92a1-0ea6db2c0384",
        name="CustomersAndTenants",
        query="SELECT PGAMpnId,MpnId,PartnerName,CustomerName,CustomerTenantId,Product,SKU,Month,"
        "BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_6_MONTHS",
    ),
    SystemQuery(
        query_id="6209a8fd-93af-442e-8b3f-3df0f77e8463",
        name="DynamicsUsage",
        query="SELECT SKUId,FreeVsPaidSKU,SalesModel,AvailableSeats,AssignedSeats,ActiveSeats,ActiveUsagePercent "
        "FROM DynamicsUsage TIMESPAN LAST_6_MONTHS",
    ),
)

CMP_DATASETS = (
    CatalogDataset(
        name="ISVUsage",
        columns=(
            "MarketplaceSubscriptionId",
            "MonthStartDate",
            "OfferType",
            "OfferName",
            "SKU",
            "SKUBillingType",
            "UsageDate",
            "VMSize",
            "CoreSize",
            "CustomerId",
            "CustomerCompanyName",
        ),
        metrics=(
            "NormalizedUsage",
            "RawUsage",
            "MeteredUsage",
            "EstimatedExtendedChargeCC",
            "EstimatedExtendedChargePC",
        ),
    ),
    CatalogDataset(
        name="ISVOrder",
        columns=(
            "MarketplaceSubscriptionId",
            "MonthStartDate",
            "OfferType",
            "AzureLicenseType",
            "OfferName",
            "OrderStatus",
            "OrderPurchaseDate",
            "CustomerId",
            "AssetId",
            "Quantity",
            "IsTrial",
        ),
    ),
    CatalogDataset(
        name="ISVCustomer",
        columns=(
            "MarketplaceSubscriptionId",
            "DateAcquired",
            "DateLost",
            "CustomerCompanyName",
            "CustomerCountryRegion",
            "CustomerId",
            "BillingAccountId",
            "IsActive",
        ),
    ),
)

CMP_SYSTEM_QUERIES = (
    SystemQuery(
        query_id="2c6f384b-ad52-4aed-965f-32bfa09b3778",
        name="ISVUsage",
        query="SELECT MarketplaceSubscriptionId,MonthStartDate,OfferType,UsageDate,VMSize,CoreSize,NormalizedUsage,"
        "EstimatedExtendedChargeCC,EstimatedExtendedChargePC FROM ISVUsage "
        "WHERE OfferType IN ('vm core image','Virtual Machine Licenses','multisolution') TIMESPAN LAST_6_MONTHS",
    ),
    SystemQuery(
        query_id="b9df4929-073f-4795-b0cb-a2c81b11e28d",
        name="ISVCustomer",
        query="SELECT MarketplaceSubscriptionId,DateAcquired,DateLost,CustomerCompanyName,CustomerCountryRegion,"
        "CustomerId,BillingAccountId FROM ISVCustomer TIMESPAN LAST_6_MONTHS",
    ),
)


def datasets_for(program: str) -> tuple[CatalogDataset, ...]:
    """The datasets of ``program`` (``mpn`` or ``cmp``)."""
    return MPN_DATASETS if program == "mpn" else CMP_DATASETS


def system_queries_for(program: str) -> tuple[SystemQuery, ...]:
    """The system queries of ``program`` (``mpn`` or ``cmp``)."""
    return MPN_SYSTEM_QUERIES if program == "mpn" else CMP_SYSTEM_QUERIES
