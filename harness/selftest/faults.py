"""The catalogue of seeded faults: small patches of the kind a real regression makes.

Each fault replaces the one occurrence of ``old`` in ``file`` with ``new`` and names the narrow
suite that must then go red. The faults cover the four fixes (connection state machines in the
client and the server, configuration validation, command security, NATS error boundaries) and
the harness's own checker and gate. When a snippet stops matching the code (a refactor), the
fault is reported as broken ("patch does not apply"): rewrite it against the new code, never
drop it. When a fault is missed, a test is missing: add it to the named suite.

Keep the checks narrow (one test file or node id): the whole selftest runs two at a time in
about three minutes on a two-core machine.
"""

from __future__ import annotations

from harness.selftest.runner import Fault, pytest_check, vitest_check

__all__ = ["AREAS", "FAULTS"]

AREAS = ("state machines", "configuration", "command security", "nats boundaries", "checker", "gate")
"""What the catalogue must cover, in report order."""

FAULTS: tuple[Fault, ...] = (
    # -- connection state machines: the client's XState machine and the server's NATS link ----------
    Fault(
        "client_backoff_never_grows", "state machines",
        "the client's reconnect backoff ceiling stays at the base delay instead of growing",
        "client/src/machines/backoff.ts",
        old="return Math.min(capMs, 4 * baseMs * 2 ** (steps / CEILING_DOUBLING_ATTEMPTS));",
        new="return Math.min(capMs, baseMs + 0 * steps);",
        check=vitest_check("tests/backoff.test.ts"),
    ),
    Fault(
        "client_attempts_unbounded", "state machines",
        "the client's retry guard always allows another attempt: an outage loops forever",
        "client/src/machines/connectionMachine.ts",
        old="canRetry: (ctx) => ctx.attempts < ctx.maxAttempts,",
        new="canRetry: (_ctx) => true,",
        check=vitest_check("tests/connectionMachine.test.ts"),
    ),
    Fault(
        "client_reconnect_without_token", "state machines",
        "the hasToken guard is dropped: RECONNECT after sign-out opens a link with no token",
        "client/src/machines/connectionMachine.ts",
        old="RECONNECT: { ...restart, cond: 'hasToken' },",
        new="RECONNECT: { ...restart },",
        check=vitest_check("tests/connectionMachine.test.ts"),
    ),
    Fault(
        "client_attempts_reset_on_connect", "state machines",
        "attempts reset the moment a link opens, so a server that accepts then drops every "
        "connection is retried forever",
        "client/src/machines/connectionMachine.ts",
        old="entry: 'recordConnected',",
        new="entry: ['recordConnected', 'resetAttempts'],",
        check=vitest_check("tests/connectionMachine.test.ts"),
    ),
    Fault(
        "server_link_lost_while_breaker_open", "state machines",
        "the server's NATS link cannot leave circuit_open when the transport drops",
        "mythos/realtime/connection_state_machine.py",
        old="lost = connected.to(reconnecting) | circuit_open.to(reconnecting)",
        new="lost = connected.to(reconnecting)",
        check=pytest_check("tests/unit/realtime/test_connection_state_machine.py"),
    ),
    # -- configuration validation --------------------------------------------------------------------
    Fault(
        "config_jwt_secret_default", "configuration",
        "a missing MYTHOSMUD_JWT_SECRET is accepted: the secret gets a default",
        "mythos/config/models.py",
        old='jwt_secret: SecretStr = Field(..., validation_alias=_env("MYTHOSMUD_JWT_SECRET"))',
        new='jwt_secret: SecretStr = Field(SecretStr("mythos-dev-secret-9f8e7d6c5b4a39281706"), '
            'validation_alias=_env("MYTHOSMUD_JWT_SECRET"))',
        check=pytest_check("tests/unit/config/test_models.py"),
    ),
    Fault(
        "config_placeholder_secret", "configuration",
        "the placeholder check is gone: 'abababab...' passes as a secret",
        "mythos/config/models.py",
        old="if secret.strip().lower() in PLACEHOLDER_SECRETS or len(set(secret)) < 4:",
        new="if secret.strip().lower() in PLACEHOLDER_SECRETS:",
        check=pytest_check("tests/unit/config/test_models.py"),
    ),
    Fault(
        "config_nats_url_prefix_match", "configuration",
        "the NATS URL pattern uses match instead of fullmatch: trailing junk is accepted",
        "mythos/config/models.py",
        old='if not re.fullmatch(r"(nats|tls|ws|wss)://[^\\s/]+(:\\d+)?/?", url.strip()):',
        new='if not re.match(r"(nats|tls|ws|wss)://[^\\s/]+(:\\d+)?/?", url.strip()):',
        check=pytest_check("tests/unit/config/test_models.py"),
    ),
    # -- command security ----------------------------------------------------------------------------
    Fault(
        "rate_limiter_off_by_one", "command security",
        "the rate limiter refuses a command at the exact moment the oldest one leaves the window",
        "mythos/commands/rate_limiter.py",
        old="elif self._ring[pos] > now:",
        new="elif self._ring[pos] >= now:",
        check=pytest_check("tests/unit/commands/test_rate_limiter.py"),
    ),
    Fault(
        "alias_cycle_detection_returns_none", "command security",
        "alias cycle detection always says there is no cycle",
        "mythos/commands/alias_graph.py",
        old="        return [e[0] for e in edges]\n",
        new="        return None\n",
        check=pytest_check("tests/unit/commands/test_alias_graph.py"),
    ),
    Fault(
        "alias_bomb_count_unchecked", "command security",
        "an alias that would run more commands than allowed is expanded",
        "mythos/commands/alias_graph.py",
        old="    if bounds.count > limits.max_commands:\n        return AliasVerdict(name, Problem.TOO_MANY",
        new="    if bounds.count > limits.max_commands * 1000:\n        return AliasVerdict(name, Problem.TOO_MANY",
        check=pytest_check("tests/unit/commands/test_alias_graph.py"),
    ),
    Fault(
        "validator_traversal_pattern_dropped", "command security",
        "the path traversal pattern is dropped from the validator",
        "mythos/commands/validator.py",
        old='    DangerousPattern("path traversal", r"\\.\\.[/\\\\]|[/\\\\]\\.\\."),\n',
        new="",
        check=pytest_check("tests/unit/commands/test_validator.py"),
    ),
    Fault(
        "audit_stores_whole_line", "command security",
        "the audit log stores the whole command line instead of a bounded prefix",
        "mythos/commands/audit.py",
        old="    prefix, _ = _prefix(command, COMMAND_PREFIX_CHARS, _PREFIX_BYTES)\n",
        new="    prefix = command\n",
        check=pytest_check("tests/unit/commands/test_audit.py"),
    ),
    Fault(
        "login_throttle_never_locks", "command security",
        "failed logins never start a lockout",
        "mythos/login_throttle.py",
        old="            if lock > 0:\n                record.locked_until",
        new="            if lock < 0:\n                record.locked_until",
        check=pytest_check("tests/unit/test_login_throttle.py"),
    ),
    Fault(
        "username_pattern_match", "command security",
        "usernames are checked with match instead of fullmatch: 'admin\\n' registers",
        "mythos/auth.py",
        old="return USERNAME_PATTERN.fullmatch(username) is not None",
        new="return USERNAME_PATTERN.match(username) is not None",
        check=pytest_check("tests/unit/test_auth.py"),
    ),
    # -- NATS error boundaries -----------------------------------------------------------------------
    Fault(
        "breaker_never_opens", "nats boundaries",
        "the breaker compares the wrong counter with its threshold and never opens",
        "mythos/realtime/circuit_breaker.py",
        old="if self._failures >= self.failure_threshold:",
        new="if self._successes >= self.failure_threshold:",
        check=pytest_check("tests/unit/realtime/test_circuit_breaker.py"),
    ),
    Fault(
        "breaker_probe_kept_on_cancel", "nats boundaries",
        "a cancelled half-open probe keeps its slot: the breaker refuses every call from then on",
        "mythos/realtime/circuit_breaker.py",
        old="        except BaseException:  # cancelled (or the loop is exiting): no verdict, but free the probe\n"
            "            self.release(admission)\n",
        new="        except BaseException:  # cancelled (or the loop is exiting): no verdict, but free the probe\n",
        check=pytest_check("tests/unit/realtime/test_circuit_breaker.py"),
    ),
    Fault(
        "dlq_enqueue_dropped", "nats boundaries",
        "the DLQ counts an entry but never writes it",
        "mythos/realtime/dead_letter_queue.py",
        old="            self._write_atomic(entry)\n            self._move_depth(+1)\n",
        new="            self._move_depth(+1)\n",
        check=pytest_check("tests/unit/realtime/test_dead_letter_queue.py"),
    ),
    Fault(
        "retry_gives_up_after_one_attempt", "nats boundaries",
        "the retry handler gives up after the first failed attempt",
        "mythos/realtime/retry.py",
        old="if attempt >= self.config.max_attempts:",
        new="if attempt >= 1:",
        check=pytest_check("tests/unit/realtime/test_retry.py"),
    ),
    # -- the harness's checker -----------------------------------------------------------------------
    Fault(
        "checker_counts_replay_as_delivered", "checker",
        "receptions brought by the admin DLQ replay count as delivered during the run",
        "harness/checker.py",
        old="    replayed_from = replay_start(history)\n    spans = connected_intervals(history)\n",
        new="    replayed_from = float(\"inf\")\n    spans = connected_intervals(history)\n",
        check=pytest_check("tests/unit/harness/test_checker_what_players_saw.py"),
    ),
    Fault(
        "checker_token_substring", "checker",
        "chat tokens are found anywhere in the text, not as the whole content",
        "harness/history.py",
        old="    match = TOKEN_RE.fullmatch(content.strip())\n",
        new="    match = TOKEN_RE.search(content)\n",
        check=pytest_check("tests/unit/harness/test_client_tokens.py"),
    ),
    # -- the release gate ----------------------------------------------------------------------------
    Fault(
        "gate_accepts_infinity", "gate",
        "compare() lets +inf pass a '>=' threshold",
        "harness/kpi.py",
        old="    if value is None or not is_finite(value):\n        return False\n",
        new="    if value is None:\n        return False\n",
        # A node id: the scratch copy is no git repository, which the file's run-stamp test needs.
        check=pytest_check("tests/unit/harness/test_kpi.py::test_passed_is_computed_from_value_and_spec"),
    ),
    Fault(
        "gate_trusts_file_threshold", "gate",
        "a KPI file that lowers its own threshold is not refused",
        "harness/verdict.py",
        old="    if not _same(result.threshold, spec.threshold):\n",
        new="    if False:\n",
        check=pytest_check("tests/unit/harness/test_gate_fails_closed.py"),
    ),
    Fault(
        "gate_accepts_other_commit", "gate",
        "a KPI file from another commit is not stale",
        "harness/verdict.py",
        old="    if run.commit != head:\n",
        new="    if False:\n",
        check=pytest_check("tests/unit/harness/test_gate_fails_closed.py"),
    ),
)
