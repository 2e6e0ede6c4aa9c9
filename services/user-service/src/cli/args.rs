//! The command line of `user-service admin`: its usage text and the parsing of the arguments
//! into one admin API call.

use std::collections::HashMap;

pub const USAGE: &str = "\
usage: user-service admin [--as NAME] <command>

  users list [--email-prefix P] [--verified true|false] [--disabled true|false]
             [--created-from RFC3339] [--created-before RFC3339] [--limit N] [--all]
  users get <id>
  users invite <email> [--name NAME] [--locale TAG]
  users update <id> [--name NAME | --clear-name] [--locale TAG]
  users verify-email <id>
  users send-email <id> verification|password-reset
  users disable <id>
  users enable <id>
  users remove-mfa <id>
  users delete <id> --yes
  sessions list <user-id>
  sessions revoke <user-id> [<session-id>]
  passkeys list <user-id>
  passkeys remove <user-id> <passkey-id>

environment: ADMIN_API_TOKEN, or in the service's pod the entry NAME (--as; needed when there are
several) of ADMIN_API_TOKENS; ADMIN_API_URL (default http://127.0.0.1:<port of ADMIN_API_ADDR,
else 9092>)";

/// One admin API call, parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    List {
        query: Vec<(String, String)>,
        all: bool,
    },
    Get(String),
    Invite {
        body: serde_json::Value,
    },
    Update {
        id: String,
        body: serde_json::Value,
    },
    VerifyEmail(String),
    SendEmail {
        id: String,
        kind: &'static str,
    },
    Disable(String),
    Enable(String),
    RemoveMfa(String),
    Delete(String),
    Sessions(String),
    Revoke {
        id: String,
        session: Option<String>,
    },
    Passkeys(String),
    RemovePasskey {
        id: String,
        passkey: String,
    },
}

/// Splits `--flag value` pairs and bare flags from positional arguments.
fn options(
    args: &[String],
    with_value: &[&str],
) -> Result<(Vec<String>, HashMap<String, String>), String> {
    let mut positional = Vec::new();
    let mut flags = HashMap::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let value = if with_value.contains(&name) {
                iter.next()
                    .ok_or(format!("--{name} needs a value"))?
                    .clone()
            } else {
                String::new()
            };
            flags.insert(name.to_owned(), value);
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, flags))
}

fn check_flags(flags: &HashMap<String, String>, allowed: &[&str]) -> Result<(), String> {
    match flags.keys().find(|f| !allowed.contains(&f.as_str())) {
        Some(flag) => Err(format!("unknown option --{flag}")),
        None => Ok(()),
    }
}

type Flags = HashMap<String, String>;

const FILTERS: [&str; 6] = [
    "email-prefix",
    "verified",
    "disabled",
    "created-from",
    "created-before",
    "limit",
];

fn list(flags: &Flags) -> Result<Command, String> {
    check_flags(flags, &[&FILTERS[..], &["all"]].concat())?;
    let query = FILTERS
        .iter()
        .filter_map(|f| flags.get(*f).map(|v| (f.replace('-', "_"), v.clone())))
        .collect();
    Ok(Command::List {
        query,
        all: flags.contains_key("all"),
    })
}

fn invitation(email: &str, flags: &Flags) -> Result<serde_json::Value, String> {
    check_flags(flags, &["name", "locale"])?;
    let mut body = serde_json::json!({ "email": email });
    if let Some(name) = flags.get("name") {
        body["display_name"] = name.as_str().into();
    }
    if let Some(locale) = flags.get("locale") {
        body["locale"] = locale.as_str().into();
    }
    Ok(body)
}

fn profile_update(flags: &Flags) -> Result<serde_json::Value, String> {
    check_flags(flags, &["name", "clear-name", "locale"])?;
    let mut body = serde_json::json!({});
    match (flags.get("name"), flags.contains_key("clear-name")) {
        (Some(_), true) => return Err("--name and --clear-name exclude each other".into()),
        (Some(name), false) => body["display_name"] = name.as_str().into(),
        (None, true) => body["display_name"] = serde_json::Value::Null,
        (None, false) => {}
    }
    if let Some(locale) = flags.get("locale") {
        body["locale"] = locale.as_str().into();
    }
    Ok(body)
}

/// Parses the arguments after `admin`.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let valued = [&FILTERS[..], &["name", "locale"]].concat();
    let (pos, flags) = options(args, &valued)?;
    let pos: Vec<&str> = pos.iter().map(String::as_str).collect();
    let id = |i: usize| {
        pos.get(i)
            .map(|s| (*s).to_owned())
            .ok_or("missing id".to_owned())
    };
    let command = match pos.as_slice() {
        ["users", "list"] => list(&flags)?,
        ["users", "get", _] => Command::Get(id(2)?),
        ["users", "invite", email] => Command::Invite {
            body: invitation(email, &flags)?,
        },
        ["users", "update", _] => Command::Update {
            id: id(2)?,
            body: profile_update(&flags)?,
        },
        ["users", "verify-email", _] => Command::VerifyEmail(id(2)?),
        ["users", "send-email", _, kind] => Command::SendEmail {
            id: id(2)?,
            kind: email_kind(kind)?,
        },
        ["users", "disable", _] => Command::Disable(id(2)?),
        ["users", "enable", _] => Command::Enable(id(2)?),
        ["users", "remove-mfa", _] => Command::RemoveMfa(id(2)?),
        ["users", "delete", _] => {
            if !flags.contains_key("yes") {
                return Err("delete needs --yes".into());
            }
            Command::Delete(id(2)?)
        }
        ["sessions", "list", _] => Command::Sessions(id(2)?),
        ["sessions", "revoke", _] | ["sessions", "revoke", _, _] => Command::Revoke {
            id: id(2)?,
            session: pos.get(3).map(|s| (*s).to_owned()),
        },
        ["passkeys", "list", _] => Command::Passkeys(id(2)?),
        ["passkeys", "remove", _, _] => Command::RemovePasskey {
            id: id(2)?,
            passkey: id(3)?,
        },
        _ => return Err("unknown command".into()),
    };
    if !takes_options(&command) && flags.keys().any(|f| f != "yes") {
        return Err("this command takes no options".into());
    }
    Ok(command)
}

/// The API's name of an email `send-email` can send.
fn email_kind(kind: &str) -> Result<&'static str, String> {
    match kind {
        "verification" => Ok("verification"),
        "password-reset" => Ok("password_reset"),
        _ => Err("send-email takes verification or password-reset".into()),
    }
}

/// Whether the command has options of its own (every other takes at most `--yes`).
fn takes_options(command: &Command) -> bool {
    matches!(
        command,
        Command::List { .. } | Command::Invite { .. } | Command::Update { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_commands() {
        assert_eq!(
            parse(&args(
                "users list --email-prefix ada@ --verified true --all"
            ))
            .unwrap(),
            Command::List {
                query: vec![
                    ("email_prefix".into(), "ada@".into()),
                    ("verified".into(), "true".into())
                ],
                all: true
            }
        );
        assert_eq!(
            parse(&args("users disable u1")).unwrap(),
            Command::Disable("u1".into())
        );
        assert_eq!(
            parse(&args("users update u1 --clear-name --locale de")).unwrap(),
            Command::Update {
                id: "u1".into(),
                body: serde_json::json!({ "display_name": null, "locale": "de" })
            }
        );
        assert_eq!(
            parse(&args("sessions revoke u1 s1")).unwrap(),
            Command::Revoke {
                id: "u1".into(),
                session: Some("s1".into())
            }
        );
        assert_eq!(
            parse(&args("passkeys remove u1 AbC-_1")).unwrap(),
            Command::RemovePasskey {
                id: "u1".into(),
                passkey: "AbC-_1".into()
            }
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for line in [
            "users",
            "users list --sort email",
            "users delete u1",
            "users get u1 --all",
            "users list --limit",
            "users send-email u1 welcome",
            "passkeys remove u1",
        ] {
            assert!(parse(&args(line)).is_err(), "{line}");
        }
    }
}
