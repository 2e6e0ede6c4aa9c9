//! Finding and inspecting users.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mongodb::bson;

use crate::account::AccountError;
use crate::state::AppState;
use crate::store::user_queries::{Position, UserFilter};
use crate::store::users::UserDoc;

/// Largest page.
pub const MAX_LIMIT: u32 = 500;

/// An opaque position in the listing (the last user of a page). Its form is no contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(Position);

impl Cursor {
    pub fn encode(&self) -> String {
        let text = format!("{}.{}", self.0.created_at.timestamp_millis(), self.0.id);
        URL_SAFE_NO_PAD.encode(text)
    }

    /// `None` for anything this service did not hand out.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (millis, id) = text.split_once('.')?;
        let millis: i64 = millis.parse().ok()?;
        (id.len() == 36).then(|| {
            Cursor(Position {
                created_at: bson::DateTime::from_millis(millis),
                id: id.to_owned(),
            })
        })
    }
}

/// One page of a listing, and where the next starts (none at the end).
pub struct Page {
    pub users: Vec<UserDoc>,
    pub next: Option<Cursor>,
}

/// Users matching `filter` in creation order, `limit` (1 to 500) at a time. Users created
/// while an operator pages through come after the page they are on, so a walk sees every user
/// that existed when it started, each once.
#[tracing::instrument(name = "admin.list_users", skip_all)]
pub async fn list(
    state: &AppState,
    filter: &UserFilter,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page, AccountError> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut users = state
        .users
        .list(filter, after.map(|c| &c.0), limit + 1)
        .await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let next = more.then(|| users.last()).flatten().map(|u| {
        Cursor(Position {
            created_at: u.created_at,
            id: u.id.clone(),
        })
    });
    Ok(Page { users, next })
}

/// A user and how many sessions it has now.
pub struct UserView {
    pub user: UserDoc,
    pub active_sessions: usize,
}

#[tracing::instrument(name = "admin.get_user", skip_all)]
pub async fn get(state: &AppState, user_id: &str) -> Result<UserView, AccountError> {
    let user = find(state, user_id).await?;
    let active_sessions = state.sessions.list(&user.id).await?.len();
    Ok(UserView {
        user,
        active_sessions,
    })
}

/// The user, or `NotFound`.
pub async fn find(state: &AppState, user_id: &str) -> Result<UserDoc, AccountError> {
    state
        .users
        .find_by_id(user_id)
        .await?
        .ok_or(AccountError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = Cursor(Position {
            created_at: bson::DateTime::from_millis(1_700_000_000_123),
            id: "0190b2a4-0000-7000-8000-000000000000".into(),
        });
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for junk in ["", "!!", "MTIz", &URL_SAFE_NO_PAD.encode("x.y")] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }
}
