//! Templates per notification type and locale: a subject and a text body, minijinja, sandboxed.
//!
//! The sandbox: minijinja is built without its `loader`, `multi_template` and `macros` features, so a template
//! can reach no file and no other template (`include`, `import`, `extends`, `macro` do not parse); it sees only
//! the context it is handed (no globals beyond the built-in filters and tests). Its run time is bounded by fuel
//! ([`FUEL`] instructions, each loop iteration and output costing some), its recursion by minijinja's limit,
//! and its output by [`MAX_BODY`] / [`MAX_SUBJECT`] bytes (the writer refuses more, which stops the render).
//! Undefined variables are errors (strict), so a tenant's template is checked against sample data before it is
//! stored; at delivery a template that fails on real data falls back to the built-in one.

use std::io;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Value, json};

use crate::preferences::DEFAULT_LOCALE;

/// Instructions one render may run.
pub const FUEL: u64 = 50_000;
/// The longest rendered body, in bytes.
pub const MAX_BODY: usize = 20_000;
/// The longest rendered subject, in bytes.
pub const MAX_SUBJECT: usize = 200;
/// The longest template source.
pub const MAX_SOURCE: usize = 10_000;

/// A template's two parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// Why a template was refused.
#[derive(Debug, thiserror::Error)]
#[error("{part}: {message}")]
pub struct TemplateError {
    /// `subject` or `body`.
    pub part: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

/// A notification type the service produces: its template name, what it is about, and sample data.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub category: events::Category,
    /// Security notices bypass preferences.
    pub critical: bool,
    pub describe: &'static str,
}

pub const INVITATION_CREATED: &str = "tenant.invitation_created";
pub const INVITATION_RESENT: &str = "tenant.invitation_resent";
pub const API_KEY_CREATED: &str = "api_key.created";
pub const PASSWORD_CHANGED: &str = "user.password_changed";
pub const SESSION_REVOKED: &str = "auth.session_revoked";
pub const ACCOUNT_UPDATED: &str = "user.updated";
pub const PASSWORD_RESET_REQUESTED: &str = "auth.password_reset_requested";
pub const REGISTRATION_REQUESTED: &str = "auth.registration_requested";
pub const REGISTRATION_ATTEMPTED: &str = "auth.registration_attempted";
pub const EMAIL_CHANGE_REQUESTED: &str = "user.email_change_requested";
pub const AUTOMATION_NOTIFICATION: &str = "automation.notification";

pub static KINDS: &[Kind] = &[
    Kind {
        name: INVITATION_CREATED,
        category: events::Category::Tenant,
        critical: false,
        describe: "An invitation, emailed to the invitee with the accept link.",
    },
    Kind {
        name: INVITATION_RESENT,
        category: events::Category::Tenant,
        critical: false,
        describe: "An invitation sent again with a new link.",
    },
    Kind {
        name: API_KEY_CREATED,
        category: events::Category::Security,
        critical: true,
        describe: "Security notice: a new API key on the account.",
    },
    Kind {
        name: PASSWORD_CHANGED,
        category: events::Category::Security,
        critical: true,
        describe: "Security notice: the account's password changed (auth.password_reset_completed, or a user.updated \
                   event naming the password).",
    },
    Kind {
        name: PASSWORD_RESET_REQUESTED,
        category: events::Category::Security,
        critical: true,
        describe: "The password reset link, emailed only (it carries the token; nothing is kept in the inbox).",
    },
    Kind {
        name: REGISTRATION_REQUESTED,
        category: events::Category::Account,
        critical: true,
        describe: "REGISTRATION_MODE=verify_email: the link that verifies the address and creates the account, \
                   emailed only (it carries the token; there is no account, so no inbox, yet).",
    },
    Kind {
        name: REGISTRATION_ATTEMPTED,
        category: events::Category::Security,
        critical: true,
        describe: "Security notice: someone asked to register the account's email again (REGISTRATION_MODE=verify_email).",
    },
    Kind {
        name: EMAIL_CHANGE_REQUESTED,
        category: events::Category::Account,
        critical: true,
        describe: "REGISTRATION_MODE=verify_email: the link that confirms a new email, emailed to the new address \
                   only (it carries the token); nothing is sent to an address that already has an account.",
    },
    Kind {
        name: SESSION_REVOKED,
        category: events::Category::Security,
        critical: true,
        describe: "Security notice: a session was revoked after its refresh token was reused.",
    },
    Kind {
        name: ACCOUNT_UPDATED,
        category: events::Category::Account,
        critical: false,
        describe: "Someone else changed the user's profile, roles or status.",
    },
    Kind {
        name: AUTOMATION_NOTIFICATION,
        category: events::Category::Automation,
        critical: false,
        describe: "An automation's notify step: the subject and body its definition rendered.",
    },
];

pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The built-in template of `kind` in `locale` (English when the locale has none).
pub fn builtin(kind: &str, locale: &str) -> Option<Template> {
    let (subject, body) = match (kind, locale) {
        (INVITATION_CREATED | INVITATION_RESENT, "fr") => (
            "Invitation à rejoindre {{ tenant_name }}",
            "{{ actor_name }} vous invite à rejoindre {{ tenant_name }} sur {{ app_name }} (rôle : {{ role }}).\n\n\
             Accepter l'invitation : {{ accept_url }}\n\nCe lien expire le {{ expires_at }}.\n",
        ),
        (INVITATION_CREATED | INVITATION_RESENT, _) => (
            "You are invited to join {{ tenant_name }}",
            "{{ actor_name }} invited you to join {{ tenant_name }} on {{ app_name }} as {{ role }}.\n\n\
             Accept the invitation: {{ accept_url }}\n\nThis link expires at {{ expires_at }}. If you did not \
             expect it, ignore this email.\n",
        ),
        (API_KEY_CREATED, _) => (
            "Security notice: a new API key was created",
            "Hello {{ recipient.name }},\n\nA new API key ({{ data.api_key_id }}) was created on your {{ app_name }} \
             account {{ recipient.email }} at {{ event.time }}{% if event.ip %} from {{ event.ip }}{% endif %}.\n\n\
             If this was not you, revoke the key and change your password now.\n",
        ),
        (PASSWORD_CHANGED, _) => (
            "Security notice: your password was changed",
            "Hello {{ recipient.name }},\n\nThe password of your {{ app_name }} account {{ recipient.email }} was \
             changed at {{ event.time }}{% if event.ip %} from {{ event.ip }}{% endif %}.\n\nIf this was not you, \
             reset your password and contact your administrator.\n",
        ),
        (PASSWORD_RESET_REQUESTED, _) => (
            "Reset your {{ app_name }} password",
            "Hello {{ recipient.name }},\n\nSomeone asked to reset the password of your {{ app_name }} account \
             {{ recipient.email }}{% if event.ip %} from {{ event.ip }}{% endif %}.\n\nChoose a new password: \
             {{ reset_url }}\n\nThis link works once and expires at {{ expires_at }}. If you did not ask for it, \
             ignore this email: your password stays as it is.\n",
        ),
        (REGISTRATION_REQUESTED, _) => (
            "Confirm your email for {{ app_name }}",
            "Hello,\n\nSomeone asked to create a {{ app_name }} account for {{ recipient.email }}\
             {% if event.ip %} from {{ event.ip }}{% endif %}.\n\nConfirm the address to finish: {{ verify_url }}\n\n\
             This link works once and expires at {{ expires_at }}. If you did not ask for it, ignore this email: no \
             account is created.\n",
        ),
        (REGISTRATION_ATTEMPTED, _) => (
            "Someone tried to register your email",
            "Hello {{ recipient.name }},\n\nSomeone asked to create a new {{ app_name }} account for \
             {{ recipient.email }}, which already has one, at {{ event.time }}{% if event.ip %} from {{ event.ip }}\
             {% endif %}.\n\nIf it was you, sign in instead, or reset your password if you forgot it. If it was not \
             you, nothing changed: you may ignore this email.\n",
        ),
        (EMAIL_CHANGE_REQUESTED, _) => (
            "Confirm your new email for {{ app_name }}",
            "Hello,\n\n{{ actor_name }} asked to change the email of a {{ app_name }} account to \
             {{ recipient.email }}.\n\nConfirm this address to apply the change: {{ confirm_url }}\n\nThis link \
             works once and expires at {{ expires_at }}. If you did not ask for it, ignore this email: nothing \
             changes.\n",
        ),
        (SESSION_REVOKED, _) => (
            "Security notice: a session was signed out",
            "Hello {{ recipient.name }},\n\nA session of your {{ app_name }} account was signed out at \
             {{ event.time }} because its refresh token was used twice ({{ data.reason }}). If you did not expect \
             this, change your password.\n",
        ),
        (ACCOUNT_UPDATED, _) => (
            "Your account was updated",
            "Hello {{ recipient.name }},\n\n{{ actor_name }} changed your {{ app_name }} account: \
             {{ data.fields | join(\", \") }}.\n",
        ),
        (AUTOMATION_NOTIFICATION, _) => (
            "{{ data.subject }}",
            "{{ data.body }}\n\n({{ app_name }} automation {{ data.automation_name }}, run {{ data.run_id }})\n",
        ),
        _ => return None,
    };
    Some(Template { subject: subject.into(), body: body.into() })
}

/// The built-in template in `locale`, else in English.
pub fn builtin_or_default(kind: &str, locale: &str) -> Option<Template> {
    builtin(kind, locale).or_else(|| builtin(kind, DEFAULT_LOCALE))
}

/// Data a preview or a validation renders against, shaped like real data.
pub fn sample_context(kind: &str) -> Value {
    let data = match kind {
        INVITATION_CREATED | INVITATION_RESENT => {
            json!({"invitation_id": "0190a0b0-0000-7000-8000-000000000000", "email": "invitee@example.com", "role": "member", "expires_at": 1_900_000_000})
        }
        API_KEY_CREATED => json!({"api_key_id": "key_01234567"}),
        PASSWORD_CHANGED => json!({"fields": ["password"]}),
        SESSION_REVOKED => json!({"session_id": "s_0123", "reason": "refresh token reuse"}),
        PASSWORD_RESET_REQUESTED => {
            json!({"reset_id": "0190a0b0-0000-7000-8000-000000000001", "expires_at": 1_900_000_000})
        }
        ACCOUNT_UPDATED => json!({"fields": ["first_name", "roles"]}),
        AUTOMATION_NOTIFICATION => json!({
            "automation_id": "au_0190a0b0000070008000000000000000",
            "automation_name": "New orders",
            "run_id": "run_0190a0b00000aaaaaaaaaaaaaaaaaaaa",
            "subject": "Order 42 was created",
            "body": "Order 42 by Ada is in the Orders table.",
        }),
        EMAIL_CHANGE_REQUESTED => {
            json!({"change_id": "0190a0b0-0000-7000-8000-000000000003", "email": "new@example.com", "expires_at": 1_900_000_000})
        }
        REGISTRATION_REQUESTED => {
            json!({"verification_id": "0190a0b0-0000-7000-8000-000000000002", "email": "someone@example.com", "expires_at": 1_900_000_000})
        }
        _ => json!({}),
    };
    let mut context = json!({
        "app_name": "PyAirtable",
        "tenant_name": "Acme",
        "actor_name": "Ada Admin",
        "recipient": {"email": "someone@example.com", "name": "Sam"},
        "event": {"type": kind, "time": "2026-01-01T12:00:00.000Z", "ip": "203.0.113.7"},
        "data": data,
    });
    if matches!(kind, INVITATION_CREATED | INVITATION_RESENT) {
        context["accept_url"] = json!("https://app.example.com/accept-invitation?token=pyinv_sample");
        context["role"] = json!("member");
        context["expires_at"] = json!("2030-03-17T17:46:40Z");
        context["recipient"]["name"] = json!("invitee@example.com");
    }
    if kind == EMAIL_CHANGE_REQUESTED {
        context["confirm_url"] = json!("https://app.example.com/confirm-email?token=pyrem_sample");
        context["expires_at"] = json!("2030-03-17T17:46:40Z");
    }
    if kind == REGISTRATION_REQUESTED {
        context["verify_url"] = json!("https://app.example.com/verify-email?token=pyrvf_sample");
        context["expires_at"] = json!("2030-03-17T17:46:40Z");
    }
    if kind == PASSWORD_RESET_REQUESTED {
        context["reset_url"] = json!("https://app.example.com/reset-password?token=pyrst_sample");
        context["expires_at"] = json!("2030-03-17T17:46:40Z");
    }
    context
}

/// A writer that refuses more than `limit` bytes (which stops the render).
struct Bounded {
    out: Vec<u8>,
    limit: usize,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            return Err(io::Error::other("output limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The sandbox every template renders in (also the automations' templates): no loader, fuel, a recursion
/// limit, strict undefined values.
pub fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_recursion_limit(20);
    env
}

fn render_part(part: &'static str, source: &str, context: &Value, limit: usize) -> Result<String, TemplateError> {
    if source.len() > MAX_SOURCE {
        return Err(TemplateError { part, line: None, message: format!("at most {MAX_SOURCE} bytes of template") });
    }
    let env = sandbox();
    render_bounded(&env, source, context, limit).map_err(|e| match e {
        Some(e) => error(part, &e, limit),
        None => TemplateError { part, line: None, message: "output is not UTF-8".into() },
    })
}

/// Renders `source` in `env` with at most `limit` bytes of output (`Err(None)`: the output is not UTF-8).
pub fn render_bounded(
    env: &Environment<'_>,
    source: &str,
    context: &impl Serialize,
    limit: usize,
) -> Result<String, Option<minijinja::Error>> {
    let template = env.template_from_str(source).map_err(Some)?;
    let mut out = Bounded { out: Vec::new(), limit };
    template.render_captured_to(context, &mut out).map_err(Some)?;
    String::from_utf8(out.out).map_err(|_| None)
}

fn error(part: &'static str, e: &minijinja::Error, limit: usize) -> TemplateError {
    let message = match e.kind() {
        ErrorKind::OutOfFuel => "the template runs too long (fuel exhausted)".to_string(),
        ErrorKind::WriteFailure => format!("the output is longer than {limit} bytes"),
        ErrorKind::UndefinedError => {
            format!("undefined value{}", e.detail().map(|d| format!(": {d}")).unwrap_or_default())
        }
        kind => match e.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    };
    TemplateError { part, line: e.line(), message }
}

/// Renders `template` against `context` within the sandbox's limits; the subject on one line.
pub fn render(template: &Template, context: &Value) -> Result<Rendered, TemplateError> {
    let subject = render_part("subject", &template.subject, context, MAX_SUBJECT)?;
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let body = render_part("body", &template.body, context, MAX_BODY)?;
    Ok(Rendered { subject, body })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use super::*;

    fn try_body(body: &str) -> Result<Rendered, TemplateError> {
        render(&Template { subject: "s".into(), body: body.into() }, &sample_context(API_KEY_CREATED))
    }

    #[test]
    fn every_builtin_renders_its_sample_in_every_locale() {
        for kind in KINDS {
            for locale in ["en", "fr", "de"] {
                let template = builtin_or_default(kind.name, locale).unwrap();
                let rendered = render(&template, &sample_context(kind.name)).unwrap();
                assert!(!rendered.subject.is_empty() && !rendered.body.is_empty(), "{}", kind.name);
            }
        }
        let invitation = render(&builtin(INVITATION_CREATED, "en").unwrap(), &sample_context(INVITATION_CREATED));
        assert!(invitation.unwrap().body.contains("token=pyinv_sample"));
        let reset =
            render(&builtin(PASSWORD_RESET_REQUESTED, "en").unwrap(), &sample_context(PASSWORD_RESET_REQUESTED));
        assert!(reset.unwrap().body.contains("token=pyrst_sample"));
    }

    #[test]
    fn runaway_templates_are_stopped_quickly() {
        let started = Instant::now();
        let nested = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let err = try_body(nested).unwrap_err();
        assert!(err.message.contains("fuel") || err.message.contains("longer"), "{err}");
        let wide = "{% for i in range(10000) %}{{ recipient.email }}{{ recipient.email }}{% endfor %}";
        assert!(try_body(wide).is_err());
        let recursive = "{% for x in [[[[1]]]] recursive %}{{ loop(x) }}{% endfor %}";
        _ = try_body(recursive);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn no_file_or_template_is_reachable() {
        for source in [
            "{% include 'x' %}",
            "{% import 'x' as y %}",
            "{% extends 'x' %}",
            "{% from 'x' import y %}",
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        ] {
            assert!(try_body(source).is_err(), "{source}");
        }
    }

    #[test]
    fn syntax_errors_and_undefined_values_name_the_line() {
        let err = try_body("line one\n{{ oops(").unwrap_err();
        assert_eq!((err.part, err.line), ("body", Some(2)));
        let err = try_body("ok\n\n{{ nothing.here }}").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("undefined"), "{err}");
    }

    #[test]
    fn subjects_are_one_bounded_line() {
        let template = Template { subject: "a\n  b\r\nc".into(), body: "x".into() };
        assert_eq!(render(&template, &sample_context(API_KEY_CREATED)).unwrap().subject, "a b c");
        let long = Template { subject: "{% for i in range(100) %}abcdef{% endfor %}".into(), body: "x".into() };
        assert!(render(&long, &sample_context(API_KEY_CREATED)).is_err());
    }
}
