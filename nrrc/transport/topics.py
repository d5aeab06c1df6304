"""The MQTT topic layout: who may publish where, written so that a broker ACL can enforce it.

Every topic starts with ``nrrc/v1`` (the layout's version) and names the *sender's* centre id,
so the broker can bind the right to publish on it to the sender's credentials::

    nrrc/v1/link/<SENDER>/<RECIPIENT>     point-to-point link, e.g. nrrc/v1/link/RU/US
    nrrc/v1/regime/<regime>/<SENDER>      multilateral channel, e.g. nrrc/v1/regime/hcoc/FR

A centre publishes only on ``link/<itself>/+`` and ``regime/<its regimes>/<itself>``; it
subscribes to ``link/+/<itself>`` and ``regime/<its regime>/+`` for each regime it belongs to
(and ignores its own copies on regime channels, since MQTT 3.1.1 has no "no local" option).

The matching Mosquitto pattern ACL (``%u`` is the user name, which is the centre id)::

    pattern write nrrc/v1/link/%u/+
    pattern read  nrrc/v1/link/+/%u
    pattern write nrrc/v1/regime/+/%u
    user FR
    topic read nrrc/v1/regime/hcoc/+

The topic is only a routing hint that the ACL makes trustworthy: a receiver still checks that
the signed statement's sender and recipient agree with the topic it arrived on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from nrrc.errors import NrrcError
from nrrc.messages import CENTRE_PATTERN, REGIME_PATTERN

__all__ = [
    "PREFIX",
    "Channel",
    "Topic",
    "TopicError",
    "check_centre",
    "check_regime",
    "publish_patterns",
    "subscriptions",
]

PREFIX = "nrrc/v1"
"""Version prefix of every topic; a new layout gets a new prefix."""

_CENTRE = re.compile(CENTRE_PATTERN)
_REGIME = re.compile(REGIME_PATTERN)


class TopicError(NrrcError):
    """A topic, centre id or regime id does not fit the layout."""


class Channel(Enum):
    """The two kinds of channel: a bilateral link or a multilateral regime channel."""

    LINK = "link"
    REGIME = "regime"


def check_centre(value: str, what: str = "centre id") -> str:
    """Return ``value`` if it is a centre id (``US``, ``RU``…), else raise :class:`TopicError`."""
    if not isinstance(value, str) or not _CENTRE.fullmatch(value):
        raise TopicError(
            f"{what}: expected capital letters and digits, 2 to 16 characters (e.g. 'US'), "
            f"found {value!r}"
        )
    return value


def check_regime(value: str, what: str = "regime id") -> str:
    """Return ``value`` if it is a regime id (``hcoc``…), else raise :class:`TopicError`."""
    if not isinstance(value, str) or not _REGIME.fullmatch(value):
        raise TopicError(
            f"{what}: expected lowercase letters, digits and '_', 2 to 32 characters "
            f"(e.g. 'hcoc'), found {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """One concrete topic of the layout; cannot be constructed invalid.

    Attributes:
        channel: link or regime channel.
        sender: the publishing centre's id.
        to: the recipient centre (link) or the regime id (regime channel).
    """

    channel: Channel
    sender: str
    to: str

    def __post_init__(self) -> None:
        check_centre(self.sender, "topic sender")
        if self.channel is Channel.LINK:
            check_centre(self.to, "topic recipient")
            if self.to == self.sender:
                raise TopicError(f"topic: a centre cannot link to itself, found {self.sender!r}")
        else:
            check_regime(self.to, "topic regime")

    @classmethod
    def link(cls, sender: str, recipient: str) -> Topic:
        """The point-to-point topic from ``sender`` to ``recipient``."""
        return cls(Channel.LINK, sender, recipient)

    @classmethod
    def regime(cls, regime: str, sender: str) -> Topic:
        """``sender``'s topic on the channel of ``regime``."""
        return cls(Channel.REGIME, sender, regime)

    @classmethod
    def for_recipient(cls, sender: str, recipient: str) -> Topic:
        """The topic for a statement's ``recipient``: a centre id or a regime id."""
        if _REGIME.fullmatch(recipient):
            return cls.regime(recipient, sender)
        return cls.link(sender, recipient)

    @classmethod
    def parse(cls, text: str) -> Topic:
        """Parse a topic name; raises :class:`TopicError` naming what is wrong."""
        parts = text.split("/") if isinstance(text, str) else []
        if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
            raise TopicError(
                f"topic: expected {PREFIX}/link/<SENDER>/<RECIPIENT> or "
                f"{PREFIX}/regime/<regime>/<SENDER>, found {str(text)[:120]!r}"
            )
        if parts[2] == Channel.LINK.value:
            return cls.link(parts[3], parts[4])
        if parts[2] == Channel.REGIME.value:
            return cls.regime(parts[3], parts[4])
        raise TopicError(f"topic: expected 'link' or 'regime' after {PREFIX}/, found {parts[2]!r}")

    @property
    def recipient(self) -> str:
        """What the statement's ``recipient`` must be: the centre or the regime id."""
        return self.to

    def __str__(self) -> str:
        if self.channel is Channel.LINK:
            return f"{PREFIX}/link/{self.sender}/{self.to}"
        return f"{PREFIX}/regime/{self.to}/{self.sender}"


def subscriptions(centre: str, regimes: Iterable[str] = ()) -> list[str]:
    """Topic filters ``centre`` subscribes to: its inbound links and its regimes' channels."""
    check_centre(centre)
    filters = [f"{PREFIX}/link/+/{centre}"]
    filters += [f"{PREFIX}/regime/{check_regime(r)}/+" for r in sorted(set(regimes))]
    return filters


def publish_patterns(centre: str, regimes: Iterable[str] = ()) -> list[str]:
    """Topic filters ``centre`` may publish on (for brokers without pattern ACLs)."""
    check_centre(centre)
    return [f"{PREFIX}/link/{centre}/+"] + [
        f"{PREFIX}/regime/{check_regime(r)}/{centre}" for r in sorted(set(regimes))
    ]
