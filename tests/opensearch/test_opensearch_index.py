"""The OpenSearch index on its own: URLs, the password kept out of messages, failures, the
mapping surviving a deleted index, deep pages, and the rule kept exactly on random documents."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfe.errors import ConfigurationError, ProviderError, ProviderUnavailableError
from wfe_core._memory import MemorySearchIndex
from wfe_core._models import WorkflowInstance, WorkflowStatus
from wfe_core._plugins import PluginHost
from wfe_core.providers import SearchFilter
from wfe_core.serialization import encode_data
from wfe_core.testing.contracts._targets import open_provider

pytest.importorskip("opensearchpy")

from wfe_opensearch import (  # noqa: E402
    OpenSearchBackend,
    OpenSearchSearchIndex,
    _search,  # noqa: E402
)
from wfe_opensearch._mapping import MAPPING_VERSION, MAX_WORD, cut_word  # noqa: E402
from wfe_opensearch._url import parse_url  # noqa: E402

NO_FILTER = SearchFilter()


# -- URLs, without a server ------------------------------------------------------------------


def test_url_options_are_parsed() -> None:
    plain = parse_url("opensearch://search:9201?index=orders&refresh_interval=200ms&timeout=5")
    assert (plain.host, plain.port, plain.use_ssl, plain.index) == ("search", 9201, False, "orders")
    assert plain.index_name == "orders-workflows"
    assert plain.refresh_interval == "200ms" and plain.timeout == 5.0
    tls = parse_url("opensearch+https://ops:s%3Acret@search?ca_certs=/etc/ca.pem")
    assert (tls.use_ssl, tls.port, tls.user, tls.password) == (True, 9200, "ops", "s:cret")
    assert tls.verify_certs is True and tls.ca_certs == "/etc/ca.pem"
    assert tls.index_name == "wfe-workflows"
    assert parse_url("OpenSearch+HTTPS://h:1?verify_certs=false").verify_certs is False


@pytest.mark.parametrize(
    "url, says",
    [
        ("opensearch://h?indx=a", "unknown option 'indx'"),
        ("opensearch://h?index=Orders", "index prefix"),
        ("opensearch://h?index=_x", "index prefix"),
        ("opensearch://h?index=a/b", "index prefix"),
        ("opensearch://h?timeout=0", "timeout"),
        ("opensearch://h?refresh_interval=-1", "refresh_interval"),
        ("opensearch://h?verify_certs=false", "TLS options need"),
        ("opensearch://h/wfe", "has a path"),
        ("opensearch:///?index=a", "names no host"),
        ("opensearch://h:notaport", "not a valid URL"),
        ("opensearch://h?index=a&index=b", "twice"),
    ],
)
def test_a_bad_url_is_refused_when_the_host_is_built(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        PluginHost().backend(url)


def test_the_password_is_never_shown() -> None:
    url = "opensearch+https://ops:hunter2secret@search:9200?index=a"
    backend = PluginHost().backend(url)
    assert isinstance(backend, OpenSearchBackend)
    index = backend.search
    for text in (repr(backend), repr(index), repr(backend.options), backend.options.display):
        assert "hunter2secret" not in text
    with pytest.raises(ConfigurationError) as refused:
        parse_url("opensearch+https://ops:hunter2secret@search:9200?bogus=1")
    assert "hunter2secret" not in str(refused.value)


async def test_an_unreachable_node_is_transient_and_keeps_the_password_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 9 (discard) on this machine: nothing listens, the connection is refused at once.
    index = OpenSearchSearchIndex("opensearch://ops:hunter2secret@127.0.0.1:9?index=down")
    await index.start()  # contacts nothing: a cluster that is down never stops a host
    try:
        sample = WorkflowInstance(id="w", definition_id="d", version=1)
        with pytest.raises(ProviderUnavailableError) as failed:
            await index.index_workflows([sample])
        with pytest.raises(ProviderUnavailableError):
            await index.search("", NO_FILTER)
    finally:
        await index.close()
        await index.close()
    assert "unreachable" in str(failed.value)
    assert "hunter2secret" not in str(failed.value) + repr(failed.value.__cause__)
    assert "hunter2secret" not in caplog.text


def test_long_words_are_cut_by_java_chars() -> None:
    assert cut_word("a" * 300) == "a" * MAX_WORD
    wide = "\U00020000" * 200  # a CJK ideograph outside the BMP: two Java chars each
    assert cut_word(wide) == "\U00020000" * (MAX_WORD // 2)
    assert cut_word("short") == "short"


# -- on the node -------------------------------------------------------------------------------


def _instance(wid: str, **fields: Any) -> WorkflowInstance:
    fields.setdefault("definition_id", "d")
    fields.setdefault("version", 1)
    return WorkflowInstance(id=wid, **fields)


async def test_an_index_deleted_meanwhile_comes_back_with_its_mapping(
    search_url: str, node: Any
) -> None:
    async with open_provider("search", search_url) as index:
        name = index.options.index_name
        await index.index_workflow(_instance("a", reference="first"))
        node.indices.delete(index=name)
        # A search of a missing index finds nothing; the next write makes it from the template.
        assert (await index.search("", NO_FILTER)).total == 0
        await index.index_workflow(_instance("b", reference="second-one"))
        mapping = node.indices.get_mapping(index=name)[name]["mappings"]
        assert mapping["_meta"] == {"wfe_mapping": MAPPING_VERSION}
        assert mapping["properties"]["text"]["analyzer"] == "whitespace"
        page = await index.search("sec", NO_FILTER)
        assert [item.id for item in page.items] == ["b"]


async def test_an_index_made_by_something_else_is_refused(search_url: str, node: Any) -> None:
    name = parse_url(search_url).index_name
    node.indices.create(index=name, body={"mappings": {"properties": {"id": {"type": "text"}}}})
    async with open_provider("search", search_url) as index:
        with pytest.raises(ProviderError, match="not made by this version of wfe"):
            await index.search("", NO_FILTER)


async def test_a_refused_document_is_a_permanent_error_naming_it(search_url: str) -> None:
    async with open_provider("search", search_url) as index:
        fine = _instance("fine")
        # A keyword over Lucene's 32,766-byte term limit: the node refuses this document.
        # (A long reference is indexed by its digest; a definition id is not.)
        huge = _instance("huge", definition_id="x" * 40_000)
        with pytest.raises(ProviderError) as refused:
            await index.index_workflows([fine, huge])
        assert not isinstance(refused.value, ProviderUnavailableError)
        assert "huge" in str(refused.value)


async def test_pages_past_the_result_window(
    search_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window made small, so that the search_after walk is what answers.
    monkeypatch.setattr(_search, "RESULT_WINDOW", 3)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    instances = [
        _instance(f"w{n:02}", create_time=start + timedelta(seconds=n // 2)) for n in range(11)
    ]
    expected = MemorySearchIndex()
    await expected.index_workflows(instances)
    async with open_provider("search", search_url) as index:
        await index.index_workflows(instances)
        for skip, take in [(0, 3), (0, 11), (2, 2), (3, 4), (4, 7), (9, 5), (11, 2), (20, 1)]:
            got = await index.search("", NO_FILTER, skip, take)
            want = await expected.search("", NO_FILTER, skip, take)
            assert got == want, (skip, take)


# -- the rule, on many random documents -------------------------------------------------------

# Letters that fold or split differently in Java and Python, digits, accents, wide characters.
_PIECES = ["a", "ab", "b", "ba", "z", "é", "e", "ß", "ss", "İ", "i", "Σ", "σ", "ς", "7", "07",
           "\U00020000", "Ω", "ǅ", "x" * 130]
_SEPARATORS = [" ", "-", "_", ".", ":", "*", "\"", "/", "\\", "(", "~", "?", "\x00", "\t"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 3)))


def _text(rng: random.Random, words: int) -> str:
    return "".join(_word(rng) + rng.choice(_SEPARATORS) for _ in range(words))


def _random_instances(rng: random.Random, count: int) -> list[WorkflowInstance]:
    start = datetime(2023, 5, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        created = start + timedelta(microseconds=rng.choice([0, 1, 999, 1000, 1001]) * (n // 3))
        status = rng.choice(list(WorkflowStatus))
        data = {"note": _text(rng, rng.randint(0, 4)), "n": rng.randint(0, 99), "k": [_word(rng)]}
        out.append(
            WorkflowInstance(
                id=f"{rng.choice('abAB')}{n}",
                definition_id=rng.choice(["orders", "billing", "Ord-ers"]),
                version=rng.randint(1, 2),
                status=status,
                reference=rng.choice([None, _text(rng, 1), f"ref{n % 7}"]),
                description=rng.choice([None, _text(rng, 2)]),
                data=encode_data(data),
                create_time=created,
                complete_time=created + timedelta(days=1) if status.value == "complete" else None,
                revision=rng.randint(0, 5),
            )
        )
    return out


async def test_random_documents_and_terms_find_what_the_rule_finds(search_url: str) -> None:
    rng = random.Random(12)
    instances = _random_instances(rng, 300)
    expected = MemorySearchIndex()
    await expected.index_workflows(instances)
    times = sorted({i.create_time for i in instances})
    async with open_provider("search", search_url) as index:
        await index.index_workflows(instances[:150])
        await index.index_workflows(instances[150:])
        queries = 0
        for _ in range(150):
            terms = " ".join(_word(rng)[: rng.randint(1, 4)] for _ in range(rng.randint(0, 2)))
            filters = SearchFilter(
                status=rng.choice([None, *WorkflowStatus]),
                definition_id=rng.choice([None, None, "orders", "Ord-ers"]),
                reference=rng.choice([None, None, None, "ref3"]),
                created_after=rng.choice([None, rng.choice(times)]),
                created_before=rng.choice([None, rng.choice(times)]),
            )
            skip, take = rng.choice([(0, 400), (0, 5), (3, 7)])
            want = await expected.search(terms, filters, skip, take)
            got = await index.search(terms, filters, skip, take)
            assert got == want, (terms, filters, skip, take)
            queries += bool(want.total)
        assert queries > 50  # most questions have answers: the comparison means something
