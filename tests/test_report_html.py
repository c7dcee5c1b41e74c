"""The page builder that the run report (and later the compare page) is made with."""

from __future__ import annotations

import math

import pandas as pd

from ganlab.contracts.engine import ReportSection
from ganlab.page import html as h


def test_text_is_escaped_for_content_and_attributes():
    assert h.escape('<img src=x onerror="alert(1)">') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert 'alt="&quot;&gt;&lt;script&gt;"' in h.image(b"GIF89a", "image/gif", '"><script>')


def test_table_cells_are_escaped_and_numbers_readable():
    frame = pd.DataFrame({"name": ["<b>x</b>"], "value": [0.000123456], "bad": [math.inf]})
    table = h.table(frame)
    assert "&lt;b&gt;x&lt;/b&gt;" in table and "<b>" not in table
    assert "0.0001235" in table and "inf" in table


def test_sections_are_ordered_and_linked_with_unique_anchors():
    page = h.page(
        "t",
        "",
        [
            ReportSection("Later", "<p>2</p>", order=50),
            ReportSection("First", "<p>1</p>", 0),
            ReportSection("Later", "<p>3</p>", order=60),
        ],
    )
    assert page.index('id="first"') < page.index('id="later"') < page.index('id="later-2"')
    assert '<a href="#later-2">Later</a>' in page
