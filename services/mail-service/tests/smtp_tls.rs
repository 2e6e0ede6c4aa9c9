//! A relay whose certificate a private CA signed (a corporate relay, an in-cluster MTA): the
//! built-in roots refuse it, `SMTP_CA_FILE` makes it trusted, and mail then goes over TLS.

mod support;

use common::testing::TestCa;
use mail_service::config::SmtpTls;
use mail_service::smtp::Mailer;
use mail_service::templates::Rendered;
use support::smtp::TestSmtp;
use uuid::Uuid;

fn mailer(smtp: &TestSmtp, ca: Option<Vec<u8>>) -> Mailer {
    let mut config = support::config("unused", "unused:").smtp;
    config.host = "127.0.0.1".into();
    config.port = smtp.port;
    config.tls = SmtpTls::Tls;
    config.ca = ca;
    let from = "User Platform <no-reply@example.com>".parse().unwrap();
    Mailer::new(&config, from).expect("the mailer builds")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_of_a_private_ca_is_trusted_only_with_smtp_ca_file() {
    let ca = TestCa::generate();
    let smtp = TestSmtp::running_tls(ca.acceptor()).await;

    let err = mailer(&smtp, None).test_connection().await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let trusted = mailer(&smtp, Some(std::fs::read(ca.ca_file()).unwrap()));
    trusted.test_connection().await.expect("the CA is trusted");
    let to = support::recipient("tls");
    let rendered = Rendered {
        subject: "Over TLS".into(),
        text: "Hello".into(),
        html: "<p>Hello</p>".into(),
    };
    trusted
        .slot()
        .await
        .unwrap()
        .send(Uuid::new_v4(), &to, None, &rendered)
        .await
        .expect("sent over TLS");
    assert_eq!(smtp.count_for(&to), 1);
}
