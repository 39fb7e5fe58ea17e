"""The dataset catalog and system queries of both programs.

``DynamicsUsage`` is exactly what the MPN first-API-call walkthrough returns; the other datasets
carry plausible columns taken from the system-query tables of the API reference.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

STANDARD_RANGES = ("LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME")
_SYSTEM_NAMESPACE = uuid.UUID("0b6c3f1e-8f43-4c55-9b1a-5a4db0c0ffee")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the catalog.

    :param name: the dataset name.
    :param columns: selectable columns.
    :param metrics: available metrics.
    :param ranges: allowed TIMESPAN values.
    :param minimum_recurrence_interval: MPN only; ``None`` for CMP.
    """

    name: str
    columns: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    ranges: tuple[str, ...] = STANDARD_RANGES
    minimum_recurrence_interval: int | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """Every name a query may select."""
        return self.columns + self.metrics

    def to_api(self, program: str) -> dict[str, Any]:
        """The dataset as the catalog endpoint returns it.

        :param program: ``mpn`` or ``cmp`` (CMP has no minimumRecurrenceInterval).
        """
        item: dict[str, Any] = {
            "datasetName": self.name,
            "selectableColumns": list(self.columns),
            "availableMetrics": list(self.metrics),
            "availableDateRanges": list(self.ranges),
        }
        if program == "mpn":
            item["minimumRecurrenceInterval"] = self.minimum_recurrence_interval
        return item


@dataclass(frozen=True)
class SystemQuery:
    """A predefined query (``type: system``).

    :param query_id: the documented id (or a stable generated one).
    :param name: display name.
    :param query: query text.
    :param description: description.
    """

    query_id: str
    name: str
    query: str
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _mpn(name: str, columns: str, metrics: str = "", minimum: int = 24) -> DatasetSpec:
    return DatasetSpec(name, tuple(columns.split()), tuple(metrics.split()), STANDARD_RANGES, minimum)


def _cmp(name: str, columns: str, metrics: str = "") -> DatasetSpec:
    return DatasetSpec(name, tuple(columns.split()), tuple(metrics.split()), STANDARD_RANGES, None)


MPN_DATASETS: tuple[DatasetSpec, ...] = (
    _mpn(
        "CustomersAndTenants",
        "PGAMpnId MpnId PartnerName CustomerName CustomerTpid DUNSNumber CustomerSegment CustomerMarket "
        "CustomerTenantId Product SKU Month SalesChannel IsDuplicateRowForPGA AvailableSeats",
        "BilledRevenueUSD AzureConsumedRevenueUSD CustomerCount CustomerTenantCount",
    ),
    _mpn(
        "SeatsSubscriptionsAndRevenue",
        "PGAMpnId MpnId PartnerName CustomerName CustomerTenantId SubscriptionId SubscriptionStartDate "
        "SubscriptionEndDate SubscriptionState IsAutoRenew ProductFamily Product SKU PricingLevel "
        "EnrollmentNumber Month SalesChannel",
        "TotalSoldSeats TotalAssignedSeats BilledRevenueUSD AzureConsumedRevenueUSD SubscriptionCount",
    ),
    _mpn(
        "AzureUsage",
        "PGAMpnId MpnId PartnerName CustomerName CustomerTenantId SubscriptionId ServiceName MeterCategory "
        "MeterSubCategory UsageUnits UsageQuantity ResellerID Month",
        "MonthlySubscriptionLevelACR TotalACR CustomerCount",
    ),
    _mpn(
        "MSLearn",
        "MPNId PartnerName UserId ModuleName LearningPathName CompletionDate Country Month",
        "ModulesCompleted LearningPathsCompleted UserCount",
    ),
    _mpn(
        "OfficeUsage",
        "PGAMpnId MpnId PartnerName CustomerName CustomerTenantId WorkloadName PaidAvailableUnits "
        "MonthlyActiveUsers Month",
        "CustomerCount CustomerTenantCount TotalPaidAvailableUnits TotalMonthlyActiveUsers",
    ),
    _mpn("Profile", "MPNId PartnerName PGA_MPNId PGA_PartnerName City Country AccountType", "", 24),
    _mpn(
        "TrainingCompletions",
        "MPNId PartnerName UserName CourseName ExamName CertificationName CompletionDate Month",
        "CompletionCount",
    ),
    DatasetSpec(
        "DynamicsUsage",
        (
            "PGAMpnId",
            "SubscriptionId",
            "SubscriptionStartDate",
            "SubscriptionEndDate",
            "SubscriptionStatus",
            "Month",
            "RevSumDivisionName",
            "RevSumCategoryName",
            "SKU",
            "SKUId",
            "FreeVsPaidSKU",
            "SalesModel",
            "DetailedSalesModel",
            "CustomerName",
            "CustomerTenantId",
            "CustomerTpid",
            "CustomerSegment",
            "CustomerMarket",
            "MPNId",
            "PartnerName",
            "PartnerLocation",
            "PartnerAttachType",
            "AvailableSeats",
            "AssignedSeats",
            "ActiveSeats",
            "DeploymentOpportunity",
            "ActiveUsagePercent",
        ),
        (
            "SubscriptionCount",
            "TotalAssignedSeats",
            "TotalSoldSeats",
            "TotalActiveSeats",
            "TotalRevenueAndACR",
            "CustomerCount",
            "CustomerTenantCount",
        ),
        STANDARD_RANGES,
        24,
    ),
    _mpn(
        "CompetencySummaryHistory",
        "MPNId PartnerName CompetencyName CompetencyLevel CompetencyStatus StartDate EndDate Month",
        "CompetencyCount",
    ),
    _mpn(
        "PowerBIUsage",
        "PGAMpnId SubscriptionId SubscriptionStartDate SubscriptionEndDate SKU SKUId FreeVsPaidSKU SalesModel "
        "CustomerName CustomerTenantId MPNId PartnerName PartnerHierarchy AvailableSeats AssignedSeats "
        "ActiveSeats ActiveUsagePercent Month",
        "SubscriptionCount TotalAssignedSeats TotalActiveSeats CustomerCount",
    ),
    _mpn(
        "EMSUsage",
        "PGAMpnId MPNId PartnerName CustomerName CustomerTenantId AADPPaidAvailableUnits "
        "IntunePaidAvailableUnits AzipMonthlyActiveUsers Month",
        "CustomerCount TotalPaidAvailableUnits",
    ),
    _mpn(
        "CompetencyPeformanceRequirement",
        "MPNId PartnerName CompetencyName MetricName TTMAggregate GoldThreshold SilverThreshold Month",
    ),
    _mpn(
        "ResellerPerformance",
        "ResellerMpnid ResellerName IndirectProviderMPNId IndirectProviderName CustomerName Product SKU Month "
        "ResellerStatus AvailableSeats",
        "BilledRevenueUSD CustomerCount",
    ),
    _mpn(
        "CloudProductsResellerPerformance",
        "ResellerMpnid ResellerName IndirectProviderMPNId IndirectProviderName Product Month AvailableSeats "
        "ResellerStatus",
        "BilledRevenueUSD CustomerCount",
    ),
    _mpn(
        "CLASAgreementRenewalsPropensity",
        "MPNId PartnerName CustomerName CustomerTpid AgreementID AgreementEndDate ExpiringRevenue HasEA "
        "RenewalPropensity",
        "",
        24,
    ),
    _mpn(
        "CLASAzurePropensity",
        "MPNId PartnerName CustomerName CustomerTpid MigrateWindowsServerPropensity MigrateSQLServerPropensity "
        "MigrateSAPPropensity AzurePropensityScore",
        "",
        24,
    ),
    _mpn(
        "CLASD365Propensity",
        "MPNId PartnerName CustomerName CustomerTpid D365SalesPropensity D365ServicePropensity D365FinancePropensity",
        "",
        24,
    ),
    _mpn(
        "CLASM365Propensity",
        "MPNId PartnerName CustomerName CustomerTpid TeamsPropensity SecurityPropensity WindowsPropensity",
        "",
        24,
    ),
    _mpn(
        "TeamsUsage3PApps",
        "MPNId PartnerName CustomerName CustomerTenantId AppName AppId Month MonthlyActiveUsers",
        "CustomerCount TotalMonthlyActiveUsers",
    ),
    _mpn(
        "TeamsUsageWorkload",
        "MPNId PartnerName CustomerName CustomerTenantId WorkloadName Month MonthlyActiveUsers",
        "CustomerCount TotalMonthlyActiveUsers",
    ),
    _mpn(
        "TeamsUsageMeetingsAndCalls",
        "MPNId PartnerName CustomerName CustomerTenantId MeetingType Month MeetingCount CallCount",
        "CustomerCount TotalMeetingMinutes",
    ),
)

CMP_DATASETS: tuple[DatasetSpec, ...] = (
    _cmp(
        "ISVOrder",
        "MarketplaceSubscriptionId MonthStartDate OfferType AzureLicenseType MarketplaceLicenseType SKU "
        "CustomerCountry IsPreviewSKU AssetId Quantity CloudInstanceName IsNewCustomer OrderStatus "
        "OrderCancelDate CustomerCompanyName OrderPurchaseDate OfferName IsPrivateOffer TermStartDate "
        "TermEndDate PurchaseRecordId BilledRevenue Currency IsTrial CustomerId BillingAccountId",
    ),
    _cmp(
        "ISVUsage",
        "MarketplaceSubscriptionId MonthStartDate OfferType AzureLicenseType MarketplaceLicenseType SKU "
        "CustomerCountry IsPreviewSKU SKUBillingType VMSize CloudInstanceName OfferName IsPrivateOffer "
        "DeploymentMethod CustomerName CustomerCompanyName UsageDate IsNewCustomer CoreSize TrialEndDate "
        "CustomerCurrencyCC PriceCC PayoutCurrencyPC EstimatedPricePC UsageReference UsageUnit CustomerId "
        "BillingAccountId MeterDimension MeterId PartnerCenterDetectedAnomaly",
        "NormalizedUsage RawUsage MeteredUsage EstimatedExtendedChargeCC EstimatedExtendedChargePC "
        "EstimatedFinancialImpactUSD",
    ),
    _cmp(
        "ISVCustomer",
        "MarketplaceSubscriptionId DateAcquired DateLost ProviderName ProviderEmail FirstName LastName Email "
        "CustomerCompanyName CustomerCity CustomerPostalCode CustomerCommunicationCulture CustomerCountryRegion "
        "AzureLicenseType PromotionalCustomers CustomerState CommerceRootCustomer CustomerId BillingAccountId "
        "IsActive",
        "CustomerCount",
    ),
    _cmp(
        "ISVMarketplaceInsights",
        "Date OfferName ReferralDomain CountryName",
        "PageVisits GetItNow ContactMe TestDrive FreeTrial",
    ),
    _cmp(
        "ISVRevenue",
        "EarningId AssetId SalesChannel EarningAmountCC EarningAmountPC EarningAmountUSD EstimatedPayoutMonth "
        "Revenue PayoutStatus IncentiveRate PurchaseRecordId BillingModel Units CustomerName CustomerId "
        "OfferName TransactionDate",
        "TotalRevenue",
    ),
    _cmp(
        "ISVOfferRetention",
        "OfferCategory ProductId OfferName FirstUsageDate Offset CustomerCountry CustomerId",
        "RevenueGenerated(USD) RevenueGeneratedPerDay(USD)",
    ),
    DatasetSpec(
        "ISVQualityOfService",
        (
            "OfferId",
            "Sku",
            "DeploymentStatus",
            "DeploymentCorrelationId",
            "DeploymentDurationInMilliSeconds",
            "DeploymentRegion",
            "ErrorCode",
            "ErrorName",
            "ErrorMessage",
            "DeepErrorCode",
            "DeepErrorMessage",
            "Timestamp",
        ),
        ("DeploymentCount",),
        ("LAST_MONTH", "LAST_3_MONTHS"),
        None,
    ),
    _cmp(
        "ISVOrderV2",
        "MarketplaceSubscriptionId MonthStartDate OfferType AzureLicenseType MarketplaceLicenseType SKU "
        "CustomerCountry AssetId Quantity OrderStatus OrderPurchaseDate OfferName IsPrivateOffer TermStartDate "
        "TermEndDate PurchaseRecordId PurchaseRecordLineItemId BilledRevenue Currency HasTrial "
        "IsTrialDeployment CustomerId BillingAccountId",
        "estimatedcharges",
    ),
    _cmp(
        "ISVLicense",
        "CustomerId CustomerName OfferName PlanName LicenseState LicenseStartDate LicenseEndDate "
        "ProviderTenantId CustomerTenantId",
        "LicenseCount",
    ),
    _cmp(
        "ISVVMImageVersion",
        "OfferId OfferName PlanName ImageVersion ImageOS ImageStatus PublishDate Month",
        "DeploymentCount",
    ),
)

# Documented ids first; the others are stable ids derived from the dataset name.
_MPN_SYSTEM_IDS = {
    "CustomersAndTenants": "6664daf3-c161-423a-92a1-0ea6db2c0384",
    "SeatsSubscriptionsAndRevenue": "c9fc1c79-4408-49ff-97f9-e1aa3f155804",
    "Profile": "e65f3a4f-fb99-4319-97ff-59e57566a871",
    "AzureUsage": "d1a4d75e-5ca8-4847-845f-ee0a9be6f07b",
    "OfficeUsage": "d8349f7b-a7d1-467e-b26d-434d4a50f26a",
    "DynamicsUsage": "6209a8fd-93af-442e-8b3f-3df0f77e8463",
    "PowerBIUsage": "40ebfe2f-7183-4427-a911-5c9b45b6df15",
    "EMSUsage": "d7f20ea4-8751-4d6b-b1d7-821c316acd6a",
    "CompetencyPeformanceRequirement": "3a0e1adc-f5c1-42ac-9422-8e944bf81ae5",
    "CloudProductsResellerPerformance": "c09c2eda-861b-4664-8ee8-48a14745a26a",
    "CLASAgreementRenewalsPropensity": "c4fc87ac-4cca-44cd-bf4d-835ac513f9ee",
    "CLASAzurePropensity": "9a18bd70-8f90-4bd2-8266-5f6e453e3ee7",
}


def _stable_id(program: str, name: str) -> str:
    return str(uuid.uuid5(_SYSTEM_NAMESPACE, f"{program}:{name}"))


def _default_system_query(program: str, spec: DatasetSpec, query_id: str | None = None) -> SystemQuery:
    columns = ", ".join(spec.columns[:8] + spec.metrics[:2])
    return SystemQuery(
        query_id=query_id or _stable_id(program, spec.name),
        name=f"{spec.name}",
        query=f"SELECT {columns} FROM {spec.name} TIMESPAN LAST_6_MONTHS",
        description=f"Default system query for {spec.name}",
    )


def _mpn_system_queries() -> tuple[SystemQuery, ...]:
    queries = []
    for spec in MPN_DATASETS:
        query_id = _MPN_SYSTEM_IDS.get(spec.name)
        if spec.name == "Profile":
            # Kept stale on purpose, as documented: HierarchyLevel was renamed AccountType.
            queries.append(
                SystemQuery(
                    query_id=query_id or _stable_id("mpn", spec.name),
                    name="Profile",
                    query="SELECT MPNId, PartnerName, PGA_MPNId, PGA_PartnerName, City, Country, HierarchyLevel "
                    "FROM Profile",
                    description="Partner profile (stale: selects a renamed column)",
                )
            )
        else:
            queries.append(_default_system_query("mpn", spec, query_id))
    return tuple(queries)


def _cmp_system_queries() -> tuple[SystemQuery, ...]:
    return (
        SystemQuery(
            "b9df4929-073f-4795-b0cb-a2c81b11e28d",
            "ISVCustomer",
            "SELECT MarketplaceSubscriptionId, DateAcquired, DateLost, CustomerCompanyName, "
            "CustomerCountryRegion, AzureLicenseType, CustomerId, BillingAccountId FROM ISVCustomer "
            "TIMESPAN LAST_6_MONTHS",
            "Customer details",
        ),
        SystemQuery(
            "fd0f299c-5a1c-4929-9f48-bfc6cc44355d",
            "ISVOrder",
            "SELECT MarketplaceSubscriptionId, MonthStartDate, OfferType, SKU, AssetId, Quantity, "
            "OrderStatus, OrderPurchaseDate, TermStartDate, TermEndDate, PurchaseRecordId, BilledRevenue, "
            "Currency, IsTrial, IsPrivateOffer FROM ISVOrder TIMESPAN LAST_6_MONTHS",
            "Orders",
        ),
        SystemQuery(
            "bd1b0cc1-ce45-4578-beba-6fe5a69fd421",
            "ISVOrderV2",
            "SELECT MarketplaceSubscriptionId, MonthStartDate, OfferType, SKU, AssetId, Quantity, "
            "TermStartDate, TermEndDate, PurchaseRecordId, PurchaseRecordLineItemId, HasTrial, "
            "IsTrialDeployment, estimatedcharges FROM ISVOrderV2 TIMESPAN LAST_6_MONTHS",
            "Orders (v2)",
        ),
        SystemQuery(
            "2c6f384b-ad52-4aed-965f-32bfa09b3778",
            "ISVUsage (VM normalized)",
            "SELECT MarketplaceSubscriptionId, MonthStartDate, UsageDate, VMSize, CoreSize, "
            "NormalizedUsage, EstimatedExtendedChargeCC, EstimatedExtendedChargePC FROM ISVUsage "
            "WHERE OfferType IN ('vm core image','Virtual Machine Licenses','multisolution') "
            "TIMESPAN LAST_6_MONTHS",
            "Normalized VM usage",
        ),
        SystemQuery(
            "3f19fb95-5bc4-4ee0-872e-cedd22578512",
            "ISVUsage (VM raw)",
            "SELECT MarketplaceSubscriptionId, MonthStartDate, UsageDate, VMSize, CoreSize, RawUsage, "
            "EstimatedExtendedChargeCC FROM ISVUsage TIMESPAN LAST_6_MONTHS",
            "Raw VM usage",
        ),
        SystemQuery(
            "f0c4927f-1f23-4c99-be4a-1371a5a9a086",
            "ISVUsage (metered)",
            "SELECT MarketplaceSubscriptionId, MonthStartDate, UsageDate, MeterDimension, MeteredUsage "
            "FROM ISVUsage WHERE OfferType IN ('SaaS','Azure Applications') TIMESPAN LAST_6_MONTHS",
            "Metered usage",
        ),
        SystemQuery(
            "6fd7624b-aa9f-42df-a61d-67d42fd00e92",
            "ISVMarketplaceInsights",
            "SELECT Date, OfferName, ReferralDomain, CountryName, PageVisits, GetItNow, ContactMe, "
            "TestDrive, FreeTrial FROM ISVMarketplaceInsights TIMESPAN LAST_6_MONTHS",
            "Marketplace insights",
        ),
        SystemQuery(
            "bf54dde4-7dc4-492f-a69a-f45de049bfcb",
            "ISVRevenue",
            "SELECT AssetId, SalesChannel, EarningAmountCC, EarningAmountPC, EarningAmountUSD, "
            "EstimatedPayoutMonth, Revenue, PayoutStatus, IncentiveRate, PurchaseRecordId, BillingModel, "
            "Units FROM ISVRevenue TIMESPAN LAST_6_MONTHS",
            "Revenue",
        ),
        # The documented id is not a valid UUID; kept as documented.
        SystemQuery(
            "q9df4939-073f-5795-b0cb-v2c81d11e58d",
            "ISVQualityOfService",
            "SELECT OfferId, Sku, DeploymentStatus, DeploymentCorrelationId, "
            "DeploymentDurationInMilliSeconds, DeploymentRegion, ErrorCode, DeepErrorMessage "
            "FROM ISVQualityOfService TIMESPAN LAST_3_MONTHS",
            "Quality of service",
        ),
        SystemQuery(
            "6d37d057-06f3-45aa-a971-3a34415e8511",
            "ISVOfferRetention",
            "SELECT OfferCategory, ProductId, FirstUsageDate, Offset FROM ISVOfferRetention TIMESPAN LAST_6_MONTHS",
            "Offer retention",
        ),
        _default_system_query("cmp", next(s for s in CMP_DATASETS if s.name == "ISVLicense")),
        _default_system_query("cmp", next(s for s in CMP_DATASETS if s.name == "ISVVMImageVersion")),
    )


DATASETS: dict[str, tuple[DatasetSpec, ...]] = {"mpn": MPN_DATASETS, "cmp": CMP_DATASETS}
SYSTEM_QUERIES: dict[str, tuple[SystemQuery, ...]] = {"mpn": _mpn_system_queries(), "cmp": _cmp_system_queries()}
SYSTEM_QUERY_CREATED = "2021-01-01T00:00:00Z"


def find_dataset(program: str, name: str) -> DatasetSpec | None:
    """Return the dataset named ``name`` (case-insensitive) of ``program``, or ``None``.

    :param program: ``mpn`` or ``cmp``.
    :param name: the dataset name.
    """
    wanted = name.lower()
    return next((spec for spec in DATASETS[program] if spec.name.lower() == wanted), None)


def find_system_query(program: str, query_id: str) -> SystemQuery | None:
    """Return the system query with this id (case-insensitive), or ``None``.

    :param program: ``mpn`` or ``cmp``.
    :param query_id: the query id.
    """
    wanted = query_id.lower()
    return next((query for query in SYSTEM_QUERIES[program] if query.query_id.lower() == wanted), None)


def system_query_item(query: SystemQuery) -> dict[str, Any]:
    """A system query as the queries endpoint returns it.

    :param query: the system query.
    """
    return {
        "queryId": query.query_id,
        "name": query.name,
        "description": query.description,
        "query": query.query,
        "type": "system",
        "user": "",
        "createdTime": SYSTEM_QUERY_CREATED,
        "modifiedTime": None,
    }
