"""AliasGraph and AliasBoundsCache: cycles with their path, counts, depth, lengths, caching."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mythos.commands.alias_graph import AliasBoundsCache, AliasGraph, AliasLimits, Problem, parse_body


@dataclass(frozen=True)
class A:
    name: str
    command: str


class Source:
    """A versioned alias source: the storage protocol without persistence."""

    def __init__(self, **bodies: str) -> None:
        self.bodies = dict(bodies)
        self.versions = 1

    def get_all_aliases(self, player_name: str) -> list[A]:
        return [A(n, c) for n, c in self.bodies.items()]

    def version(self, player_name: str) -> int:
        return self.versions

    def set(self, name: str, body: str) -> None:
        self.bodies[name] = body
        self.versions += 1


def graph_of(limits: AliasLimits | None = None, /, **bodies: str) -> AliasGraph:
    graph = AliasGraph(Source(**bodies), limits)
    graph.build_graph("p")
    return graph


def bomb(levels: int, fan_out: int) -> dict[str, str]:
    bodies = {f"l{i}": "; ".join([f"l{i + 1}"] * fan_out) for i in range(levels - 1)}
    bodies[f"l{levels - 1}"] = "say boom"
    return bodies


def test_parse_body_marks_calls_only_for_literal_alias_heads() -> None:
    segs = parse_body(" b x $1 ;; say $* ; $1 go;B", {"b"})
    assert [(s.text, s.call) for s in segs] == [
        ("b x $1", "b"),
        ("say $*", None),
        ("$1 go", None),
        ("B", "b"),
    ]
    assert (segs[0].const, segs[0].k) == (2, 1)  # args "x $1"
    assert (segs[1].const, segs[1].k) == (4, 1)


def test_detect_cycle_matches_networkx_form() -> None:
    graph = graph_of(a="b", b="c", c="b")
    assert sorted(graph.detect_cycle("a") or []) == ["b", "c"]
    assert graph.detect_cycle("nothing") is None
    assert graph_of(a="b", b="say hi").detect_cycle("a") is None


def test_self_loop_and_cycle_path() -> None:
    graph = graph_of(a="a")
    assert graph.detect_cycle("a") == ["a"]
    assert graph.cycle_path("a") == ["a", "a"]
    graph = graph_of(x="a", a="b", b="a; say")
    assert graph.cycle_path("x") == ["x", "a", "b", "a"]
    assert graph.cycle_path("a") == ["a", "b", "a"]
    verdict = graph.verdict("x")
    assert verdict.problem is Problem.CYCLE
    assert "x -> a -> b -> a" in verdict.message(graph.limits)
    assert graph.cycle_path("nothing") is None


def test_unrelated_cycle_does_not_taint_other_aliases() -> None:
    graph = graph_of(a="b", b="a", c="say hi; say there", d="c")
    assert graph.detect_cycle("c") is None and graph.detect_cycle("d") is None
    assert not graph.is_safe_to_expand("a")
    assert graph.is_safe_to_expand("c")
    assert graph.verdict("c").count == 2


def test_diamond_counts_each_path() -> None:
    graph = graph_of(top="l; r", l="bottom; say l", r="bottom", bottom="say 1; say 2")
    bounds = graph.bounds("top")
    assert bounds is not None and (bounds.count, bounds.depth) == (5, 3)
    assert graph.is_safe_to_expand("top")


def test_exponential_bomb_is_refused_on_the_graph() -> None:
    graph = graph_of(**bomb(12, 4))
    verdict = graph.verdict("l0")
    assert verdict.problem is Problem.TOO_DEEP
    assert not graph.is_safe_to_expand("l0")
    shallow = graph_of(**bomb(5, 4))
    assert shallow.verdict("l0").problem is Problem.TOO_MANY_COMMANDS
    assert shallow.verdict("l3").ok  # 4 commands


def test_count_saturates_instead_of_growing() -> None:
    graph = graph_of(AliasLimits(max_commands=10, max_depth=100, max_length=10_000), **bomb(40, 10))
    bounds = graph.bounds("l0")
    assert bounds is not None and bounds.count == 11


def test_depth_limit_is_inclusive() -> None:
    chain = {f"c{i}": f"c{i + 1}" for i in range(9)} | {"c9": "say end"}
    graph = graph_of(**chain)
    assert graph.verdict("c0").ok  # exactly 10 levels
    chain["c9"] = "c10"
    chain["c10"] = "say end"
    assert graph_of(**chain).verdict("c0").problem is Problem.TOO_DEEP


def test_length_bound_grows_with_arguments() -> None:
    limits = AliasLimits(max_commands=10, max_depth=10, max_length=100)
    graph = graph_of(limits, a="b $* $*", b="say $1 $*")
    bounds = graph.bounds("a")
    # the args a passes, "$* $*": 1 + 2A; b on them: "say  " + 2 placeholders -> 5 + 2 * (1 + 2A)
    assert bounds is not None and (bounds.const, bounds.k) == (8, 6)
    assert graph.verdict("a", 15).ok  # 8 + 90 = 98
    verdict = graph.verdict("a", 16)
    assert verdict.problem is Problem.TOO_LONG and verdict.detail == 104


def test_text_passed_between_aliases_counts_even_when_ignored() -> None:
    chain = {f"c{i}": f"c{i + 1} $*$*$*$*$*" for i in range(9)} | {"c9": "say hi"}
    graph = graph_of(**chain)
    assert graph.verdict("c0", 0).ok
    assert graph.verdict("c0", 1).problem is Problem.TOO_LONG  # 5**9 characters passed along


def test_unknown_alias_is_a_single_command() -> None:
    graph = graph_of(a="say")
    verdict = graph.verdict("look")
    assert verdict.ok and verdict.count == 1


def test_cache_rebuilds_only_when_the_version_changes() -> None:
    source = Source(a="say 1; say 2", b="a; a")
    cache = AliasBoundsCache(source)
    assert cache.check("p", "b").count == 4
    assert cache.check("p", "B", 3).count == 4
    assert cache.check("p", "look").count == 1
    assert cache.builds == 1
    source.set("a", "b")
    verdict = cache.check("p", "b")
    assert verdict.problem is Problem.CYCLE and verdict.path == ("b", "a", "b")
    assert cache.builds == 2
    assert len(cache) == 1
    cache.forget("p")
    assert len(cache) == 0


def test_cache_checks_lengths_with_the_real_arguments() -> None:
    source = Source(a="say $* $*")
    cache = AliasBoundsCache(source, AliasLimits(max_commands=10, max_depth=10, max_length=50))
    assert cache.check("p", "a", 22).ok  # "say " + " " = 5, plus 2 * 22 = 49
    verdict = cache.check("p", "a", 23)
    assert verdict.problem is Problem.TOO_LONG and verdict.detail == 51


def test_cache_agrees_with_the_graph_on_a_bomb() -> None:
    cache = AliasBoundsCache(Source(**bomb(12, 4)))
    assert cache.check("p", "l0").problem is Problem.TOO_DEEP
    assert cache.check("p", "l8").problem is Problem.TOO_MANY_COMMANDS
    assert cache.check("p", "l10").count == 4


@pytest.mark.parametrize("limits", [(0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 2**40)])
def test_invalid_limits(limits: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        AliasLimits(*limits)


def test_messages_name_the_problem() -> None:
    limits = AliasLimits(max_commands=3, max_depth=2, max_length=10)
    graph = graph_of(limits, deep="mid", mid="leaf", leaf="say", many="say; say; say; say", long="say 1234567890")
    assert "levels" in graph.verdict("deep").message(limits)
    assert "more than 3 commands" in graph.verdict("many").message(limits)
    assert "more than 10 characters" in graph.verdict("long").message(limits)
    assert "safe" in graph.verdict("leaf").message(limits)
