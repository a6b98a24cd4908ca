"""The forms of the organization pages (each carries its CSRF token, as every form here)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from forge.accounts.orgs import BASE_PERMISSIONS
from forge.accounts.permissions import ROLES


class NewOrganizationForm(FlaskForm):
    login = StringField("Organization name", validators=[DataRequired(), Length(max=39)])
    display_name = StringField("Display name (optional)", validators=[Length(max=100)])
    description = StringField("Description (optional)", validators=[Length(max=350)])


class OrganizationSettingsForm(FlaskForm):
    display_name = StringField("Display name", validators=[Length(max=100)])
    description = StringField("Description", validators=[Length(max=350)])
    default_repository_permission = SelectField(
        "Base permission of members on every repository",
        choices=[(p, p) for p in BASE_PERMISSIONS],
    )
    members_can_create_repositories = BooleanField("Members may create repositories")


class MemberForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    role = SelectField("Role", choices=[("member", "Member"), ("admin", "Owner")])


class RemoveMemberForm(FlaskForm):
    username = HiddenField(validators=[DataRequired()])


class NewTeamForm(FlaskForm):
    name = StringField("Team name", validators=[DataRequired(), Length(max=100)])
    description = StringField("Description (optional)", validators=[Length(max=350)])
    privacy = SelectField(
        "Visibility",
        choices=[("closed", "Visible to every member"), ("secret", "Secret: its members only")],
    )


class TeamMemberForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    role = SelectField("Role", choices=[("member", "Member"), ("maintainer", "Maintainer")])


class TeamRepositoryForm(FlaskForm):
    repository = SelectField("Repository", choices=[], validate_choice=False)
    role = SelectField("Role", choices=[(r, r) for r in ROLES], default="read")


class RemoveTeamRepositoryForm(FlaskForm):
    repository = HiddenField(validators=[DataRequired()])


class DeleteTeamForm(FlaskForm):
    """Nothing but the CSRF token: the team is in the URL."""
