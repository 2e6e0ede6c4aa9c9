//! A software authenticator for the passkey tests: 1Password's `passkey-authenticator` (CTAP2,
//! resident keys, ES256, a signature counter) behind its WebAuthn client, driven with the JSON
//! the API answers and takes, as a browser's `PublicKeyCredential` JSON methods would.

use std::collections::HashMap;

use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey_client::{Client, DefaultClientData};
use passkey_types::Passkey;
use passkey_types::ctap2::get_assertion::Options;
use passkey_types::ctap2::make_credential::{
    PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey_types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialDescriptor,
};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::*;

/// The origin the test relying party (id `example.com`) accepts first, and another origin it
/// accepts on the same relying-party id. https, as the client insists for anything but
/// `localhost`; the origins are only ever compared, never connected to.
pub const ORIGIN: &str = "https://example.com";
pub const OTHER_ALLOWED_ORIGIN: &str = "https://login.example.com";
/// An origin on the relying-party id that the relying party does not accept.
pub const STRANGE_ORIGIN: &str = "https://evil.example.com";
const RP_ID: &str = "example.com";

/// Resident keys: the authenticator finds them by relying party when the request names no
/// credential (discoverable sign-in), as a platform authenticator does.
#[derive(Clone, Default)]
pub struct ResidentStore(HashMap<Vec<u8>, Passkey>);

#[async_trait::async_trait]
impl CredentialStore for ResidentStore {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        allowed: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let found: Vec<Passkey> = match allowed.filter(|a| !a.is_empty()) {
            Some(allowed) => allowed
                .iter()
                .filter_map(|d| self.0.get(&*d.id))
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
            None => self
                .0
                .values()
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
        };
        if found.is_empty() {
            return Err(Ctap2Error::NoCredentials.into());
        }
        Ok(found)
    }

    async fn save_credential(
        &mut self,
        cred: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        self.0.insert(cred.credential_id.to_vec(), cred);
        Ok(())
    }

    async fn update_credential(&mut self, cred: &Passkey) -> Result<(), StatusCode> {
        self.0.insert(cred.credential_id.to_vec(), cred.clone());
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::ForcedDiscoverable,
        }
    }
}

/// The user at the authenticator: present, and verified (PIN, biometrics) when `verifies`.
pub struct TestUser {
    pub verifies: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for TestUser {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.verifies,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftClient = Client<ResidentStore, TestUser, public_suffix::PublicSuffixList, ()>;

/// One authenticator (its stored credentials) and the client in front of it.
pub struct SoftKey {
    client: SoftClient,
}

impl SoftKey {
    pub fn new() -> Self {
        Self::with_store(ResidentStore::default())
    }

    fn with_store(store: ResidentStore) -> Self {
        let mut authenticator =
            Authenticator::new(Aaguid::new_empty(), store, TestUser { verifies: true });
        authenticator.set_make_credentials_with_signature_counter(true);
        Self {
            client: Client::new(authenticator),
        }
    }

    /// A copy of this authenticator's credentials as they are now (a clone of the device).
    pub fn clone_device(&self) -> Self {
        Self::with_store(self.client.authenticator().store().clone())
    }

    /// The credential `options` (the API's `options`) ask for, as `credential.toJSON()`.
    pub async fn create(&mut self, options: &Value, origin: &str) -> Value {
        let options: CredentialCreationOptions =
            serde_json::from_value(options.clone()).expect("creation options");
        let origin = Url::parse(origin).unwrap();
        let created = self
            .client
            .register(&origin, options, DefaultClientData)
            .await
            .expect("the authenticator creates a credential");
        serde_json::to_value(created).unwrap()
    }

    /// An assertion for `options`, as `credential.toJSON()`.
    pub async fn get(&mut self, options: &Value, origin: &str) -> Value {
        let options: CredentialRequestOptions =
            serde_json::from_value(without_mediation(options)).expect("request options");
        let origin = Url::parse(origin).unwrap();
        let asserted = self
            .client
            .authenticate(&origin, options, DefaultClientData)
            .await
            .expect("the authenticator signs");
        serde_json::to_value(asserted).unwrap()
    }
}

fn without_mediation(options: &Value) -> Value {
    let mut options = options.clone();
    options.as_object_mut().unwrap().remove("mediation");
    options
}

/// A test app whose relying party is `example.com` with `ORIGIN` and `OTHER_ALLOWED_ORIGIN`.
pub async fn passkey_app() -> TestApp {
    spawn_with(passkey_config()).await
}

/// `passkey_app`'s configuration, to change before spawning.
pub fn passkey_config() -> user_service::config::Config {
    let mut config = test_config();
    config.passkeys = user_service::config::PasskeySettings {
        rp_id: RP_ID.to_owned(),
        rp_name: "Test platform".to_owned(),
        origins: vec![
            Url::parse(ORIGIN).unwrap(),
            Url::parse(OTHER_ALLOWED_ORIGIN).unwrap(),
        ],
        available: true,
    };
    crate::admin::with_admin_api(&mut config);
    config
}

/// Starts adding a passkey: `(ceremony, options)`.
pub async fn enrolment_options(app: &TestApp, token: &str) -> (String, Value) {
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/options",
            token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["ceremony"].as_str().unwrap().to_owned(),
        body["options"].clone(),
    )
}

/// Adds a passkey made by `key` to the session's account; answers the passkey's id.
pub async fn add_passkey(app: &TestApp, token: &str, key: &mut SoftKey, name: &str) -> String {
    let (ceremony, options) = enrolment_options(app, token).await;
    let credential = key.create(&options, ORIGIN).await;
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys",
            token,
            json!({ "ceremony": ceremony, "name": name, "credential": credential }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Starts a passwordless sign-in (with the address, if given): `(ceremony, options)`.
pub async fn sign_in_options(app: &TestApp, email: Option<&str>) -> (String, Value) {
    let body = match email {
        Some(email) => json!({ "email": email }),
        None => json!({}),
    };
    let response = app.post("/v1/sessions/passkey/options", &body).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["ceremony"].as_str().unwrap().to_owned(),
        body["options"].clone(),
    )
}

/// Answers a sign-in ceremony.
pub async fn sign_in(app: &TestApp, ceremony: &str, credential: &Value) -> reqwest::Response {
    app.post(
        "/v1/sessions/passkey",
        &json!({ "ceremony": ceremony, "credential": credential }),
    )
    .await
}

pub async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .call(Method::GET, "/v1/users/me/passkeys", token, Value::Null)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["passkeys"].as_array().unwrap().clone()
}

pub async fn session_count(app: &TestApp, token: &str) -> usize {
    let response = app
        .call(Method::GET, "/v1/sessions", token, Value::Null)
        .await;
    let body: Value = response.json().await.unwrap();
    body["sessions"].as_array().unwrap().len()
}

/// A refusal: its status, code, and the reason its detail names.
pub async fn assert_refused(response: reqwest::Response, status: u16, code: &str, reason: &str) {
    let (got, body) = problem(response).await;
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("({reason})")), "{detail}");
}

/// Answers an enrolment ceremony with `credential`, naming the passkey "Key".
pub async fn enrol(
    app: &TestApp,
    token: &str,
    ceremony: &str,
    credential: &Value,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/v1/users/me/passkeys",
        token,
        json!({ "ceremony": ceremony, "name": "Key", "credential": credential }),
    )
    .await
}
