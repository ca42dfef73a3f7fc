//! Converting replies into Rust types: one reply ([`FromValue`]), or a
//! pipeline's replies into a `Vec` or a tuple ([`FromReplies`]).

use super::error::{Error, ErrorKind};
use super::resp::Value;

/// A type a reply converts into.
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: Value) -> Result<Self, Error>;
}

fn type_error(v: &Value, want: &str) -> Error {
    match v {
        Value::Error(e) => Error::new(ErrorKind::Server, format!("Redis error: {e}")),
        _ => Error::new(ErrorKind::Type, format!("Redis replied {v:?}, expected {want}")),
    }
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, Error> {
        match v {
            Value::Error(e) => Err(Error::new(ErrorKind::Server, format!("Redis error: {e}"))),
            v => Ok(v),
        }
    }
}
impl FromValue for () {
    fn from_value(v: Value) -> Result<(), Error> {
        Value::from_value(v).map(|_| ())
    }
}
impl FromValue for i64 {
    fn from_value(v: Value) -> Result<i64, Error> {
        match &v {
            Value::Int(i) => Ok(*i),
            Value::Data(d) => {
                std::str::from_utf8(d).ok().and_then(|s| s.parse().ok()).ok_or_else(|| type_error(&v, "an integer"))
            }
            _ => Err(type_error(&v, "an integer")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Vec<u8>, Error> {
        match v {
            Value::Data(d) => Ok(d),
            Value::Status(s) => Ok(s.into_bytes()),
            Value::Int(i) => Ok(i.to_string().into_bytes()),
            v => Err(type_error(&v, "a string")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: Value) -> Result<String, Error> {
        let bytes = Vec::<u8>::from_value(v)?;
        String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::Type, "Redis replied bytes that are not UTF-8"))
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, Error> {
        match v {
            Value::Nil => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}
impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: Value) -> Result<Vec<T>, Error> {
        match v {
            Value::Array(items) => items.into_iter().map(T::from_value).collect(),
            v => Err(type_error(&v, "an array")),
        }
    }
}

/// Replies of a pipeline, converted one by one.
pub trait FromReplies: Sized {
    /// Converts `n` replies.
    fn from_replies(replies: Vec<Value>) -> Result<Self, Error>;
}
impl<T: FromValue> FromReplies for Vec<T> {
    fn from_replies(replies: Vec<Value>) -> Result<Vec<T>, Error> {
        replies.into_iter().map(T::from_value).collect()
    }
}
macro_rules! tuple_replies {
    ($n:literal: $($t:ident),*) => {
        impl<$($t: FromValue),*> FromReplies for ($($t,)*) {
            fn from_replies(replies: Vec<Value>) -> Result<Self, Error> {
                if replies.len() != $n {
                    return Err(Error::new(ErrorKind::Type, format!("{} replies for a tuple of {}", replies.len(), $n)));
                }
                let mut it = replies.into_iter();
                Ok(($($t::from_value(it.next().expect("length checked"))?,)*))
            }
        }
    };
}
tuple_replies!(1: A);
tuple_replies!(2: A, B);
tuple_replies!(3: A, B, C);
tuple_replies!(4: A, B, C, D);
