"""Forms of the single sign-on settings pages."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fms.forms import OneTimeForm, whole_number
from fms.identity.forms import ROLE_CHOICES, EmptyForm, MultiCheckboxField  # noqa: F401
from fms.identity.permissions import ROLES
from fms.identity.sso.models import AUDIENCES, CLIENT_AUTH_METHODS, ROLES_MANAGED_BY
from fms.identity.sso.oidc import SUPPORTED_ALGORITHMS

DEFAULT_SCOPES = "openid email profile groups"


def _roles_managed_by():
    return SelectField(
        "Who decides people's roles",
        choices=list(ROLES_MANAGED_BY.items()),
        default="idp",
        description="The identity provider: roles follow its groups (the group-to-role "
        "mapping) at every sign-in and SCIM change. FMS: roles are set on the members page "
        "and sign-ins leave them alone (for IdPs without a groups claim, such as Google "
        "Workspace).",
    )


def _refuse_unmapped():
    return BooleanField(
        "Refuse people whose groups map to no role",
        description="Off: they get the default roles below. On: their sign-in is "
        "refused. Applies when the identity provider decides roles.",
    )


class GroupRolesField(TextAreaField):
    """The group-to-role mapping as text, one line per group: “group name = Role, Role”,
    with roles as the UI shows them (their codes work too)."""

    def _value(self):
        if isinstance(self.data, dict):
            return "\n".join(
                f"{group} = {', '.join(ROLES.get(r, r) for r in roles)}"
                for group, roles in sorted(self.data.items())
            )
        return self.data or ""

    def process_formdata(self, valuelist):
        self.data = {}
        if not valuelist:
            return
        for number, line in enumerate((valuelist[0] or "").splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            group, sep, roles = line.rpartition("=")
            if not sep or not group.strip():
                self.data = valuelist[0]
                raise ValueError(f"Line {number}: write “group name = Role, Role”.")
            self.data[group.strip()] = [r.strip() for r in roles.split(",") if r.strip()]


def _group_roles():
    return GroupRolesField(
        "Group to role mapping",
        validators=[Optional(), Length(max=20000)],
        render_kw={"rows": 5},
        description="One line per IdP group: “group name = Role, Role”. Roles: "
        + ", ".join(label for _, label in ROLE_CHOICES)
        + ".",
    )


def _default_roles():
    return MultiCheckboxField(
        "Roles of people whose groups map to none",
        choices=ROLE_CHOICES,
        default=["hiring_manager"],
        validators=[Optional()],
        description="Also the roles of new members when FMS decides roles. None ticked: "
        "unchanged (Hiring manager for a new connection).",
    )


class ConnectionSettings(OneTimeForm):
    """What both protocols' connection forms ask: who decides roles, and the switches."""

    roles_managed_by = _roles_managed_by()
    group_roles = _group_roles()
    default_roles = _default_roles()
    refuse_unmapped = _refuse_unmapped()
    jit_provisioning = BooleanField("Create accounts on first sign-in (just in time)")
    is_active = BooleanField("Active")


class ConnectionForm(ConnectionSettings):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=200)],
        description="Shown on the sign-in button, e.g. “Acme Okta”.",
    )
    audience = SelectField(
        "Who signs in with it",
        choices=list(AUDIENCES.items()),
        description="Freelancer connections are offered from invitation links only.",
    )
    issuer = StringField(
        "Issuer",
        validators=[DataRequired(), Length(max=500)],
        description="Exactly as your IdP's discovery document states it, e.g. "
        "https://acme.okta.com or https://login.microsoftonline.com/<tenant>/v2.0.",
    )
    client_id = StringField("Client ID", validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField(
        "Client secret",
        validators=[Optional(), Length(max=1000)],
        description="Stored encrypted and never shown again; leave empty to keep the saved one.",
    )
    token_endpoint_auth_method = SelectField(
        "Client authentication at the token endpoint",
        choices=list(CLIENT_AUTH_METHODS.items()),
        default="client_secret_basic",
        description="As registered at your IdP: most use HTTP Basic; some (e.g. an app "
        "registered for client_secret_post) want the secret in the request body. "
        "“Test connection” shows what the IdP supports.",
    )
    scopes = StringField(
        "Scopes",
        validators=[Optional(), Length(max=500)],
        description="Keep groups when the group-to-role mapping should apply.",
    )
    claim_email = StringField("Email claim", validators=[DataRequired(), Length(max=100)])
    claim_name = StringField("Name claim", validators=[DataRequired(), Length(max=100)])
    claim_groups = StringField("Groups claim", validators=[DataRequired(), Length(max=100)])
    algorithms = MultiCheckboxField(
        "Accepted signature algorithms",
        choices=[(a, a) for a in SUPPORTED_ALGORITHMS],
        validators=[DataRequired()],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, default in (
            (self.scopes, DEFAULT_SCOPES),
            (self.claim_email, "email"),
            (self.claim_name, "name"),
            (self.claim_groups, "groups"),
        ):
            if not field.data:
                field.data = default


class PolicyForm(FlaskForm):
    sso_required = BooleanField(
        "Require single sign-on",
        description="Only sign-ins through this organization's own identity providers work "
        "here, and break-glass admins' password-and-code sign-ins.",
    )


class DomainForm(OneTimeForm):
    domain = StringField("Email domain", validators=[DataRequired(), Length(max=253)])


class DomainConnectionForm(FlaskForm):
    """Which staff connection a verified domain's people are sent to."""

    connection_id = SelectField(
        "Sign in with",
        coerce=str,
        validators=[Optional()],
        description="Empty: the oldest active staff connection.",
    )


class ScimTokenForm(OneTimeForm):
    name = StringField(
        "Token name",
        validators=[DataRequired(), Length(max=200)],
        description="Which IdP uses it, e.g. “Entra ID provisioning”.",
    )
    connection_id = SelectField(
        "Its sign-in connection",
        coerce=whole_number,
        validate_choice=False,
        description="Whose role settings apply: when that connection's IdP manages roles, "
        "SCIM groups set them too.",
    )


class SamlConnectionForm(ConnectionSettings):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=200)],
        description="Shown on the sign-in button, e.g. “Acme Entra ID”.",
    )
    audience = SelectField(
        "Who signs in with it",
        choices=list(AUDIENCES.items()),
        description="Freelancer connections are offered from invitation links only.",
    )
    idp_metadata_url = StringField(
        "IdP metadata URL",
        validators=[Optional(), Length(max=500)],
        description="Fetched once when you save (e.g. Entra ID's “App Federation Metadata Url”).",
    )
    idp_metadata_xml = TextAreaField(
        "…or paste the IdP metadata XML",
        validators=[Optional(), Length(max=1024 * 1024)],
        render_kw={"rows": 6},
    )
    allow_idp_initiated = BooleanField(
        "Allow sign-ins started at the identity provider (IdP-initiated)",
        description="Off: only sign-ins started from FMS are accepted (safer).",
    )


class InvitationForm(OneTimeForm):
    email = StringField(
        "Freelancer's email",
        validators=[DataRequired(), Length(max=254)],
        description="The link works once, for 7 days, for a sign-in with this email.",
    )
    allow_other_email = BooleanField(
        "Allow a different email to accept it",
        description="For people whose identity provider account uses another address.",
    )
