//! The `--jwks-uri` and `--federated` flags of `keys create` and `keys update`, and how a
//! key's federated credentials read in the CLI's output. The flags only take their values
//! apart: the URLs, subjects and their limits are checked once, by `domain::federation`, and
//! refused naming the field as the API does.

use clap::Args;
use serde_json::{Map, Value};

use crate::domain::federation::FederatedCredential;

/// The form `--federated` takes, in its help and in its errors.
const FEDERATED_FORM: &str = "issuer=URL,subject=PATTERN,audience=AUD[,jwks_uri=URL]";

/// The JWKS URL and federated credentials of a new key.
#[derive(Debug, Args)]
pub struct NewFederation {
    /// An https URL of a JWKS with the key's public keys for private_key_jwt (fetched on an
    /// unknown kid, cached by its Cache-Control).
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// A workload whose tokens the key accepts as client assertions (workload identity
    /// federation): issuer=URL,subject=PATTERN,audience=AUD[,jwks_uri=URL], e.g.
    /// issuer=https://token.actions.githubusercontent.com,subject=repo:acme/app:ref:refs/heads/*,audience=latchkey
    /// (`*` in the subject stands for any run of characters; repeat for several, at most 10).
    #[arg(long = "federated", value_name = FEDERATED_FORM, value_parser = federated_arg)]
    federated: Vec<Value>,
}

impl NewFederation {
    /// `jwks_uri` of the create body.
    pub fn jwks_uri(&self) -> Option<Value> {
        self.jwks_uri.clone().map(Value::String)
    }

    /// `federated_credentials` of the create body.
    pub fn federated_credentials(&self) -> Option<Value> {
        (!self.federated.is_empty()).then(|| Value::Array(self.federated.clone()))
    }
}

/// Changes to the JWKS URL and federated credentials of a key.
#[derive(Debug, Args)]
pub struct FederationChanges {
    /// Replaces the JWKS URL.
    #[arg(long, value_name = "URL", conflicts_with = "no_jwks_uri")]
    jwks_uri: Option<String>,
    /// Remove the JWKS URL.
    #[arg(long)]
    no_jwks_uri: bool,
    /// Replaces every federated credential, issuer=URL,subject=PATTERN,audience=AUD[,jwks_uri=URL]
    /// as on create (repeat for several).
    #[arg(long = "federated", value_name = FEDERATED_FORM, value_parser = federated_arg,
          conflicts_with = "no_federated")]
    federated: Vec<Value>,
    /// Remove every federated credential.
    #[arg(long)]
    no_federated: bool,
}

impl FederationChanges {
    /// `jwks_uri` of the PATCH body.
    pub fn jwks_uri(&self) -> Option<Option<Value>> {
        if self.no_jwks_uri {
            Some(None)
        } else {
            self.jwks_uri.clone().map(|u| Some(Value::String(u)))
        }
    }

    /// `federated_credentials` of the PATCH body.
    pub fn federated_credentials(&self) -> Option<Option<Value>> {
        if self.no_federated {
            Some(None)
        } else {
            (!self.federated.is_empty()).then(|| Some(Value::Array(self.federated.clone())))
        }
    }
}

/// One `--federated` value as the JSON object of the API.
fn federated_arg(text: &str) -> Result<Value, String> {
    let mut object = Map::new();
    for part in text.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            return Err(format!("`{part}` is not NAME=VALUE: use {FEDERATED_FORM}"));
        };
        let name = name.trim();
        if !["issuer", "subject", "audience", "jwks_uri"].contains(&name) {
            return Err(format!(
                "`{name}` is not one of issuer, subject, audience, jwks_uri: use {FEDERATED_FORM}"
            ));
        }
        if object
            .insert(name.to_owned(), Value::String(value.trim().to_owned()))
            .is_some()
        {
            return Err(format!("`{name}` is given twice"));
        }
    }
    Ok(Value::Object(object))
}

/// One line of `keys show`.
pub fn describe(credential: &FederatedCredential) -> String {
    let keys = credential
        .jwks_uri
        .as_deref()
        .map_or(String::new(), |u| format!(" (keys: {u})"));
    format!(
        "{} subject {} audience {}{keys}",
        credential.issuer, credential.subject, credential.audience
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn federated_values_become_the_api_object() {
        assert_eq!(
            federated_arg(
                "issuer=https://token.actions.githubusercontent.com,subject=repo:acme/app:ref:refs/heads/*,audience=latchkey"
            ),
            Ok(
                json!({"issuer": "https://token.actions.githubusercontent.com",
                      "subject": "repo:acme/app:ref:refs/heads/*", "audience": "latchkey"})
            )
        );
        assert!(federated_arg("issuer").is_err());
        assert!(federated_arg("issuer=a,issuer=b").is_err());
        assert!(federated_arg("iss=a").is_err());
    }
}
