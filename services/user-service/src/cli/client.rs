//! Running a parsed command against the admin API.

use std::io::Write;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::args::{Command, USAGE, parse};

/// Where the API is and the token to use.
pub struct Target {
    pub url: String,
    pub token: SecretString,
}

impl Target {
    /// From `ADMIN_API_URL` (or the port of `ADMIN_API_ADDR`) and the token: `ADMIN_API_TOKEN`,
    /// or, inside the service's own pod (`kubectl exec`, where the image has no shell to set a
    /// variable), the entry of its `ADMIN_API_TOKENS` named `as_name` (or the only entry).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        as_name: Option<&str>,
    ) -> Result<Self, String> {
        let token = match get("ADMIN_API_TOKEN").filter(|t| !t.is_empty()) {
            Some(token) => token,
            None => own_token(get("ADMIN_API_TOKENS"), as_name)?,
        };
        let url = get("ADMIN_API_URL")
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                let port = get("ADMIN_API_ADDR")
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                    .map_or(9092, |a| a.port());
                format!("http://127.0.0.1:{port}")
            });
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            token: SecretString::from(token),
        })
    }
}

/// The token of one entry of a `name:token,...` list. Errors never quote a token.
fn own_token(tokens: Option<String>, as_name: Option<&str>) -> Result<String, String> {
    let tokens = tokens.ok_or(
        "set ADMIN_API_TOKEN (the token itself), or run inside the service's pod, which has \
         ADMIN_API_TOKENS",
    )?;
    let entries: Vec<(&str, &str)> = tokens
        .split(',')
        .filter_map(|e| e.trim().split_once(':'))
        .map(|(name, token)| (name.trim(), token))
        .collect();
    let found = match as_name {
        Some(name) => entries.iter().find(|(n, _)| *n == name),
        None if entries.len() == 1 => entries.first(),
        None => {
            return Err("ADMIN_API_TOKENS has several tokens: choose one with --as NAME".into());
        }
    };
    found.map(|(_, token)| (*token).to_owned()).ok_or_else(|| {
        format!(
            "ADMIN_API_TOKENS has no token named {}",
            as_name.unwrap_or("")
        )
    })
}

/// Splits a leading `--as NAME` (which token of `ADMIN_API_TOKENS` to use) off the arguments.
pub fn split_as(args: &[String]) -> (Option<&str>, &[String]) {
    match args {
        [flag, name, rest @ ..] if flag == "--as" => (Some(name.as_str()), rest),
        _ => (None, args),
    }
}

/// Runs `user-service admin <args>`, writing answers to `out` and problems to `err`; returns
/// the exit status.
pub async fn run(
    args: &[String],
    target: Result<Target, String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let command = match parse(args) {
        Ok(command) => command,
        Err(problem) => {
            let _ = writeln!(err, "user-service admin: {problem}\n\n{USAGE}");
            return 2;
        }
    };
    let target = match target {
        Ok(target) => target,
        Err(problem) => {
            let _ = writeln!(err, "user-service admin: {problem}");
            return 2;
        }
    };
    match execute(&command, &target, out).await {
        Ok(()) => 0,
        Err(problem) => {
            let _ = writeln!(err, "user-service admin: {problem}");
            1
        }
    }
}

async fn execute(command: &Command, target: &Target, out: &mut dyn Write) -> Result<(), String> {
    let users = "/admin/v1/users";
    let (method, path, body) = match command {
        Command::List { query, all } => return list(target, query, *all, out).await,
        Command::Get(id) => (Method::GET, format!("{users}/{id}"), None),
        Command::Invite { body } => (Method::POST, users.to_owned(), Some(body.clone())),
        Command::Update { id, body } => {
            (Method::PATCH, format!("{users}/{id}"), Some(body.clone()))
        }
        Command::VerifyEmail(id) => (Method::POST, format!("{users}/{id}/verify-email"), None),
        Command::SendEmail { id, kind } => (
            Method::POST,
            format!("{users}/{id}/emails"),
            Some(serde_json::json!({ "kind": kind })),
        ),
        Command::Disable(id) => (Method::POST, format!("{users}/{id}/disable"), None),
        Command::Enable(id) => (Method::POST, format!("{users}/{id}/enable"), None),
        Command::RemoveMfa(id) => (Method::DELETE, format!("{users}/{id}/mfa"), None),
        Command::Delete(id) => (Method::DELETE, format!("{users}/{id}"), None),
        Command::Sessions(id) => (Method::GET, format!("{users}/{id}/sessions"), None),
        Command::Revoke { id, session } => (
            Method::DELETE,
            match session {
                Some(s) => format!("{users}/{id}/sessions/{s}"),
                None => format!("{users}/{id}/sessions"),
            },
            None,
        ),
        Command::Passkeys(id) => (Method::GET, format!("{users}/{id}/passkeys"), None),
        Command::RemovePasskey { id, passkey } => (
            Method::DELETE,
            format!("{users}/{id}/passkeys/{passkey}"),
            None,
        ),
    };
    let answer = call(target, method, &path, &[], body).await?;
    let text = serde_json::to_string_pretty(&answer).unwrap_or_default();
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

/// A page, or every page with `all` (one user per line).
async fn list(
    target: &Target,
    query: &[(String, String)],
    all: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut cursor: Option<String> = None;
    loop {
        let mut params = query.to_vec();
        if let Some(c) = &cursor {
            params.push(("cursor".into(), c.clone()));
        }
        let page = call(target, Method::GET, "/admin/v1/users", &params, None).await?;
        if !all {
            let text = serde_json::to_string_pretty(&page).unwrap_or_default();
            return writeln!(out, "{text}").map_err(|e| e.to_string());
        }
        for user in page["users"].as_array().into_iter().flatten() {
            writeln!(out, "{user}").map_err(|e| e.to_string())?;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(()),
        }
    }
}

async fn call(
    target: &Target,
    method: Method,
    path: &str,
    query: &[(String, String)],
    body: Option<Value>,
) -> Result<Value, String> {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method, format!("{}{path}", target.url))
        .query(query)
        .bearer_auth(target.token.expose_secret());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{}: {e}", target.url))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let value: Value = if text.is_empty() {
        serde_json::json!({ "status": status.as_u16() })
    } else {
        serde_json::from_str(&text).map_err(|_| format!("{status}: {text}"))?
    };
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{} {}: {}",
            status.as_u16(),
            value["code"].as_str().unwrap_or("error"),
            value["detail"].as_str().unwrap_or("")
        ))
    }
}
