"""The forms of change requests' pages (Flask-WTF: each carries and checks a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from forge.gate.merging import METHODS


class OpenChangeForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=256)])
    description = TextAreaField("Description", validators=[Length(max=65536)])
    base = HiddenField(validators=[DataRequired()])
    head = HiddenField(validators=[DataRequired()])


class ChangeCommentForm(FlaskForm):
    body = TextAreaField("Comment", validators=[DataRequired(), Length(max=65536)])


class InlineCommentForm(FlaskForm):
    path = HiddenField(validators=[DataRequired()])
    side = HiddenField(validators=[AnyOf(("LEFT", "RIGHT"))])
    line = IntegerField(validators=[DataRequired(), NumberRange(min=1)])
    body = TextAreaField("Comment", validators=[DataRequired(), Length(max=65536)])
    next = HiddenField()


class ReplyForm(FlaskForm):
    body = TextAreaField("Reply", validators=[DataRequired(), Length(max=65536)])
    next = HiddenField()


class ResolveForm(FlaskForm):
    resolved = HiddenField(validators=[AnyOf(("0", "1"))])
    next = HiddenField()


class ReviewForm(FlaskForm):
    body = TextAreaField("Review summary", validators=[Optional(), Length(max=65536)])
    event = RadioField(
        "Verdict",
        choices=[
            ("COMMENT", "Comment"),
            ("APPROVE", "Approve"),
            ("REQUEST_CHANGES", "Request changes"),
        ],
        default="COMMENT",
    )


class MergeMethodForm(FlaskForm):
    """How to merge: the auto-merge form is this alone; the Merge button's form adds more."""

    method = SelectField(
        "Merge method",
        choices=[
            ("merge", "Create a merge commit"),
            ("squash", "Squash and merge"),
            ("rebase", "Rebase and merge"),
        ],
        validators=[AnyOf(METHODS)],
        default="merge",
    )


class MergeForm(MergeMethodForm):
    sha = HiddenField(validators=[DataRequired(), Length(min=40, max=40)])
    commit_title = StringField("Commit title", validators=[Optional(), Length(max=256)])
