"""arXiv documents written for the tests, shaped like rss.arxiv.org and export.arxiv.org answers."""

from __future__ import annotations

RSS_HEAD = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>{category} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{category}</link>
    <description>{category} updates on the arXiv.org e-print archive.</description>
    <atom:link href="https://rss.arxiv.org/rss/{category}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>Mon, 23 Nov 2026 00:30:00 +0000</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>Mon, 23 Nov 2026 00:00:00 -0500</pubDate>
    <skipDays>
      <day>Saturday</day>
      <day>Sunday</day>
    </skipDays>
"""
RSS_TAIL = """  </channel>
</rss>
"""


def rss_item(
    arxiv_id: str,
    version: int,
    title: str,
    abstract: str,
    *,
    categories: tuple[str, ...] = ("cs.CL",),
    authors: str = "Ada Lovelace, Alan Turing",
    announce: str = "new",
    date: str = "Mon, 23 Nov 2026 00:00:00 -0500",
) -> str:
    cats = "".join(f"      <category>{c}</category>\n" for c in categories)
    return f"""    <item>
      <title>{title}</title>
      <link>https://arxiv.org/abs/{arxiv_id}</link>
      <description>arXiv:{arxiv_id}v{version} Announce Type: {announce}
Abstract: {abstract}</description>
      <guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v{version}</guid>
{cats}      <pubDate>{date}</pubDate>
      <arxiv:announce_type>{announce}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{authors}</dc:creator>
    </item>
"""


def rss(category: str, items: list[str]) -> bytes:
    return (RSS_HEAD.format(category=category) + "".join(items) + RSS_TAIL).encode("utf-8")


CL_ITEMS = [
    rss_item(
        "2611.00001",
        1,
        "Split Softmax Keeps the System Prompt",
        "We show that &lt;b&gt;attention&lt;/b&gt; to the system prompt decays.",
    ),
    rss_item(
        "2611.00002",
        1,
        "Instruction Drift in Long Chats",
        "Models forget instructions.",
        categories=("cs.CL", "cs.LG"),
    ),
    rss_item(
        "2611.00003", 2, "A Replaced Paper", "Second version of the abstract.", announce="replace"
    ),
]
LG_ITEMS = [
    # the same paper as in cs.CL, cross-listed: one item, categories united
    rss_item(
        "2611.00002",
        1,
        "Instruction Drift in Long Chats",
        "Models forget instructions.",
        categories=("cs.LG",),
        announce="cross",
    ),
    rss_item("2611.00004", 1, "Gradient Things", "Gradients, again.", categories=("cs.LG",)),
]

CS_CL = rss("cs.CL", CL_ITEMS)
CS_LG = rss("cs.LG", LG_ITEMS)
WEEKEND = rss("cs.CL", [])
# the feed again on Tuesday: 00003 is now v3 with a new abstract
CS_CL_V3 = rss(
    "cs.CL",
    CL_ITEMS[:2]
    + [
        rss_item(
            "2611.00003", 3, "A Replaced Paper", "Third version, rewritten.", announce="replace"
        )
    ],
)
TRUNCATED = CS_CL[: CS_CL.index(b"<guid", CS_CL.index(b"2611.00003"))]
# declared UTF-8, actually Latin-1 bytes
WRONG_ENCODING = (
    RSS_HEAD.format(category="cs.CL")
    + rss_item("2611.00005", 1, "Schrödinger's café", "Naïve résumé of a théorème.")
    + RSS_TAIL
).encode("latin-1")

ENTITY_BOMB = (
    """<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
"""
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
    + (RSS_HEAD.format(category="cs.CL").split("\n", 1)[1])
    + rss_item("2611.00006", 1, "&lol9;", "boom")
    + rss_item("2611.00007", 1, "Survivor", "A well-formed entry after the bomb.")
    + RSS_TAIL
).encode("utf-8")

# quadratic blow-up: one plain 50 kB entity used 20 000 times (entity values with no '&' pass
# feedparser's own filter; expat would expand them to 1 GB)
QUADRATIC = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "'
    + "x" * 50_000
    + '">\n]>\n'
    + (RSS_HEAD.format(category="cs.CL").split("\n", 1)[1])
    + rss_item("2611.00008", 1, "Big", "&big;" * 20_000)
    + RSS_TAIL
).encode("utf-8")

NOT_A_FEED = (
    b"<html><head><title>503</title></head><body>Service temporarily unavailable</body></html>"
)

ATOM_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dcat%3Acs.LG&amp;id_list%3D&amp;start%3D0&amp;max_results%3D50" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=cat:cs.LG&amp;id_list=&amp;start=0&amp;max_results=50</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2026-11-23T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">50</opensearch:itemsPerPage>
"""


def atom_entry(
    arxiv_id: str, version: int, title: str, abstract: str, *, updated: str = "2026-11-22T18:00:00Z"
) -> str:
    return f"""  <entry>
    <id>http://arxiv.org/abs/{arxiv_id}v{version}</id>
    <updated>{updated}</updated>
    <published>2026-11-20T18:00:00Z</published>
    <title>{title}</title>
    <summary>  {abstract}
</summary>
    <author>
      <name>Grace Hopper</name>
    </author>
    <author>
      <name>Edsger Dijkstra</name>
    </author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages, 3 figures</arxiv:comment>
    <link href="http://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{arxiv_id}v{version}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.AI" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"""


def atom(entries: list[str]) -> bytes:
    return (ATOM_HEAD.format(total=len(entries)) + "".join(entries) + "</feed>\n").encode("utf-8")


API_RESULTS = atom(
    [
        atom_entry(
            "2611.00002", 2, "Instruction Drift in Long Chats", "Models forget instructions (v2)."
        ),
        atom_entry(
            "2611.00010", 1, "Following Instructions\n      Across Days", "A <i>study</i> of goals."
        ),
    ]
)
API_ERROR = atom(
    [
        """  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v9x</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345v9x</summary>
    <updated>2026-11-23T00:00:00-05:00</updated>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345v9x" rel="alternate" type="text/html"/>
    <author>
      <name>arXiv api core</name>
    </author>
  </entry>
"""
    ]
)
API_EMPTY = atom([])
