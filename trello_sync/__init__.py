"""trello-sync: keeps the books of freelance mentors who run their students on Trello."""

__version__ = "0.1.0"
