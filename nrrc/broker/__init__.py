"""Brokers for the live exchange: the embedded amqtt broker and Mosquitto configurations.

* :class:`EmbeddedBroker` — amqtt on loopback with a password per centre and the topic ACL,
  what ``nrrc demo`` starts when no ``--broker`` is given.
* :func:`write_mosquitto_configs` — (a) one Mosquitto with a password per centre and a pattern
  ACL, (b) the same over TLS with client certificates, (c) one broker per centre bridged
  pairwise; what ``nrrc brokers generate`` writes.
"""

from nrrc.broker._certs import write_certificates
from nrrc.broker._embedded import EmbeddedBroker, free_port
from nrrc.broker._mosquitto import (
    DEFAULT_MAX_QUEUED,
    BrokerConfigError,
    BrokerLayout,
    Membership,
    acl_text,
    federated_conf,
    single_conf,
    tls_conf,
    write_mosquitto_configs,
)
from nrrc.broker._secrets import (
    amqtt_password_file,
    generate_passwords,
    mosquitto_hash,
    mosquitto_password_file,
    read_password,
    write_password,
)

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "BrokerConfigError",
    "BrokerLayout",
    "EmbeddedBroker",
    "Membership",
    "acl_text",
    "amqtt_password_file",
    "federated_conf",
    "free_port",
    "generate_passwords",
    "mosquitto_hash",
    "mosquitto_password_file",
    "read_password",
    "single_conf",
    "tls_conf",
    "write_certificates",
    "write_mosquitto_configs",
    "write_password",
]
