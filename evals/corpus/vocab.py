"""Names and wording for the two corpus variants.

The default variant is the demo corpus. The `renamed` variant is the held-out corpus: every
workflow, agent, tool and parameter name and every phrasing differs, while the faults mean the
same thing, so a detector that only matches the demo's strings fails on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .script import Param, ToolDef


@dataclass(frozen=True)
class Names:
    workflows: dict[str, str]
    services: dict[str, str]
    agents: dict[str, str]
    tools: dict[str, ToolDef]
    order_prefix: str
    account_prefix: str
    ticket_prefix: str


def _t(role: str, name: str, description: str, *params: Param) -> ToolDef:
    return ToolDef(role, name, description, list(params))


DEFAULT = Names(
    workflows={"support": "customer_support", "research": "research_assistant",
               "orchestrator": "helpdesk_orchestrator"},
    services={"support": "support-bot", "research": "research-agent", "orchestrator": "helpdesk-api"},
    agents={"support": "Support Agent", "research": "Research Agent", "triage": "Triage Agent",
            "billing": "Billing Agent", "tech": "Tech Support Agent", "shipping": "Shipping Agent"},
    tools={
        "order": _t("order", "lookup_order", "Look up an order by its ID. Returns status, items, amounts and shipping.",
                    Param("order_id", "order_id", "string", "Order ID, e.g. ORD-10482")),
        "policy": _t("policy", "get_policy", "Fetch the current customer policy text for a topic.",
                     Param("topic", "topic", "string", "Policy topic",
                           enum=["refunds", "returns", "shipping", "warranty"])),
        "refund": _t("refund", "issue_refund", "Issue a refund to the original payment method.",
                     Param("order_id", "order_id", "string", "Order ID"),
                     Param("amount", "amount", "number", "Refund amount in the order currency"),
                     Param("reason", "reason", "string", "Short reason shown on the customer's statement")),
        "escalate": _t("escalate", "escalate_to_human", "Hand the conversation to a human agent.",
                       Param("reason", "reason", "string", "Why a human is needed"),
                       Param("priority", "priority", "string", "Queue priority", enum=["low", "normal", "urgent"])),
        "kb": _t("kb", "search_help_center", "Full-text search over help-center articles.",
                 Param("query", "query", "string", "Search terms")),
        "search": _t("search", "web_search", "Search the web. Returns titles, URLs and snippets.",
                     Param("query", "query", "string", "Search query"),
                     Param("limit", "max_results", "integer", "Number of results (1-10)", required=False)),
        "browse": _t("browse", "fetch_url", "Fetch a web page and return its readable text.",
                     Param("url", "url", "string", "Absolute URL")),
        "read": _t("read", "read_file", "Read a file from the shared workspace.",
                   Param("path", "path", "string", "Workspace-relative path")),
        "code": _t("code", "run_python", "Run Python code in a sandbox and return stdout/stderr.",
                   Param("code", "code", "string", "Python source")),
        "invoice": _t("invoice", "get_invoice", "Fetch an invoice with line items and payment status.",
                      Param("invoice_id", "invoice_id", "string", "Invoice number, e.g. INV-2025-0042")),
        "credit": _t("credit", "apply_account_credit", "Apply a goodwill credit to a customer account.",
                     Param("account_id", "account_id", "string", "Account ID"),
                     Param("amount", "amount", "number", "Credit amount"),
                     Param("reason", "reason", "string", "Internal note")),
        "status": _t("status", "check_service_status", "Current outages and degradations for a region.",
                     Param("region", "region", "string", "Region code, e.g. eu-west")),
        "diag": _t("diag", "run_line_diagnostics", "Run remote diagnostics on a customer's line.",
                   Param("account_id", "account_id", "string", "Account ID")),
        "track": _t("track", "track_shipment", "Carrier tracking events for a shipment.",
                    Param("tracking", "tracking_number", "string", "Carrier tracking number")),
        "resched": _t("resched", "reschedule_delivery", "Move a delivery to another date.",
                      Param("tracking", "tracking_number", "string", "Carrier tracking number"),
                      Param("date", "date", "string", "New date, YYYY-MM-DD")),
    },
    order_prefix="ORD-",
    account_prefix="ACC-",
    ticket_prefix="TCK-",
)

RENAMED = Names(
    workflows={"support": "care_desk", "research": "insight_finder", "orchestrator": "service_router"},
    services={"support": "care-desk-svc", "research": "insight-svc", "orchestrator": "router-gateway"},
    agents={"support": "Care Concierge", "research": "Analyst", "triage": "Dispatcher",
            "billing": "Accounts Specialist", "tech": "Connectivity Specialist", "shipping": "Logistics Specialist"},
    tools={
        "order": _t("order", "fetch_purchase", "Retrieve a purchase record (state, lines, totals, delivery).",
                    Param("order_id", "purchase_ref", "string", "Purchase reference such as P-77120")),
        "policy": _t("policy", "read_terms", "Return the customer terms for one section.",
                     Param("topic", "section", "string", "Terms section",
                           enum=["reimbursement", "exchange", "delivery", "guarantee"])),
        "refund": _t("refund", "create_reimbursement", "Send money back to the payer for a purchase.",
                     Param("order_id", "purchase_ref", "string", "Purchase reference"),
                     Param("amount", "value", "number", "Amount to return"),
                     Param("reason", "justification", "string", "Why the money is returned")),
        "escalate": _t("escalate", "page_staff", "Transfer the chat to a staff member.",
                       Param("reason", "summary", "string", "Case summary for staff"),
                       Param("priority", "urgency", "string", "How fast", enum=["later", "today", "now"])),
        "kb": _t("kb", "query_faq", "Look through the FAQ knowledge base.",
                 Param("query", "text", "string", "What to look for")),
        "search": _t("search", "internet_lookup", "Query a search engine for pages.",
                     Param("query", "terms", "string", "Search terms"),
                     Param("limit", "top_k", "integer", "How many hits", required=False)),
        "browse": _t("browse", "open_page", "Download a page and extract the main text.",
                     Param("url", "address", "string", "Page address")),
        "read": _t("read", "load_document", "Load a document from the project drive.",
                   Param("path", "filename", "string", "Document name")),
        "code": _t("code", "execute_snippet", "Execute a Python snippet and capture its output.",
                   Param("code", "source", "string", "Snippet")),
        "invoice": _t("invoice", "retrieve_statement", "Get a billing statement and its payment state.",
                      Param("invoice_id", "statement_no", "string", "Statement number, e.g. ST-88-1031")),
        "credit": _t("credit", "grant_goodwill_credit", "Put a goodwill credit on the customer's balance.",
                     Param("account_id", "customer_ref", "string", "Customer reference"),
                     Param("amount", "value", "number", "Credit value"),
                     Param("reason", "note", "string", "Why")),
        "status": _t("status", "probe_network", "Report incidents affecting a network zone.",
                     Param("region", "zone", "string", "Zone such as north-2")),
        "diag": _t("diag", "test_modem", "Remotely test the customer's modem.",
                   Param("account_id", "customer_ref", "string", "Customer reference")),
        "track": _t("track", "locate_parcel", "Scan history for a parcel.",
                    Param("tracking", "parcel_code", "string", "Parcel code")),
        "resched": _t("resched", "change_drop_date", "Pick another drop-off date for a parcel.",
                      Param("tracking", "parcel_code", "string", "Parcel code"),
                      Param("date", "new_date", "string", "Date as YYYY-MM-DD")),
    },
    order_prefix="P-",
    account_prefix="CU",
    ticket_prefix="CASE-",
)

VARIANTS: dict[str, Names] = {"default": DEFAULT, "renamed": RENAMED}


def handoff_tool(agent_name: str) -> str:
    """The tool name the Agents SDK gives a hand-off: `transfer_to_<agent name in snake case>`."""
    return "transfer_to_" + "_".join(agent_name.lower().split())
