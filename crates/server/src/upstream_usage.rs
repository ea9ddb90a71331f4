//! What the gateway reads of an OpenAI-compatible upstream's answers: the `usage` of a whole
//! answer, and of each streamed chunk whether it carries usage and whether it is the usage chunk
//! alone. Read as types, the rest of the answer skipped: building it into a `serde_json::Value`
//! (an ordered map per object, each key hashed) cost more than the rest of a call's own JSON work.
//!
//! Upstreams differ in what they put there, and a call's answer must not be lost to it: a count
//! that is not a whole number (null, a string, a fraction) counts as 0, `prompt_tokens_details`
//! may be missing, null or not an object, and a `usage` that is not an object is no usage.

use std::fmt;

use modelgate_core::gateway::Tokens;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de};

/// The usage of a whole answer; `None` when it has none (or is not a JSON object).
pub fn of_answer(body: &[u8]) -> Option<Tokens> {
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    object.then(|| serde_json::from_slice::<Answer>(body).ok()).flatten()?.usage.0
}

/// The counts of a `usage` already parsed (Anthropic's answers, translated), read as an
/// upstream's are; `None` when it is not an object.
pub fn of_usage(usage: &serde_json::Value) -> Option<Tokens> {
    Usage::deserialize(usage).ok()?.0
}

/// A streamed event's (`data: {…}`) usage, if it has one, and whether it is the usage chunk
/// alone (its `choices` an empty list).
pub fn of_event(event: &[u8]) -> (Option<Tokens>, bool) {
    let Some(data) = event_data(event) else { return (None, false) };
    match serde_json::from_slice::<Chunk>(data) {
        Ok(Chunk { usage: Usage(Some(tokens)), choices }) => (Some(tokens), choices.0),
        _ => (None, false),
    }
}

/// The data of an event's first `data:` line.
fn event_data(event: &[u8]) -> Option<&[u8]> {
    event.split(|b| *b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let data = line.strip_prefix(b"data:")?;
        Some(data.trim_ascii())
    })
}

/// Visitor methods that take what a field may hold besides what is read as `$value`: scalars,
/// and lists or objects (skipped whole).
macro_rules! others_as {
    ($ty:ty, $value:expr; scalars) => {
        fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<$ty, E> {
            Ok($value)
        }
    };
    ($ty:ty, $value:expr; integers) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$ty, E> {
            Ok($value)
        }
    };
    ($ty:ty, $value:expr; seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$ty, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
    ($ty:ty, $value:expr; map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    usage: Usage,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    usage: Usage,
    #[serde(default)]
    choices: NoChoices,
}

/// `usage`: its counts when it is an object.
#[derive(Default)]
struct Usage(Option<Tokens>);

/// Whether `choices` is an empty list (a missing one is not: such a chunk is passed on).
#[derive(Default)]
struct NoChoices(bool);

/// A token count: a whole number, else 0.
#[derive(Default)]
struct Count(i64);

impl<'de> Deserialize<'de> for Usage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = Usage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a usage object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Usage, A::Error> {
                let mut tokens = Tokens::default();
                while let Some(name) = map.next_key::<Name>()? {
                    match name.0 {
                        "prompt_tokens" => tokens.prompt = map.next_value::<Count>()?.0,
                        "completion_tokens" => tokens.completion = map.next_value::<Count>()?.0,
                        "prompt_tokens_details" => tokens.cached = map.next_value::<Cached>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Usage(Some(tokens)))
            }
            others_as!(Usage, Usage(None); seq);
            others_as!(Usage, Usage(None); scalars);
            others_as!(Usage, Usage(None); integers);
        }
        deserializer.deserialize_any(Counts)
    }
}

/// `prompt_tokens_details`: its `cached_tokens` when it is an object, else 0.
struct Cached(i64);

impl<'de> Deserialize<'de> for Cached {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Details;
        impl<'de> Visitor<'de> for Details {
            type Value = Cached;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("prompt token details")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cached, A::Error> {
                let mut cached = 0;
                while let Some(name) = map.next_key::<Name>()? {
                    match name.0 {
                        "cached_tokens" => cached = map.next_value::<Count>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Cached(cached))
            }
            others_as!(Cached, Cached(0); seq);
            others_as!(Cached, Cached(0); scalars);
            others_as!(Cached, Cached(0); integers);
        }
        deserializer.deserialize_any(Details)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl<'de> Visitor<'de> for Number {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_i64<E: de::Error>(self, count: i64) -> Result<Count, E> {
                Ok(Count(count))
            }
            fn visit_u64<E: de::Error>(self, count: u64) -> Result<Count, E> {
                Ok(Count(i64::try_from(count).unwrap_or(i64::MAX)))
            }
            others_as!(Count, Count(0); scalars);
            others_as!(Count, Count(0); seq);
            others_as!(Count, Count(0); map);
        }
        deserializer.deserialize_any(Number)
    }
}

impl<'de> Deserialize<'de> for NoChoices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Choices;
        impl<'de> Visitor<'de> for Choices {
            type Value = NoChoices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoChoices, A::Error> {
                let empty = seq.next_element::<IgnoredAny>()?.is_none();
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(NoChoices(empty))
            }
            others_as!(NoChoices, NoChoices(false); map);
            others_as!(NoChoices, NoChoices(false); scalars);
            others_as!(NoChoices, NoChoices(false); integers);
        }
        deserializer.deserialize_any(Choices)
    }
}

/// The names read here; an object's key is one of them or, as `""`, any other.
const NAMES: [&str; 4] =
    ["prompt_tokens", "completion_tokens", "prompt_tokens_details", "cached_tokens"];

/// An object's key, as one of [`NAMES`] (nothing allocated for it).
struct Name(&'static str);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Name, E> {
                Ok(Name(NAMES.into_iter().find(|name| *name == key).unwrap_or("")))
            }
        }
        deserializer.deserialize_str(Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(prompt: i64, completion: i64, cached: i64) -> Option<Tokens> {
        Some(Tokens { prompt, completion, cached })
    }

    #[test]
    fn an_answers_usage_is_read_and_the_rest_skipped() {
        let answer = br#"{"id":"x","choices":[{"message":{"content":"a \"quoted\" {usage}"}}],
            "usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,
            "prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":2}}}"#;
        assert_eq!(of_answer(answer), tokens(12, 5, 4));
        assert_eq!(of_answer(br#"{"usage":{"prompt_tokens":3}}"#), tokens(3, 0, 0));
    }

    #[test]
    fn odd_counts_count_as_zero_and_odd_usage_as_none() {
        let odd = br#"{"usage":{"prompt_tokens":null,"completion_tokens":"7",
            "prompt_tokens_details":null,"extra":[1,{"a":2}]}}"#;
        assert_eq!(of_answer(odd), tokens(0, 0, 0));
        let fraction = br#"{"usage":{"prompt_tokens":2.5,"completion_tokens":[1],
            "prompt_tokens_details":7}}"#;
        assert_eq!(of_answer(fraction), tokens(0, 0, 0));
        for none in [&br#"{"usage":null}"#[..], br#"{"usage":[1]}"#, br#"{"usage":"n"}"#, b"{}"] {
            assert_eq!(of_answer(none), None, "{}", String::from_utf8_lossy(none));
        }
        for not_json in [&b"[1]"[..], b"plain text", b"", b"{\"usage\":"] {
            assert_eq!(of_answer(not_json), None);
        }
    }

    #[test]
    fn a_parsed_usage_is_read_as_the_text_is() {
        let usage = serde_json::json!({ "prompt_tokens": 12, "completion_tokens": null,
            "prompt_tokens_details": { "cached_tokens": 4 } });
        assert_eq!(of_usage(&usage), tokens(12, 0, 4));
        assert_eq!(of_usage(&serde_json::Value::Null), None);
        assert_eq!(of_usage(&serde_json::json!([1])), None);
    }

    #[test]
    fn a_usage_key_written_with_escapes_is_read() {
        assert_eq!(of_answer(br#"{"usage":{"prompt\u005ftokens":9}}"#), tokens(9, 0, 0));
    }

    #[test]
    fn an_events_usage_and_whether_it_is_the_usage_chunk_alone() {
        let usage_only = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n";
        assert_eq!(of_event(usage_only), (tokens(3, 0, 0), true));
        let last_words =
            b"data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"completion_tokens\":2}}\r\n\r\n";
        assert_eq!(of_event(last_words), (tokens(0, 2, 0), false));
        assert_eq!(
            of_event(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n"),
            (None, false)
        );
        assert_eq!(of_event(b"data: [DONE]\n\n"), (None, false));
        assert_eq!(of_event(b": keep-alive\n\n"), (None, false));
        assert_eq!(of_event(b"event: x\ndata:{\"usage\":{}}\n\n"), (tokens(0, 0, 0), false));
    }
}
