"""From a configuration and what Bootstrap-Discover found to the requests of one bootstrap.

Only what the configuration holds is written: the Security instance carries its mandatory
resources and the Short Server ID; optional ones (cipher suites, /0/x/16) only when
configured, each in a Bootstrap-Write of its own that a client lacking the resource may answer
with 4.04 without failing the bootstrap (:mod:`lwm2m.bootstrap.core`).

Instance IDs: an account keeps the Security and Server instances that already carry its Short
Server ID (so a repeated bootstrap rewrites rather than duplicates it, Core 1.1 §6.1.7.8's
consistency); a new account takes the lowest ID that is neither left after the deletes nor the
bootstrap server's own account, which Bootstrap-Delete never removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lwm2m.bootstrap.config import Account, BootstrapConfig, SecurityMode
from lwm2m.model import (
    MultipleResource,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    Resource,
    SingleResource,
    Value,
)
from lwm2m.operations import (
    BootstrapFinish,
    BootstrapOperation,
    Delete,
    Inventory,
    Read,
    Write,
)

SECURITY, SERVER, ACCESS_CONTROL, OSCORE = 0, 1, 2, 21

CIPHER_SUITES = 16
"""Security resource /0/x/16, DTLS/TLS Ciphersuite (optional, LwM2M 1.1)."""
_MODE = {SecurityMode.PSK: 0, SecurityMode.NOSEC: 3}


def plan(
    config: BootstrapConfig, inventory: Inventory, *, read_format: int | None
) -> list[BootstrapOperation]:
    """Every request after Bootstrap-Discover, Bootstrap-Finish last."""
    ops: list[BootstrapOperation] = [Read(path, read_format) for path in config.read]
    ops += [Delete(path) for path in config.delete]
    ids = _Allocator(inventory, config.delete)
    security: dict[int, ObjectInstance] = {}
    servers: dict[int, ObjectInstance] = {}
    oscore: dict[int, ObjectInstance] = {}
    optional: list[BootstrapOperation] = []
    for account in config.servers:
        sec_iid = ids.take(SECURITY, account.short_server_id)
        oscore_link = None
        if account.oscore is not None:
            oscore_iid = ids.take(OSCORE, None)
            oscore[oscore_iid] = _oscore_instance(oscore_iid, account)
            oscore_link = ObjectLink(OSCORE, oscore_iid)
        security[sec_iid] = _security_instance(sec_iid, account, oscore_link)
        if account.cipher_suites:
            suites = MultipleResource(CIPHER_SUITES, dict(enumerate(account.cipher_suites)))
            optional.append(Write(Path.of(SECURITY, sec_iid, CIPHER_SUITES), suites))
        srv_iid = ids.take(SERVER, account.short_server_id)
        servers[srv_iid] = _instance(
            srv_iid,
            {0: account.short_server_id, 1: account.lifetime, 6: True, 7: account.binding},
        )
    acl = {}
    for entry in config.access_control:
        iid = ids.take(ACCESS_CONTROL, None)
        acl[iid] = _instance(
            iid,
            {0: entry.object_id, 1: entry.instance_id, 2: dict(entry.acl), 3: entry.owner},
        )
    for object_id, instances in ((SECURITY, security), (OSCORE, oscore), (SERVER, servers)):
        if instances:
            ops.append(Write(Path.of(object_id), ObjectNode(object_id, instances)))
    ops += optional
    if acl:
        ops.append(Write(Path.of(ACCESS_CONTROL), ObjectNode(ACCESS_CONTROL, acl)))
    ops.append(BootstrapFinish())
    return ops


class _Allocator:
    """Instance IDs per object: reused by Short Server ID, else the lowest free one."""

    def __init__(self, inventory: Inventory, deleted: Iterable[Path]) -> None:
        self._inventory = inventory
        self._deleted = tuple(deleted)
        self._taken: dict[int, set[int]] = {}

    def take(self, object_id: int, short_server_id: int | None) -> int:
        taken = self._taken.setdefault(object_id, self._left(object_id))
        if short_server_id is not None:
            iid = self._inventory.instance_of(object_id, short_server_id)
            if iid is not None and iid not in self._kept_bootstrap(object_id):
                taken.add(iid)
                return iid
        iid = next(i for i in range(65535) if i not in taken)
        taken.add(iid)
        return iid

    def _left(self, object_id: int) -> set[int]:
        """Instances that survive the deletes (the bootstrap account always does)."""
        left = set()
        for iid in self._inventory.instances(object_id):
            path = Path.of(object_id, iid)
            if iid in self._kept_bootstrap(object_id) or not any(
                path.startswith(d) for d in self._deleted
            ):
                left.add(iid)
        return left

    def _kept_bootstrap(self, object_id: int) -> list[int]:
        return self._inventory.bootstrap_accounts() if object_id == SECURITY else []


def _instance(iid: int, values: Mapping[int, Value | Mapping[int, Value]]) -> ObjectInstance:
    resources: dict[int, Resource] = {
        rid: MultipleResource(rid, value)
        if isinstance(value, Mapping)
        else SingleResource(rid, value)
        for rid, value in values.items()
    }
    return ObjectInstance(iid, resources)


def _security_instance(iid: int, account: Account, oscore: ObjectLink | None) -> ObjectInstance:
    """Resources 0-5 (mandatory), the Short Server ID (optional in the model, but an account
    without one cannot be matched to its Server instance) and the OSCORE link if configured."""
    values: dict[int, Value | Mapping[int, Value]] = {
        0: account.uri,
        1: False,
        2: _MODE[account.security_mode],
        3: (account.identity or "").encode(),
        4: b"",
        5: account.key,
        10: account.short_server_id,
    }
    if oscore is not None:
        values[17] = oscore
    return _instance(iid, values)


def _oscore_instance(iid: int, account: Account) -> ObjectInstance:
    context = account.oscore
    assert context is not None
    values: dict[int, Value | Mapping[int, Value]] = {
        0: context.master_secret,
        1: context.sender_id,
        2: context.recipient_id,
    }
    for rid, value in (
        (3, context.aead_algorithm),
        (4, context.hkdf_algorithm),
        (5, context.master_salt),
    ):
        if value is not None:
            values[rid] = value
    return _instance(iid, values)
