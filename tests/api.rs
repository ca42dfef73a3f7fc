//! Which public types may cross OS threads, pinned at compile time.
//!
//! A green thread, its sockets and its join handle belong to the loop that
//! made them: they must stay `!Send`, or safe code could move a socket
//! registered with one loop's `mio::Poll` to another thread. What a program
//! builds before its workers start (a `Server`, a `Router`), and what wakes
//! a loop from outside (a `Handle`, an `Unparker`, the sync primitives), must
//! stay `Send + Sync`. A change to either list is an API change: this file
//! stops compiling, and whoever changed it says why here.

use greenloop::http::client::{Builder as ClientBuilder, ClientResponse, RequestBuilder};
use greenloop::http::middleware::{AccessLog, Timing};
use greenloop::http::{
    App, Body, Client, ConnInfo, Limits, MethodRouter, Next, Params, Request, Response, ResponseBody, Router,
    RunningServer, Server, ShutdownHandle,
};
use greenloop::inspect::{GreenThread, ThreadState, WaitReason};
use greenloop::net::{Incoming, TcpListener, TcpStream, UnixListener, UnixStream};
use greenloop::park::{Unparker, Wake};
use greenloop::sync::channel::{Receiver, Sender};
use greenloop::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit, oneshot};
use greenloop::watchdog::Incident;
use greenloop::{Builder, CallLater, Elapsed, Handle, JoinError, JoinHandle, LocalKey, RemoteJoinHandle, Runtime};

/// Compiles only if every listed type implements the trait.
macro_rules! assert_impl {
    ($trait:path: $($ty:ty),+ $(,)?) => {
        const _: () = {
            const fn check<T: ?Sized + $trait>() {}
            $(check::<$ty>();)+
        };
    };
}

/// Compiles only if no listed type implements the trait: for a type that
/// does, both impls of `AmbiguousIfImpl` apply and `some_item` is ambiguous.
macro_rules! assert_not_impl {
    ($trait:path: $($ty:ty),+ $(,)?) => {
        $(const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $trait> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
        };)+
    };
}

// Set up on one thread, used on every worker; or made to reach a loop from
// anywhere.
assert_impl!(Send: Builder, Handle, RemoteJoinHandle<u32>, LocalKey<String>, Elapsed, Unparker, Wake);
assert_impl!(Sync: Builder, Handle, RemoteJoinHandle<u32>, LocalKey<String>, Elapsed, Unparker, Wake);
assert_impl!(Send: Sender<u32>, Receiver<u32>, oneshot::Sender<u32>, oneshot::Receiver<u32>);
assert_impl!(Sync: Sender<u32>, Receiver<u32>, oneshot::Sender<u32>, oneshot::Receiver<u32>);
assert_impl!(Send: Mutex<u32>, MutexGuard<'static, u32>, Semaphore, SemaphorePermit<'static>);
assert_impl!(Sync: Mutex<u32>, MutexGuard<'static, u32>, Semaphore, SemaphorePermit<'static>);
assert_impl!(Send: Server, RunningServer, ShutdownHandle, Limits, Router, MethodRouter, App, Next<'static>);
assert_impl!(Sync: Server, RunningServer, ShutdownHandle, Limits, Router, MethodRouter, App, Next<'static>);
assert_impl!(Send: GreenThread, ThreadState, WaitReason, Incident);
assert_impl!(Sync: GreenThread, ThreadState, WaitReason, Incident);
assert_impl!(Send: Params, ConnInfo, ClientBuilder, AccessLog, Timing);
assert_impl!(Sync: Params, ConnInfo, ClientBuilder, AccessLog, Timing);

// A green thread's outcome may be sent to another thread, but it holds a
// panic payload (`Box<dyn Any + Send>`), which is not `Sync`.
assert_impl!(Send: JoinError);
assert_not_impl!(Sync: JoinError);

// Bound to the loop that made them: a runtime, its green threads' handles and
// callbacks, its registered sockets, a request and its response (their
// bodies read or write the connection's socket), and the client (its pool
// belongs to one worker's loop).
assert_not_impl!(Send: Runtime, JoinHandle<u32>, CallLater);
assert_not_impl!(Sync: Runtime, JoinHandle<u32>, CallLater);
assert_not_impl!(Send: TcpListener, TcpStream, UnixListener, UnixStream, Incoming<'static>);
assert_not_impl!(Sync: TcpListener, TcpStream, UnixListener, UnixStream, Incoming<'static>);
assert_not_impl!(Send: Request, Response, Body, ResponseBody);
assert_not_impl!(Sync: Request, Response, Body, ResponseBody);
assert_not_impl!(Send: Client, RequestBuilder, ClientResponse);
assert_not_impl!(Sync: Client, RequestBuilder, ClientResponse);
// A green TLS stream, an upgraded connection and a WebSocket are bound to their loop.
assert_not_impl!(Send: greenloop::http::upgrade::Upgraded, greenloop::http::sse::EventWriter<'static>);
assert_not_impl!(Sync: greenloop::http::upgrade::Upgraded, greenloop::http::sse::EventWriter<'static>);
assert_impl!(Send: greenloop::http::sse::Event);
assert_impl!(Sync: greenloop::http::sse::Event);
#[cfg(feature = "tls")]
mod tls_types {
    use greenloop::http::tls::{ServerTls, TlsStream};
    assert_impl!(Send: ServerTls);
    assert_impl!(Sync: ServerTls);
    assert_not_impl!(Send: TlsStream);
    assert_not_impl!(Sync: TlsStream);
}
#[cfg(feature = "ws")]
mod ws_types {
    use greenloop::http::ws::{WebSocket, WsConfig};
    assert_impl!(Send: WsConfig);
    assert_impl!(Sync: WsConfig);
    assert_not_impl!(Send: WebSocket);
    assert_not_impl!(Sync: WebSocket);
}

/// The assertions above are checked by the compiler; this test only makes
/// the file show up in `cargo test`'s list.
#[test]
fn thread_safety_of_public_types_is_pinned_at_compile_time() {}
