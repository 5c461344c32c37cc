"""Redaction benchmark: precision and recall per kind on the labelled corpus, and throughput.

    python -m evals.bench_redaction [--corpus evals/redaction_corpus.jsonl] [--mb 20] [--show-errors]

A found value counts as a true positive only when its kind and exact text match an expected
entry of the row (each expected entry can be used once). Throughput is measured twice: on the
corpus itself (dense with PII, the worst case) and on chat/JSON text typical of LLM spans, where
most texts hold nothing to mask.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

from investigator.redact import Redactor

CORPUS = Path(__file__).with_name("redaction_corpus.jsonl")

_SPAN_TEXT = (
    '[{"role": "system", "content": "You are a support agent for an online store. Use the tools to look up '
    'orders and issue refunds within the 30-day policy."}, {"role": "user", "content": "Hi, order ORD-2024-$N '
    'arrived damaged on 2024-06-$D. Can I get a refund?"}, {"role": "assistant", "tool_calls": [{"id": '
    '"call_$H", "name": "lookup_order", "arguments": "{\\"order_id\\": \\"ORD-2024-$N\\"}"}]}, {"role": '
    '"tool", "tool_call_id": "call_$H", "content": "{\\"status\\": \\"delivered\\", \\"total\\": 129.99, '
    '\\"items\\": 3, \\"delivered_at\\": \\"2024-06-$DT14:02:11Z\\"}"}]\n'
)


def load(path: Path) -> list[dict]:
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def score(redactor: Redactor, rows: list[dict]) -> tuple[Counter, Counter, Counter, list[str]]:
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    errors: list[str] = []
    for row in rows:
        expected = Counter((e["kind"], e["value"]) for e in row["expected"])
        for match in redactor.find(row["text"]):
            key = (match.kind, match.value)
            if expected[key] > 0:
                expected[key] -= 1
                tp[match.kind] += 1
            else:
                fp[match.kind] += 1
                errors.append(f"FP {match.kind} {match.value!r} in {row['text'][:120]!r}")
        for (kind, value), left in expected.items():
            if left > 0:
                fn[kind] += left
                errors.append(f"FN {kind} {value!r} in {row['text'][:120]!r}")
    return tp, fp, fn, errors


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def throughput(redactor: Redactor, text: str, target_mb: float) -> float:
    """MB/s of `redact` over about `target_mb` of text, in span-sized pieces."""
    pieces = max(1, int(target_mb * 1_000_000 / max(1, len(text))))
    start = time.perf_counter()
    for _ in range(pieces):
        redactor.redact(text)
    elapsed = time.perf_counter() - start
    return pieces * len(text.encode()) / 1_000_000 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--mb", type=float, default=20.0, help="MB of text per throughput run")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    rows = load(args.corpus)
    redactor = Redactor()
    tp, fp, fn, errors = score(redactor, rows)
    kinds = sorted(set(tp) | set(fp) | set(fn))
    negatives = sum(1 for r in rows if not r["expected"])
    print(f"corpus: {len(rows)} rows ({negatives} with nothing to find), "
          f"{sum(len(r['expected']) for r in rows)} expected values")
    print(f"{'kind':<14}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}")
    for kind in kinds:
        p = _ratio(tp[kind], tp[kind] + fp[kind])
        r = _ratio(tp[kind], tp[kind] + fn[kind])
        print(f"{kind:<14}{tp[kind]:>5}{fp[kind]:>5}{fn[kind]:>5}{p:>11.3f}{r:>8.3f}")
    t, f, n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(f"{'overall':<14}{t:>5}{f:>5}{n:>5}{_ratio(t, t + f):>11.3f}{_ratio(t, t + n):>8.3f}")
    if args.show_errors:
        for line in errors:
            print(line)

    rng = random.Random(7)
    dense = "\n".join(r["text"] for r in rows)
    span_text = "".join(
        _SPAN_TEXT.replace("$N", str(rng.randint(100000, 999999)))
        .replace("$D", str(rng.randint(10, 28)))
        .replace("$H", f"{rng.getrandbits(64):016x}")
        for _ in range(20)
    )
    print(f"throughput, PII-dense corpus text: {throughput(redactor, dense, args.mb):.1f} MB/s")
    print(f"throughput, typical LLM span text: {throughput(redactor, span_text, args.mb):.1f} MB/s")


if __name__ == "__main__":
    main()
