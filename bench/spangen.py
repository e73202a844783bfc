"""Seeded, cheap generator of realistic Respan / Keywords AI chat spans.

Every span is a dict accepted by ``POST /api/request-logs/bulk/`` (inside ``{"logs": [...]}``) and
serialises to about 5 KB of JSON. The same ``(seed, total, days, customers, end)`` always gives the
same spans, so benchmarks that ingest and later query can regenerate what they sent.

Speed matters more than statistical finesse: the load generator shares a small machine with the
server under test, so all text, weights and lookup tables are built once per seed, and each span
only picks from them with a handful of ``getrandbits`` calls (no ``random.choice``/``choices``,
no ``datetime`` in the hot path).

Import it from another script in bench/ (the script's folder is on ``sys.path``)::

    from spangen import iter_batches, batch_body

Run it alone to measure its cost per span::

    uv run python bench/spangen.py --spans 200000
"""

from __future__ import annotations

import argparse
import bisect
import functools
import itertools
import random
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

Span = dict[str, Any]

# (model, provider span name, weight out of 128). The last one is a self-hosted fine-tune that no
# price table knows, so servers must cope with a model they cannot price.
MODELS: tuple[tuple[str, str, int], ...] = (
    ("gpt-4o", "openai.chat", 32),
    ("gpt-4o-mini", "openai.chat", 45),
    ("claude-3-5-sonnet-20241022", "anthropic.messages", 25),
    ("gemini-1.5-pro", "google.generate_content", 13),
    ("o3-mini", "openai.chat", 6),
    ("acme-llama-3.1-70b-instruct-ft", "vllm.chat", 7),
)
UNKNOWN_MODEL = MODELS[-1][0]

# Multi-span traces run one of these workflows; the children are named after its steps.
WORKFLOWS: dict[str, tuple[str, ...]] = {
    "support_bot": ("classify_intent", "retrieve_docs", "draft_reply", "check_tone"),
    "rag_pipeline": ("rewrite_query", "retrieve", "rerank", "generate", "grade_answer"),
    "code_review": ("summarize_diff", "find_bugs", "suggest_fixes"),
    "email_assistant": ("extract_entities", "draft_email", "polish"),
    "sql_agent": ("plan", "write_sql", "explain_result"),
    "onboarding_chat": ("greet", "collect_profile", "recommend"),
}
WORKFLOW_NAMES: tuple[str, ...] = tuple(WORKFLOWS)

ENVS: tuple[str, ...] = ("prod",) * 17 + ("staging",) * 2 + ("dev",)  # 85 / 10 / 5 %
FEATURES: tuple[str, ...] = (
    "chat",
    "search",
    "summarize",
    "autocomplete",
    "translate",
    "classify",
    "extract",
    "agent",
)
PLANS: tuple[str, ...] = ("free", "pro", "team", "enterprise")
REGIONS: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
APP_VERSIONS: tuple[str, ...] = ("2.14.0", "2.14.1", "2.15.0", "2.15.2", "3.0.0-rc1")
TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.3, 0.5, 0.7, 0.7, 1.0, 1.0)

# About 3 % of spans fail (8 of 256 draws); the status code and message go together.
ERRORS: tuple[tuple[int, str], ...] = (
    (400, "Invalid request: 'messages' must contain at least one user message."),
    (401, "Incorrect API key provided."),
    (404, "The model does not exist or you do not have access to it."),
    (408, "Request timed out while waiting for the upstream provider."),
    (429, "Rate limit reached for requests. Please try again in 20s."),
    (500, "The server had an error while processing your request."),
    (502, "Bad gateway: upstream provider returned an invalid response."),
    (503, "The model is currently overloaded. Please try again later."),
)
ERROR_DRAWS = 8  # out of 256

# Share of traces with 1..5 spans, as entries in a 64-slot table (mean about 1.9 spans per trace).
TRACE_SIZE_TABLE: tuple[int, ...] = (1,) * 35 + (2,) * 10 + (3,) * 10 + (4,) * 6 + (5,) * 3

CUSTOMER_TABLE_BITS = 18  # 262,144 slots, so even the rarest of 2,000 Zipf customers gets some
_CUSTOMER_MASK = (1 << CUSTOMER_TABLE_BITS) - 1
ZIPF_EXPONENT = 1.1

_WORDS = """
the a to of and in is it you that for on with as this be are can your we not have or by
from at but if my our will do what all so about there when which an more one would out up
account order invoice payment refund subscription plan billing card charge receipt customer
user team workspace project dashboard report export import file upload download folder
document page section table column row query filter search index result score ranking
model prompt token context window latency throughput request response error timeout retry
deploy release version update upgrade migration database cache queue worker server client
api endpoint key secret token webhook integration connector sync schedule job task pipeline
email message thread reply draft summary note meeting calendar invite reminder deadline
password login session permission role admin owner member guest access policy security
shipping delivery address package tracking return exchange warranty product item price
discount coupon tax total amount balance transfer bank transaction statement monthly annual
please thanks help need want try check make sure explain show give find list compare write
quickly carefully exactly really probably usually already still again also just only even
python javascript typescript sql json yaml docker kubernetes terraform linux function class
method variable parameter argument return value type string integer boolean array object
bug issue fix patch test case coverage lint format build compile run debug log trace span
customer support ticket escalation priority urgent resolved pending open closed feedback
analysis insight trend growth revenue churn retention cohort segment metric goal target
""".split()


@dataclass(frozen=True)
class Pools:
    """Everything picked from in the hot path, built once per seed."""

    system: tuple[str, ...]
    user: tuple[str, ...]
    assistant: tuple[str, ...]
    customers: tuple[str, ...]
    customer_table: tuple[int, ...]
    customer_plan: tuple[str, ...]
    customer_region: tuple[str, ...]
    model_table: tuple[int, ...]
    latency_us: tuple[int, ...]


def _zipf_cum_weights(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def _sentences(rng: random.Random, count: int) -> list[str]:
    # Zipf-weighted words make some words common and some rare, like real text, which keeps
    # full-text search and compression figures honest.
    cum = _zipf_cum_weights(len(_WORDS), 1.0)
    out: list[str] = []
    for _ in range(count):
        words = rng.choices(_WORDS, cum_weights=cum, k=rng.randint(6, 20))
        out.append(" ".join(words).capitalize() + rng.choice(".....?!:"))
    return out


def _paragraphs(rng: random.Random, sentences: list[str], count: int, lo: int, hi: int) -> tuple[str, ...]:
    return tuple(" ".join(rng.choices(sentences, k=rng.randint(lo, hi))) for _ in range(count))


def _inverse_cdf_table(cum: list[float], bits: int) -> tuple[int, ...]:
    # Sampling becomes one table lookup with random bits instead of a bisect per span.
    size = 1 << bits
    total = cum[-1]
    return tuple(bisect.bisect_left(cum, (slot + 0.5) * total / size) for slot in range(size))


def _latency_pool(rng: random.Random, size: int) -> tuple[int, ...]:
    # Log-normal around ~2 s, clipped to the 0.2-20 s range real LLM calls fall in.
    return tuple(int(min(20.0, max(0.2, rng.lognormvariate(0.7, 0.9))) * 1_000_000) for _ in range(size))


@functools.lru_cache(maxsize=8)
def build_pools(seed: int, customers: int = 2000) -> Pools:
    """Build (and cache) the text, customer and model pools for a seed. Takes ~0.1 s."""
    rng = random.Random(f"spangen-pools-{seed}")
    sentences = _sentences(rng, 4096)
    model_table = tuple(i for i, (_, _, weight) in enumerate(MODELS) for _ in range(weight))
    assert len(model_table) == 128
    return Pools(
        system=_paragraphs(rng, sentences, 64, 8, 16),
        user=_paragraphs(rng, sentences, 4096, 1, 3),
        assistant=_paragraphs(rng, sentences, 4096, 2, 5),
        customers=tuple(customer_name(i) for i in range(customers)),
        customer_table=_inverse_cdf_table(_zipf_cum_weights(customers, ZIPF_EXPONENT), CUSTOMER_TABLE_BITS),
        customer_plan=tuple(_plan_for_rank(i, customers, rng) for i in range(customers)),
        customer_region=tuple(rng.choice(REGIONS) for _ in range(customers)),
        model_table=model_table,
        latency_us=_latency_pool(rng, 4096),
    )


def _plan_for_rank(rank: int, customers: int, rng: random.Random) -> str:
    # The heaviest customers are the paying ones, as in real SaaS traffic.
    if rank < customers // 100:
        return "enterprise"
    return rng.choice(PLANS)


def customer_name(rank: int) -> str:
    """The identifier of the customer of a given popularity rank (0 is the busiest)."""
    return f"customer_{rank:05d}"


class _TraceContext(NamedTuple):
    """What the spans of one trace share."""

    trace_id: str
    customer: str
    workflow: str
    thread: str | None
    metadata: tuple[str, str, str, str, str]  # env, feature, plan, region, app_version


class _IsoFormatter:
    """Formats integer epoch microseconds as ISO 8601 UTC, caching the text up to the minute.

    ``datetime.isoformat`` costs microseconds; spans come in time order, so the cache nearly always
    hits and a timestamp costs one lookup and one short f-string.
    """

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, t_us: int) -> str:
        sec, us = divmod(t_us, 1_000_000)
        minute, second = divmod(sec, 60)
        prefix = self._minutes.get(minute)
        if prefix is None:
            prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
            self._minutes[minute] = prefix
        return f"{prefix}{second:02d}.{us:06d}Z"


def default_end() -> datetime:
    """The end of the generated time window: now, floored to the hour (so reruns within an hour match)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# All random draws of a trace and of a span come from one ``randbytes`` + ``unpack`` each: one
# call instead of ~20 ``getrandbits`` calls. Fields are masked to the size of what they index.
# Trace: trace id (2 x Q), root span id, customer, time jitter, latency, then 7 small draws.
_TRACE_DRAW = struct.Struct("<QQQIIH7B")
# Span: span id, 10 message picks, then 10 small draws.
_SPAN_DRAW = struct.Struct("<Q10H10B")
_MASK12 = 4095


class SpanGenerator:
    """Produces ``total`` spans, in traces of 1-5 spans, ordered by time over ``days`` up to ``end``.

    Time order (with jitter inside each slot) mimics how logs really arrive: roughly in order.
    """

    def __init__(
        self,
        seed: int,
        total: int,
        days: float = 30,
        customers: int = 2000,
        end: datetime | None = None,
    ) -> None:
        self.pools = build_pools(seed, customers)
        self.total = total
        self._randbytes = random.Random(seed).randbytes
        end_dt = end if end is not None else default_end()
        self._end_us = int(end_dt.timestamp() * 1_000_000)
        self._start_us = self._end_us - int(days * 86_400 * 1_000_000)
        self._step_us = max(1, (self._end_us - self._start_us) // max(1, total))
        self._iso = _IsoFormatter()

    def __iter__(self) -> Iterator[Span]:
        index = 0
        while index < self.total:
            trace = self._trace(index)
            # A trace cut by the end of the run loses only children, never a parent.
            yield from trace[: self.total - index]
            index += len(trace)

    def _trace(self, index: int) -> list[Span]:
        pools = self.pools
        (
            id_hi,
            id_lo,
            root,
            customer,
            jitter,
            lat,
            size,
            thread_p,
            thread_no,
            workflow,
            env,
            feature,
            app,
        ) = _TRACE_DRAW.unpack(self._randbytes(_TRACE_DRAW.size))
        customer = pools.customer_table[customer & _CUSTOMER_MASK]
        wf_name = WORKFLOW_NAMES[workflow % len(WORKFLOW_NAMES)]
        ctx = _TraceContext(
            trace_id=f"{id_hi:016x}{id_lo:016x}",
            customer=pools.customers[customer],
            workflow=wf_name,
            # ~35 % of traces belong to a conversation; a customer has at most 16 threads.
            thread=f"thread_{customer:05d}_{thread_no & 15:x}" if thread_p < 90 else None,
            metadata=(
                ENVS[env % len(ENVS)],
                FEATURES[feature & 7],
                pools.customer_plan[customer],
                pools.customer_region[customer],
                APP_VERSIONS[app % len(APP_VERSIONS)],
            ),
        )
        size = TRACE_SIZE_TABLE[size & 63]
        end_us = self._start_us + index * self._step_us + jitter % self._step_us
        latency = pools.latency_us[lat & _MASK12]
        if size == 1:
            return [self._span(ctx, None, None, end_us - latency, latency)]
        # Children run one after another inside the root's interval; the root stays within 20 s.
        latency = min(20_000_000, max(latency, 400_000 * size))
        start_us = end_us - latency
        root_id = f"{root:016x}"
        spans = [self._span(ctx, f"{wf_name}.run", None, start_us, latency, root_id)]
        steps = WORKFLOWS[wf_name]
        slot = (latency - 20_000) // (size - 1)
        for child in range(size - 1):
            # The first step hangs off the root; later ones nest under the previous step 1 time in 4.
            parent = spans[-1]["span_unique_id"] if child and jitter >> (child * 2) & 3 == 0 else root_id
            start = start_us + 10_000 + child * slot
            spans.append(self._span(ctx, steps[child % len(steps)], parent, start, slot - (slot >> 3)))
        return spans

    def _span(
        self,
        ctx: _TraceContext,
        name: str | None,
        parent: str | None,
        start_us: int,
        latency_us: int,
        span_id: str | None = None,
    ) -> Span:
        pools = self.pools
        user, assistant = pools.user, pools.assistant
        (
            sid,
            u1,
            u2,
            u3,
            u4,
            u5,
            u6,
            a1,
            a2,
            a3,
            a4,
            model,
            system,
            turns,
            stream_p,
            temp,
            err,
            code,
            ttft,
            cache,
            _,
        ) = _SPAN_DRAW.unpack(self._randbytes(_SPAN_DRAW.size))
        model &= 127
        model_idx = pools.model_table[model]
        # Two pool entries glued together: 16 M distinct messages from 4 K strings, so the data
        # does not deduplicate into nothing, at the cost of one string concatenation.
        sys_text = pools.system[system & 63]
        q1 = user[u1 & _MASK12] + " " + user[u2 & _MASK12]
        r1 = assistant[a1 & _MASK12]
        q_last = user[u5 & _MASK12] + " " + user[u6 & _MASK12]
        messages = [
            {"role": "system", "content": sys_text},
            {"role": "user", "content": q1},
            {"role": "assistant", "content": r1},
        ]
        prompt_chars = len(sys_text) + len(q1) + len(r1) + len(q_last)
        if turns & 1:
            q2 = user[u3 & _MASK12] + " " + user[u4 & _MASK12]
            r2 = assistant[a2 & _MASK12]
            messages.append({"role": "user", "content": q2})
            messages.append({"role": "assistant", "content": r2})
            prompt_chars += len(q2) + len(r2)
        messages.append({"role": "user", "content": q_last})
        env, feature, plan, region, app = ctx.metadata
        stream = stream_p < 154  # ~60 % streamed
        latency = latency_us / 1_000_000
        iso = self._iso
        span: Span = {
            "model": MODELS[model_idx][0],
            "log_type": "chat",
            "input": messages,
            "customer_identifier": ctx.customer,
            "trace_unique_id": ctx.trace_id,
            "span_unique_id": span_id or f"{sid:016x}",
            "span_name": name or MODELS[model_idx][1],
            "span_workflow_name": ctx.workflow,
            "metadata": {"env": env, "feature": feature, "plan": plan, "region": region, "app_version": app},
            "start_time": iso(start_us),
            "timestamp": iso(start_us + latency_us),
            "latency": latency,
            "temperature": TEMPERATURES[temp & 7],
            "stream": stream,
        }
        if parent is not None:
            span["span_parent_id"] = parent
        if ctx.thread is not None:
            span["thread_identifier"] = ctx.thread
        # Rough but realistic token counts: about four characters per token.
        prompt_tokens = prompt_chars >> 2
        if err < ERROR_DRAWS:
            status, message = ERRORS[code & 7]
            span["status_code"] = status
            span["error_message"] = message
            span["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
            return span
        answer = assistant[a3 & _MASK12] + " " + assistant[a4 & _MASK12]
        completion_tokens = len(answer) >> 2
        span["output"] = {"role": "assistant", "content": answer}
        span["status_code"] = 200
        # Streaming shows the first token early; otherwise it arrives with the whole answer.
        span["time_to_first_token"] = round(latency * (0.05 + (ttft & 15) / 40), 3) if stream else latency
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cache & 3 == 0 and model_idx != len(MODELS) - 1:  # prompt caching on ~25 % of hosted calls
            usage["prompt_tokens_details"] = {"cached_tokens": (prompt_tokens >> 7) << 6}
        span["usage"] = usage
        return span


def iter_spans(
    seed: int,
    total: int,
    days: float = 30,
    customers: int = 2000,
    end: datetime | None = None,
) -> Iterator[Span]:
    """Yield ``total`` spans, deterministic for the same arguments (``end`` defaults to this hour)."""
    return iter(SpanGenerator(seed, total, days, customers, end))


def iter_batches(
    seed: int,
    total: int,
    batch_size: int = 500,
    days: float = 30,
    customers: int = 2000,
    end: datetime | None = None,
) -> Iterator[list[Span]]:
    """Yield lists of at most ``batch_size`` spans, ``total`` spans in all."""
    spans = iter_spans(seed, total, days, customers, end)
    while batch := list(itertools.islice(spans, batch_size)):
        yield batch


def batch_body(batch: list[Span]) -> bytes:
    """The JSON body of a bulk request: ``{"logs": [...]}``."""
    return orjson.dumps({"logs": batch})


def iter_bodies(
    seed: int,
    total: int,
    batch_size: int = 500,
    days: float = 30,
    customers: int = 2000,
    end: datetime | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(span count, request body)`` pairs ready to POST to the bulk endpoint."""
    for batch in iter_batches(seed, total, batch_size, days, customers, end):
        yield len(batch), batch_body(batch)


def _measure(seed: int, total: int, batch_size: int) -> None:
    t0 = time.process_time()
    build_pools(seed)
    t_pools = time.process_time() - t0
    gen_cpu = dump_cpu = 0.0
    size = 0
    models: dict[str, int] = {}
    errors = children = 0
    batches = iter_batches(seed, total, batch_size, end=datetime(2025, 1, 31, tzinfo=UTC))
    while True:
        t0 = time.process_time()
        batch = next(batches, None)
        t1 = time.process_time()
        if batch is None:
            break
        size += len(batch_body(batch))
        dump_cpu += time.process_time() - t1
        gen_cpu += t1 - t0
        for span in batch:  # outside the timed part
            models[span["model"]] = models.get(span["model"], 0) + 1
            errors += span["status_code"] != 200
            children += "span_parent_id" in span
    print(f"spans: {total:,}  batch size: {batch_size}  pool build: {t_pools * 1e3:.0f} ms CPU")
    print(f"generate:  {gen_cpu / total * 1e6:6.2f} us CPU per span")
    print(f"serialise: {dump_cpu / total * 1e6:6.2f} us CPU per span (orjson)")
    print(f"total:     {(gen_cpu + dump_cpu) / total * 1e6:6.2f} us CPU per span")
    print(f"JSON size: {size / total:,.0f} bytes per span, {size / 2**20:,.1f} MiB in all")
    print(f"errors: {errors / total:.1%}  spans with a parent: {children / total:.1%}")
    print(
        "models: " + ", ".join(f"{m} {n / total:.1%}" for m, n in sorted(models.items(), key=lambda x: -x[1]))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the span generator, or print sample spans.")
    parser.add_argument("--spans", type=int, default=200_000, help="spans to generate (default 200,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--show", type=int, default=0, help="print the first N spans as JSON instead")
    args = parser.parse_args()
    if args.show:
        for span in itertools.islice(iter_spans(args.seed, args.show), args.show):
            print(orjson.dumps(span, option=orjson.OPT_INDENT_2).decode())
        return
    _measure(args.seed, args.spans, args.batch_size)


if __name__ == "__main__":
    main()

__all__ = [
    "MODELS",
    "UNKNOWN_MODEL",
    "WORKFLOWS",
    "Pools",
    "Span",
    "SpanGenerator",
    "batch_body",
    "build_pools",
    "customer_name",
    "default_end",
    "iter_batches",
    "iter_bodies",
    "iter_spans",
]
