//! Prints the EmailTemplate CRD; its output is charts/user-platform/crds/emailtemplates.yaml.
fn main() {
    print!("{}", mail_service::crd::crd_yaml());
}
