"""Derived per-trace state: orphan and cycle flags, inherited agents, and the trace rollup.

Pure functions over the span rows the store selects for one trace, so they can be tested alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson

from investigator.timefmt import duration_ms


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# Positions in the rows _refresh_chunk selects.
_ROWID, _TID, _SID, _PARENT, _NAME, _KIND, _START, _END, _STATUS, _AGENT, _INHERITED = range(11)
_MODEL, _SERVICE, _SESSION, _USER, _HINTS, _FORMAT, _ORPHAN, _CYCLE = range(11, 19)


def tree_updates(rows: list[tuple]) -> list[tuple]:
    """Orphan and cycle flags and inherited agents for one trace; only rows that change."""
    by_id = {r[_SID]: r for r in rows}
    parent = {sid: r[_PARENT] for sid, r in by_id.items()}
    orphan = {sid for sid, p in parent.items() if p is not None and p not in by_id}
    cycle_broken: set[str] = set()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(by_id, key=lambda s: (by_id[s][_START] or "", s)):
        path: list[str] = []
        node: str | None = start
        while node is not None and node in by_id and state.get(node) != 2:
            if state.get(node) == 1:
                cycle_broken.add(node)  # the edge from here back into the path closes a cycle
                break
            state[node] = 1
            path.append(node)
            node = parent[node] if node not in cycle_broken else None
        for visited in path:
            state[visited] = 2
    agents: dict[str, tuple[str | None, int]] = {}

    def agent_of(sid: str) -> tuple[str | None, int]:
        chain: list[str] = []
        node: str | None = sid
        found: tuple[str | None, int] = (None, 0)
        while node is not None and node in by_id:
            if node in agents:
                found = (agents[node][0], 1)
                break
            row = by_id[node]
            if row[_AGENT] and not row[_INHERITED]:
                found = (row[_AGENT], 0 if node == sid else 1)
                break
            if row[_KIND] == "agent" and row[_NAME]:
                found = (row[_NAME], 0 if node == sid else 1)
                break
            chain.append(node)
            if node in cycle_broken or node in orphan:
                break
            node = parent[node]
        for visited in chain:
            agents[visited] = (found[0], 1 if found[0] else 0)
        if sid not in agents:
            agents[sid] = found
        return agents[sid]

    updates = []
    for sid, row in by_id.items():
        agent, inherited = agent_of(sid)
        if row[_AGENT] and not row[_INHERITED]:
            agent, inherited = row[_AGENT], 0
        flags = (agent, inherited, int(sid in orphan), int(sid in cycle_broken))
        if flags != (row[_AGENT], row[_INHERITED], row[_ORPHAN], row[_CYCLE]):
            updates.append((*flags, row[_ROWID]))
    return updates


def derive(trace_id: str, rows: list[tuple], info: dict[str, Any], labels: dict[str, Any]) -> tuple[list[tuple], tuple]:
    """A trace's span flag updates (see `tree_updates`) and its rollup row, the rollup read from the
    spans as the updates leave them (a span that closes a cycle is a root). The spans are taken by
    parent, then in storage order (`_ROWID`), so ties (the most common model, say) are broken the same
    whether the rows come from a batch in hand or from the store."""
    rows = sorted(rows, key=_tie_order)
    updates = tree_updates(rows)
    if updates:
        flags = {update[-1]: update[:-1] for update in updates}
        rows = [_flagged(r, flags[r[_ROWID]]) if r[_ROWID] in flags else r for r in rows]
    return updates, rollup(trace_id, rows, info, labels)


def _tie_order(row: tuple) -> tuple[bool, str, int]:
    return (row[_PARENT] is not None, row[_PARENT] or "", row[_ROWID])


def _flagged(row: tuple, flags: tuple) -> tuple:
    agent, inherited, orphan, cycle = flags
    return (*row[:_AGENT], agent, inherited, *row[_INHERITED + 1:_ORPHAN], orphan, cycle)


def _most_common(values: Iterable[Any]) -> Any:
    counted = Counter(v for v in values if v not in (None, ""))
    return counted.most_common(1)[0][0] if counted else None


def rollup(trace_id: str, rows: list[tuple], info: dict[str, Any], labels: dict[str, Any]) -> tuple:
    ids = {r[_SID] for r in rows}
    roots = [
        r for r in rows if r[_PARENT] is None or r[_PARENT] not in ids or r[_CYCLE]
    ] or rows
    root = min(roots, key=lambda r: (r[_PARENT] is not None, r[_START] or "", r[_SID]))
    starts = [r[_START] for r in rows if r[_START]] + ([info["start_time"]] if info.get("start_time") else [])
    ends = [r[_END] for r in rows if r[_END]] + ([info["end_time"]] if info.get("end_time") else [])
    start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    errors = sum(1 for r in rows if r[_STATUS] == "error")
    status = "error" if errors else ("ok" if any(r[_STATUS] == "ok" for r in rows) else "unset")
    hints: dict[str, Any] = {}
    for r in sorted(rows, key=lambda r: (r[_START] or "", r[_SID])):
        if r[_HINTS] and r[_HINTS] != "{}":
            for key, value in orjson.loads(r[_HINTS]).items():
                hints.setdefault(key, value)
    hints.update(info.get("hints") or {})
    tags = hints.get("tags") or []
    if not isinstance(tags, list):
        tags = [tags]
    attributes: dict[str, Any] = {}
    if hints.get("environment"):
        attributes["environment"] = hints["environment"]
    metadata = hints.get("metadata")
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            if isinstance(value, (str, int, float, bool)) and len(str(value)) <= 200:
                attributes.setdefault(str(key), value)
    return (
        trace_id,
        info.get("name") or root[_NAME],
        root[_SID],
        start,
        end,
        duration_ms(start, end),
        status,
        len(rows),
        errors,
        info.get("service") or _most_common(r[_SERVICE] for r in rows),
        info.get("session_id") or _most_common(r[_SESSION] for r in rows),
        info.get("user_id") or _most_common(r[_USER] for r in rows),
        _most_common(r[_MODEL] for r in rows if r[_KIND] == "llm") or _most_common(r[_MODEL] for r in rows),
        _str_or_none(hints.get("agent_version") or hints.get("service_version")),
        _str_or_none(hints.get("prompt_version")),
        _dumps(sorted({str(t) for t in tags})),
        _dumps(attributes),
        *label_columns(labels),
        _most_common(r[_FORMAT] for r in rows),
    )


def label_columns(labels: dict[str, Any]) -> tuple[str, str]:
    """A trace's `labels` and `outcome` columns from its labels (the one named "outcome" apart)."""
    other_labels = {k: v for k, v in labels.items() if k != "outcome"}
    return _dumps(other_labels), _dumps(labels.get("outcome") or {})


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
