//! Two-factor secrets at rest: encrypted in MongoDB (the raw document holds no seed and no
//! recovery code) and readable across a key rotation.

use mongodb::bson::{Document, doc};
use reqwest::Method;
use serde_json::json;
use user_service::secret_box::KeyRing;

use crate::helpers::*;
use crate::mfa::{Enrolled, answer, challenge, code_of, enrolled_user};

/// The user's stored document, as MongoDB holds it.
async fn stored(app: &TestApp, email: &str) -> Document {
    app.database()
        .await
        .collection::<Document>("users")
        .find_one(doc! { "email": email })
        .await
        .unwrap()
        .unwrap()
}

fn assert_no_plaintext(document: &Document, user: &Enrolled) {
    use base64::Engine;
    let raw = mongodb::bson::to_vec(document).unwrap();
    let text = format!("{document:?}").to_lowercase();
    let bytes: &[u8] = secrecy::ExposeSecret::expose_secret(&user.secret);
    let base32 = data_encoding::BASE32_NOPAD.encode(bytes).to_lowercase();
    for form in [
        base32.clone(),
        hex::encode(bytes),
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .to_lowercase(),
    ] {
        assert!(
            !text.contains(&form[..16]),
            "the secret is stored in the clear"
        );
    }
    assert!(!raw.windows(bytes.len()).any(|w| w == bytes));
    for code in &user.recovery {
        assert!(!text.contains(&code.replace('-', "")) && !text.contains(code));
    }
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_survive_key_rotation() {
    let old_key = random_key();
    let mut config = test_config();
    config.mfa.keys = Some(KeyRing::parse(&format!("old:{old_key}")).unwrap());
    let app = spawn_with(config.clone()).await;
    let mut user = enrolled_user(&app).await;
    let document = stored(&app, &user.email).await;
    assert_eq!(
        document
            .get_document("mfa")
            .unwrap()
            .get_document("secret")
            .unwrap()
            .get_str("kid"),
        Ok("old")
    );
    assert_no_plaintext(&document, &user);

    // Restarted with a new current key, the old one second: old enrolments keep working and
    // are re-encrypted with the new key on use.
    let mut rotated = config.clone();
    let new_key = random_key();
    rotated.mfa.keys = Some(KeyRing::parse(&format!("new:{new_key},old:{old_key}")).unwrap());
    let restarted = spawn_with(rotated.clone()).await;
    let pending = challenge(&restarted, &user.email, PASSWORD).await;
    let response = answer(
        &restarted,
        &pending,
        json!({ "code": user.fresh_code().await }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let document = stored(&restarted, &user.email).await;
    let secret = document
        .get_document("mfa")
        .unwrap()
        .get_document("secret")
        .unwrap();
    assert_eq!(secret.get_str("kid"), Ok("new"));
    assert_no_plaintext(&document, &user);

    // Once re-encrypted, the old key can go.
    let mut new_only = rotated.clone();
    assert!(
        !format!("{rotated:?}").contains(&old_key),
        "keys never show in Debug"
    );
    new_only.mfa.keys = Some(KeyRing::parse(&format!("new:{new_key}")).unwrap());
    let third = spawn_with(new_only).await;
    let pending = challenge(&third, &user.email, PASSWORD).await;
    let response = answer(&third, &pending, json!({ "code": user.fresh_code().await })).await;
    assert_eq!(response.status(), 201);

    // Without keys, enrolment is refused clearly.
    let mut off = config.clone();
    off.mfa.keys = None;
    let unconfigured = spawn_with(off).await;
    let email = unconfigured.verified_user().await;
    let token = unconfigured.session(&email, PASSWORD).await;
    let response = unconfigured
        .call(
            Method::POST,
            "/v1/users/me/mfa/totp",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(code_of(response).await, (501, "mfa_not_configured".into()));
    for other in [unconfigured, third, restarted] {
        other.finish().await;
    }
    app.finish().await;
}

/// What version 1 stored for a recovery code: an unkeyed SHA-256 bound to the account.
fn unkeyed_digest(user_id: &str, code: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let normalised = code.replace('-', "").to_lowercase();
    let mut hasher = Sha256::new();
    hasher.update(b"user-platform recovery code\0");
    hasher.update(user_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(normalised.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(hasher.finalize())
}

fn stored_codes(document: &Document) -> Vec<String> {
    let mfa = document.get_document("mfa").unwrap();
    let codes = mfa.get_array("recovery_codes").unwrap();
    codes
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn recovery_codes_are_80_bit_keyed_at_rest_and_old_ones_are_re_keyed() {
    let old_key = random_key();
    let mut config = test_config();
    config.mfa.keys = Some(KeyRing::parse(&format!("old:{old_key}")).unwrap());
    let app = spawn_with(config.clone()).await;
    let user = enrolled_user(&app).await;
    let document = stored(&app, &user.email).await;
    let id = document.get_str("_id").unwrap().to_owned();
    // A copy of the database plus the password must not turn into a second factor: codes too
    // long to enumerate, and nothing stored that a guess can be checked against offline.
    for code in &user.recovery {
        assert!(
            code.replace('-', "").len() >= 16,
            "{code} has under 80 bits"
        );
        let digest = unkeyed_digest(&id, code);
        assert!(
            !stored_codes(&document).iter().any(|s| s.contains(&digest)),
            "a recovery code is stored as an unkeyed digest"
        );
    }

    // Codes stored by the previous version (unkeyed digests of 50-bit codes) keep working:
    // the next start seals them under the current key, here after a rotation.
    let legacy = ["abcde-fghij", "klmno-pqrst"];
    let digests: Vec<String> = legacy.iter().map(|c| unkeyed_digest(&id, c)).collect();
    app.database()
        .await
        .collection::<Document>("users")
        .update_one(
            doc! { "_id": &id },
            doc! { "$set": { "mfa.recovery_codes": &digests } },
        )
        .await
        .unwrap();
    let new_key = random_key();
    let mut rotated = config.clone();
    rotated.mfa.keys = Some(KeyRing::parse(&format!("new:{new_key},old:{old_key}")).unwrap());
    let restarted = spawn_with(rotated.clone()).await;
    let mut sealed = Vec::new();
    for _ in 0..50 {
        sealed = stored_codes(&stored(&restarted, &user.email).await);
        if sealed.iter().all(|s| s.starts_with("s1:new:")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        sealed.iter().all(|s| s.starts_with("s1:new:")),
        "{sealed:?}"
    );
    assert!(!sealed.iter().any(|s| digests.iter().any(|d| s.contains(d))));
    restarted.stop().await;

    // Re-keyed, they need only the new key, and each works once.
    let mut new_only = rotated.clone();
    new_only.mfa.keys = Some(KeyRing::parse(&format!("new:{new_key}")).unwrap());
    let third = spawn_with(new_only).await;
    let pending = challenge(&third, &user.email, PASSWORD).await;
    let response = answer(&third, &pending, json!({ "recovery_code": legacy[0] })).await;
    assert_eq!(response.status(), 201);
    let pending = challenge(&third, &user.email, PASSWORD).await;
    let response = answer(&third, &pending, json!({ "recovery_code": legacy[0] })).await;
    assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));
    let response = answer(&third, &pending, json!({ "recovery_code": "KLMNO PQRST" })).await;
    assert_eq!(response.status(), 201);
    third.finish().await;
    app.stop().await;
}
