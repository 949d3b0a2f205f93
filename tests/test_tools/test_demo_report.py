"""The demo report's codebook-usage table: evenly spaced windows, the last always in."""
from mmbeit.apis.demo_report import codebook_usage_rows


def _curve(n):
    return [dict(iter=10 * (i + 1), usage=100.0 * i / n, used_codes=i, num_codes=64,
                 perplexity=1.5 * i, restarts=i // 2) for i in range(n)]


def test_rows_are_evenly_spaced_windows_ending_with_the_last():
    rows = codebook_usage_rows(_curve(20), max_rows=8)
    assert [r[0] for r in rows] == [20, 50, 80, 110, 140, 170, 200]
    assert rows[-1] == [200, '95.0', '19 / 64', '28.5', 9]
    assert [r[0] for r in codebook_usage_rows(_curve(3))] == [10, 20, 30]
    assert codebook_usage_rows([]) == []
