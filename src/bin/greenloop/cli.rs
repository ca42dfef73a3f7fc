//! Command-line parsing for the demo binary (small enough to do by hand).

use std::time::Duration;

pub const USAGE: &str = "\
greenloop: a demo server for the greenloop green-thread runtime

USAGE:
    greenloop [OPTIONS]

OPTIONS:
    --bind ADDR              TCP address to serve on [default: 127.0.0.1:8000]
    --unix PATH              serve on a Unix socket instead (for nginx proxy_pass http://unix:PATH)
    --workers N              worker threads, each with its own loop [default: 1]
    --quiet                  no access log
    --max-body BYTES         largest request body [default: 16777216]
    --max-connections N      connections served at once per worker [default: 10000]
    --header-timeout SECS    time allowed to send a request head [default: 10]
    --idle-timeout SECS      keep-alive idle time [default: 60]
    --stack-size BYTES       green-thread stack size [default: 262144]
    -h, --help               this text
    -V, --version            the version

ENVIRONMENT:
    GREENLOOP_LOG            log level: error, warn, info, debug, trace, off [default: info]

Routes: open http://127.0.0.1:8000/ for the list.
";

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    pub bind: String,
    pub unix: Option<String>,
    pub workers: usize,
    pub quiet: bool,
    pub max_body: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub stack_size: Option<usize>,
}

/// What to do.
pub enum Command {
    Serve(Options),
    Help,
    Version,
}

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut o = Options {
        bind: "127.0.0.1:8000".into(),
        unix: None,
        workers: 1,
        quiet: false,
        max_body: None,
        max_connections: None,
        header_timeout: None,
        idle_timeout: None,
        stack_size: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--bind" => o.bind = value("--bind")?,
            "--unix" => o.unix = Some(value("--unix")?),
            "--workers" => o.workers = number(&flag, &value(&flag)?, 1, 1024)?,
            "--quiet" | "-q" => o.quiet = true,
            "--max-body" => o.max_body = Some(number(&flag, &value(&flag)?, 0, u64::MAX as usize)? as u64),
            "--max-connections" => o.max_connections = Some(number(&flag, &value(&flag)?, 1, 10_000_000)?),
            "--header-timeout" => o.header_timeout = Some(seconds(&flag, &value(&flag)?)?),
            "--idle-timeout" => o.idle_timeout = Some(seconds(&flag, &value(&flag)?)?),
            "--stack-size" => o.stack_size = Some(number(&flag, &value(&flag)?, 16 * 1024, 1 << 30)?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Command::Serve(o))
}

fn number(flag: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v.trim().parse().map_err(|_| format!("{flag}: {v:?} is not a whole number"))?;
    if n < min || n > max {
        return Err(format!("{flag}: {n} is out of range ({min}..={max})"));
    }
    Ok(n)
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v.trim().parse().map_err(|_| format!("{flag}: {v:?} is not a number of seconds"))?;
    if !(s > 0.0 && s <= 86_400.0) {
        return Err(format!("{flag}: {s} is out of range (0..=86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| s.to_string())) {
            Ok(Command::Serve(o)) => o,
            _ => panic!("expected serve options"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse_ok(&[]);
        assert_eq!(o.bind, "127.0.0.1:8000");
        assert_eq!(o.workers, 1);
        let o = parse_ok(&["--bind", "0.0.0.0:9000", "--workers=2", "--quiet", "--idle-timeout", "1.5"]);
        assert_eq!(o.bind, "0.0.0.0:9000");
        assert_eq!(o.workers, 2);
        assert!(o.quiet);
        assert_eq!(o.idle_timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = |a: &[&str]| parse(a.iter().map(|s| s.to_string())).err().unwrap();
        assert!(err(&["--workers", "zero"]).contains("not a whole number"));
        assert!(err(&["--workers", "0"]).contains("out of range"));
        assert!(err(&["--bind"]).contains("needs a value"));
        assert!(err(&["--frobnicate"]).contains("unknown option"));
        assert!(err(&["--idle-timeout", "-3"]).contains("out of range"));
    }
}
