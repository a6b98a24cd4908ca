"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from forge.models.accounts import AccessToken, LoginFailure, SiteSetting, User
from forge.models.repos import Collaborator, Repository

__all__ = ["AccessToken", "Collaborator", "LoginFailure", "Repository", "SiteSetting", "User"]
