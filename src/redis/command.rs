//! Building commands: a name, then arguments of any type that encodes as one.

/// A command: its name, then arguments. Build one with [`cmd`].
#[derive(Clone, Debug, Default)]
pub struct Cmd {
    pub(super) args: Vec<Vec<u8>>,
}

/// Starts a command: `cmd("SET").arg("k").arg(42)`.
pub fn cmd(name: &str) -> Cmd {
    Cmd { args: vec![name.as_bytes().to_vec()] }
}

impl Cmd {
    /// Appends an argument (text, bytes or a number).
    pub fn arg(mut self, a: impl ToArg) -> Cmd {
        self.args.push(a.to_arg());
        self
    }
}

/// Something that can be a command argument.
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> Vec<u8>;
}

impl ToArg for &str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &[u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Vec<u8> {
                itoa::Buffer::new().format(*self).as_bytes().to_vec()
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize, isize);
