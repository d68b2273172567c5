"""Feeds of the published reports: `/feeds/<ticker>.rss|.atom|.json` for anyone, and a private
`/feeds/user/<token>.…` of a user's subscriptions, whose token `/api/feeds/token` makes and
revokes. `documents` writes the three formats, `service` reads the reports and keeps the tokens,
`views` answers HTTP (ETags and 304s included)."""
