//! JSON to Nushell values and back, for `matrix api`.

use nu_protocol::{LabeledError, Record, Span, Value};
use serde_json::{Map, Number, Value as JsonValue};

/// A JSON value as Nushell data: objects become records, arrays lists; integers that do not
/// fit an `int` become floats.
pub(crate) fn to_value(json: JsonValue, span: Span) -> Value {
    match json {
        JsonValue::Null => Value::nothing(span),
        JsonValue::Bool(b) => Value::bool(b, span),
        JsonValue::Number(n) => match n.as_i64() {
            Some(int) => Value::int(int, span),
            None => Value::float(n.as_f64().unwrap_or(f64::NAN), span),
        },
        JsonValue::String(text) => Value::string(text, span),
        JsonValue::Array(items) => Value::list(
            items.into_iter().map(|item| to_value(item, span)).collect(),
            span,
        ),
        JsonValue::Object(object) => {
            let mut record = Record::with_capacity(object.len());
            for (key, value) in object {
                record.push(key, to_value(value, span));
            }
            Value::record(record, span)
        }
    }
}

/// Nushell data as JSON: records, lists, strings, numbers, booleans and nothing; dates as RFC
/// 3339 text. Token values are refused: their real text must not end up in a request body by
/// accident, and their masked text is useless there.
pub(crate) fn from_value(value: &Value) -> Result<JsonValue, LabeledError> {
    let refuse = |what: &str| {
        LabeledError::new(format!("Cannot send {what} as JSON"))
            .with_label(format!("this is {}", value.get_type()), value.span())
            .with_help("use records, lists, strings, numbers, booleans and nothing")
    };
    Ok(match value {
        Value::Nothing { .. } => JsonValue::Null,
        Value::Bool { val, .. } => JsonValue::Bool(*val),
        Value::Int { val, .. } => JsonValue::from(*val),
        Value::Float { val, .. } => Number::from_f64(*val)
            .map(JsonValue::Number)
            .ok_or_else(|| refuse("a float that is not a number"))?,
        Value::String { val, .. } => JsonValue::String(val.clone()),
        Value::Date { val, .. } => JsonValue::String(val.to_rfc3339()),
        Value::List { vals, .. } => {
            JsonValue::Array(vals.iter().map(from_value).collect::<Result<_, _>>()?)
        }
        Value::Record { val, .. } => {
            let mut object = Map::new();
            for (key, item) in val.iter() {
                object.insert(key.clone(), from_value(item)?);
            }
            JsonValue::Object(object)
        }
        Value::Custom { .. } => {
            return Err(
                LabeledError::new("A token value cannot go into a request body")
                    .with_label("a token value", value.span())
                    .with_help(
                        "the session's token already goes in the Authorization header; if the \
                     endpoint really wants a token in its body, reveal it explicitly with \
                     `matrix token reveal`",
                    ),
            );
        }
        _ => return Err(refuse("this value")),
    })
}
