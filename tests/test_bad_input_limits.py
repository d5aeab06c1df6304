"""Values at the edge of what dates, timedeltas and floats hold: a clear refusal or a finding,
never a traceback (an OverflowError read as exit code 1, "violations found")."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from test_audit_kit import LAUNCH, Exchange, at, only, run
from test_cli_core import Run, call, nrrc  # noqa: F401  (the fixture)

from nrrc.audit.findings import Outcome
from nrrc.catalogue import Catalogue
from nrrc.centre import Distribution
from nrrc.keys import Keyring, Signer
from nrrc.messages import MessageTypes
from nrrc.timeutil import MAX_DURATION_DAYS, parse_duration

SAMPLES = Path(__file__).parent.parent / "messages" / "samples"


def test_durations_are_capped_at_about_a_hundred_years() -> None:
    """The longest duration is accepted; one day more is refused saying what was expected."""
    assert parse_duration(f"{MAX_DURATION_DAYS}d").delta.days == MAX_DURATION_DAYS
    with pytest.raises(ValueError, match=r"at most 36600 days .* found '36601d'"):
        parse_duration(f"{MAX_DURATION_DAYS + 1}d")
    with pytest.raises(ValueError, match="at most"):
        parse_duration("P99999999999D")


def test_an_absurd_skew_is_one_line_and_exit_2(nrrc: Run) -> None:  # noqa: F811
    result = call(nrrc, "audit", SAMPLES / "clean", "--skew", "99999999999d")
    assert result.code == 2, result
    assert result.err.startswith("nrrc: error: --skew: expected a duration of at most")
    assert "Traceback" not in result.err


def test_a_heavy_tailed_delay_stays_finite() -> None:
    """lognormal with sigma 1e308 would overflow a float: draws are capped at 100 years."""
    d = Distribution("lognormal", 2.0, 1e308)
    rng = random.Random(1)
    draws = [d.sample_delta(rng) for _ in range(200)]
    assert max(draws).days <= 100 * 366


@pytest.mark.parametrize(
    ("option", "value"),
    [("--speed", "inf"), ("--days", "inf"), ("--clock-epoch", "nan"), ("--clock-epoch", "1e300")],
)
def test_node_refuses_non_finite_numbers(nrrc: Run, option: str, value: str) -> None:  # noqa: F811
    result = call(nrrc, "node", "-c", "US", "-b", "mqtt://127.0.0.1:1", option, value)
    assert result.code == 2, result
    assert result.err.startswith(f"nrrc: error: {option}: expected"), result.err


def test_an_anchor_in_year_one_is_a_finding_not_a_crash(
    tmp_path: Path,
    cat: Catalogue,
    types: MessageTypes,
    signers: dict[str, Signer],
    keyring: Keyring,
) -> None:
    """A signed planned launch date of 0001-01-01: 24 h before it lies before year 1, so the
    notice is necessarily late (BML001), and the audit goes on."""
    ex = Exchange(types, signers)
    payload = {**LAUNCH, "planned_launch_date": date(1, 1, 1)}
    ex.send(
        "RU",
        "US",
        "bmlna.launch_notice",
        payload,
        at("2026-03-01 00:00:00"),
        at("2026-03-01 00:00:01"),
    )
    result = run(ex.write(tmp_path), cat, keyring)
    (f,) = only(result, "BML001")
    assert f.outcome is Outcome.VIOLATION and "before year 1" in f.explanation


@pytest.mark.parametrize(
    ("until", "words"),
    [
        ("2020-01-01T00:00:00Z", "expected an instant after the logs begin (2026-01-01"),
        ("2026-06-01", "with its UTC offset, like 2026-03-01T12:00:00Z, found '2026-06-01'"),
    ],
)
def test_until_before_the_logs_or_without_offset_is_refused(
    nrrc: Run,  # noqa: F811
    until: str,
    words: str,
) -> None:
    """An audited period that ends before it begins audits nothing: exit 2, not "no findings"."""
    result = call(nrrc, "audit", SAMPLES / "us-ru-2026", "--until", until)
    assert result.code == 2, result
    assert result.err.startswith("nrrc: error: --until: ") and words in result.err, result.err


@pytest.mark.parametrize("where", ["statement", "unknown-field", "envelope"])
def test_deeply_nested_json_is_malformed_not_a_crash(
    keyring: Keyring, types: MessageTypes, signers: dict[str, Signer], where: str
) -> None:
    """5,000 levels of nesting (JSON readers recurse): a signed statement, an extra field the
    header decoder skips, or the envelope itself is refused as malformed, as a receiving node
    and the audit need; never a RecursionError."""
    from nrrc.envelope import Verifier, seal
    from nrrc.errors import MalformedEnvelope

    deep = b"[" * 5000 + b"]" * 5000
    if where == "envelope":
        envelope = b'{"payloadType":' + deep + b"}"
    else:
        key = b"payload" if where == "statement" else b"extra"
        statement = b'{"kind":"core.free_text","%s":%s}' % (key, deep)
        envelope = seal(statement, signers["RU"])
    with pytest.raises(MalformedEnvelope, match=r"(?i)nested|expected"):
        Verifier(keyring, types, centre="US").open(envelope)
