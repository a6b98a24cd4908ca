"""People: accounts and signing in (`users`), the names they and their repositories take,
their roles on repositories (`permissions`), and how much their word counts there: trust earned
from people who already hold it (`trust`), what that trust lets them do (`privileges`) and the
record of what they did (`reputation`)."""
