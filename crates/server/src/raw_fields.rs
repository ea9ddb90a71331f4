//! A JSON object's top-level fields, each value kept as the text it came as. The gateway reads
//! and sets a few fields of a request (`model`, `stream`, the model's parameters, the system
//! prompt) and passes the rest on: a conversation is checked as JSON once and copied, never
//! built into a tree of maps and strings and written out again. Numbers and strings the gateway
//! does not touch reach the upstream exactly as the caller wrote them.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

/// The fields in their order; a name given twice keeps its last value, as `serde_json::Value`
/// does. Looked up by scanning: a request has a handful.
#[derive(Debug, Default)]
pub struct RawFields(Vec<(String, Box<RawValue>)>);

impl RawFields {
    /// The fields of a JSON object; `None` when `body` is not one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| &**value)
    }

    /// A field read as `T`; `None` when it is missing or is not one.
    pub fn read<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        serde_json::from_str(self.get(name)?.get()).ok()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value` written as JSON, in its place if it is there, else last.
    pub fn set(&mut self, name: &str, value: &impl Serialize) {
        // Only a type whose `Serialize` fails (a map with non-string keys) fails here; none is
        // given one.
        let Ok(value) = serde_json::value::to_raw_value(value) else { return };
        self.set_raw(name, value);
    }

    pub fn set_raw(&mut self, name: &str, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(key, _)| key == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(key, _)| key != name);
    }

    /// The fields as a `serde_json` map (each value parsed), for what must rewrite the request.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), serde_json::from_str(value.get()).ok()?)))
            .collect()
    }
}

impl Serialize for RawFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = RawFields(Vec::with_capacity(map.size_hint().unwrap_or(8)));
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.set_raw(&key, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_pass_through_as_written_and_in_order() {
        let body = br#"{"model":"a","messages":[{"role":"user","content":"x\u00e9"}],"n":1.50,"big":1e400}"#;
        let mut fields = RawFields::parse(body).unwrap();
        assert_eq!(fields.read::<String>("model").as_deref(), Some("a"));
        fields.set("model", &"b");
        fields.set("temperature", &json!(0.2));
        let written = String::from_utf8(serde_json::to_vec(&fields).unwrap()).unwrap();
        assert_eq!(
            written,
            r#"{"model":"b","messages":[{"role":"user","content":"x\u00e9"}],"n":1.50,"big":1e400,"temperature":0.2}"#
        );
    }

    #[test]
    fn a_repeated_name_keeps_its_last_value_in_its_first_place() {
        let fields = RawFields::parse(br#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(serde_json::to_string(&fields).unwrap(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn only_json_objects_are_read() {
        for refused in [&b"[1]"[..], b"\"s\"", b"{\"a\":}", b"{} x", b"", b"{\"a\":1"] {
            assert!(RawFields::parse(refused).is_none(), "{}", String::from_utf8_lossy(refused));
        }
        let mut fields = RawFields::parse(b" { } ").unwrap();
        assert!(!fields.contains("model"));
        fields.remove("model");
        assert_eq!(fields.read::<bool>("stream"), None);
        assert_eq!(fields.to_map(), serde_json::Map::new());
    }
}
