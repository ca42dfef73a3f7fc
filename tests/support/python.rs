//! Python peers: the packages the Python test clients import, and running a script.

use std::process::Command;

/// Makes sure Python can import `module` (from the pip package `package`),
/// pip-installing it once per test binary when missing. One install at a
/// time: two pip runs at once can break each other.
pub fn python_has(module: &str, package: &str) {
    static DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.iter().any(|m| m == module) {
        return;
    }
    let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        let pip = |extra: &[&str]| {
            Command::new("python3").args(["-m", "pip", "install", "-q"]).args(extra).arg(package).status()
        };
        // A system Python (Debian's) refuses plain `pip install` outside a venv.
        let installed =
            pip(&[]).is_ok_and(|s| s.success()) || pip(&["--break-system-packages"]).is_ok_and(|s| s.success());
        assert!(installed, "pip install {package} failed");
    }
    done.push(module.to_owned());
}

/// Python's `websockets` package: the WebSocket client of the Python peers.
pub fn python_has_websockets() {
    python_has("websockets", "websockets");
}

/// Python's `requests` package: the HTTP client of the web tests' Python peers.
pub fn python_has_requests() {
    python_has("requests", "requests");
}

/// Python's `h2` package: the HTTP/2 peer of the HTTP/2 tests.
pub fn python_has_h2() {
    python_has("h2", "h2");
}

/// Runs `script` with `python3 -c`, `args` as `sys.argv[1:]`; its stdout,
/// after asserting it succeeded (its stderr in the failure message).
pub fn run(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python3 failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
