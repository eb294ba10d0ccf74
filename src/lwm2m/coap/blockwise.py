"""Block-wise transfer pieces (RFC 7959): slicing a body into blocks, reassembling one, and
the server side of Block1 over a bounded :class:`~lwm2m.coap.cache.TransferStore`."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, replace
from enum import Enum

from lwm2m.coap.cache import TransferStore
from lwm2m.coap.codes import Code
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Block, Options


def block_size(szx: int) -> int:
    return 16 << szx


def slice_block(body: bytes, offset: int, szx: int) -> tuple[bytes, Block] | None:
    """The block of ``body`` starting at ``offset``, or None when it starts past the end.

    Block 0 of an empty body exists (an empty representation is still one block).
    """
    size = 16 << szx
    if offset and offset >= len(body):
        return None
    end = offset + size
    return body[offset:end], Block(offset // size, end < len(body), szx)


class BlockError(Enum):
    """Why a block does not extend a body; each maps to the answer RFC 7959 §2.9 gives."""

    INCOMPLETE = "block does not continue the body"  # 4.08 Request Entity Incomplete
    TOO_LARGE = "body exceeds the size limit"  # 4.13 Request Entity Too Large
    SIZE = "block payload does not match its SZX"  # 4.00 Bad Request


class Assembly:
    """A body being received block by block; ``first`` is the message whose options it keeps."""

    __slots__ = ("body", "first")

    def __init__(self, first: Message) -> None:
        self.first = first
        self.body = bytearray()

    def append(self, block: Block, payload: bytes, limit: int) -> BlockError | None:
        body = self.body
        if block.offset != len(body):
            return BlockError.INCOMPLETE
        if len(payload) > block.size or (block.more and len(payload) != block.size):
            return BlockError.SIZE
        if len(body) + len(payload) > limit:
            return BlockError.TOO_LARGE
        body += payload
        return None


_BERT_SIZE = 1024
_MAX_BLOCK_NUM = 1 << 20


def append_block(
    assembly: Assembly, block: Block, payload: bytes, limit: int, *, bert: bool
) -> BlockError | None:
    """Add a block to ``assembly``; with ``bert``, SZX 7 means BERT (RFC 8323 §6): several
    1024-byte blocks in one message."""
    if block.szx != 7 or not bert:
        return assembly.append(block, payload, limit)
    count = max(1, -(-len(payload) // _BERT_SIZE))
    if block.num + count > _MAX_BLOCK_NUM:
        return BlockError.TOO_LARGE
    if block.more and len(payload) % _BERT_SIZE:
        return BlockError.SIZE
    for index in range(count):
        chunk = payload[index * _BERT_SIZE : (index + 1) * _BERT_SIZE]
        more = block.more or index < count - 1
        error = assembly.append(Block(block.num + index, more, 6), chunk, limit)
        if error is not None:
            return error
    return None


Block1Key = tuple[Hashable, Code, tuple[str, ...], tuple[str, ...], bytes | None]
"""A Block1 transfer: peer, method, Uri-Path, Uri-Query and Request-Tag (RFC 9175 §3.3)."""

_BLOCK_ERROR_CODES = {
    BlockError.INCOMPLETE: Code.REQUEST_ENTITY_INCOMPLETE,
    BlockError.TOO_LARGE: Code.REQUEST_ENTITY_TOO_LARGE,
    BlockError.SIZE: Code.BAD_REQUEST,
}


@dataclass(frozen=True, slots=True)
class Block1Reply:
    """The answer to a Block1 block that does not complete a body: 2.31 Continue or an error."""

    code: Code
    options: Options


class Block1Receiver:
    """The server side of Block1 (RFC 7959 §2.5): bodies reassembled in a bounded store.

    A body over ``max_body_size`` gets 4.13 with Size1 giving the limit (RFC 7959 §2.9.3);
    a new transfer when the peer has as many as it may, or a block that the memory of all
    transfers cannot hold, gets 5.03 with Max-Age saying when a transfer will have expired, and
    the transfer is dropped (the client starts over). A transfer is charged the larger of the
    Size1 it announced and what it holds, so announced bodies are refused at their first block.
    """

    __slots__ = ("_bert", "_limit", "_szx", "store")

    def __init__(
        self,
        store: TransferStore[Block1Key, Assembly],
        *,
        max_body_size: int,
        preferred_szx: int,
        bert: bool,
    ) -> None:
        self.store = store
        self._limit = max_body_size
        self._szx = preferred_szx
        self._bert = bert

    def receive(
        self, peer: Hashable, request: Message, block1: Block, now: float
    ) -> Message | Block1Reply:
        """Add a block: the whole request once complete, else the reply to send."""
        options = request.options
        limit = self._limit
        store = self.store
        transfer: Block1Key = (
            peer,
            request.code,
            options.uri_path,
            options.uri_query,
            options.request_tag,
        )
        assembly: Assembly | None
        if block1.num == 0:
            store.pop(transfer)  # a restart replaces what came before
            size1 = options.size1
            if size1 is not None and size1 > limit:
                return Block1Reply(Code.REQUEST_ENTITY_TOO_LARGE, Options.build(size1=limit))
            assembly = Assembly(replace(request, payload=b""))
            charge = size1 or 0
        else:
            assembly = store.get(transfer, now)
            charge = store.charged(transfer)
        error = (
            BlockError.INCOMPLETE
            if assembly is None
            else append_block(assembly, block1, request.payload, limit, bert=self._bert)
        )
        if assembly is None or error is not None:
            store.pop(transfer)
            error = error or BlockError.INCOMPLETE
            extra = Options.build(size1=limit) if error is BlockError.TOO_LARGE else EMPTY_OPTIONS
            return Block1Reply(_BLOCK_ERROR_CODES[error], extra)
        if not block1.more:
            store.pop(transfer)
            return replace(
                request,
                options=assembly.first.options.replace(block1=None, size1=None, request_tag=None),
                payload=bytes(assembly.body),
            )
        charge = max(charge, len(assembly.body))
        if store.refusal(peer, transfer, charge) is not None:
            store.pop(transfer)
            max_age = max(1, math.ceil(store.retry_after(peer, now)))
            return Block1Reply(Code.SERVICE_UNAVAILABLE, Options.build(max_age=max_age))
        store.put(peer, transfer, assembly, charge, now)
        szx = block1.szx
        if szx != 7 or not self._bert:
            szx = min(szx, self._szx)
        return Block1Reply(Code.CONTINUE, Options.build(block1=Block(block1.num, True, szx)))
