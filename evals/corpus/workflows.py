"""The three agent workflows, written as clean scripts: what a healthy run looks like.

- support: one agent that looks up orders and policies, issues refunds, escalates to a human;
- research: one agent that searches, reads pages and files, runs code and answers with sources;
- orchestrator: a triage agent that hands off to a billing, tech or shipping specialist.

Each builder also records in `script.facts` the domain facts faults need to rewrite a run
(the order record, the alternative wrong answers a model might give, ...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .script import Agent, AgentRun, Parser, Script, ToolCall, ToolDef, Turn, dumps
from .texts import say
from .vocab import Names, handoff_tool

FIRST = ["Maria", "James", "Aisha", "Tomasz", "Chen", "Olivia", "Rahul", "Sofia", "Lukas", "Fatima", "Diego",
         "Hannah", "Kenji", "Amara", "Noah", "Elena"]
LAST = ["Garcia", "Smith", "Khan", "Nowak", "Wei", "Brown", "Patel", "Rossi", "Schmidt", "Haddad", "Lopez",
        "Meyer", "Tanaka", "Okafor", "Dubois", "Ivanova"]
STREETS = ["Elm Street", "Harbour Road", "Linden Avenue", "Mill Lane", "Kingsway", "Rue des Lilas", "Oak Drive"]
CITIES = [("Portland", "OR", "97205"), ("Leeds", "", "LS1 4AP"), ("Austin", "TX", "78704"), ("Lyon", "", "69003"),
          ("Denver", "CO", "80205"), ("Cork", "", "T12 X70")]
ITEMS = [("blender", 89.0), ("espresso machine", 349.0), ("desk lamp", 42.0), ("air purifier", 219.0),
         ("stand mixer", 429.0), ("robot vacuum", 649.0), ("kettle", 39.5), ("office chair", 289.0),
         ("rice cooker", 74.99), ("cast-iron pan", 54.0)]
CARRIERS = [("UPS", "1Z{}"), ("FedEx", "7{}"), ("DHL", "JD{}"), ("USPS", "9400{}")]
STATUSES = ["shipped", "in transit", "out for delivery", "processing"]
MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini", "claude-sonnet-4-5"]

RESEARCH_TOPICS = [
    {"q": "What share of EU electricity came from wind in 2023?",
     "q_renamed": "Roughly how much of the European Union's power was wind-generated last year (2023)?",
     "query": "EU wind share of electricity 2023",
     "finding": "Wind supplied about 18% of EU electricity in 2023, overtaking gas for the first time.",
     "wrong": "Wind supplied about 31% of EU electricity in 2023.", "site": "ember-climate.org"},
    {"q": "How much did global EV sales grow in 2023 compared to 2022?",
     "q_renamed": "By what percentage did worldwide electric-car sales rise from 2022 to 2023?",
     "query": "global electric car sales 2023 growth",
     "finding": "Global electric car sales reached about 14 million in 2023, roughly 35% more than in 2022.",
     "wrong": "Global electric car sales doubled in 2023 to 28 million.", "site": "iea.org"},
    {"q": "When does the EU AI Act's ban on prohibited practices apply?",
     "q_renamed": "From which date are the AI Act's banned practices enforceable in the EU?",
     "query": "EU AI Act prohibited practices application date",
     "finding": "The prohibitions apply from 2 February 2025, six months after entry into force on 1 August 2024.",
     "wrong": "The prohibitions apply from 1 January 2027.", "site": "eur-lex.europa.eu"},
    {"q": "What is the median latency of Postgres 16 logical replication under load per the benchmark paper?",
     "q_renamed": "Per the benchmark paper, what's the typical (median) apply lag of logical replication "
                  "in Postgres 16 under load?",
     "query": "postgres 16 logical replication latency benchmark",
     "finding": "The benchmark reports a median apply latency of about 120 ms at 5k TPS.",
     "wrong": "The benchmark reports a median apply latency of about 12 seconds.", "site": "arxiv.org"},
    {"q": "How many active Python developers are there according to the latest JetBrains survey?",
     "q_renamed": "What fraction of developers use Python in the most recent JetBrains ecosystem study?",
     "query": "JetBrains developer ecosystem survey python users",
     "finding": "About 49% of surveyed developers reported using Python, "
                "the survey's most-used language after JavaScript.",
     "wrong": "About 92% of surveyed developers reported using Python.", "site": "jetbrains.com"},
    {"q": "Compute the compound annual growth rate of our Q1 2022 to Q1 2025 revenue from the shared sheet.",
     "q_renamed": "Using the revenue sheet on the drive, what's the CAGR between Q1 2022 and Q1 2025?",
     "query": "", "finding": "Revenue grew from $4.2M to $7.9M, a CAGR of about 23.4%.",
     "wrong": "Revenue grew at a CAGR of about 88%.", "site": "", "file": "finance/revenue_quarterly.csv"},
]


@dataclass
class Ctx:
    """Everything a builder needs: the random stream, the variant's names and the slice values."""

    rng: random.Random
    variant: str
    names: Names
    agent_version: str
    prompt_version: str
    index: int

    def tool(self, role: str) -> ToolDef:
        return self.names.tools[role]

    def say(self, key: str, **slots: Any) -> str:
        return say(self.rng, self.variant, key, **slots)

    def call(self, role: str, result: Any, **args: Any) -> ToolCall:
        tool = self.tool(role)
        return ToolCall(tool.name, tool.args(**args), result if isinstance(result, str) else dumps(result))

    def money(self, amount: float) -> str:
        return f"€{amount:.2f}" if self.variant == "renamed" else f"${amount:.2f}"

    def topic(self, index: int) -> str:
        return self.tool("policy").params[0].enum[index]  # type: ignore[index]

    def digits(self, n: int) -> str:
        return "".join(str(self.rng.randint(0, 9)) for _ in range(n))


def customer(ctx: Ctx) -> dict[str, Any]:
    rng = ctx.rng
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, postcode = rng.choice(CITIES)
    domain = rng.choice(["gmail.com", "outlook.com", "proton.me", "yahoo.com", "icloud.com"])
    return {
        "name": f"{first} {last}", "first": first,
        "email": f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{domain}",
        "phone": f"+1 ({rng.randint(201, 989)}) 555-0{rng.randint(100, 199)}",
        "address": f"{rng.randint(2, 480)} {rng.choice(STREETS)}, {city}{', ' + state if state else ''} {postcode}",
        "card_last4": ctx.digits(4),
    }


def order_record(ctx: Ctx, cust: dict[str, Any]) -> dict[str, Any]:
    rng = ctx.rng
    item, price = rng.choice(ITEMS)
    qty = 1 if rng.random() < 0.8 else 2
    carrier, pattern = rng.choice(CARRIERS)
    day = rng.randint(3, 26)
    email = cust["email"]
    return {
        "order_id": f"{ctx.names.order_prefix}{rng.randint(10000, 99999)}",
        "status": rng.choice(STATUSES),
        "placed_at": f"2025-02-{rng.randint(10, 28):02d}T{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}:00Z",
        "items": [{"sku": f"SKU-{rng.randint(1000, 9999)}", "name": item, "qty": qty, "unit_price": price}],
        "total": round(price * qty, 2),
        "currency": "EUR" if ctx.variant == "renamed" else "USD",
        "shipping": {"carrier": carrier, "tracking_number": pattern.format(ctx.digits(12)),
                     "estimated_delivery": f"2025-03-{day:02d}"},
        "customer": {"name": cust["name"], "email": email[0] + "***@" + email.split("@")[1],
                     "payment": f"visa ****{cust['card_last4']}"},
    }


def _support_agent(ctx: Ctx, model: str) -> Agent:
    roles = ["order", "policy", "refund", "escalate", "kb"]
    return Agent(ctx.names.agents["support"], ctx.say("support.system"), model, [ctx.tool(r) for r in roles])


def build_support(ctx: Ctx, intent: str | None = None) -> Script:
    """Customer support: order status, refunds, policy questions, hand-off to a human."""
    rng = ctx.rng
    intent = intent or rng.choices(["status", "refund", "policy", "human"], [4, 4, 2, 1.5])[0]
    model = rng.choices(["gpt-4o-2024-08-06", "gpt-4o-mini"], [3, 2])[0]
    agent = _support_agent(ctx, model)
    cust = customer(ctx)
    order = order_record(ctx, cust)
    item = order["items"][0]["name"]
    oid = order["order_id"]
    ship = order["shipping"]
    slots = {"order": oid, "item": item}
    policy_days = rng.choice([30, 30, 30, 60])
    policy_text = {
        "refunds": f"Refunds: damaged, defective or incorrect items are refunded in full to the original payment "
                   f"method within {policy_days} days of delivery. "
                   "Refunds over 500.00 require approval by a team lead.",
        "returns": f"Returns: items may be returned within {policy_days} days of delivery in resellable condition. "
                   "Return shipping is free for damaged or incorrect items; otherwise a 6.95 label fee applies.",
    }
    turns: list[Turn] = []
    facts_refund: ToolCall | None = None
    lookup = ctx.call("order", order, order_id=oid)
    if intent == "status":
        user = ctx.say("support.ask_status", **slots)
        turns.append(Turn(calls=[lookup]))
        final = ctx.say("support.answer_status", order=oid, item=item, status=order["status"],
                        carrier=ship["carrier"], tracking=ship["tracking_number"], eta=ship["estimated_delivery"])
    elif intent == "refund":
        user = ctx.say("support.ask_refund", **slots)
        topic = ctx.topic(0)
        policy = ctx.call("policy", {"topic": topic, "version": "2025-01", "text": policy_text["refunds"]}, topic=topic)
        ref = f"re_{ctx.digits(4)}{rng.choice('ABCDEFGHJK')}{ctx.digits(5)}"
        amount = order["total"]
        refund = ctx.call("refund", {"refund_id": ref, "status": "succeeded", "amount": amount,
                                     "currency": order["currency"], "order_id": oid},
                          order_id=oid, amount=amount, reason="damaged on arrival")
        turns += [Turn(calls=[lookup]), Turn(calls=[policy])]
        slots.update(ref=ref, amount=amount)
        if amount > 500:  # above the approval limit the policy sends refunds to a human
            ticket = f"{ctx.names.ticket_prefix}{rng.randint(100000, 999999)}"
            escalate = ctx.call("escalate", {"ticket_id": ticket, "queue": "refund-approvals", "position": 1},
                                reason=f"Refund of {ctx.money(amount)} for {oid} exceeds the approval limit.",
                                priority=ctx.tool("escalate").params[1].enum[1])  # type: ignore[index]
            turns.append(Turn(calls=[escalate]))
            final = ctx.say("support.answer_escalated", order=oid, ticket=ticket)
            slots["ticket"] = ticket
            facts_refund = refund
        else:
            turns.append(Turn(calls=[refund]))
            final = ctx.say("support.answer_refund", item=item, money=ctx.money(amount), order=oid, ref=ref)
            facts_refund = None
    elif intent == "policy":
        user = ctx.say("support.ask_policy", **slots)
        topic = ctx.topic(1)
        policy = ctx.call("policy", {"topic": topic, "version": "2025-01", "text": policy_text["returns"]}, topic=topic)
        turns.append(Turn(calls=[policy]))
        final = ctx.say("support.answer_policy", days=policy_days)
    else:
        user = ctx.say("support.ask_human", **slots)
        ticket = f"{ctx.names.ticket_prefix}{rng.randint(100000, 999999)}"
        escalate = ctx.call("escalate", {"ticket_id": ticket, "queue": "tier2", "position": rng.randint(1, 9)},
                            reason=f"Customer has contacted us repeatedly about {oid}; requests a human.",
                            priority=ctx.tool("escalate").params[1].enum[1])  # type: ignore[index]
        turns += [Turn(calls=[lookup]), Turn(calls=[escalate])]
        final = ctx.say("support.answer_escalated", order=oid, ticket=ticket)
        slots["ticket"] = ticket
    turns.append(Turn(content=final))
    run = AgentRun(agent, turns)
    return Script(ctx.names.workflows["support"], ctx.names.workflows["support"], ctx.names.services["support"],
                  user, [run], final_output=final,
                  facts={"intent": intent, "order": order, "customer": cust, "slots": slots,
                         "policy_days": policy_days, "lookup": lookup,
                         "withheld_refund": facts_refund})


def build_research(ctx: Ctx, intent: str | None = None) -> Script:
    """Research: search → read pages (and workspace files) → compute → cited answer."""
    rng = ctx.rng
    topic = rng.choice(RESEARCH_TOPICS if intent != "web" else RESEARCH_TOPICS[:5])
    model = rng.choices(["claude-sonnet-4-5", "gpt-4o-2024-08-06"], [3, 2])[0]
    agent = Agent(ctx.names.agents["research"], ctx.say("research.system"), model,
                  [ctx.tool(r) for r in ("search", "browse", "read", "code")], temperature=0.0)
    turns: list[Turn] = []
    urls: list[str] = []
    if topic.get("file"):
        path = topic["file"] if ctx.variant == "default" else "drive/" + topic["file"].split("/")[-1]
        csv = "quarter,revenue_musd\n2022Q1,4.2\n2023Q1,5.1\n2024Q1,6.4\n2025Q1,7.9\n"
        turns.append(Turn(calls=[ctx.call("read", csv, path=path)]))
        code = "start, end, years = 4.2, 7.9, 3\nprint(round(((end / start) ** (1 / years) - 1) * 100, 1))"
        turns.append(Turn(content="Computing the CAGR from the first and last quarter.",
                          calls=[ctx.call("code", "23.4\n", code=code)]))
        urls.append(path)
    else:
        n = rng.randint(2, 4)
        hits = [{"title": f"{topic['site']} — {topic['query'].title()} ({i + 1})",
                 "url": f"https://{topic['site']}/{'-'.join(topic['query'].lower().split()[:4])}-{rng.randint(10, 99)}",
                 "snippet": topic["finding"][: 60 + 10 * i] + "…"} for i in range(n)]
        turns.append(Turn(calls=[ctx.call("search", {"query": topic["query"], "results": hits},
                                          query=topic["query"], limit=rng.choice([5, 5, 8]))]))
        for hit in hits[: rng.randint(1, 2)]:
            page = (f"{hit['title']}\n\n{topic['finding']} The figures come from national statistics and were "
                    f"revised in the latest release. Methodology notes and regional breakdowns follow.")
            turns.append(Turn(calls=[ctx.call("browse", page, url=hit["url"])]))
            urls.append(hit["url"])
        if rng.random() < 0.35:
            code = "values = [18.1, 17.6, 18.4]\nprint(round(sum(values) / len(values), 1))"
            turns.append(Turn(calls=[ctx.call("code", "18.0\n", code=code)]))
    structured = rng.random() < 0.5
    if structured:
        answer = dumps({"answer": topic["finding"], "sources": urls, "confidence": rng.choice(["high", "medium"])})
    else:
        answer = ctx.say("research.answer", finding=topic["finding"], urls=", ".join(urls),
                         urls_lines="\n".join(f"- {u}" for u in urls))
    turns.append(Turn(content=answer))
    run = AgentRun(agent, turns, parser=Parser("ResearchReport", None, answer) if structured else None)
    return Script(ctx.names.workflows["research"], ctx.names.workflows["research"], ctx.names.services["research"],
                  topic["q" if ctx.variant == "default" else "q_renamed"], [run], final_output=answer,
                  facts={"topic": topic, "urls": urls, "answer": answer, "structured": structured})


def build_orchestrator(ctx: Ctx, intent: str | None = None) -> Script:
    """Triage agent that hands off to one specialist, who resolves the request with its tools."""
    rng = ctx.rng
    intent = intent or rng.choice(["billing", "tech", "shipping"])
    names = ctx.names.agents
    specialists = {
        "billing": Agent(names["billing"], ctx.say("billing.system"), "gpt-4o-2024-08-06",
                         [ctx.tool("invoice"), ctx.tool("credit")]),
        "tech": Agent(names["tech"], ctx.say("tech.system"), "gpt-4o-2024-08-06",
                      [ctx.tool("status"), ctx.tool("diag")]),
        "shipping": Agent(names["shipping"], ctx.say("shipping.system"), "gpt-4o-mini",
                          [ctx.tool("track"), ctx.tool("resched")]),
    }
    handoff_defs = [
        ToolDef("handoff", handoff_tool(a.name), f"Handoff to the {a.name} agent to handle the request.", [])
        for a in specialists.values()
    ]
    triage = Agent(names["triage"], ctx.say("triage.system"), "gpt-4o-mini", handoff_defs,
                   handoffs=[a.name for a in specialists.values()])
    account = f"{ctx.names.account_prefix}{rng.randint(1000000, 9999999)}"
    region = rng.choice(["eu-west", "us-east", "us-central", "ap-south"] if ctx.variant == "default"
                        else ["north-2", "south-1", "east-4", "west-3"])
    invoice = (
        f"INV-2025-{rng.randint(1000, 9999)}" if ctx.variant == "default"
        else f"ST-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    )
    tracking = "1Z" + ctx.digits(14)
    date = f"2025-03-{rng.randint(10, 28):02d}"
    fee = round(rng.uniform(8, 45), 2)
    slots = {"money": ctx.money(fee), "invoice": invoice, "account": account, "region": region,
             "tracking": tracking, "date": date}
    user = ctx.say(f"ask.{intent}", **slots)
    spec = specialists[intent]
    target = handoff_tool(spec.name)
    handoff = ToolCall(target, "{}", dumps({"assistant": spec.name}), handoff_to=spec.name)
    triage_run = AgentRun(triage, [Turn(calls=[handoff])])
    turns: list[Turn] = []
    if intent == "billing":
        inv = {"invoice_id": invoice, "account_id": account, "status": "paid", "total": round(54.99 + fee, 2),
               "lines": [{"description": "Fibre 500 plan", "amount": 54.99},
                         {"description": "Router rental (from March)", "amount": fee}]}
        turns.append(Turn(calls=[ctx.call("invoice", inv, invoice_id=invoice)]))
        final = (f"The extra {ctx.money(fee)} on {invoice} is the router rental that started in March; the plan itself "
                 "is unchanged." if ctx.variant == "default" else
                 f"Statement {invoice}: the additional {ctx.money(fee)} is modem rental, billed since March.")
    elif intent == "tech":
        outage = rng.random() < 0.4
        turns.append(Turn(calls=[ctx.call("status", {"region": region, "incidents": [
            {"id": f"INC-{rng.randint(1000, 9999)}", "summary": "Evening congestion on aggregation node",
             "state": "monitoring"}] if outage else []}, region=region)]))
        diag = {"account_id": account, "line": "ok" if outage else "degraded", "snr_db": 31.2 if outage else 9.4,
                "resyncs_24h": 2 if outage else 17}
        turns.append(Turn(calls=[ctx.call("diag", diag, account_id=account)]))
        final = {
            ("default", True): "There's a known congestion incident in your area that explains the evening drops; "
                               "your line itself tests fine.",
            ("default", False): "No outage in your area, but your line shows low signal and 17 resyncs today. I've "
                                "flagged it for an engineer visit.",
            ("renamed", True): "An open incident in your zone is causing the drop-outs; the modem test came back "
                               "healthy.",
            ("renamed", False): "Your zone is incident-free, yet the modem reports weak signal and frequent resyncs; "
                                "a technician will be booked.",
        }[(ctx.variant, outage)]
    else:
        events = [{"time": "2025-03-04T08:12:00Z", "event": "Departed facility"},
                  {"time": "2025-03-05T06:40:00Z", "event": "Out for delivery"}]
        turns.append(Turn(calls=[ctx.call("track", {"tracking_number": tracking, "status": "out_for_delivery",
                                                    "events": events}, tracking=tracking)]))
        if "date" in user or date in user:
            turns.append(Turn(calls=[ctx.call("resched", {"tracking_number": tracking, "new_date": date,
                                                          "confirmed": True}, tracking=tracking, date=date)]))
            final = (f"Done — delivery of {tracking} is moved to {date}." if ctx.variant == "default"
                     else f"Parcel {tracking} will now be dropped off on {date}.")
        else:
            final = (f"Your router ({tracking}) is out for delivery today." if ctx.variant == "default"
                     else f"The courier has parcel {tracking} on today's round.")
    turns.append(Turn(content=final))
    spec_run = AgentRun(spec, turns)
    return Script(ctx.names.workflows["orchestrator"], ctx.names.workflows["orchestrator"],
                  ctx.names.services["orchestrator"], user, [triage_run, spec_run], final_output=final,
                  facts={"intent": intent, "slots": slots, "specialists": specialists, "handoff": handoff,
                         "fee": fee})


BUILDERS = {"support": build_support, "research": build_research, "orchestrator": build_orchestrator}
