"""Tag values as columns of the window's calls, for breakdowns and filters by tag.

The mirrors keep a call's tags as one JSON text (``ledger.record_to_row``: keys sorted,
compact separators). A tag's value is taken out of that text by a regular expression run
by Arrow over the whole column (``"KEY":"value"`` right after ``{`` or ``,``: inside a
JSON string every ``"`` is escaped, so that can only be a key), and only the distinct
values holding an escape are decoded by ``json``. A call without the tag has null, which
the breakdowns show as "(none)".
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

TAG_PREFIX = "tag:"


def tag_values(tags: pa.Array | pa.ChunkedArray, key: str) -> pa.Array:
    """The value of tag ``key`` in each JSON text of ``tags`` (null where absent), as a
    dictionary array of strings."""
    if isinstance(tags, pa.ChunkedArray):
        tags = tags.combine_chunks()
    if pa.types.is_dictionary(tags.type):
        tags = tags.cast(pa.string())
    name = re.escape(json.dumps(key))
    found = pc.extract_regex(tags, rf'[{{,]{name}:"(?P<v>(?:[^"\\]|\\.)*)"')
    raw = pc.if_else(found.is_valid(), pc.struct_field(found, [0]),
                     pa.scalar(None, pa.string()))
    enc = raw.dictionary_encode()
    words = enc.dictionary.to_pylist()
    if any("\\" in w for w in words):
        words = [json.loads(f'"{w}"') if "\\" in w else w for w in words]
        return pa.DictionaryArray.from_arrays(enc.indices, pa.array(words, pa.string()))
    return enc


def with_tags(table: pa.Table, columns: Sequence[str],
              wanted: Sequence[tuple[str, str]] = ()) -> pa.Table:
    """``table`` (which has a ``tags`` column) keeping only the calls carrying every
    (tag, value) of ``wanted``, as ``columns``: each ``tag:NAME`` among them made from
    the tags."""
    tags = table.column("tags")
    if wanted and table.num_rows:
        keep = None
        for key, value in wanted:
            hit = pc.fill_null(pc.equal(tag_values(tags, key).cast(pa.string()), value), False)
            keep = hit if keep is None else pc.and_(keep, hit)
        table = table.filter(keep)
        tags = table.column("tags")
    out = {}
    for c in columns:
        if c.startswith(TAG_PREFIX):
            out[c] = (tag_values(tags, c[len(TAG_PREFIX):]) if table.num_rows
                      else pa.array([], pa.dictionary(pa.int32(), pa.string())))
        else:
            out[c] = table.column(c)
    return pa.table(out)
