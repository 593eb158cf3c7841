"""Plain snapshots of a handshake, an API stage and a connection, shared by the core."""

from __future__ import annotations

from dataclasses import dataclass, field


__all__ = ["ApiContext", "ConnectionContext", "HandshakeRequest"]

# The headers the gateway sets on every request it passes on; a client's are replaced.
_FORWARDED = frozenset(("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"))


class HandshakeRequest:
    """The client's upgrade request, as the core needs it.

    ``headers`` is the one view of the request's headers that the identity sources, the
    authorizer's event and the ``$connect`` event all read: the client's, with the names'
    case, their order and duplicates as sent, except ``X-Forwarded-For``,
    ``X-Forwarded-Port`` and ``X-Forwarded-Proto``, which are the gateway's own (from
    ``source_ip``, ``port`` and ``scheme``, appended last, as AWS adds them); a client's
    are dropped, so they can neither satisfy an identity source nor change one.
    ``query`` holds the decoded query pairs in order; ``has_query`` is true when the URL
    had a ``?`` at all (even with nothing after it), because AWS omits the query maps from
    the ``$connect`` event only when there was no query string. ``port`` is the port the
    client connected to and ``scheme`` is ``"http"`` or ``"https"``. ``lowered`` holds
    the client's header names (all of ``headers`` but the last three) lower-cased, in the
    same order, so that the events read them without lower-casing each name again.

    Read-only, as a frozen dataclass would be, but a plain class: one is made for every
    handshake, and a frozen dataclass's ``__init__`` (Python's, even when this module is
    compiled) cost more than building the view.
    """

    __slots__ = ("_has_query", "_headers", "_lowered", "_port", "_query", "_scheme", "_source_ip")

    def __init__(
        self,
        headers: tuple[tuple[str, str], ...],
        query: tuple[tuple[str, str], ...],
        has_query: bool,
        source_ip: str,
        port: int,
        scheme: str,
    ) -> None:
        kept: list[tuple[str, str]] = []
        lowered: list[str] = []
        # A copy of another request's view loses the gateway's three here and gets them
        # back below: any earlier X-Forwarded-* goes, whatever its position.
        for item in headers:
            lower = item[0].lower()
            if lower not in _FORWARDED:
                kept.append(item)
                lowered.append(lower)
        kept.append(("X-Forwarded-For", source_ip))
        kept.append(("X-Forwarded-Port", str(port)))
        kept.append(("X-Forwarded-Proto", scheme))
        self._headers = tuple(kept)
        self._lowered = tuple(lowered)
        self._query = query
        self._has_query = has_query
        self._source_ip = source_ip
        self._port = port
        self._scheme = scheme

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self._headers

    @property
    def lowered(self) -> tuple[str, ...]:
        return self._lowered

    @property
    def query(self) -> tuple[tuple[str, str], ...]:
        return self._query

    @property
    def has_query(self) -> bool:
        return self._has_query

    @property
    def source_ip(self) -> str:
        return self._source_ip

    @property
    def port(self) -> int:
        return self._port

    @property
    def scheme(self) -> str:
        return self._scheme

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` (case-insensitive); the last one wins."""
        wanted = name.lower()
        found: str | None = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` header, or None when the client sent none."""
        return self.header("user-agent")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The identity of the API stage that events describe."""

    api_id: str
    stage: str
    domain_name: str
    region: str
    account_id: str
    connect_method_arn: str = field(init=False, repr=False, compare=False)
    """The ``methodArn`` given to a ``$connect`` authorizer (no HTTP verb, unlike REST);
    derived from the fields above, once, since every authorized handshake needs it."""

    def __post_init__(self) -> None:
        arn = (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}"
            f"/{self.stage}/$connect"
        )
        object.__setattr__(self, "connect_method_arn", arn)


@dataclass(slots=True)
class ConnectionContext:
    """What every event of one connection repeats.

    ``connected_at`` is in epoch milliseconds. ``authorizer`` is the
    ``requestContext.authorizer`` value (see ``core.policy.authorizer_request_context``)
    or None when ``$connect`` has no authorizer.

    Deliberately not frozen: the handshake creates the context before the authorizer runs
    (its event already carries ``connectionId`` and ``connectedAt``) and fills
    ``authorizer`` afterwards. Build ``core.events.MessageEvents`` only once it is final,
    since that class copies these values.
    """

    connection_id: str
    connected_at: int
    source_ip: str
    user_agent: str | None
    authorizer: dict[str, object] | None = None
