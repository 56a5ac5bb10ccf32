"""Property: generated alias sets (random graphs, cycles, diamonds, exponential fan-out) are judged
by the graph exactly as an independent oracle judges them.

The oracle is written here, sharing no code with mythos: a bounded expansion simulator that walks
every call (no memoisation, no networkx) and stops as soon as a bound is passed, so it always
terminates, plus a plain depth-first search for cycles. It proves that every refused set is truly
unsafe, that every accepted set expands within its bounds (and to exactly what the simulator
expands it to), and that no check hangs. Writes the `alias_bombs_blocked` KPI.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from harness.kpi import kpi_from_catalogue, write_suite
from mythos.commands.alias_graph import AliasBoundsCache, AliasGraph, AliasLimits, Problem
from mythos.commands.aliases import AliasStorage, expand_alias

HANG_S = 1.0  # a check slower than this counts as a hang in the KPI
NAMES = ("a", "b", "c", "d", "e", "f")
_PLACEHOLDER = re.compile(r"\$[1-9*]")


# -- the oracle ------------------------------------------------------------------------------------


class Abort(Exception):
    """The simulated expansion passed a bound."""


def _parts(body: str) -> list[tuple[str, str, str]]:
    """(whole command, first word, rest) for each non-empty command of a body."""
    out = []
    for raw in body.split(";"):
        text = raw.strip()
        if text:
            pieces = re.split(r"\s+", text, maxsplit=1)
            out.append((text, pieces[0], pieces[1] if len(pieces) > 1 else ""))
    return out


def _worst_len(template: str, args_len: int) -> int:
    holes = len(_PLACEHOLDER.findall(template))
    return len(template) - 2 * holes + holes * args_len


def simulate_worst(bodies: dict[str, str], top: str, args_len: int, limits: AliasLimits) -> int:
    """Walk the expansion with every placeholder receiving all the arguments; raise Abort past a bound.

    Returns the total text of that worst case (the commands and the arguments passed along).
    Only the count and depth stop the walk, so it stays bounded and the length it returns is exact.
    """
    count = 0
    text = 0

    def walk(name: str, a_len: int, depth: int) -> None:
        nonlocal count, text
        if depth > limits.max_depth:
            raise Abort("deep")
        for whole, head, rest in _parts(bodies[name]):
            if "$" not in head and head.lower() in bodies:
                passed = _worst_len(rest, a_len)
                text += passed
                walk(head.lower(), passed, depth + 1)
            else:
                count += 1
                text += _worst_len(whole, a_len)
                if count > limits.max_commands:
                    raise Abort("many")

    walk(top, args_len, 1)
    if text > limits.max_length:
        raise Abort(f"long: {text}")
    return text


def expand_real(bodies: dict[str, str], top: str, args: str) -> list[str]:
    """Plain recursive expansion with real substitution (only called on sets the oracle accepts)."""

    def sub(template: str, call_args: str) -> str:
        words = call_args.split()

        def one(m: re.Match[str]) -> str:
            key = m.group(0)[1]
            if key == "*":
                return call_args
            i = int(key) - 1
            return words[i] if i < len(words) else ""

        return _PLACEHOLDER.sub(one, template)

    out: list[str] = []

    def walk(name: str, call_args: str) -> None:
        for whole, head, rest in _parts(bodies[name]):
            if "$" not in head and head.lower() in bodies:
                walk(head.lower(), sub(rest, call_args))
            else:
                out.append(sub(whole, call_args))

    walk(top, args)
    return out


def reaches_cycle(bodies: dict[str, str], top: str) -> bool:
    calls = {n: [h.lower() for _, h, _ in _parts(b) if "$" not in h and h.lower() in bodies] for n, b in bodies.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def dfs(node: str) -> bool:
        state[node] = 1
        for nxt in calls[node]:
            if state.get(nxt) == 1 or (nxt not in state and dfs(nxt)):
                return True
        state[node] = 2
        return False

    return dfs(top)


# -- generators ------------------------------------------------------------------------------------

_ARGS_TEMPLATES = ["", "$1", "$*", "x $*", "$* $*", "$2 y $1", "$*$*$*"]
_LEAF_TAILS = ["", " $1", " $*", " $* $*", " $9", " hello there"]


@st.composite
def random_sets(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    bodies = {}
    for name in names:
        segments = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["call", "call", "leaf", "dynamic"]))
            if kind == "call":
                args = draw(st.sampled_from(_ARGS_TEMPLATES))
                segments.append(f"{draw(st.sampled_from(NAMES))} {args}".strip())
            elif kind == "leaf":
                segments.append("say " + draw(st.sampled_from(["hi", "ho"])) + draw(st.sampled_from(_LEAF_TAILS)))
            else:
                segments.append("$1 go")
        bodies[name] = "; ".join(segments)
    return bodies


@st.composite
def bombs(draw: st.DrawFn) -> dict[str, str]:
    levels, fan = draw(st.integers(2, 14)), draw(st.integers(1, 5))
    args = draw(st.sampled_from(["", " $*", " $1 $1"]))
    bodies = {f"l{i}": "; ".join([f"l{i + 1}{args}"] * fan) for i in range(levels - 1)}
    bodies[f"l{levels - 1}"] = "say boom" + args
    bodies["a"] = "l0" + args  # the alias the player calls
    return bodies


@st.composite
def cycles(draw: st.DrawFn) -> dict[str, str]:
    size = draw(st.integers(1, 5))
    ring = [f"r{i}" for i in range(size)]
    bodies = {r: f"say {r}; {ring[(i + 1) % size]}" for i, r in enumerate(ring)}
    bodies["a"] = draw(st.sampled_from(["r0", "say first; r0", "r0; r0"]))
    return bodies


@st.composite
def diamonds(draw: st.DrawFn) -> dict[str, str]:
    width = draw(st.integers(1, 4))
    mids = [f"m{i}" for i in range(width)]
    bodies = {m: "bottom $*" for m in mids}
    bodies["bottom"] = "say " + draw(st.sampled_from(["x", "$*", "$1 $2"]))
    bodies["a"] = "; ".join(mids)
    return bodies


limits_st = st.builds(
    AliasLimits,
    max_commands=st.integers(1, 10),
    max_depth=st.integers(1, 10),
    max_length=st.sampled_from([20, 60, 200, 1000, 10_000]),
)


@dataclass
class Tally:
    sets: int = 0
    unsafe: int = 0
    refused_unsafe: int = 0
    incidents: int = 0
    hangs: int = 0
    slowest_s: float = 0.0
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    started = datetime.now(UTC)
    counts = Tally()
    yield counts
    evidence = (
        f"tests/property/test_alias_bombs.py: {counts.sets:,} examples run, each a generated alias set; "
        f"{counts.unsafe:,} unsafe "
        f"(cycles, too deep, too many commands, too long), {counts.refused_unsafe} of them refused before "
        f"expansion; {counts.incidents} incidents, {counts.hangs} hangs; slowest check "
        f"{counts.slowest_s * 1e6:.0f} us"
    )
    value = float(counts.incidents + counts.hangs) if counts.sets else None
    write_suite(
        "property",
        [kpi_from_catalogue("alias_bombs_blocked", value, evidence, sample=counts.sets)],
        started=started,
        finished=datetime.now(UTC),
        merge=True,
    )


@given(
    bodies=st.one_of(random_sets(), bombs(), cycles(), diamonds()),
    limits=limits_st,
    args=st.one_of(st.text(alphabet="ab ", max_size=12), st.integers(0, 400).map(lambda n: "z" * n)),
    top_index=st.integers(0, 10),
)
async def test_graph_verdict_matches_the_bounded_simulator(
    bodies: dict[str, str], limits: AliasLimits, args: str, top_index: int, tally: Tally
) -> None:
    top = "a" if "a" in bodies else sorted(bodies)[top_index % len(bodies)]
    args = args.strip()
    storage = AliasStorage()
    for name, body in bodies.items():
        await storage.set_alias("p", name, body)
    cache = AliasBoundsCache(storage, limits)
    note(f"bodies={bodies} top={top} args_len={len(args)} limits={limits}")

    started = time.perf_counter()
    verdict = cache.check("p", top, len(args))
    elapsed = time.perf_counter() - started
    tally.sets += 1
    tally.slowest_s = max(tally.slowest_s, elapsed)
    if elapsed > HANG_S:
        tally.hangs += 1

    worst_len = None
    try:
        worst_len = simulate_worst(bodies, top, len(args), limits)
        unsafe = False
    except Abort as why:
        unsafe = True
        note(f"oracle: {why}")
    cyclic = reaches_cycle(bodies, top)
    tally.unsafe += unsafe
    tally.refused_unsafe += unsafe and not verdict.ok

    if verdict.ok != (not unsafe):
        tally.incidents += 1
    assert verdict.ok == (not unsafe), f"graph said {verdict.problem}, oracle unsafe={unsafe}"
    assert (verdict.problem is Problem.CYCLE) == cyclic
    if cyclic:
        # the whole path: from the called alias into the loop and once around it
        assert verdict.path[0] == top and verdict.path[-1] in verdict.path[:-1]
    if verdict.ok:
        expanded = expand_alias(storage, "p", top, args, limits)
        assert expanded == expand_real(bodies, top, args)
        assert verdict.count == len(expanded) <= limits.max_commands
        assert sum(map(len, expanded)) <= limits.max_length
        graph = AliasGraph(storage, limits)
        graph.build_graph("p")
        bounds = graph.bounds(top)
        assert bounds is not None and bounds.length(len(args)) == worst_len, "the bound is the worst case, exactly"
