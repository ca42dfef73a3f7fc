//! Python peers: the packages the Python test clients import.

use std::process::Command;
use std::sync::Once;

/// Makes sure Python's `websockets` package (the WebSocket client of the
/// Python peers) is importable, pip-installing it once per test binary.
pub fn python_has_websockets() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = Command::new("python3").args(["-c", "import websockets"]).status().is_ok_and(|s| s.success());
        if !ok {
            let s = Command::new("python3").args(["-m", "pip", "install", "-q", "websockets"]).status().unwrap();
            assert!(s.success(), "pip install websockets failed");
        }
    });
}

/// Makes sure Python's `h2` package (the HTTP/2 peer of the HTTP/2 tests)
/// is importable, pip-installing it once per test binary.
pub fn python_has_h2() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = Command::new("python3").args(["-c", "import h2"]).status().is_ok_and(|s| s.success());
        if !ok {
            let s = Command::new("python3").args(["-m", "pip", "install", "-q", "h2"]).status().unwrap();
            assert!(s.success(), "pip install h2 failed");
        }
    });
}
