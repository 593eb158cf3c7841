"""wsgate's benchmark suite: ``make bench`` (quick), ``make bench-full``, ``make bench-compare``.

See BENCHMARKS.md at the repository root for the figures and what bounds each.
"""
