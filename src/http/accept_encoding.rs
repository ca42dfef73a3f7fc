//! `Accept-Encoding` read into the preference a client gives each content
//! coding the server can produce (RFC 9110, section 12.5.3): shared by the
//! file server (precompressed siblings) and the compression middleware.

#[cfg(any(feature = "static-files", test))]
use http::{HeaderMap, header::ACCEPT_ENCODING};

/// A content coding the server produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    Br,
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    Zstd,
    Gzip,
}

impl Coding {
    /// The token in `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }
}

/// The weight (`q`, in thousandths) a request gives each coding; 0 means
/// refused. Without an `Accept-Encoding` field every coding is 0: only
/// identity is sent (what servers do in practice, though RFC 9110 would
/// allow any coding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    br: u16,
    zstd: u16,
    gzip: u16,
}

impl Accepted {
    /// Reads every `Accept-Encoding` field of `headers`. An entry naming a
    /// coding wins over `*`, whatever their order; a malformed `q` makes the
    /// entry count as refused.
    #[cfg(any(feature = "static-files", test))]
    pub(crate) fn from_headers(headers: &HeaderMap) -> Accepted {
        Accepted::from_values(headers.get_all(ACCEPT_ENCODING).iter().map(|v| v.as_bytes()))
    }

    /// The same, from the values of every `Accept-Encoding` field.
    pub(crate) fn from_values<'a>(values: impl Iterator<Item = &'a [u8]>) -> Accepted {
        let mut named: [Option<u16>; 3] = [None; 3];
        let mut star: Option<u16> = None;
        for value in values {
            let Ok(value) = std::str::from_utf8(value) else { continue };
            for entry in value.split(',') {
                let mut parts = entry.split(';');
                let token = parts.next().unwrap_or("").trim();
                if token.is_empty() {
                    continue;
                }
                let mut q = 1000;
                for param in parts {
                    if let Some((k, v)) = param.split_once('=')
                        && k.trim().eq_ignore_ascii_case("q")
                    {
                        q = parse_q(v.trim()).unwrap_or(0);
                    }
                }
                let slot = if token.eq_ignore_ascii_case("br") {
                    Some(0)
                } else if token.eq_ignore_ascii_case("zstd") {
                    Some(1)
                } else if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                    Some(2)
                } else if token == "*" {
                    star = Some(q);
                    None
                } else {
                    None
                };
                if let Some(i) = slot {
                    // Repeated entries: the most generous counts.
                    named[i] = Some(named[i].map_or(q, |old| old.max(q)));
                }
            }
        }
        let pick = |i: usize| named[i].or(star).unwrap_or(0);
        Accepted { br: pick(0), zstd: pick(1), gzip: pick(2) }
    }

    /// The weight of `coding` (0: refused).
    pub(crate) fn q(&self, coding: Coding) -> u16 {
        match coding {
            Coding::Br => self.br,
            Coding::Zstd => self.zstd,
            Coding::Gzip => self.gzip,
        }
    }

    /// Of `offered` (in the server's order of preference), the coding the
    /// client weighs highest; ties go to the earlier. `None` when it refuses all.
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(crate) fn best(&self, offered: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &c in offered {
            let q = self.q(c);
            if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((c, q));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// `q` as thousandths: `0`, `1`, `0.5`, `1.000` (at most three decimals).
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(v: &str) -> Accepted {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, v.parse().unwrap());
        Accepted::from_headers(&h)
    }

    #[test]
    fn weights() {
        let a = accepted("gzip, deflate, br;q=0.5, zstd;q=0");
        assert_eq!((a.br, a.zstd, a.gzip), (500, 0, 1000));
        assert_eq!(a.best(&[Coding::Zstd, Coding::Br, Coding::Gzip]), Some(Coding::Gzip));
    }

    #[test]
    fn star_covers_unnamed_only() {
        let a = accepted("*;q=0.3, gzip;q=0");
        assert_eq!((a.br, a.zstd, a.gzip), (300, 300, 0));
        assert_eq!(accepted("identity").best(&[Coding::Gzip]), None);
        assert_eq!(accepted("*;q=0").best(&[Coding::Gzip, Coding::Br]), None);
    }

    #[test]
    fn ties_follow_the_server_order() {
        let a = accepted("gzip, br, zstd");
        assert_eq!(a.best(&[Coding::Zstd, Coding::Br, Coding::Gzip]), Some(Coding::Zstd));
        assert_eq!(a.best(&[Coding::Br, Coding::Gzip]), Some(Coding::Br));
    }

    #[test]
    fn malformed_q_refuses() {
        assert_eq!(parse_q("0.25"), Some(250));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(accepted("gzip;q=abc").gzip, 0);
        assert_eq!(accepted("X-GZIP").gzip, 1000);
        assert_eq!(Accepted::from_headers(&HeaderMap::new()), Accepted::default());
    }
}
