"""Suite-wide settings."""

from hypothesis import settings


# Hypothesis's per-example deadline is a timing assertion: on a loaded 2-core CI machine a
# slow example says nothing about correctness, so it is off.
settings.register_profile("wsgate", deadline=None)
settings.load_profile("wsgate")
