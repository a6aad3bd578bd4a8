"""The web view: server-rendered pages of the caller's own cost, signed in with Slack or a token."""
