"""Moved to ``privacy_filter.people.selection`` (the people stage); kept so that old imports still work."""

from .people.selection import KEEP_CHOICES, UserSelector, split_people, user_score

__all__ = ["KEEP_CHOICES", "UserSelector", "split_people", "user_score"]
