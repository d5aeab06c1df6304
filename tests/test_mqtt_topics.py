"""The MQTT topic layout: value objects that cannot be invalid, and their round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nrrc.transport.topics import (
    Channel,
    Topic,
    TopicError,
    publish_patterns,
    subscriptions,
)

centres = st.from_regex(r"\A[A-Z][A-Z0-9]{1,15}\Z")
regimes = st.from_regex(r"\A[a-z][a-z0-9_]{1,31}\Z")


def test_link_topic_names_sender_then_recipient() -> None:
    """A link topic reads nrrc/v1/link/<SENDER>/<RECIPIENT>."""
    assert str(Topic.link("RU", "US")) == "nrrc/v1/link/RU/US"


def test_regime_topic_names_regime_then_sender() -> None:
    """A regime topic reads nrrc/v1/regime/<regime>/<SENDER>."""
    assert str(Topic.regime("hcoc", "FR")) == "nrrc/v1/regime/hcoc/FR"


def test_for_recipient_picks_the_channel_from_the_recipient() -> None:
    """An uppercase recipient is a link, a lowercase one a regime channel."""
    assert Topic.for_recipient("US", "RU").channel is Channel.LINK
    assert Topic.for_recipient("US", "hcoc") == Topic.regime("hcoc", "US")


@pytest.mark.parametrize(
    "text",
    [
        "nrrc/v1/link/RU",
        "nrrc/v2/link/RU/US",
        "nrrc/v1/link/ru/US",
        "nrrc/v1/link/RU/US/extra",
        "nrrc/v1/broadcast/RU/US",
        "nrrc/v1/regime/HCOC/US",
        "nrrc/v1/link/+/US",
        "nrrc/v1/link/US/US",
        "",
    ],
    ids=[
        "too-short",
        "wrong-version",
        "lowercase-sender",
        "too-long",
        "unknown-channel",
        "uppercase-regime",
        "wildcard",
        "self-link",
        "empty",
    ],
)
def test_parse_rejects_topics_outside_the_layout(text: str) -> None:
    """Anything that is not exactly a link or a regime topic is refused with a clear error."""
    with pytest.raises(TopicError) as info:
        Topic.parse(text)
    assert "expected" in str(info.value) or "cannot" in str(info.value)


def test_error_names_the_offending_value() -> None:
    """The error message shows what was found."""
    with pytest.raises(TopicError, match="'us'"):
        Topic.link("RU", "us")


@given(centres, centres)
def test_link_round_trips(sender: str, recipient: str) -> None:
    """Parsing a link topic's text gives the same topic back."""
    if sender == recipient:
        return
    topic = Topic.link(sender, recipient)
    assert Topic.parse(str(topic)) == topic


@given(regimes, centres)
def test_regime_round_trips(regime: str, sender: str) -> None:
    """Parsing a regime topic's text gives the same topic back."""
    topic = Topic.regime(regime, sender)
    assert Topic.parse(str(topic)) == topic


def test_subscriptions_cover_inbound_links_and_regimes() -> None:
    """A centre subscribes to links addressed to it and to each of its regimes' channels."""
    assert subscriptions("FR", ["hcoc", "vd11"]) == [
        "nrrc/v1/link/+/FR",
        "nrrc/v1/regime/hcoc/+",
        "nrrc/v1/regime/vd11/+",
    ]


def test_publish_patterns_name_only_the_centre_as_sender() -> None:
    """What a centre may publish on always carries its own id as the sender."""
    assert publish_patterns("FR", ["hcoc"]) == ["nrrc/v1/link/FR/+", "nrrc/v1/regime/hcoc/FR"]
