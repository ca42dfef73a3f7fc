use super::*;

const B: &str = "XyZ-boundary";

/// Every part as (name, filename, content), or the rejection.
type Parsed = Result<Vec<(String, Option<String>, Vec<u8>)>, Rejection>;

fn form(body: &[u8], chunk: usize) -> Multipart {
    let mut m = Multipart::new(Body::from(body.to_vec()), B);
    m.chunk = chunk;
    m
}

fn parse(body: &[u8], chunk: usize) -> Parsed {
    parse_with(form(body, chunk))
}

fn parse_with(mut m: Multipart) -> Parsed {
    let mut out = Vec::new();
    while let Some(mut p) = m.next_part()? {
        let content = p.content()?;
        out.push((p.name().to_string(), p.filename().map(str::to_string), content));
    }
    Ok(out)
}

fn sample(file: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "preamble to ignore\r\n--{B}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
         --{B}  \r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(file);
    b.extend_from_slice(format!("\r\n--{B}--\r\nepilogue").as_bytes());
    b
}

/// Content that holds near-delimiters: CRLF--, the boundary without CRLF, a prefix of it.
fn tricky() -> Vec<u8> {
    format!("x\r\n--XyZ-bound\r\n--\r\n{B}\r\n-\r\n--XyZ-boundar").into_bytes()
}

#[test]
fn parts_at_every_read_size() {
    let file = tricky();
    for chunk in [1, 2, 3, 5, 7, 13, 16, 64, CHUNK] {
        let parts = parse(&sample(&file), chunk).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
        assert_eq!(parts.len(), 2, "chunk {chunk}");
        assert_eq!(parts[0], ("title".to_string(), None, b"hello".to_vec()), "chunk {chunk}");
        assert_eq!(parts[1].1.as_deref(), Some("a.bin"));
        assert_eq!(parts[1].2, file, "chunk {chunk}");
    }
}

#[test]
fn first_boundary_at_the_very_start_and_empty_parts() {
    let body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--{B}\r\n\
         Content-Disposition: form-data; name=\"f\"\r\n\r\nz\r\n--{B}--"
    );
    let parts = parse(body.as_bytes(), 4).unwrap();
    assert_eq!(parts.iter().map(|p| (p.0.as_str(), p.2.len())).collect::<Vec<_>>(), [("e", 0), ("f", 1)]);
}

#[test]
fn unread_parts_are_skipped() {
    let mut m = form(&sample(&[7u8; 100_000]), 4096);
    let mut names = Vec::new();
    while let Some(p) = m.next_part().unwrap() {
        names.push(p.name().to_string());
    }
    assert_eq!(names, ["title", "file"]);
}

fn status(r: Parsed) -> (u16, String) {
    let e = r.expect_err("a rejection");
    (e.status().as_u16(), e.reason().to_string())
}

#[test]
fn truncated_bodies_are_400() {
    let whole = sample(b"0123456789");
    for cut in [0, 10, 25, 40, 60, 120, whole.len() - 11] {
        let (code, reason) = status(parse(&whole[..cut], 3));
        assert_eq!(code, 400, "cut {cut}: {reason}");
        assert!(reason.contains("cut short") || reason.contains("no boundary"), "cut {cut}: {reason}");
    }
}

#[test]
fn malformed_parts_are_400() {
    let no_name = format!("--{B}\r\nContent-Disposition: attachment\r\n\r\nx\r\n--{B}--");
    assert!(status(parse(no_name.as_bytes(), 64)).1.contains("has no `Content-Disposition"));
    let bad_line = format!("--{B}junk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--{B}--");
    assert_eq!(status(parse(bad_line.as_bytes(), 64)).0, 400);
    let bad_header = format!("--{B}\r\nContent Disposition: x\r\n\r\nx\r\n--{B}--");
    assert_eq!(status(parse(bad_header.as_bytes(), 64)).0, 400);
    let long = format!("--{B}\r\nX-Long: {}\r\n\r\nx\r\n--{B}--", "a".repeat(10_000));
    assert!(status(parse(long.as_bytes(), 64)).1.contains("headers longer"));
}

#[test]
fn limits_are_413() {
    let body = sample(&[1u8; 5000]);
    let (code, reason) = status(parse_with(form(&body, 512).max_part_bytes(4999)));
    assert_eq!(code, 413);
    assert!(reason.contains("part `file` larger than the 4999-byte limit"), "{reason}");
    assert!(parse_with(form(&body, 512).max_part_bytes(5000)).is_ok());
    let (code, reason) = status(parse_with(form(&body, 512).max_parts(1)));
    assert_eq!(code, 413);
    assert!(reason.contains("more than the 1 parts"), "{reason}");
    // Content-Length is known: refused before reading.
    let (code, reason) = status(parse_with(form(&body, 512).max_total_bytes(1000)));
    assert_eq!(code, 413);
    assert!(reason.contains("over the 1000-byte limit"), "{reason}");
}

#[test]
fn request_checks() {
    let req = |ct: Option<&str>| {
        let mut b = Request::builder().method("POST");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::from(sample(b"x"))).unwrap()
    };
    assert_eq!(Multipart::from_request(&mut req(None)).unwrap_err().status(), 415);
    assert_eq!(Multipart::from_request(&mut req(Some("application/json"))).unwrap_err().status(), 415);
    let e = Multipart::from_request(&mut req(Some("multipart/form-data"))).unwrap_err();
    assert_eq!((e.status().as_u16(), e.reason()), (400, "multipart/form-data without a boundary parameter"));
    let mut ok = req(Some(&format!("Multipart/Form-Data; boundary=\"{B}\"")));
    assert_eq!(parse_with(Multipart::from_request(&mut ok).unwrap()).unwrap().len(), 2);
}
