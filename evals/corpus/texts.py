"""Phrasings for user messages, system prompts and answers, per corpus variant.

Each key maps a variant to a list of `str.format` templates; `say` picks one with the trace's
random generator. The renamed variant words everything differently on purpose.
"""

from __future__ import annotations

import random
from typing import Any

TEXTS: dict[str, dict[str, list[str]]] = {
    # --- customer support -------------------------------------------------------------
    "support.system": {
        "default": [
            ("You are the customer support assistant for Northwind Home. Use the tools to look up orders and "
            "policies before answering. Refunds above $500 need a human: escalate them. Never reveal full card "
            "numbers, other customers' data or internal notes. Do not promise delivery dates the carrier has not "
            "confirmed. Keep answers under 120 words."),
        ],
        "renamed": [
            ("Role: care concierge for Lumen Outfitters. Always consult the purchase record and the terms before "
            "replying. Reimbursements over 500 EUR must go to staff. Payment details, other shoppers' records "
            "and staff memos stay private. Only quote delivery dates that the courier gave us. Be brief."),
        ],
    },
    "support.ask_status": {
        "default": [
            "Hi, where is my order {order}? It was supposed to be here by now.",
            "hey can you check on {order}, tracking hasn't moved in days",
            "Order {order} - any update? I need the {item} before the weekend.",
            "I ordered a {item} ({order}) last week and still nothing. What's going on?",
        ],
        "renamed": [
            "Could you tell me what's happening with purchase {order}?",
            "my {item} never showed up. ref {order}",
            "Any news on {order}? The courier page just says 'in transit'.",
            "Checking in about {order} — when will the {item} reach me?",
        ],
    },
    "support.ask_refund": {
        "default": [
            "I want a refund for order {order}. The {item} arrived broken.",
            "The {item} from {order} stopped working after two days. Please refund me.",
            "Hello, {order} came damaged (the {item} box was crushed). Can I get my money back?",
            "refund please, {order}, {item} is not as described",
        ],
        "renamed": [
            "Please return my money for {order}, the {item} was faulty on arrival.",
            "{order}: the {item} is defective. I'd like reimbursement.",
            "Hi there. My {item} ({order}) is unusable — send the money back?",
            "Requesting a reimbursement on purchase {order}; {item} cracked.",
        ],
    },
    "support.ask_policy": {
        "default": [
            "How long do I have to return an opened {item}?",
            "What's your return policy if I already used the {item} once?",
            "Do you refund shipping costs when I send something back?",
        ],
        "renamed": [
            "If I've unpacked the {item}, can I still exchange it, and until when?",
            "What are the rules for swapping an item I've tried out?",
            "Are courier fees reimbursed on exchanges?",
        ],
    },
    "support.ask_human": {
        "default": [
            "This is the third time I'm writing about {order}. I want to talk to a real person now.",
            "Your bot keeps looping. Get me a human for {order}, please.",
            "I've been charged twice for {order} and nobody answers. Escalate this.",
        ],
        "renamed": [
            "Third message about {order}. Put me through to someone from your team.",
            "I need a staff member, not a chatbot. Ref {order}.",
            "Double charge on {order}, still unresolved. I want this handled by a person.",
        ],
    },
    "support.answer_status": {
        "default": [
            ("Your order {order} ({item}) is {status}. {carrier} tracking number {tracking}; the carrier currently "
            "estimates delivery on {eta}."),
            "Thanks for waiting! {order} shows as {status} with {carrier} ({tracking}). Expected delivery: {eta}.",
            ("I checked {order}: it's {status}. You can follow it with {carrier} using {tracking} — current "
            "estimate is {eta}."),
        ],
        "renamed": [
            ("Purchase {order} for the {item}: state is '{status}'. Courier {carrier}, parcel code {tracking}, "
            "projected drop-off {eta}."),
            "Good news — {order} is {status}. {carrier} lists {eta} as the drop-off date (code {tracking}).",
        ],
    },
    "support.answer_refund": {
        "default": [
            ("I'm sorry about the {item}. I've issued a refund of {money} for {order} to your original payment "
            "method (reference {ref}). It usually shows up within 5-10 business days."),
            ("Done — a {money} refund for {order} is on its way (ref {ref}). Banks take 5-10 business days to "
            "post it."),
        ],
        "renamed": [
            ("Apologies for the faulty {item}. A reimbursement of {money} for {order} has been created "
            "(ref {ref}); expect it on your statement within a week or two."),
            "All set: {money} is going back to your card for {order}. Reference {ref}.",
        ],
    },
    "support.answer_policy": {
        "default": [
            ("You can return items within {days} days of delivery, opened or not, as long as they're in resellable "
            "condition. Return shipping is free for damaged or incorrect items."),
            ("Our policy allows returns within {days} days of delivery. Opened items are fine if complete; we "
            "cover return shipping only when the item was damaged or wrong."),
        ],
        "renamed": [
            ("Exchanges are accepted for {days} days after delivery if the product is complete. We pay the "
            "courier only when we made the mistake."),
            "You have {days} days from drop-off to exchange; tried items are ok when nothing is missing.",
        ],
    },
    "support.answer_escalated": {
        "default": [
            ("I understand, and I'm sorry for the trouble. I've passed {order} to a member of our team (ticket "
            "{ticket}); they'll reply by email within 4 business hours."),
            ("I've escalated this to a human colleague with the full history — ticket {ticket}. You'll hear back "
            "today."),
        ],
        "renamed": [
            "Understood. A staff member now has case {ticket} for {order} and will write to you shortly.",
            "I've handed {order} to our team (case {ticket}). Someone will pick it up within a few hours.",
        ],
    },
    # --- research ---------------------------------------------------------------------
    "research.system": {
        "default": [
            ("You are a research assistant. Search the web, read sources, and use run_python for any "
            "arithmetic. Cite every source URL you rely on. If sources disagree, say so. Never execute code "
            "that modifies or deletes files. Answer in at most 200 words."),
        ],
        "renamed": [
            ("Analyst mode. Gather evidence from pages and documents, compute numbers with the snippet runner, "
            "list the addresses you used. Flag conflicting evidence. No destructive file operations. Stay "
            "concise."),
        ],
    },
    "research.answer": {
        "default": [
            "{finding} Sources: {urls}",
            "Short answer: {finding}\n\nSources:\n{urls_lines}",
        ],
        "renamed": [
            "Finding — {finding} (evidence: {urls})",
            "{finding}\nReferences: {urls}",
        ],
    },
    # --- orchestrator -----------------------------------------------------------------
    "triage.system": {
        "default": [
            ("You are the triage agent for Contoso Broadband. Decide which specialist handles the request and "
            "hand off: billing questions to the Billing Agent, outages and connection problems to the Tech "
            "Support Agent, deliveries of equipment to the Shipping Agent. Do not answer yourself."),
        ],
        "renamed": [
            ("Dispatcher for Aurora Fibre. Route: charges and statements -> Accounts Specialist; network or "
            "modem trouble -> Connectivity Specialist; parcels -> Logistics Specialist. Never resolve cases "
            "directly."),
        ],
    },
    "billing.system": {
        "default": [("You are the billing specialist. Look up invoices before explaining charges. Credits above "
                    "$50 require a supervisor; do not apply them yourself.")],
        "renamed": [("Accounts specialist: check the statement first. Goodwill credit is capped at 50 EUR per case "
                    "without supervisor sign-off.")],
    },
    "tech.system": {
        "default": [("You are the technical support specialist. Check for outages in the customer's region before "
                    "running line diagnostics. Explain results plainly.")],
        "renamed": ["Connectivity specialist. Look for zone incidents first, then test the modem. Plain words."],
    },
    "shipping.system": {
        "default": [("You are the shipping specialist. Track equipment shipments and reschedule deliveries on "
                    "request. Only offer dates the carrier allows.")],
        "renamed": ["Logistics specialist. Locate parcels; move drop dates when asked, within courier limits."],
    },
    "ask.billing": {
        "default": ["Why is my bill {money} higher this month? Invoice {invoice}.",
                    "I was charged twice on invoice {invoice}, can you check?",
                    "There's a {money} fee on {invoice} I don't recognise."],
        "renamed": ["Statement {invoice} is {money} more than usual — why?",
                    "Looks like a duplicate charge on {invoice}.",
                    "Unknown {money} line on statement {invoice}, please explain."],
    },
    "ask.tech": {
        "default": ["My internet keeps dropping every evening. Account {account}, I'm in {region}.",
                    "No connection since this morning ({account}, {region}). Is there an outage?"],
        "renamed": ["Wifi cuts out constantly. Customer {account}, zone {region}.",
                    "Offline since 7am — customer ref {account}, {region}. Incident?"],
    },
    "ask.shipping": {
        "default": ["Where is my new router? Tracking {tracking}.",
                    "Can you move the delivery of my modem ({tracking}) to {date}? I'm away until then."],
        "renamed": ["Parcel {tracking} with my new modem — where is it?",
                    "Please shift drop-off for {tracking} to {date}."],
    },
}


def say(rng: random.Random, variant: str, key: str, **slots: Any) -> str:
    options = TEXTS[key][variant]
    return rng.choice(options).format(**slots)
