"""A downstream team's Faust app: sign-ups per email domain, from `user.created`."""
