//! Which of a user's devices their owner cross-signed, read from `/keys/query` and checked:
//! the self-signing key carries a valid signature by the master key, and the device's keys a
//! valid signature by the self-signing key (Ed25519 over the spec's canonical JSON). A
//! signature the server claims but that does not verify counts as none.

use std::collections::BTreeMap;

use serde_json::{Value as JsonValue, json};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use crate::client::{Client, Method};
use crate::error::Error;
use crate::secret::AccessToken;

impl Client {
    /// `POST /keys/query` for `user_id`: each device with keys on the server, and whether
    /// its owner's self-signing key (signed by their master key) signed it.
    pub fn cross_signed_devices(
        &self,
        token: &AccessToken,
        user_id: &str,
    ) -> Result<BTreeMap<String, bool>, Error> {
        let query = json!({"device_keys": {user_id: []}});
        let answer = self.call(
            Method::Post,
            &["keys", "query"],
            Some(token),
            Some(query),
            &[],
        )?;
        Ok(cross_signed(&JsonValue::Object(answer.object), user_id))
    }
}

/// The devices of `user_id` in a `/keys/query` answer, and whether each is cross-signed.
pub fn cross_signed(answer: &JsonValue, user_id: &str) -> BTreeMap<String, bool> {
    let self_signing = only_key(&answer["master_keys"][user_id]).and_then(|(id, master)| {
        let ssk = &answer["self_signing_keys"][user_id];
        signed_by(ssk, user_id, &id, &master).then(|| only_key(ssk))?
    });
    answer["device_keys"][user_id]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(device_id, keys)| {
            let signed = self_signing
                .as_ref()
                .is_some_and(|(id, key)| signed_by(keys, user_id, id, key));
            (device_id.clone(), signed)
        })
        .collect()
}

/// The one key of a cross-signing key: its ID (`ed25519:<key>`) and the key.
fn only_key(key: &JsonValue) -> Option<(String, String)> {
    let keys = key["keys"].as_object()?;
    let (id, value) = keys.iter().next()?;
    Some((id.clone(), value.as_str()?.to_owned()))
}

/// Whether `signed` carries a valid signature of `user_id`'s key `key_id` (`public_key`).
fn signed_by(signed: &JsonValue, user_id: &str, key_id: &str, public_key: &str) -> bool {
    let Some(signature) = signed["signatures"][user_id][key_id].as_str() else {
        return false;
    };
    let mut message = signed.clone();
    if let Some(object) = message.as_object_mut() {
        object.remove("signatures");
        object.remove("unsigned");
    }
    let Ok(canonical) = ruma::canonical_json::to_canonical_value(&message) else {
        return false;
    };
    let (Ok(key), Ok(signature)) = (
        Ed25519PublicKey::from_base64(public_key),
        Ed25519Signature::from_base64(signature),
    ) else {
        return false;
    };
    key.verify(canonical.to_string().as_bytes(), &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use vodozemac::Ed25519SecretKey;

    use super::*;

    fn sign(key: &Ed25519SecretKey, object: &JsonValue) -> String {
        let canonical = ruma::canonical_json::to_canonical_value(object)
            .unwrap()
            .to_string();
        key.sign(canonical.as_bytes()).to_base64()
    }

    #[test]
    fn a_chain_of_valid_signatures_is_cross_signed_and_a_forged_one_is_not() {
        let (master, ssk, device) = (
            Ed25519SecretKey::new(),
            Ed25519SecretKey::new(),
            Ed25519SecretKey::new(),
        );
        let master_id = format!("ed25519:{}", master.public_key().to_base64());
        let ssk_id = format!("ed25519:{}", ssk.public_key().to_base64());
        let mut self_signing = json!({"user_id": "@b:x", "usage": ["self_signing"],
            "keys": {&ssk_id: ssk.public_key().to_base64()}});
        let signature = sign(&master, &self_signing);
        self_signing["signatures"] = json!({"@b:x": {&master_id: signature}});
        let keys = |name: &str| {
            json!({"user_id": "@b:x", "device_id": name,
            "keys": {format!("ed25519:{name}"): device.public_key().to_base64()}})
        };
        let mut good = keys("GOOD");
        let signature = sign(&ssk, &good);
        good["signatures"] = json!({"@b:x": {&ssk_id: signature}});
        let mut forged = keys("FORGED");
        forged["signatures"] = json!({"@b:x": {&ssk_id: sign(&device, &forged)}});
        let answer = json!({
            "master_keys": {"@b:x": {"user_id": "@b:x", "usage": ["master"],
                "keys": {&master_id: master.public_key().to_base64()}}},
            "self_signing_keys": {"@b:x": self_signing},
            "device_keys": {"@b:x": {"GOOD": good, "FORGED": forged, "PLAIN": keys("PLAIN")}},
        });
        let signed = cross_signed(&answer, "@b:x");
        assert!(signed["GOOD"]);
        assert!(!signed["FORGED"]);
        assert!(!signed["PLAIN"]);
        let mut no_master = answer.clone();
        no_master["master_keys"] = json!({});
        assert!(!cross_signed(&no_master, "@b:x")["GOOD"]);
    }
}
