"""The alias dependency graph and the bounds of an expansion, computed without expanding.

Syntax (also in docs/aliases.md): a body is commands separated by ``;``. The first word of a
command is an alias *call* when it literally names one of the player's aliases (a first word
that contains ``$`` is never a call, so calls are known statically). ``$1``..``$9`` and ``$*``
take the arguments the alias was called with; substituted text is never split on ``;`` nor
substituted again, so arguments cannot inject commands.

Bounds per alias, by dynamic programming over the DAG (memoised per built graph):

* ``count``: commands it finally runs (a call counts its callee's count);
* ``depth``: nesting levels (1 for an alias that calls none);
* ``length``: all the text the expansion produces (the commands it runs and the arguments
  aliases pass to each other, so no intermediate string can grow unseen), bounded by
  ``C + K * A`` where ``A`` is the length of the arguments: every placeholder is counted as if
  it received all of them. This is the exact length of the *worst case* expansion, a sound
  bound for any real one.

Arithmetic saturates just above each limit, so a 12-level 4-way bomb costs a few integer
operations, never 4**12 of anything. ``AliasBoundsCache`` keeps these bounds per player in a
compact form and rebuilds them only when the storage's version for that player changes.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import networkx as nx

__all__ = [
    "AliasBoundsCache",
    "AliasGraph",
    "AliasLike",
    "AliasLimits",
    "AliasSource",
    "AliasVerdict",
    "Bounds",
    "Problem",
    "Segment",
    "VersionedAliasSource",
    "parse_body",
]

PLACEHOLDER = re.compile(r"\$([1-9*])")


class AliasLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def command(self) -> str: ...


class AliasSource(Protocol):
    def get_all_aliases(self, player_name: str) -> Sequence[AliasLike]: ...


class VersionedAliasSource(AliasSource, Protocol):
    def version(self, player_name: str) -> int:
        """Changes whenever the player's aliases change (never repeats for a player)."""
        ...


@dataclass(frozen=True, slots=True)
class AliasLimits:
    """Bounds an expansion must respect; ``max_commands`` never above the per-window rate limit."""

    max_commands: int = 10
    max_depth: int = 10
    max_length: int = 10_000

    def __post_init__(self) -> None:
        if min(self.max_commands, self.max_depth, self.max_length) < 1:
            raise ValueError("alias limits must be positive")
        bits = (self.max_commands + 1).bit_length() + 2 * (self.max_length + 1).bit_length()
        if bits > 64:
            raise ValueError("alias limits too large to pack into 64 bits")


@dataclass(frozen=True, slots=True)
class Segment:
    """One command of a body. ``call`` is the lower-cased alias it calls, or None for a plain command.

    ``const``/``k`` give its length (for a call: of the arguments it passes) as ``const + k * A``.
    """

    text: str
    call: str | None
    args: str
    const: int
    k: int


def _key(name: str) -> str:
    # Reuse the storage's own string when it is already lower-case: cached bounds then hold no copies.
    lowered = name.lower()
    return name if lowered == name else lowered


def _linear(template: str) -> tuple[int, int]:
    k = len(PLACEHOLDER.findall(template))
    return len(template) - 2 * k, k


def parse_body(body: str, alias_names: Iterable[str]) -> list[Segment]:
    """Split a body into segments, marking calls to any of ``alias_names`` (lower-case)."""
    names = alias_names if isinstance(alias_names, (set, frozenset, dict)) else set(alias_names)
    segments = []
    for part in body.split(";"):
        text = part.strip()
        if not text:
            continue
        words = text.split(maxsplit=1)
        head = words[0].lower()
        if "$" not in head and head in names:
            args = words[1] if len(words) > 1 else ""
            const, k = _linear(args)
            segments.append(Segment(text, head, args, const, k))
        else:
            const, k = _linear(text)
            segments.append(Segment(text, None, "", const, k))
    return segments


class Problem(StrEnum):
    CYCLE = "cycle"
    TOO_MANY_COMMANDS = "too_many_commands"
    TOO_DEEP = "too_deep"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class Bounds:
    count: int
    depth: int
    const: int
    k: int

    def length(self, args_length: int) -> int:
        return self.const + self.k * args_length


@dataclass(frozen=True, slots=True)
class AliasVerdict:
    """Whether an alias may be expanded with arguments of a given length, and if not, why."""

    alias: str
    problem: Problem | None = None
    count: int = 0
    path: tuple[str, ...] = ()
    detail: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def message(self, limits: AliasLimits) -> str:
        """Plain words for the player."""
        if self.problem is Problem.CYCLE:
            return f"Alias loop: {' -> '.join(self.path)}. Remove one of these aliases to break it."
        if self.problem is Problem.TOO_DEEP:
            return f"Alias '{self.alias}' nests more than {limits.max_depth} levels deep."
        if self.problem is Problem.TOO_MANY_COMMANDS:
            return f"Alias '{self.alias}' would run more than {limits.max_commands} commands."
        if self.problem is Problem.TOO_LONG:
            return f"Alias '{self.alias}' would expand to more than {limits.max_length} characters."
        return f"Alias '{self.alias}' is safe to expand."


class AliasGraph:
    """One player's alias graph (networkx) with its bounds, memoised until the next build."""

    def __init__(self, alias_storage: AliasSource, limits: AliasLimits | None = None) -> None:
        self.alias_storage = alias_storage
        self.limits = limits or AliasLimits()
        self.graph: nx.DiGraph = nx.DiGraph()
        self._bounds: dict[str, Bounds] = {}
        self._cyclic: set[str] = set()

    def build_graph(self, player_name: str) -> nx.DiGraph:
        """Rebuild from storage: nodes are aliases (with their segments), an edge ``a -> b`` a call."""
        aliases = list(self.alias_storage.get_all_aliases(player_name))
        keys = [_key(a.name) for a in aliases]
        names = set(keys)
        graph: nx.DiGraph = nx.DiGraph()
        parsed = {key: parse_body(alias.command, names) for key, alias in zip(keys, aliases, strict=True)}
        for node, segments in parsed.items():
            graph.add_node(node, segments=segments)
        for node, segments in parsed.items():
            for seg in segments:
                if seg.call is not None:
                    graph.add_edge(node, seg.call)
        self.graph = graph
        self._compute_bounds()
        return graph

    def detect_cycle(self, alias_name: str) -> list[str] | None:
        """The aliases along a cycle reachable from ``alias_name``, or None when there is none."""
        name = alias_name.lower()
        if name not in self.graph:
            return None
        try:
            edges = nx.find_cycle(self.graph, source=name)
        except nx.NetworkXNoCycle:
            return None
        return [e[0] for e in edges]

    def cycle_path(self, alias_name: str) -> list[str] | None:
        """The whole path for a message: from ``alias_name`` into the cycle and once around it."""
        cycle = self.detect_cycle(alias_name)
        if cycle is None:
            return None
        name = alias_name.lower()
        lead = nx.shortest_path(self.graph, name, cycle[0]) if name not in cycle else [name]
        start = cycle.index(lead[-1])
        loop = cycle[start:] + cycle[:start]
        return lead[:-1] + loop + [loop[0]]

    def bounds(self, alias_name: str) -> Bounds | None:
        """Saturated bounds of an alias, None for an unknown alias or one that reaches a cycle."""
        return self._bounds.get(alias_name.lower())

    def verdict(self, alias_name: str, args_length: int = 0) -> AliasVerdict:
        name = alias_name.lower()
        if name in self._cyclic:
            return AliasVerdict(name, Problem.CYCLE, path=tuple(self.cycle_path(name) or ()))
        bounds = self._bounds.get(name)
        if bounds is None:
            return AliasVerdict(name, count=1)  # not an alias: the line runs as one command
        return _judge(name, bounds, args_length, self.limits)

    def is_safe_to_expand(self, alias_name: str, args_length: int = 0) -> bool:
        return self.verdict(alias_name, args_length).ok

    def _compute_bounds(self) -> None:
        graph = self.graph
        cyclic_core = {n for scc in nx.strongly_connected_components(graph) if len(scc) > 1 for n in scc}
        cyclic_core.update(n for n in graph if graph.has_edge(n, n))
        cyclic = set(cyclic_core)
        for node in cyclic_core:
            cyclic.update(nx.ancestors(graph, node))
        limits = self.limits
        cap_count, cap_depth, cap_len = limits.max_commands + 1, limits.max_depth + 1, limits.max_length + 1
        bounds: dict[str, Bounds] = {}
        acyclic = graph.subgraph(n for n in graph if n not in cyclic)
        for node in reversed(list(nx.topological_sort(acyclic))):
            count = depth = const = k = 0
            for seg in graph.nodes[node]["segments"]:
                if seg.call is None:
                    count += 1
                    const += seg.const
                    k += seg.k
                else:
                    callee = bounds[seg.call]
                    count += callee.count
                    depth = max(depth, callee.depth)
                    # the arguments passed count too, then the callee's text on them
                    const += seg.const + callee.const + min(callee.k * seg.const, cap_len)
                    k += seg.k + min(callee.k * seg.k, cap_len)
                count, const, k = min(count, cap_count), min(const, cap_len), min(k, cap_len)
            bounds[node] = Bounds(count, min(depth + 1, cap_depth), const, k)
        self._bounds = bounds
        self._cyclic = cyclic


def _judge(name: str, bounds: Bounds, args_length: int, limits: AliasLimits) -> AliasVerdict:
    if bounds.depth > limits.max_depth:
        return AliasVerdict(name, Problem.TOO_DEEP, detail=bounds.depth)
    if bounds.count > limits.max_commands:
        return AliasVerdict(name, Problem.TOO_MANY_COMMANDS, detail=bounds.count)
    if bounds.length(args_length) > limits.max_length:
        return AliasVerdict(name, Problem.TOO_LONG, detail=bounds.length(args_length))
    return AliasVerdict(name, count=bounds.count)


class _Summary:
    """A player's bounds packed into one integer per alias: names sorted, values in an array."""

    __slots__ = ("names", "packed", "problems", "version")

    def __init__(
        self,
        version: int,
        names: tuple[str, ...],
        packed: array[int],
        problems: dict[str, AliasVerdict] | None,
    ) -> None:
        self.version = version
        self.names = names
        self.packed = packed
        self.problems = problems


class AliasBoundsCache:
    """Per-player bounds, rebuilt only when the storage's version for that player changes.

    A check is a version comparison, a binary search among the player's alias names and a few
    integer operations: no graph is touched per command.
    """

    def __init__(self, storage: VersionedAliasSource, limits: AliasLimits | None = None) -> None:
        self.storage = storage
        self.limits = limits or AliasLimits()
        self._count_bits = (self.limits.max_commands + 1).bit_length()
        self._len_bits = (self.limits.max_length + 1).bit_length()
        self._summaries: dict[str, _Summary] = {}
        self.builds = 0

    def __len__(self) -> int:
        return len(self._summaries)

    def forget(self, player_name: str) -> None:
        self._summaries.pop(player_name, None)

    def check(self, player_name: str, alias_name: str, args_length: int = 0) -> AliasVerdict:
        """The verdict for calling ``alias_name`` with arguments ``args_length`` characters long."""
        summary = self._summary(player_name)
        name = alias_name.lower()
        names = summary.names
        i = bisect_left(names, name)
        if i == len(names) or names[i] != name:
            return AliasVerdict(name, count=1)
        value = summary.packed[i]
        if value == 0:
            assert summary.problems is not None
            return summary.problems[name]
        count_mask = (1 << self._count_bits) - 1
        len_mask = (1 << self._len_bits) - 1
        count = value & count_mask
        const = (value >> self._count_bits) & len_mask
        k = value >> (self._count_bits + self._len_bits)
        length = const + k * args_length
        if length > self.limits.max_length:
            return AliasVerdict(name, Problem.TOO_LONG, detail=length)
        return AliasVerdict(name, count=count)

    def _summary(self, player_name: str) -> _Summary:
        version = self.storage.version(player_name)
        summary = self._summaries.get(player_name)
        if summary is None or summary.version != version:
            summary = self._build(player_name, version)
            self._summaries[player_name] = summary
        return summary

    def _build(self, player_name: str, version: int) -> _Summary:
        self.builds += 1
        graph = AliasGraph(self.storage, self.limits)
        graph.build_graph(player_name)
        names = tuple(sorted(graph.graph.nodes))
        packed = array("Q")
        problems: dict[str, AliasVerdict] = {}
        for name in names:
            verdict = graph.verdict(name, 0)
            bounds = graph.bounds(name)
            if not verdict.ok or bounds is None:
                problems[name] = verdict
                packed.append(0)
                continue
            packed.append(
                bounds.count | (bounds.const << self._count_bits) | (bounds.k << (self._count_bits + self._len_bits))
            )
        return _Summary(version, names, packed, problems or None)
