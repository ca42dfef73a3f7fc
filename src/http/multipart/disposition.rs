//! `Content-Disposition: form-data; name="..."; filename="..."`, and the
//! `boundary` parameter of `Content-Type`: `;`-separated parameters whose
//! values may be quoted strings.

/// The parameters after the first `;`, as (lowercased name, value) pairs;
/// quoted values unquoted (`\"` is `"`). The first item is returned apart.
pub(crate) fn split(header: &str) -> (&str, Vec<(String, String)>) {
    let (first, mut rest) = header.split_once(';').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        params.push((name, value));
    }
    (first.trim(), params)
}

/// The value of parameter `name` (lowercase) in `params`.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_values() {
        let (first, p) = split(r#"form-data; name="file"; filename="a \"b\"; c.txt""#);
        assert_eq!(first, "form-data");
        assert_eq!(param(&p, "name"), Some("file"));
        assert_eq!(param(&p, "filename"), Some(r#"a "b"; c.txt"#));
        let (first, p) = split("multipart/form-data; charset=utf-8;BOUNDARY=----x y");
        assert_eq!(first, "multipart/form-data");
        assert_eq!(param(&p, "boundary"), Some("----x y"));
        let (_, p) = split(r#"form-data; name="unterminated"#);
        assert_eq!(param(&p, "name"), Some("unterminated"));
        assert!(split("form-data").1.is_empty());
    }
}
