"""The Trello side: the port, the HTTP client, the action pager and an in-memory fake."""
