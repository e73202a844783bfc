"""Seeded, cheap generator of realistic Respan / Keywords AI chat spans.

Every span is a dict accepted by ``POST /api/request-logs/bulk/`` (inside ``{"logs": [...]}``) and
serialises to about 5 KB of JSON. The same ``(seed, total, days, customers, end)`` always gives the
same spans, so a benchmark that ingests and later queries can regenerate what it sent.

Speed matters more than statistical finesse: the load generator shares a small machine with the
server under test. So every message, weight and lookup table is built once per seed, and a span
only picks from them: one ``randbytes`` + ``struct.unpack`` per span gives all its random draws,
and chat messages are shared, pre-built dicts (a conversation is a new combination of them).

Spans share sub-objects (messages, metadata): treat them as read-only, copy before mutating.

Import it from another script in bench/ (a script's folder is on ``sys.path``)::

    from spangen import batch_body, iter_batches

Run it alone to measure its cost per span, or to look at a few spans::

    uv run python bench/spangen.py --spans 200000
    uv run python bench/spangen.py --show 2
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

Span = dict[str, Any]
Message = dict[str, str]

# (model, span name of a lone call, weight out of 128). The last one is a self-hosted fine-tune
# that no price table knows, so a server must cope with a model it cannot price.
MODELS: tuple[tuple[str, str, int], ...] = (
    ("gpt-4o", "openai.chat", 32),
    ("gpt-4o-mini", "openai.chat", 45),
    ("claude-3-5-sonnet-20241022", "anthropic.messages", 25),
    ("gemini-1.5-pro", "google.generate_content", 13),
    ("o3-mini", "openai.chat", 6),
    ("acme-llama-3.1-70b-instruct-ft", "vllm.chat", 7),
)
UNKNOWN_MODEL = MODELS[-1][0]

# Multi-span traces run one of these workflows; the root is "<workflow>.run", children its steps.
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
FEATURES: tuple[str, ...] = ("chat", "search", "summarize", "autocomplete", "translate", "classify", "extract")
PLANS: tuple[str, ...] = ("free", "pro", "team", "enterprise")
REGIONS: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
APP_VERSIONS: tuple[str, ...] = ("2.14.0", "2.14.1", "2.15.0", "2.15.2", "3.0.0-rc1")
TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.3, 0.5, 0.7, 0.7, 1.0, 1.0)

# About 3 % of spans fail (8 of 256 draws); status code and message go together.
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

# Traces of 1..5 spans, as entries of a 64-slot table: about half the spans have a parent.
TRACE_SIZE_TABLE: tuple[int, ...] = (1,) * 35 + (2,) * 10 + (3,) * 10 + (4,) * 6 + (5,) * 3

CUSTOMER_TABLE_BITS = 18  # 262,144 slots, so even the rarest of 2,000 Zipf customers gets some
CUSTOMER_ZIPF_EXPONENT = 1.1  # the busiest customer sends ~15 % of spans, the top 20 about half
MESSAGE_POOL_BITS = 14  # 16,384 distinct user, assistant and answer messages each
_MESSAGE_MASK = (1 << MESSAGE_POOL_BITS) - 1
_CUSTOMER_MASK = (1 << CUSTOMER_TABLE_BITS) - 1
_LATENCY_MASK = 4095

# Split at import time: ruff prefers list literals to ``"...".split()``, but 300 words read better this way.
_WORD_TEXT = """
the a to of and in is it you that for on with as this be are can your we not have or by
from at but if my our will do what all so about there when which an more one would out up
account order invoice payment refund subscription plan billing card charge receipt customer
user team workspace project dashboard report export import file upload download folder
document page section table column row query filter search index result score ranking
model prompt token context window latency throughput request response error timeout retry
deploy release version update upgrade migration database cache queue worker server client
api endpoint key secret webhook integration connector sync schedule job task pipeline
email message thread reply draft summary note meeting calendar invite reminder deadline
password login session permission role admin owner member guest access policy security
shipping delivery address package tracking return exchange warranty product item price
discount coupon tax total amount balance transfer bank transaction statement monthly annual
please thanks help need want try check make sure explain show give find list compare write
quickly carefully exactly really probably usually already still again also just only even
python javascript typescript sql json yaml docker kubernetes terraform linux function class
method variable parameter argument return value type string integer boolean array object
bug issue fix patch test case coverage lint format build compile run debug log trace span
support ticket escalation priority urgent resolved pending open closed feedback
analysis insight trend growth revenue churn retention cohort segment metric goal target
"""
_WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())


@dataclass(frozen=True)
class MessagePool:
    """Pre-built chat messages of one role, with their approximate token counts."""

    messages: tuple[Message, ...]
    fragments: tuple[orjson.Fragment, ...]  # the same messages as pre-serialised JSON
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Pools:
    """Everything the hot path picks from, built once per seed."""

    system: MessagePool
    user: MessagePool
    assistant: MessagePool
    answer: MessagePool
    customers: tuple[str, ...]
    customer_table: tuple[int, ...]
    customer_plan: tuple[str, ...]
    customer_region: tuple[str, ...]
    model_table: tuple[int, ...]
    latency_ms: tuple[int, ...]


def customer_name(rank: int) -> str:
    """The identifier of the customer of a given popularity rank (0 is the busiest)."""
    return f"customer_{rank:05d}"


def _zipf_cum_weights(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def _sentences(rng: random.Random, count: int) -> list[str]:
    # Zipf-weighted words make some words common and some rare, as in real text, which keeps
    # full-text search and compression figures honest.
    cum = _zipf_cum_weights(len(_WORDS), 0.8)
    out: list[str] = []
    for _ in range(count):
        words = rng.choices(_WORDS, cum_weights=cum, k=rng.randint(6, 20))
        out.append(" ".join(words).capitalize() + rng.choice(".....?!:"))
    return out


def _message_pool(rng: random.Random, sentences: list[str], role: str, count: int, lo: int, hi: int) -> MessagePool:
    texts = [" ".join(rng.choices(sentences, k=rng.randint(lo, hi))) for _ in range(count)]
    # About four characters per token, as for English with the GPT tokenizers.
    messages = tuple({"role": role, "content": text} for text in texts)
    return MessagePool(
        messages=messages,
        fragments=tuple(orjson.Fragment(orjson.dumps(message)) for message in messages),
        tokens=tuple(len(text) // 4 + 4 for text in texts),
    )


def _inverse_cdf_table(cum: list[float], bits: int) -> tuple[int, ...]:
    # Sampling becomes one table lookup with random bits instead of a bisect per span.
    size = 1 << bits
    total = cum[-1]
    return tuple(bisect.bisect_left(cum, (slot + 0.5) * total / size) for slot in range(size))


def _latency_pool(rng: random.Random, size: int) -> tuple[int, ...]:
    # Log-normal around ~2 s, clipped to the 0.2-20 s range of real LLM calls; in milliseconds.
    return tuple(int(min(20.0, max(0.2, rng.lognormvariate(0.7, 0.9))) * 1000) for _ in range(size))


def _plan(rank: int, customers: int, rng: random.Random) -> str:
    # The heaviest customers are the paying ones, as in real SaaS traffic.
    return "enterprise" if rank < customers // 100 else rng.choice(PLANS)


def build_pools(seed: int, customers: int = 2000) -> Pools:
    """Build (and cache) the message, customer and model pools of a seed: ~0.3 s, ~100 MB."""
    # Through a wrapper so that build_pools(1) and build_pools(1, 2000) hit the same cache entry.
    return _build_pools(seed, customers)


@functools.lru_cache(maxsize=4)
def _build_pools(seed: int, customers: int) -> Pools:
    rng = random.Random(f"spangen-pools-{seed}")
    sentences = _sentences(rng, 8192)
    pool_size = 1 << MESSAGE_POOL_BITS
    model_table = tuple(i for i, (_, _, weight) in enumerate(MODELS) for _ in range(weight))
    assert len(model_table) == 128
    return Pools(
        system=_message_pool(rng, sentences, "system", 64, 16, 30),
        user=_message_pool(rng, sentences, "user", pool_size, 2, 9),
        assistant=_message_pool(rng, sentences, "assistant", pool_size, 3, 12),
        answer=_message_pool(rng, sentences, "assistant", pool_size, 6, 19),
        customers=tuple(customer_name(i) for i in range(customers)),
        customer_table=_inverse_cdf_table(_zipf_cum_weights(customers, CUSTOMER_ZIPF_EXPONENT), CUSTOMER_TABLE_BITS),
        customer_plan=tuple(_plan(i, customers, rng) for i in range(customers)),
        customer_region=tuple(rng.choice(REGIONS) for _ in range(customers)),
        model_table=model_table,
        latency_ms=_latency_pool(rng, _LATENCY_MASK + 1),
    )


def default_end() -> datetime:
    """The end of the generated time window: now, floored to the hour (reruns within an hour match)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


class _TraceContext(NamedTuple):
    """What the spans of one trace share."""

    trace_id: str
    customer: str
    workflow: str
    thread: str | None
    metadata: dict[str, str]


# All random draws of a trace, and of a span, come from one ``randbytes`` + ``unpack``: one C call
# instead of ~20 ``getrandbits`` calls. Fields are masked to the size of what they index.
# Trace: trace id (2 x Q), root span id, customer, time jitter, latency, 7 small draws.
_TRACE_DRAW = struct.Struct("<QQQIIH7B")
# Span: span id, 6 message picks, 10 small draws.
_SPAN_DRAW = struct.Struct("<Q6H10B")

# "SS.mmmZ" for every millisecond of a minute: a timestamp is then a cached "YYYY-MM-DDTHH:MM:"
# plus one of these, 3x cheaper than formatting the seconds each time.
_SECONDS_TEXT: tuple[str, ...] = tuple(f"{ms / 1000:06.3f}Z" for ms in range(60_000))
_HOUR_MINUTE_TEXT: tuple[str, ...] = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))


class SpanGenerator:
    """Yields ``total`` spans in traces of 1-5 spans, in time order over ``days`` up to ``end``.

    Time order (with jitter inside each span's slot) mimics how logs arrive: roughly in order.
    Times have millisecond precision, so ``timestamp - start_time == latency`` exactly.

    With ``fragments=True`` the chat messages in ``input`` and ``output`` are ``orjson.Fragment``s
    (the same messages, already serialised): orjson then copies ~4 KB per span instead of encoding
    it, which measured ~1 us per span cheaper (of ~5 us for the whole body). Such spans are only
    good for ``orjson.dumps``; every value is the same as without.
    """

    def __init__(
        self,
        seed: int,
        total: int,
        days: float = 30,
        customers: int = 2000,
        end: datetime | None = None,
        fragments: bool = False,
    ) -> None:
        self.pools = pools = build_pools(seed, customers)
        self.total = total
        self._randbytes = random.Random(seed).randbytes
        end_ms = int((end or default_end()).timestamp()) * 1000
        self._start_ms = end_ms - int(days * 86_400_000)
        self._step_ms = max(1, (end_ms - self._start_ms) // max(1, total))
        self._minutes: dict[int, str] = {}
        self._days: dict[int, str] = {}
        # Flattened pools: the hot path indexes these tuples directly.
        self._system = self._flat(pools.system, fragments)
        self._user = self._flat(pools.user, fragments)
        self._assistant = self._flat(pools.assistant, fragments)
        self._answer = self._flat(pools.answer, fragments)

    @staticmethod
    def _flat(pool: MessagePool, fragments: bool) -> tuple[tuple[Message | orjson.Fragment, ...], tuple[int, ...]]:
        return (pool.fragments if fragments else pool.messages), pool.tokens

    def __iter__(self) -> Iterator[Span]:
        index = 0
        while index < self.total:
            trace = self._trace(index)
            # A trace cut by the end of the run loses only children, never a parent.
            yield from trace[: self.total - index]
            index += len(trace)

    def _iso(self, t_ms: int) -> str:
        # ISO 8601 UTC with milliseconds. Spans come in time order, so the per-minute cache nearly
        # always hits, and a miss costs only two concatenations (strftime just once a day).
        minute, ms = divmod(t_ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            day, minute_of_day = divmod(minute, 1440)
            date = self._days.get(day)
            if date is None:
                date = self._days[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
            prefix = self._minutes[minute] = date + _HOUR_MINUTE_TEXT[minute_of_day]
        return prefix + _SECONDS_TEXT[ms]

    def _trace(self, index: int) -> list[Span]:
        pools = self.pools
        (id_hi, id_lo, root, customer, jitter, lat, size, thread_p, thread_no, workflow, env, feature, app) = (
            _TRACE_DRAW.unpack(self._randbytes(_TRACE_DRAW.size))
        )
        rank = pools.customer_table[customer & _CUSTOMER_MASK]
        ctx = _TraceContext(
            f"{id_hi:016x}{id_lo:016x}",
            pools.customers[rank],
            WORKFLOW_NAMES[workflow % len(WORKFLOW_NAMES)],
            # ~35 % of traces belong to a conversation; a customer has at most 16 of them.
            f"thread_{rank:05d}_{thread_no & 15:x}" if thread_p < 90 else None,
            {
                "env": ENVS[env % len(ENVS)],
                "feature": FEATURES[feature % len(FEATURES)],
                "plan": pools.customer_plan[rank],
                "region": pools.customer_region[rank],
                "app_version": APP_VERSIONS[app % len(APP_VERSIONS)],
            },
        )
        size = TRACE_SIZE_TABLE[size & 63]
        end_ms = self._start_ms + index * self._step_ms + jitter % self._step_ms
        latency = pools.latency_ms[lat & _LATENCY_MASK]
        if size == 1:
            return [self._span(ctx, None, None, end_ms - latency, latency)]
        # Children run one after another inside the root's interval; the root stays within 20 s.
        latency = min(20_000, max(latency, 400 * size))
        start_ms = end_ms - latency
        root_id = f"{root:016x}"
        spans = [self._span(ctx, f"{ctx.workflow}.run", None, start_ms, latency, root_id)]
        steps = WORKFLOWS[ctx.workflow]
        slot = (latency - 20) // (size - 1)
        for child in range(size - 1):
            # The first step hangs off the root; a later one nests under the previous step 1 in 4.
            nested = child and (jitter >> (2 * child)) & 3 == 0
            parent = spans[-1]["span_unique_id"] if nested else root_id
            start = start_ms + 10 + child * slot
            spans.append(self._span(ctx, steps[child % len(steps)], parent, start, slot - (slot >> 3)))
        return spans

    def _span(
        self,
        ctx: _TraceContext,
        name: str | None,
        parent: str | None,
        start_ms: int,
        latency_ms: int,
        span_id: str | None = None,
    ) -> Span:
        (sid, u1, u2, u3, a1, a2, ans, model, system, turns, stream_p, temp, err, code, ttft, cache, _) = (
            _SPAN_DRAW.unpack(self._randbytes(_SPAN_DRAW.size))
        )
        model = self.pools.model_table[model & 127]
        sys_msgs, sys_tokens = self._system
        user_msgs, user_tokens = self._user
        asst_msgs, asst_tokens = self._assistant
        u1 &= _MESSAGE_MASK
        a1 &= _MESSAGE_MASK
        u3 &= _MESSAGE_MASK
        system &= 63
        prompt_tokens = sys_tokens[system] + user_tokens[u1] + asst_tokens[a1] + user_tokens[u3]
        if turns & 1:  # one or two earlier exchanges before the last question
            u2 &= _MESSAGE_MASK
            a2 &= _MESSAGE_MASK
            prompt_tokens += user_tokens[u2] + asst_tokens[a2]
            messages = [
                sys_msgs[system],
                user_msgs[u1],
                asst_msgs[a1],
                user_msgs[u2],
                asst_msgs[a2],
                user_msgs[u3],
            ]
        else:
            messages = [sys_msgs[system], user_msgs[u1], asst_msgs[a1], user_msgs[u3]]
        stream = stream_p < 154  # ~60 % streamed
        latency = latency_ms / 1000
        model_name, lone_name, _ = MODELS[model]
        span: Span = {
            "model": model_name,
            "log_type": "chat",
            "input": messages,
            "customer_identifier": ctx.customer,
            "trace_unique_id": ctx.trace_id,
            "span_unique_id": span_id or f"{sid:016x}",
            "span_name": name or lone_name,
            "span_workflow_name": ctx.workflow,
            "metadata": ctx.metadata,
            "start_time": self._iso(start_ms),
            "timestamp": self._iso(start_ms + latency_ms),
            "latency": latency,
            "temperature": TEMPERATURES[temp & 7],
            "stream": stream,
        }
        if parent is not None:
            span["span_parent_id"] = parent
        if ctx.thread is not None:
            span["thread_identifier"] = ctx.thread
        if err < ERROR_DRAWS:
            span["status_code"], span["error_message"] = ERRORS[code & 7]
            span["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
            return span
        ans &= _MESSAGE_MASK
        ans_msgs, ans_tokens = self._answer
        completion_tokens = ans_tokens[ans]
        span["output"] = ans_msgs[ans]
        span["status_code"] = 200
        # Streaming shows the first token early; otherwise it arrives with the whole answer.
        span["time_to_first_token"] = (latency_ms * (2 + (ttft & 15)) // 40) / 1000 if stream else latency
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cache & 3 == 0 and model != len(MODELS) - 1:  # prompt caching on ~25 % of hosted calls
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
    """Yield ``total`` spans, the same ones for the same arguments (``end`` defaults to this hour)."""
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
    return _batched(iter_spans(seed, total, days, customers, end), batch_size)


def _batched(spans: Iterator[Span], size: int) -> Iterator[list[Span]]:
    while batch := list(itertools.islice(spans, size)):
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
    """Yield ``(span count, request body)`` pairs ready to POST to the bulk endpoint.

    The bodies decode to exactly ``{"logs": batch}`` for the batches of ``iter_batches`` with the
    same arguments, but cost ~1 us per span less to make (pre-serialised messages).
    """
    spans = iter(SpanGenerator(seed, total, days, customers, end, fragments=True))
    for batch in _batched(spans, batch_size):
        yield len(batch), batch_body(batch)


@dataclass
class _Tally:
    spans: int = 0
    errors: int = 0
    children: int = 0
    body_bytes: int = 0
    models: dict[str, int] = field(default_factory=dict)

    def add(self, batch: list[Span], body: bytes) -> None:
        models = self.models
        self.spans += len(batch)
        self.body_bytes += len(body)
        for span in batch:
            models[span["model"]] = models.get(span["model"], 0) + 1
            self.errors += span["status_code"] != 200
            self.children += "span_parent_id" in span


_MEASURE_END = datetime(2025, 1, 31, tzinfo=UTC)  # fixed, so that both paths make the same spans


def _measure_dicts(seed: int, total: int, batch_size: int) -> tuple[_Tally, float, float]:
    """CPU seconds to build the span dicts and to serialise them, and what they held."""
    gen_cpu = dump_cpu = 0.0
    tally = _Tally()
    batches = iter_batches(seed, total, batch_size, end=_MEASURE_END)
    while True:
        # The previous batch is freed inside next(), so freeing is counted with generating.
        t0 = time.process_time()
        batch = next(batches, None)
        t1 = time.process_time()
        if batch is None:
            return tally, gen_cpu, dump_cpu
        body = batch_body(batch)
        dump_cpu += time.process_time() - t1
        gen_cpu += t1 - t0
        tally.add(batch, body)


def _measure_bodies(seed: int, total: int, batch_size: int) -> float:
    """CPU seconds of iter_bodies, the path the ingest benchmark uses."""
    t0 = time.process_time()
    for _ in iter_bodies(seed, total, batch_size, end=_MEASURE_END):
        pass
    return time.process_time() - t0


def _bodies_match(seed: int, batch_size: int, batches: int = 20) -> bool:
    total = batch_size * batches
    dicts = iter_batches(seed, total, batch_size, end=_MEASURE_END)
    bodies = iter_bodies(seed, total, batch_size, end=_MEASURE_END)
    return all(orjson.loads(body) == {"logs": batch} for batch, (_, body) in zip(dicts, bodies, strict=True))


def _measure(seed: int, total: int, batch_size: int) -> None:
    t0 = time.process_time()
    build_pools(seed)
    pools_cpu = time.process_time() - t0
    tally, gen_cpu, dump_cpu = _measure_dicts(seed, total, batch_size)
    bodies_cpu = _measure_bodies(seed, total, batch_size)
    n = tally.spans
    print(f"spans: {n:,}  batch size: {batch_size}  pool build: {pools_cpu * 1e3:.0f} ms CPU (once)")
    print(f"iter_batches:  {gen_cpu / n * 1e6:6.2f} us CPU per span to build the dicts")
    print(f"batch_body:    {dump_cpu / n * 1e6:6.2f} us CPU per span to serialise them (orjson)")
    print(f"iter_bodies:   {bodies_cpu / n * 1e6:6.2f} us CPU per span for ready request bodies")
    print(f"bodies decode to the same spans as the dicts: {_bodies_match(seed, batch_size)}")
    _report_mix(tally)


def _report_mix(tally: _Tally) -> None:
    n = tally.spans
    print(f"JSON size: {tally.body_bytes / n:,.0f} bytes per span, {tally.body_bytes / 2**20:,.1f} MiB in all")
    print(f"errors: {tally.errors / n:.1%}  spans with a parent: {tally.children / n:.1%}")
    models = sorted(tally.models.items(), key=lambda item: -item[1])
    print("models: " + ", ".join(f"{model} {count / n:.1%}" for model, count in models))


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the span generator, or print sample spans.")
    parser.add_argument("--spans", type=int, default=200_000, help="spans to generate (default 200,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--show", type=int, default=0, help="print the first N spans as JSON instead")
    args = parser.parse_args()
    if args.show:
        for span in iter_spans(args.seed, args.show):
            print(orjson.dumps(span, option=orjson.OPT_INDENT_2).decode())
        return
    _measure(args.seed, args.spans, args.batch_size)


if __name__ == "__main__":
    main()
