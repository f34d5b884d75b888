"""The bench's latency and memory sections render their ratios and limits from plain figures."""

from bench.sections import latency_section, memory_section


def _storm(n: int, p99: float, first: float) -> dict[str, object]:
    return {
        "faults": n,
        "latency_seconds": {"p50": p99 / 2, "p99": p99},
        "first_call_seconds": first,
        "remediate_wall_seconds": first * 2,
        "cold_intake_seconds": 0.4,
    }


def test_latency_section_names_the_backend_and_judges_the_ratios() -> None:
    text = "\n".join(latency_section([_storm(1, 0.1, 0.05), _storm(1000, 0.2, 0.2)], "moto server"))
    assert "backend: moto server" in text
    assert "| p99 | 0.200 | 0.100 | 2.00 | ≤ 1.5 OVER |" in text
    assert "| 4.00 | ≤ 2.0 OVER |" in text  # first call 0.2 ÷ 0.05


def test_memory_section_says_where_512_mb_runs_out_and_the_payload_cap() -> None:
    mem = {
        "faults": 1000,
        "rss_before_kib": 50 * 1024,
        "rss_peak_kib": 50 * 1024 + 17_000,
        "body_bytes_mean": 1300,
    }
    text = "\n".join(memory_section(mem))
    assert "| 17.0 |" in text  # KiB per fault
    assert "**27,828 faults**" in text  # (512 - 50) MiB ÷ 17 KiB
    assert "**3,145 records**" in text  # 6 MiB ÷ 2000 B
