use http::{StatusCode, header};

use super::into::{BINARY, TEXT};
use super::*;

fn field_names(r: &Response) -> Vec<(String, String)> {
    r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string())).collect()
}

#[test]
fn a_typed_answer_makes_no_map_until_asked() {
    let r = "hi".into_response();
    assert!(r.headers.get().is_none());
    // Written as it is: the type alone.
    match r.into_written().fields {
        Fields::Typed(Some(t)) => assert_eq!(t, &TEXT),
        _ => panic!("a map was made"),
    }
    // Asked for, the map holds the type.
    let r = vec![1u8].into_response();
    assert_eq!(field_names(&r), [("content-type".to_string(), "application/octet-stream".to_string())]);
    match r.into_written().fields {
        Fields::Map(map) => assert_eq!(map[header::CONTENT_TYPE], BINARY),
        Fields::Typed(_) => panic!("the map made by headers() was dropped"),
    }
}

#[test]
fn a_change_to_the_map_is_what_is_written() {
    // The type removed: none is written (not the one the conversion gave).
    let mut r = "hi".into_response();
    r.headers_mut().remove(header::CONTENT_TYPE);
    match r.into_written().fields {
        Fields::Map(map) => assert!(map.is_empty()),
        Fields::Typed(_) => panic!("the map was dropped"),
    }
    // Replaced: the new one.
    let mut r = "hi".into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    assert_eq!(field_names(&r), [("content-type".to_string(), "text/csv".to_string())]);
}

#[test]
fn a_recycled_map_starts_the_next_response_afresh() {
    let mut r = "x".into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.into_written().fields.recycle();
    assert!(map_pool::spare_count() >= 1);
    let r = vec![0u8].into_response();
    assert_eq!(field_names(&r), [("content-type".to_string(), "application/octet-stream".to_string())]);
    let r = Response::new(ResponseBody::empty());
    assert!(r.headers().is_empty());
}

#[test]
fn a_map_that_held_many_values_is_not_kept() {
    let before = map_pool::spare_count();
    let mut r = "x".into_response();
    for i in 0..40 {
        r.headers_mut().append(header::SET_COOKIE, HeaderValue::from(i));
    }
    r.into_written().fields.recycle();
    assert_eq!(map_pool::spare_count(), before);
}

#[test]
fn map_replaces_the_body_and_keeps_the_rest() {
    let mut r = (StatusCode::CREATED, "abc").into_response();
    r.extensions_mut().insert(1u8);
    let r = r.map(|b| ResponseBody::from(format!("{}!", b.len().unwrap_or(0))));
    assert_eq!((r.status(), r.body().as_bytes()), (StatusCode::CREATED, Some(&b"3!"[..])));
    assert_eq!(r.headers()[header::CONTENT_TYPE], TEXT);
    assert_eq!(r.extensions().get::<u8>(), Some(&1));
}

#[test]
fn the_pool_keeps_a_bounded_number_of_maps() {
    for _ in 0..40 {
        let mut r = "a".into_response();
        r.headers_mut();
        r.into_written().fields.recycle();
    }
    let maps: Vec<_> = (0..40).map(|_| map_pool::take()).collect();
    assert!(maps.iter().all(|m| m.is_empty()));
    for m in maps {
        map_pool::give(m);
    }
    assert!(map_pool::spare_count() <= 16, "{}", map_pool::spare_count());
}

#[test]
fn http_types_convert_both_ways() {
    let mut r = (StatusCode::ACCEPTED, "queued").into_response();
    r.extensions_mut().insert(7u32);
    *r.version_mut() = http::Version::HTTP_10;
    let h: http::Response<ResponseBody> = r.into();
    assert_eq!(h.status(), StatusCode::ACCEPTED);
    assert_eq!(h.version(), http::Version::HTTP_10);
    assert_eq!(h.headers()[header::CONTENT_TYPE], TEXT);
    assert_eq!(h.extensions().get::<u32>(), Some(&7));
    let back = Response::from(h);
    assert_eq!(back.status(), StatusCode::ACCEPTED);
    assert_eq!(back.extensions().get::<u32>(), Some(&7));
    assert_eq!(back.body().as_bytes(), Some(&b"queued"[..]));
    let (parts, body) = back.into_parts();
    assert_eq!(parts.headers.len(), 1);
    assert_eq!(body.len(), Some(6));
}

#[test]
fn the_builder_reports_an_invalid_part() {
    assert!(Response::builder().status(1000).body(ResponseBody::empty()).is_err());
    assert!(Response::builder().header("bad name", "v").body(()).is_err());
    let r = Response::builder().status(201).header("x-a", "1").extension(5u8).body("made").unwrap();
    assert_eq!(
        (r.status(), r.headers()["x-a"].as_bytes(), r.extensions().get::<u8>()),
        (StatusCode::CREATED, &b"1"[..], Some(&5))
    );
}
