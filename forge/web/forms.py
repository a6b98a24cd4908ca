"""The HTML forms (Flask-WTF, so every one carries and checks a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from forge.accounts.permissions import ROLES
from forge.accounts.users import SCOPES


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class SignupForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class PostForm(FlaskForm):
    """A form with nothing but its CSRF token: for buttons such as Sign out and Revoke."""


class NewRepositoryForm(FlaskForm):
    # The signed-in user or one of their organizations (choices set by the view).
    owner = SelectField("Owner", choices=[], validate_choice=False)
    name = StringField("Repository name", validators=[DataRequired(), Length(max=100)])
    description = StringField("Description (optional)", validators=[Length(max=350)])
    visibility = RadioField(
        "Visibility",
        choices=[
            ("public", "Public: anyone can see it"),
            ("private", "Private: only you and collaborators"),
        ],
        default="public",
    )
    default_branch = StringField("Default branch", default="main")


class RepositorySettingsForm(FlaskForm):
    name = StringField("Repository name", validators=[DataRequired(), Length(max=100)])
    description = StringField("Description", validators=[Length(max=350)])
    private = BooleanField("Private")
    default_branch = StringField("Default branch", validators=[DataRequired()])
    require_change_id = BooleanField(
        "Require a Change-Id in commits pushed to refs/for/* (as Gerrit's requireChangeId)"
    )


class CollaboratorForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    role = SelectField("Role", choices=[(r, r) for r in ROLES], default="write")


class RemoveCollaboratorForm(FlaskForm):
    username = HiddenField(validators=[DataRequired()])


class DeleteRepositoryForm(FlaskForm):
    confirmation = StringField("Type the full name to confirm", validators=[DataRequired()])


class TokenForm(FlaskForm):
    label = StringField("Note", validators=[DataRequired(), Length(max=100)])
    scopes = SelectMultipleField(
        "Scopes",
        choices=[(s, f"{s}: {what}") for s, what in SCOPES.items()],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )


class SiteSettingsForm(FlaskForm):
    signup_enabled = BooleanField("Anyone may sign up")


class ProfileForm(FlaskForm):
    full_name = StringField("Name", validators=[Length(max=100)])
    email = EmailField("Email", validators=[DataRequired()])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired()])


class TwoFactorCodeForm(FlaskForm):
    code = StringField("Authentication code", validators=[DataRequired(), Length(max=40)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField("New password, again", validators=[DataRequired()])
