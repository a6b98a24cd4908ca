"""Domain errors raised by services and translated to HTTP by the web and API layers."""


class ForgeError(Exception):
    """Base of every domain error; the message is meant for the user."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ForgeError):
    """The thing does not exist, or the caller may not know that it does."""


class Forbidden(ForgeError):
    """The caller is known and may see the thing, but may not do this to it."""


class Invalid(ForgeError):
    """The input is malformed or breaks a rule (a bad name, a duplicate, ...)."""


class Conflict(ForgeError):
    """Someone else holds the thing right now (a review claim, ...); try again later."""


class Throttled(ForgeError):
    """Too many attempts; try again later."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
