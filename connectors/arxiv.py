"""arXiv feeds: category RSS and API queries (Atom), parsed from bytes into `Item`s.

feedparser never touches the network here (it has no timeout); `connectors.http.Fetcher`
fetches, then `parse_feed` turns the bytes into items. The bare arXiv id is the identity
(`arxiv:2203.01250`), the version is kept apart, so v1 and v2 of a paper, or the same paper
in two feeds, are one item. An API answer holding an "Error" entry raises ConnectorError:
it must never look like "no new papers".
"""

from __future__ import annotations

import calendar
import codecs
import html
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import quote, urlencode

import feedparser
import httpx

from assistant.config import FeedsSettings
from assistant.errors import ConnectorError
from connectors.http import Fetcher, Validators
from memory.types import Item

log = logging.getLogger(__name__)

FeedKind = Literal["rss", "api"]

# new-style ids (2203.01250v3) and old-style ids (hep-th/9901001v2, math.GT/0309136)
_ID_RE = re.compile(
    r"(?P<bare>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?"
)
# RSS descriptions start "arXiv:2401.00001v2 Announce Type: replace \nAbstract: ..."
_RSS_PREFIX_RE = re.compile(
    r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*(?:Abstract:\s*)?", re.IGNORECASE
)
# an internal DTD subset (entity declarations) in the prolog: arXiv never sends one
_DOCTYPE_SUBSET_RE = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class FeedSpec:
    """One configured arXiv feed."""

    name: str  # shown in reports and used as the state key: "arxiv:rss:cs.CL"
    url: str
    kind: FeedKind


@dataclass(frozen=True)
class ParsedFeed:
    """Items parsed from one document, plus the one problem worth logging (if any)."""

    items: list[Item]
    problem: str = ""  # feedparser's bozo complaint; well-formed entries are still in `items`
    skipped: int = 0  # entries without a recognisable arXiv id


@dataclass(frozen=True)
class FeedFetch:
    """The outcome of fetching one feed."""

    feed: FeedSpec
    items: list[Item]
    validators: Validators
    not_modified: bool = False
    problem: str = ""


def split_id(text: str) -> tuple[str, int] | None:
    """`'http://arxiv.org/abs/2203.01250v3'` -> `('2203.01250', 3)`; version 1 when absent."""
    match = _ID_RE.search(text or "")
    if match is None:
        return None
    return match.group("bare"), int(match.group("version") or 1)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(text: str) -> str:
    """Plain text from an HTML fragment, whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(text or "")
    parser.close()
    return _WS_RE.sub(" ", html.unescape("".join(parser.parts))).strip()


class RefusedDocument(ConnectorError):
    """A document we will not hand to an XML parser at all."""


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_STARTS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_XML_DECL_ENCODING_RE = re.compile(r"^(<\?xml[^>]*?encoding\s*=\s*)[\"'][^\"']*[\"']")


def to_byte_encoding(data: bytes) -> bytes:
    """UTF-16/32 documents re-encoded as UTF-8 (declaration fixed), so byte-level checks see them."""
    codec = next((c for bom, c in _BOMS if data.startswith(bom)), None)
    if codec is None:
        codec = next((c for start, c in _WIDE_STARTS if data.startswith(start)), None)
    if codec is None:
        return data
    text = data.decode(codec, errors="replace").lstrip("\ufeff")
    return _XML_DECL_ENCODING_RE.sub(r'\1"utf-8"', text, count=1).encode("utf-8")


def defuse(data: bytes) -> tuple[bytes, str]:
    """Drop an internal DTD subset so no declared entity can expand (billion laughs, quadratic
    blow-up); returns (bytes, problem). Raises RefusedDocument when it cannot be removed."""
    data = to_byte_encoding(data)
    if b"<!ENTITY" not in data and b"<!entity" not in data:
        return data, ""
    match = _DOCTYPE_SUBSET_RE.search(data)
    if match is None:
        raise RefusedDocument("entity declarations outside a closed DOCTYPE; document refused")
    rest = data[: match.start()] + data[match.end() :]
    if b"<!ENTITY" in rest or b"<!entity" in rest:
        raise RefusedDocument("more than one entity-declaring DOCTYPE; document refused")
    return rest, "entity declarations removed (possible entity bomb)"


def parse_feed(data: bytes, *, feed: str, owner: str, kind: FeedKind = "rss") -> ParsedFeed:
    """Parse a fetched RSS/Atom document into items; raises ConnectorError if it is not a feed
    at all, or if the arXiv API answered with an "Error" entry."""
    if not data.strip():
        raise ConnectorError(
            f"{feed}: the server sent an empty document; will retry on the next pull"
        )
    try:
        data, defused = defuse(data)
    except RefusedDocument as exc:
        raise ConnectorError(f"{feed}: {exc}; will retry on the next pull") from None
    try:
        parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # hostile bytes must fail this feed, never the whole pull
        raise ConnectorError(
            f"{feed}: the document could not be parsed ({exc.__class__.__name__}: {exc})"
        ) from None
    problem = "; ".join(p for p in (defused, _bozo_text(parsed)) if p)
    entries: list[Any] = list(parsed.entries)
    if not entries and problem and not parsed.get("version"):
        raise ConnectorError(
            f"{feed}: the answer is not an RSS/Atom feed ({problem}); will retry on the next pull"
        )
    if not entries and not parsed.get("version"):
        raise ConnectorError(f"{feed}: the answer is not an RSS/Atom feed; check the feed URL")
    _raise_api_error(entries, feed)
    if problem:
        entries = entries[: _closed_entries(data, len(entries))]
    items: list[Item] = []
    skipped = 0
    for entry in entries:
        item = entry_to_item(entry, feed=feed, owner=owner)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    return ParsedFeed(items=items, problem=problem, skipped=skipped)


def _closed_entries(data: bytes, parsed: int) -> int:
    # a truncated document yields a last entry cut mid-way (no date, half the authors):
    # keep only as many entries as the document closes
    closed = data.count(b"</item>") + data.count(b"</entry>")
    if closed == 0 and (b"<item" in data or b"<entry" in data):
        return 0
    return min(parsed, closed) if closed else parsed


def _bozo_text(parsed: Mapping[str, Any]) -> str:
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    return f"{exc.__class__.__name__}: {exc}" if exc is not None else "malformed document"


def _raise_api_error(entries: list[Any], feed: str) -> None:
    for entry in entries:
        if str(entry.get("title", "")).strip() == "Error" and "api/errors" in str(
            entry.get("id", "")
        ):
            detail = strip_html(str(entry.get("summary", ""))) or "no detail given"
            raise ConnectorError(
                f"{feed}: arXiv API rejected the query: {detail}; fix it in feeds.arxiv_queries"
            )


def entry_to_item(entry: Mapping[str, Any], *, feed: str, owner: str) -> Item | None:
    """One feedparser entry -> Item; None when no arXiv id can be found."""
    ident = None
    for key in ("id", "guid", "link"):
        ident = split_id(str(entry.get(key, "")))
        if ident is not None:
            break
    if ident is None:
        return None
    bare, version = ident
    summary = strip_html(str(entry.get("summary", "")))
    prefix = _RSS_PREFIX_RE.match(summary)
    if prefix is not None:
        # the RSS description names the current version; the <link> has none
        described = split_id(prefix.group(0))
        if described is not None and described[0] == bare:
            version = max(version, described[1])
        summary = summary[prefix.end() :].strip()
    authors = _authors(entry)
    categories = tuple(
        dict.fromkeys(str(t.get("term", "")) for t in entry.get("tags", []) if t.get("term"))
    )
    links = {
        str(link.get("title") or link.get("rel") or ""): str(link.get("href", ""))
        for link in entry.get("links", [])
    }
    url = f"https://arxiv.org/abs/{bare}"
    # plain dict.get: feedparser's own get() maps a missing updated_parsed to published (deprecated)
    raw = dict(entry) if not isinstance(entry, dict) else entry
    published = _timestamp(dict.get(raw, "published_parsed"))
    updated = _timestamp(dict.get(raw, "updated_parsed")) or published
    meta = {
        "arxiv_id": bare,
        "announce_type": str(entry.get("arxiv_announce_type", "")),
        "authors": "; ".join(authors),
        "pdf": links.get("pdf", f"https://arxiv.org/pdf/{bare}v{version}"),
        "link": str(entry.get("link", "")) or url,
    }
    primary = entry.get("arxiv_primary_category")
    if isinstance(primary, Mapping) and primary.get("term"):
        meta["primary_category"] = str(primary["term"])
    for key in ("arxiv_comment", "arxiv_journal_ref", "arxiv_doi"):
        if entry.get(key):
            meta[key.removeprefix("arxiv_")] = _WS_RE.sub(" ", str(entry[key])).strip()
    return Item(
        id=f"arxiv:{bare}",
        owner=owner,
        source="arxiv",
        title=_WS_RE.sub(" ", strip_html(str(entry.get("title", "")))).strip(),
        text=summary,
        url=url,
        author=", ".join(authors),
        published=published,
        updated=updated,
        version=version,
        categories=categories,
        feed=feed,
        meta=meta,
    )


def _authors(entry: Mapping[str, Any]) -> list[str]:
    names = [str(a.get("name", "")).strip() for a in entry.get("authors", []) if a.get("name")]
    if len(names) == 1 and "," in names[0]:
        # RSS puts every author in one dc:creator, comma separated
        names = [n.strip() for n in names[0].split(",")]
    return [strip_html(n) for n in names if n]


def _timestamp(parsed: Any) -> float:
    try:
        return float(calendar.timegm(parsed)) if parsed else 0.0
    except (TypeError, ValueError, OverflowError):
        return 0.0


def merge_items(items: Iterable[Item]) -> list[Item]:
    """One item per id: the highest version wins; categories are united; order kept."""
    merged: dict[str, Item] = {}
    for item in items:
        old = merged.get(item.id)
        if old is None:
            merged[item.id] = item
            continue
        newer, other = (
            (item, old)
            if (item.version, item.updated) >= (old.version, old.updated)
            else (old, item)
        )
        cats = tuple(dict.fromkeys(newer.categories + other.categories))
        merged[item.id] = replace(
            newer, categories=cats, published=min_nonzero(newer.published, other.published)
        )
    return list(merged.values())


def min_nonzero(a: float, b: float) -> float:
    """The earlier of two timestamps, ignoring zeros (unknown)."""
    return min(x for x in (a, b) if x) if (a or b) else 0.0


class ArxivClient:
    """Fetches and parses the arXiv feeds named in `FeedsSettings`."""

    def __init__(self, settings: FeedsSettings, *, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.fetcher = Fetcher(
            timeout_s=settings.timeout_s,
            max_bytes=settings.max_bytes,
            retries=settings.retries,
            backoff_s=settings.backoff_s,
            max_retry_after_s=settings.max_retry_after_s,
            min_interval_s=settings.arxiv_min_interval_s,
            client=client,
        )

    def feeds(self) -> list[FeedSpec]:
        """The configured feeds: one per category, one per API query."""
        out = [
            FeedSpec(
                f"arxiv:rss:{cat}", self.settings.arxiv_rss_url.format(category=quote(cat)), "rss"
            )
            for cat in self.settings.arxiv_categories
        ]
        for query in self.settings.arxiv_queries:
            params = {
                "search_query": query,
                "start": 0,
                "max_results": self.settings.arxiv_max_results,
                "sortBy": "submittedDate",
                "sortOrder": "descending",
            }
            out.append(
                FeedSpec(
                    f"arxiv:query:{query}",
                    f"{self.settings.arxiv_api_url}?{urlencode(params)}",
                    "api",
                )
            )
        return out

    def fetch(
        self, feed: FeedSpec, validators: Validators | None = None, *, known_problem: str = ""
    ) -> FeedFetch:
        """Fetch and parse one feed; a 304 gives no items. Raises ConnectorError.

        A malformed document is logged as a warning once: while it keeps failing the same
        way (`known_problem`, remembered by the caller), later pulls log it at debug level.
        """
        result = self.fetcher.fetch(feed.url, validators)
        if result.not_modified:
            return FeedFetch(feed, [], result.validators, not_modified=True, problem=known_problem)
        parsed = parse_feed(
            result.content, feed=feed.name, owner=self.settings.owner, kind=feed.kind
        )
        if parsed.problem:
            level = logging.DEBUG if parsed.problem == known_problem else logging.WARNING
            log.log(
                level,
                "%s: malformed feed, kept %d well-formed entries: %s",
                feed.name,
                len(parsed.items),
                parsed.problem,
            )
        if parsed.skipped:
            log.info("%s: %d entries without an arXiv id were skipped", feed.name, parsed.skipped)
        return FeedFetch(feed, merge_items(parsed.items), result.validators, problem=parsed.problem)
