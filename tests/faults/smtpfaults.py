"""A misbehaving SMTP server on 127.0.0.1: test_notify's aiosmtpd server, with a plan of faults.

`inbox.plan` says what the server does with each next message it is given (DATA), in turn:
accept it, answer a temporary error, hang up before answering, accept it and then hang up,
answer late. Recipients in `inbox.refuse` are refused for good (550); stopping the server
refuses connections.
"""

from __future__ import annotations

import asyncio

from test_notify import Inbox

ACCEPT = "accept"
TEMPORARY = "temporary"  # 451: try again later
HANG_UP = "hang up"  # the connection drops before the server says whether it took the message
ACCEPT_THEN_HANG_UP = "accept, then hang up"  # it took the message; the connection drops after the 250
SLOW = "slow"  # it takes the message, SLOW_SECONDS late (well within the client's timeout)
SLOW_SECONDS = 1.5


class FaultyInbox(Inbox):
    """An aiosmtpd handler that keeps what it accepts and misbehaves as `plan` says."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[str] = []
        self.attempts = 0  # messages given to the server (DATA), whatever it answered

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        behaviour = self.plan.pop(0) if self.plan else ACCEPT
        if behaviour == TEMPORARY:
            return "451 4.3.0 Mail server temporarily unavailable, try again later"
        if behaviour == HANG_UP:
            server.transport.abort()
            return "421 4.4.2 Connection dropped"  # never reaches the client
        if behaviour == SLOW:
            await asyncio.sleep(SLOW_SECONDS)  # the fault itself: a server that answers late
        accepted = await super().handle_DATA(server, session, envelope)
        if behaviour == ACCEPT_THEN_HANG_UP:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 250 is written
        return accepted
